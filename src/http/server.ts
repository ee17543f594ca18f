/**
 * The Fastify server: REST API, OpenAPI docs, health and metrics. Built by a function, returned
 * before listen(), so tests and benchmarks start the same server the product runs and the chat
 * adapters can mount their routes (`/slack/events`) on it afterwards.
 *
 * Errors follow the project's two kinds: a UserError (bad parameter 400, unknown market 404) is
 * answered as it is; anything else is logged with its stack under a reference and answered
 * `{error, reference}` with status 500 - never a stack trace.
 */
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../config.js';
import { apology, errorReference, isUserError } from '../errors.js';
import { log, type Logger } from '../logger.js';
import { httpLatency } from '../observability/metrics.js';
import { compareRoutes } from './routes/compare.js';
import { marketRoutes } from './routes/markets.js';
import { opsRoutes } from './routes/ops.js';
import { rankingRoutes } from './routes/rankings.js';
import { rulesRoutes } from './routes/rules.js';
import { LiveStream } from '../web/live.js';
import { dashboardApi, dashboardPages } from '../web/routes.js';

export interface ServerDeps {
  /** Defaults to the built-in defaults (tests that need no particular setting). */
  config?: Config;
  logger?: Logger;
  /**
   * Whether this process expects collector ticks (default true). Without a collector, /healthz
   * judges the database only.
   */
  collecting?: boolean;
  /** How long after start /healthz waits for a first tick before calling it missing (default 3 intervals + 30 s). */
  healthGraceMs?: number;
  /** Dashboard stream poll interval (default 100 ms; tests and benchmarks shorten it). */
  livePollMs?: number;
}

const VERSION = '1';

declare module 'fastify' {
  interface FastifyInstance {
    /** The dashboard's live stream (one per server). */
    live: LiveStream;
  }
}

export async function buildServer(deps: ServerDeps = {}): Promise<FastifyInstance> {
  const config = deps.config ?? loadConfig({});
  const logger = deps.logger ?? log('http');
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Per-request lines on the hot path cost more than the request; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1_048_576,
    trustProxy: config.http.trustProxy.length ? [...config.http.trustProxy] : false,
    // `example` is documentation for /docs; the validator is told to accept it.
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, allErrors: false, keywords: ['example'] } },
  });

  app.addHook('onResponse', async (req, reply) => {
    httpLatency.observe(
      { route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (isUserError(err)) {
      return reply.code(err.status).send({ error: err.message, ...(err.hint ? { hint: err.hint } : {}) });
    }
    if (err.validation) {
      const first = err.validation[0];
      const name =
        first?.instancePath?.replace(/^\//, '') ||
        (first?.params as { missingProperty?: string } | undefined)?.missingProperty ||
        err.validationContext ||
        'request';
      return reply
        .code(400)
        .send({ error: `Invalid parameter "${name}": ${first?.message ?? 'not valid'}.`, parameter: name });
    }
    if (err.statusCode === 429) {
      return reply
        .code(429)
        .send({ error: 'Too many requests: slow down and retry after the time in the Retry-After header.' });
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: err.message });
    }
    const reference = errorReference();
    req.log.error({ err, reference, method: req.method, url: req.url }, 'request failed');
    return reply.code(500).send({ error: apology(reference), reference });
  });

  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .send({ error: `No route ${req.method} ${req.url.split('?')[0]}. The API is under /api/v1; see /docs.` });
  });

  if (config.http.corsOrigins.length > 0) {
    await app.register(cors, { origin: [...config.http.corsOrigins], methods: ['GET', 'HEAD', 'OPTIONS'] });
  }
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'crypto-chatops API',
        version: VERSION,
        description:
          'Minute samples of crypto markets: per-market statistics and charts series, ' +
          'and rankings by standard deviation. ' +
          'Rankings use the relative std dev (std/mean) by default, because a raw std dev grows with the price.',
      },
      tags: [
        { name: 'markets', description: 'The market catalog and per-market reports' },
        { name: 'rankings', description: 'Markets ordered by volatility' },
        { name: 'dashboard', description: 'What the web dashboard at / reads: the live stream, alerts, sparklines' },
        { name: 'alerts', description: 'Alert rules (only with API_RULES_TOKEN set, and its bearer token)' },
        { name: 'operations', description: 'Health and metrics' },
      ],
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'API_RULES_TOKEN' } },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: false } });

  const live = new LiveStream({
    logger: logger.child({ component: 'dashboard' }),
    pollMs: deps.livePollMs,
    sources: config.market.sources,
  });
  app.decorate('live', live);
  // Before the server waits for open connections to finish: a stream never finishes by itself.
  app.addHook('preClose', async () => live.stop());
  const dashboard = { live, showChannels: config.http.dashboardShowChannels };

  // The limiter lives in the API's own context: chat webhooks (/slack/events) mounted later come
  // from the platforms' few addresses and must not share a per-client budget; health probes neither.
  await app.register(
    async (api) => {
      await api.register(rateLimit, { global: true, max: config.http.rateLimitPerMinute, timeWindow: 60_000 });
      await api.register(marketRoutes);
      await api.register(rankingRoutes);
      await api.register(dashboardApi, dashboard);
      await api.register(compareRoutes);
      const rulesToken = config.http.rulesToken;
      if (rulesToken) await api.register(rulesRoutes, { token: rulesToken });
      // A constant answer: for load comparisons and probes that must not touch the database.
      api.get(
        '/ping',
        { schema: { tags: ['operations'], summary: 'Answers without touching the database' } },
        async () => ({ ok: true }),
      );
    },
    { prefix: '/api/v1' },
  );
  await app.register(dashboardPages, dashboard);
  await app.register(opsRoutes, {
    intervalMs: config.market.intervalMs,
    collecting: deps.collecting ?? true,
    graceMs: deps.healthGraceMs ?? 3 * config.market.intervalMs + 30_000,
  });
  return app;
}
