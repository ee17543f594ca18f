import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../src/config.js';
import { CollectorRun } from '../src/db/models/index.js';
import { buildServer } from '../src/http/server.js';
import { createLogger } from '../src/logger.js';
import { invalidateCatalog, upsertMarkets } from '../src/market/catalog.js';
import { clearQueryCaches } from '../src/market/queries.js';
import { saveSamples, type SampleInput } from '../src/market/samples.js';
import { updateWindowStats } from '../src/market/window-stats.js';
import type { FromFlatSchema } from '../src/http/type-provider.js';
import { useTestDatabase } from './support/db.js';
import { sampleAt } from './support/samples.js';

const MIN = 60_000;
const tick = Math.floor(Date.now() / MIN) * MIN;
const SPIKE = 9_999;
let seed = 99;
const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;

const paths: Record<string, (i: number) => number> = {
  'btc-usd': () => 60_000 + (rand() - 0.5) * 120, // high price, calm
  'shib-usd': () => 0.00002 * (1 + (rand() - 0.5) * 0.2), // tiny price, volatile
  'eth-usd': (i) => (i === 60 ? SPIKE : 3_000 + (rand() - 0.5) * 6), // one spike
};

const sample = (base: string, ts: number, last: number): SampleInput =>
  sampleAt(`sim:${base}`, ts, { last, changePct: 1, volume24h: 10, quoteVolume24h: 10 * last });

