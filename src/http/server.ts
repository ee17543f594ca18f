/**
 * The Fastify server: REST API, health and metrics. Built by a function so tests and benchmarks
 * start the same server the product runs.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { pingDatabase } from '../db/connection.js';
import { registry } from '../observability/metrics.js';
import type { Logger } from '../logger.js';

export interface ServerDeps {
  logger?: Logger;
}

export async function buildServer(deps: ServerDeps = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger | undefined,
    bodyLimit: 1_048_576,
  });
  app.get('/healthz', async (_req, reply) => {
    const database = await pingDatabase();
    reply.code(database ? 200 : 503);
    return { status: database ? 'ok' : 'unhealthy', database };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
  return app;
}
