/**
 * The dashboard's HTTP side: the page shell at `/` (and the pages' own paths, so a link to one
 * market opens it), the bundled assets, and the read-only API it needs beyond /api/v1's reports
 * and rankings: the live stream, recent alerts, and sparklines for the rows on screen.
 *
 * Assets carry a content hash in their names and are served `immutable` for a year; the shell is
 * revalidated by ETag. Both are compressed once at build time (brotli, gzip) and picked by
 * Accept-Encoding, so serving them costs a file read that stays in memory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Alert } from '../db/models/index.js';
import { getMarketReport } from '../market/queries.js';
import { errorSchema } from '../http/routes/schemas.js';
import { hashOf } from './build.js';
import type { LiveStream } from './live.js';
import { webPaths } from './paths.js';

interface StaticFile {
  type: string;
  identity: Buffer;
  gzip?: Buffer;
  br?: Buffer;
  etag: string;
}

const TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  html: 'text/html; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
};

/** Reads the built files once. Undefined when the dashboard was not built (the shell says how to build it). */
function loadStatic(): Map<string, StaticFile> | undefined {
  const { outDir, manifest } = webPaths();
  if (!existsSync(manifest)) return undefined;
  const files = new Map<string, StaticFile>();
  const load = (path: string, key: string) => {
    const identity = readFileSync(path);
    const ext = path.split('.').pop() ?? '';
    files.set(key, {
      type: TYPES[ext] ?? 'application/octet-stream',
      identity,
      gzip: existsSync(`${path}.gz`) ? readFileSync(`${path}.gz`) : undefined,
      br: existsSync(`${path}.br`) ? readFileSync(`${path}.br`) : undefined,
      etag: `"${hashOf(identity)}"`,
    });
  };
  load(join(outDir, 'index.html'), 'index.html');
  const { files: names } = JSON.parse(readFileSync(manifest, 'utf8')) as { files: Record<string, string> };
  for (const name of Object.values(names)) load(join(outDir, 'assets', name), name);
  return files;
}

function send(req: FastifyRequest, reply: FastifyReply, file: StaticFile, cache: string): FastifyReply {
  reply.header('cache-control', cache).header('etag', file.etag).header('vary', 'accept-encoding');
  reply.header('x-content-type-options', 'nosniff');
  if (req.headers['if-none-match'] === file.etag) return reply.code(304).send();
  const accept = String(req.headers['accept-encoding'] ?? '');
  reply.type(file.type);
  if (file.br && /\bbr\b/.test(accept)) return reply.header('content-encoding', 'br').send(file.br);
  if (file.gzip && /\bgzip\b/.test(accept)) return reply.header('content-encoding', 'gzip').send(file.gzip);
  return reply.send(file.identity);
}

export interface DashboardOptions {
  live: LiveStream;
  /** Show alert channel ids on the alerts page (DASHBOARD_SHOW_CHANNELS). */
  showChannels: boolean;
}

/** The pages the shell answers for; the browser-side router draws each. */
const PAGES = ['/', '/rankings', '/alerts', '/market/:market'];

export const dashboardPages: FastifyPluginAsync<DashboardOptions> = async (app) => {
  let files = loadStatic();
  const current = () => (files ??= loadStatic());

  for (const url of PAGES) {
    app.get(url, { schema: { hide: true } }, async (req, reply) => {
      const index = current()?.get('index.html');
      if (!index) {
        return reply
          .code(503)
          .type('text/plain; charset=utf-8')
          .send('The dashboard is not built: run `npm run build` (npm start and npm run demo build it by themselves).');
      }
      return send(req, reply, index, 'no-cache');
    });
  }
  app.get<{ Params: { file: string } }>('/assets/:file', { schema: { hide: true } }, async (req, reply) => {
    const file = current()?.get(req.params.file);
    if (!file) return reply.code(404).send({ error: `No asset ${req.params.file.slice(0, 80)}.` });
    return send(req, reply, file, 'public, max-age=31536000, immutable');
  });
};