describe('REST API', () => {
  useTestDatabase('api');

  /** Lines the server logged, to check what reaches the log and what does not. */
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });

  let app: FastifyInstance;
  const config = loadConfig({ COLLECT_INTERVAL: '1m', LOG_LEVEL: 'info' });
  const get = async (url: string) => {
    const res = await app.inject({ method: 'GET', url });
    return {
      status: res.statusCode,
      headers: res.headers,
      body: String(res.headers['content-type']).includes('json') ? res.json() : res.body,
    };
  };

  before(async () => {
    const bases = Object.keys(paths);
    await upsertMarkets(
      bases.map((b) => ({
        exchange: 'sim',
        base: b.split('-')[0]!,
        quote: 'usd',
        source: 'simulated',
        symbol: b.replace('-', '').toUpperCase(),
      })),
    );
    invalidateCatalog();
    const samples: SampleInput[] = [];
    for (let i = 0; i < 120; i++) for (const b of bases) samples.push(sample(b, tick - (119 - i) * MIN, paths[b]!(i)));
    await saveSamples(samples);
    await updateWindowStats({ tick: new Date(tick), source: 'simulated' });
    await CollectorRun.create({ source: 'simulated', tick: new Date(tick), status: 'ok' });
    clearQueryCaches();
    app = await buildServer({
      config,
      logger: createLogger({ level: 'info', format: 'json', secrets: [], destination: sink }),
    });
    // What the chat adapters do after buildServer: mount their own routes on the same instance.
    app.get('/boom', async () => {
      throw new Error('database exploded at /secret/internal/path');
    });
    app.post('/slack/events', async () => ({ mounted: true }));
    await app.ready();
  });
  after(async () => app?.close());

  describe('GET /api/v1/markets', () => {
    it('lists the catalog with aliases, pages, and searches', async () => {
      const all = await get('/api/v1/markets');
      assert.equal(all.status, 200);
      assert.equal(all.body.total, 3);
      assert.deepEqual(
        all.body.items.map((m: { id: string }) => m.id),
        ['sim:btc-usd', 'sim:eth-usd', 'sim:shib-usd'],
      );
      assert.ok(all.body.items[0].aliases.includes('xbt-usd'));
      const page = await get('/api/v1/markets?limit=1&offset=1');
      assert.deepEqual(
        page.body.items.map((m: { id: string }) => m.id),
        ['sim:eth-usd'],
      );
      assert.equal(page.body.total, 3);
      const search = await get('/api/v1/markets?q=BTC/USD');
      assert.deepEqual(
        search.body.items.map((m: { id: string }) => m.id),
        ['sim:btc-usd'],
      );
      assert.equal((await get('/api/v1/markets?q=nothing')).body.total, 0);
    });

    it('answers 400 naming a bad paging parameter', async () => {
      const bad = await get('/api/v1/markets?limit=0');
      assert.equal(bad.status, 400);
      assert.equal(bad.body.parameter, 'limit');
      assert.match(bad.body.error, /"limit"/);
      assert.equal((await get('/api/v1/markets?offset=-1')).body.parameter, 'offset');
    });
  });

  describe('GET /api/v1/markets/:market', () => {
    it('answers with statistics, a bounded series and the rank, for any alias', async () => {
      for (const alias of ['btc-usd', 'BTC%2FUSD', 'sim:btcusd', 'xbt-usd']) {
        const res = await get(`/api/v1/markets/${alias}`);
        assert.equal(res.status, 200, `${alias}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.market.id, 'sim:btc-usd');
      }
      const { body } = await get('/api/v1/markets/btc-usd?points=30');
      assert.equal(body.metric, 'price');
      assert.equal(body.window, '24h');
      assert.equal(body.stats.count, 120, JSON.stringify(body).slice(0, 600));
      assert.ok(body.stats.std > 10 && body.stats.std < 60, String(body.stats.std));
      assert.ok(body.series.length <= 30 && body.series.length > 0);
      assert.equal(body.rank.method, '24h relative std dev (std/mean)');
      assert.equal(body.rank.of, 3);
      assert.equal(body.latestTs, new Date(tick).toISOString());
    });

    it('keeps a one-minute spike in the downsampled series', async () => {
      const { body } = await get('/api/v1/markets/eth-usd?window=6h&points=20');
      assert.equal(body.stats.max, SPIKE);
      assert.equal(Math.max(...body.series.map((b: { max: number }) => b.max)), SPIKE);
      assert.ok(body.series.length <= 20);
    });

    it('answers 404 with suggestions for an unknown market', async () => {
      const res = await get('/api/v1/markets/btc-usdx');
      assert.equal(res.status, 404);
      assert.match(res.body.error, /Unknown market "btc-usdx"\. Did you mean sim:btc-usd/);
    });

    it('answers 400 naming each bad parameter', async () => {
      const cases: Array<[string, RegExp]> = [
        ['metric=colour', /metric "colour"/],
        ['window=3d', /window "3d"/],
        ['by=vibes', /by "vibes"/],
        ['metric=volume&by=logret', /prices only/],
        ['points=1', /"points"/],
        ['points=abc', /"points"/],
        ['points=100000', /"points"/],
      ];
      for (const [query, message] of cases) {
        const res = await get(`/api/v1/markets/btc-usd?${query}`);
        assert.equal(res.status, 400, query);
        assert.match(res.body.error, message, query);
        assert.ok(!JSON.stringify(res.body).includes('    at '), 'no stack');
      }
    });
  });

  describe('GET /api/v1/rankings', () => {
    it('ranks a tiny volatile price above a large calm one by rsd, and below it by raw std', async () => {
      const rsd = await get('/api/v1/rankings');
      assert.equal(rsd.status, 200);
      assert.equal(rsd.body.method, '24h relative std dev (std/mean)');
      assert.deepEqual(
        rsd.body.top.map((r: { market: string }) => r.market).filter((m: string) => m !== 'sim:eth-usd'),
        ['sim:shib-usd', 'sim:btc-usd'],
      );
      const std = await get('/api/v1/rankings?by=std');
      assert.equal(std.body.method, '24h raw std dev');
      // eth's one spike gives it the largest raw std dev; btc's calm 60,000 still beats shib's wild 0.00002.
      assert.deepEqual(
        std.body.top.map((r: { market: string }) => r.market),
        ['sim:eth-usd', 'sim:btc-usd', 'sim:shib-usd'],
      );
      const logret = await get('/api/v1/rankings?by=logret&window=1h&limit=1');
      assert.equal(logret.body.top.length, 1);
      assert.equal(logret.body.bottom.length, 1);
      assert.equal(logret.body.total, 3);
    });

    it('takes every spelling of a ranking figure that the chat takes', async () => {
      for (const [by, method] of [
        ['sd', '24h raw std dev'],
        ['raw', '24h raw std dev'],
        ['stddev', '24h raw std dev'],
        ['relative', '24h relative std dev (std/mean)'],
        ['log', '24h std dev of 1-minute log returns'],
        ['logreturn', '24h std dev of 1-minute log returns'],
      ]) {
        const res = await get(`/api/v1/rankings?by=${by}`);
        assert.equal(res.status, 200, by);
        assert.equal(res.body.method, method, by);
      }
      const report = await get('/api/v1/markets/btc-usd?by=sd');
      assert.equal(report.status, 200);
      assert.match(JSON.stringify(report.body.rank), /raw std dev/);
    });

    it('answers 400 for bad ranking parameters', async () => {
      assert.equal((await get('/api/v1/rankings?limit=0')).body.parameter, 'limit');
      assert.match((await get('/api/v1/rankings?metric=volume&by=logret')).body.error, /prices only/);
      assert.equal((await get('/api/v1/rankings?window=1y')).status, 400);
    });
  });

  describe('docs, errors and routes mounted later', () => {
    it('serves the OpenAPI document and the interactive UI', async () => {
      const spec = await get('/docs/json');
      assert.equal(spec.status, 200);
      assert.ok(
        spec.body.paths['/api/v1/markets/{market}'].get.parameters.some((p: { name: string }) => p.name === 'points'),
      );
      assert.ok(spec.body.paths['/api/v1/rankings']);
      let ui = await app.inject({ method: 'GET', url: '/docs' });
      for (let hops = 0; ui.statusCode === 302 && hops < 3; hops++) {
        ui = await app.inject({ method: 'GET', url: new URL(String(ui.headers.location), 'http://x/docs/').pathname });
      }
      assert.equal(ui.statusCode, 200);
      assert.match(ui.body, /swagger/i);
    });

    it('answers an internal failure with an apology and a reference, the stack only in the log', async () => {
      const res = await get('/boom');
      assert.equal(res.status, 500);
      assert.match(res.body.error, /reference [0-9A-F]{8}/);
      assert.ok(!JSON.stringify(res.body).includes('exploded'));
      const line = logLines.find((l) => l.includes(res.body.reference));
      assert.ok(line?.includes('exploded') && line.includes('stack'), 'the log carries the stack under the reference');
    });

    it('answers unknown routes with JSON 404 and leaves later routes reachable', async () => {
      const missing = await get('/api/v1/nope');
      assert.equal(missing.status, 404);
      assert.match(missing.body.error, /No route GET \/api\/v1\/nope/);
      const slack = await app.inject({ method: 'POST', url: '/slack/events', payload: {} });
      assert.equal(slack.statusCode, 200);
    });

    it('logs nothing per request on the hot path', async () => {
      const before = logLines.length;
      for (let i = 0; i < 5; i++) await get('/api/v1/markets/btc-usd');
      assert.equal(logLines.length, before);
    });
  });

  describe('health and metrics', () => {
    it('is healthy with a recent tick and unhealthy when ticks stop', async () => {
      const ok = await get('/healthz');
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.database, true);
      assert.equal(ok.body.lastTick, new Date(tick).toISOString());
      // The collector stopped: only a tick from four intervals ago is on record.
      await CollectorRun.deleteMany({});
      await CollectorRun.create({ source: 'simulated', tick: new Date(Date.now() - 4 * MIN), status: 'ok' });
      await CollectorRun.create({ source: 'simulated', tick: new Date(Date.now() - MIN), status: 'failed' });
      const stale = await get('/healthz');
      assert.equal(stale.status, 503);
      assert.equal(stale.body.status, 'unhealthy');
      assert.match(stale.body.problems.join(), /last successful tick is 2\d\d s old \(limit 180 s\)/);
    });

    it('is unhealthy when no tick came within the grace period', async () => {
      await CollectorRun.deleteMany({});
      const fresh = await buildServer({
        config,
        logger: createLogger({ level: 'silent', format: 'json', secrets: [] }),
        healthGraceMs: 0,
      });
      try {
        const res = await fresh.inject({ method: 'GET', url: '/healthz' });
        assert.equal(res.statusCode, 503);
        assert.deepEqual(res.json().problems, ['no successful collector tick yet']);
      } finally {
        await fresh.close();
      }
    });

    it('exposes Prometheus metrics including request latency', async () => {
      const res = await app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(res.statusCode, 200);
      assert.match(res.headers['content-type'] as string, /text\/plain/);
      assert.match(
        res.body,
        /chatops_http_request_duration_seconds_count\{route="\/api\/v1\/markets\/:market",status="200"\} \d+/,
      );
      assert.match(res.body, /chatops_ticks_total/);
    });
  });

  describe('limits and CORS, over a real socket', () => {
    it('rate-limits each client with 429 and Retry-After, not health checks', async () => {
      const limited = await buildServer({
        config: loadConfig({ RATE_LIMIT_PER_MINUTE: '3' }),
        logger: createLogger({ level: 'silent', format: 'json', secrets: [] }),
      });
      limited.post('/slack/events', async () => ({ ok: true }));
      await limited.listen({ host: '127.0.0.1', port: 0 });
      try {
        const base = `http://127.0.0.1:${(limited.server.address() as { port: number }).port}`;
        const statuses: number[] = [];
        let last: Response | undefined;
        for (let i = 0; i < 4; i++) {
          last = await fetch(`${base}/api/v1/markets/btc-usd?window=1h`);
          statuses.push(last.status);
          if (last.status === 200)
            assert.equal(((await last.json()) as { market: { id: string } }).market.id, 'sim:btc-usd');
        }
        assert.deepEqual(statuses, [200, 200, 200, 429]);
        assert.ok(Number(last!.headers.get('retry-after')) > 0);
        assert.match(((await last!.json()) as { error: string }).error, /Too many requests/);
        assert.notEqual((await fetch(`${base}/healthz`)).status, 429);
        // Routes mounted later (chat webhooks) are outside the API's per-client budget.
        assert.equal((await fetch(`${base}/slack/events`, { method: 'POST' })).status, 200);
        assert.equal((await fetch(`${base}/api/v1/ping`)).status, 429, 'the budget is per client across the API');
        assert.equal(last!.headers.get('access-control-allow-origin'), null, 'CORS off by default');
      } finally {
        await limited.close();
      }
    });

    it('answers CORS for configured origins only', async () => {
      const withCors = await buildServer({
        config: loadConfig({ CORS_ORIGINS: 'https://dash.example' }),
        logger: createLogger({ level: 'silent', format: 'json', secrets: [] }),
      });
      try {
        const allowed = await withCors.inject({
          method: 'GET',
          url: '/api/v1/markets',
          headers: { origin: 'https://dash.example' },
        });
        assert.equal(allowed.headers['access-control-allow-origin'], 'https://dash.example');
        const other = await withCors.inject({
          method: 'GET',
          url: '/api/v1/markets',
          headers: { origin: 'https://evil.example' },
        });
        assert.equal(other.headers['access-control-allow-origin'], undefined);
      } finally {
        await withCors.close();
      }
    });
  });
});

describe('the routes’ type provider', () => {
  it('types a query from its schema: required, defaulted and optional keys, enums', () => {
    const schema = {
      type: 'object',
      properties: {
        q: { type: 'string' },
        limit: { type: 'integer', default: 100 },
        side: { type: 'string', enum: ['top', 'bottom'] },
        id: { type: 'string' },
      },
      required: ['id'],
    } as const;
    // Compiles only while the derived type is exactly this.
    const query: FromFlatSchema<typeof schema> = { id: 'x', limit: 1, side: 'top' };
    const back: { id: string; limit: number; q?: string; side?: 'top' | 'bottom' } = query;
    assert.deepEqual(back, { id: 'x', limit: 1, side: 'top' });
  });
});
