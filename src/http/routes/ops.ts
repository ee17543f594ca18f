/** GET /healthz and GET /metrics: for load balancers, orchestrators and Prometheus. */
import { pingDatabase } from '../../db/connection.js';
import { CollectorRun } from '../../db/models/index.js';
import { registry } from '../../observability/metrics.js';
import type { TypedRoutes } from '../type-provider.js';

export interface OpsOptions {
  intervalMs: number;
  collecting: boolean;
  graceMs: number;
}

/** Ticks that wrote data; a partial tick (some markets failed) still shows the collector alive. */
const SUCCESSFUL: Array<'ok' | 'partial'> = ['ok', 'partial'];

export const opsRoutes: TypedRoutes<OpsOptions> = async (app, opts) => {
  const startedAt = Date.now();
  const maxAgeMs = 3 * opts.intervalMs;

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Health: database reachable and collector ticking',
        description:
          '503 when the database does not answer, or the last successful tick is older than 3 collect intervals ' +
          '(or none came within a grace period after start).',
      },
    },
    async (_req, reply) => {
      const problems: string[] = [];
      const database = await pingDatabase();
      if (!database) problems.push('database not reachable');
      let lastTick: Date | null = null;
      if (database) {
        const run = await CollectorRun.findOne({ status: { $in: SUCCESSFUL } }, { tick: 1 })
          .sort({ tick: -1 })
          .lean();
        lastTick = run?.tick ?? null;
      }
      const ageMs = lastTick ? Date.now() - lastTick.getTime() : null;
      if (opts.collecting && database) {
        if (ageMs !== null && ageMs > maxAgeMs)
          problems.push(`last successful tick is ${Math.round(ageMs / 1000)} s old (limit ${maxAgeMs / 1000} s)`);
        if (ageMs === null && Date.now() - startedAt > opts.graceMs) problems.push('no successful collector tick yet');
      }
      reply.code(problems.length ? 503 : 200);
      return {
        status: problems.length ? 'unhealthy' : 'ok',
        database,
        lastTick: lastTick?.toISOString() ?? null,
        lastTickAgeSeconds: ageMs === null ? null : Math.round(ageMs / 1000),
        maxTickAgeSeconds: maxAgeMs / 1000,
        problems,
      };
    },
  );

  app.get(
    '/metrics',
    { schema: { tags: ['operations'], summary: 'Prometheus metrics', hide: false } },
    async (_req, reply) => {
      reply.type(registry.contentType);
      return registry.metrics();
    },
  );
};