const alertSchema = {
  type: 'object',
  properties: {
    market: { type: 'string' },
    metric: { type: 'string' },
    ts: { type: 'string', format: 'date-time' },
    value: { type: 'number' },
    baseline: { type: 'number', description: 'Average of the preceding hour, the point itself excluded' },
    ratio: { type: 'number', description: 'value / baseline' },
    factor: { type: 'number', description: "The subscription's threshold: a spike is ratio >= factor" },
    status: { type: 'string', enum: ['pending', 'sent', 'failed'] },
    createdAt: { type: 'string', format: 'date-time' },
    channel: { type: 'string', description: 'Only when DASHBOARD_SHOW_CHANNELS is true' },
  },
} as const;

/** The dashboard's API routes, mounted under /api/v1 beside the reports and rankings. */
export const dashboardApi: FastifyPluginAsync<DashboardOptions> = async (app, opts) => {
  app.get(
    '/stream',
    {
      // One long request per viewer: outside the per-client request budget.
      config: { rateLimit: false },
      schema: {
        tags: ['dashboard'],
        summary: 'Live stream of each tick (server-sent events)',
        description:
          'Events: `snapshot` (every market: [id, last, 24h change %, rank by 24h relative std dev, rsd]), `tick` (the rows that ' +
          "changed in a tick, same shape), `status` (each source's last tick, database reachable). Event ids are tick times: " +
          'reconnect with Last-Event-ID to get what was missed. A viewer that reads too slowly is disconnected.',
      },
    },
    async (req, reply) => {
      reply.hijack();
      const last = req.headers['last-event-id'];
      await opts.live.attach(reply.raw, typeof last === 'string' && last ? last.slice(0, 40) : undefined);
    },
  );

  app.get<{ Querystring: { limit: number; market?: string } }>(
    '/alerts',
    {
      schema: {
        tags: ['dashboard'],
        summary: 'Recent spike alerts',
        description: 'Newest first. Channel ids are left out unless the server sets DASHBOARD_SHOW_CHANNELS=true.',
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
            market: { type: 'string', maxLength: 100, description: 'Only this market (its canonical id)' },
          },
        },
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: alertSchema } } },
          400: errorSchema,
        },
      },
    },
    async (req) => {
      const filter = req.query.market ? { market: req.query.market } : {};
      const docs = await Alert.find(filter, {
        market: 1,
        metric: 1,
        ts: 1,
        value: 1,
        baseline: 1,
        ratio: 1,
        factor: 1,
        status: 1,
        createdAt: 1,
        channel: 1,
      })
        .sort({ createdAt: -1 })
        .limit(req.query.limit)
        .lean();
      return {
        items: docs.map(({ _id, channel, ...a }) => (opts.showChannels ? { ...a, channel } : a)),
      };
    },
  );

  app.get<{ Querystring: { markets: string } }>(
    '/sparklines',
    {
      schema: {
        tags: ['dashboard'],
        summary: 'Small 24h price series for several markets',
        description:
          'Up to 60 markets, comma separated; each gets the last price of each hour of the last 24 that has data (up to 24 points).',
        querystring: {
          type: 'object',
          properties: { markets: { type: 'string', maxLength: 6_000 } },
          required: ['markets'],
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: { type: 'array', items: { type: 'number', nullable: true } },
          },
          400: errorSchema,
        },
      },
    },
    async (req, reply) => {
      const ids = [...new Set(req.query.markets.split(',').filter(Boolean))].slice(0, 60);
      const out: Record<string, Array<number | null>> = {};
      await Promise.all(
        ids.map(async (id) => {
          try {
            const report = await getMarketReport(id, { window: '24h', points: 24 });
            out[id] = report.series.map((p) => p.last);
          } catch {
            // An unknown market has no line; the others still answer.
          }
        }),
      );
      return reply.header('cache-control', 'public, max-age=30').send(out);
    },
  );
};
