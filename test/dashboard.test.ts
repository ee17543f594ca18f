import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { CommandRegistry, loadRegistry, type CommandContext } from '../src/chat/registry.js';
import { loadConfig, type Config } from '../src/config.js';
import { Alert } from '../src/db/models/index.js';
import { buildServer } from '../src/http/server.js';
import { log } from '../src/logger.js';
import { getMarketOverview } from '../src/market/queries.js';
import { spikesOf } from '../src/web/client/spikes.js';
import { LiveStream } from '../src/web/live.js';
import mongoose from 'mongoose';
import { connectDatabase } from '../src/db/connection.js';
import { testDatabaseUri, uniqueDbName, useTestDatabase } from './support/db.js';
import { nextTick, seedMarkets, type Seeded } from './support/dashboard-data.js';
import { openSse, type SseEvent } from './support/sse.js';
import { startTcpRelay, type TcpRelay } from './support/tcp-relay.js';
import { until } from './support/wait.js';

describe('dashboard: pages, assets, alerts and the live stream', () => {
  let app: FastifyInstance;
  let base: string;
  let seeded: Seeded;
  let minute = 200;
  // Registered first so it runs first: the server stops polling before the database goes away.
  after(async () => app?.close());
  useTestDatabase('dashboard');

  before(async () => {
    seeded = await seedMarkets(12, 90);
    app = await buildServer({ config: loadConfig({ MARKET_SOURCE: 'simulated' }), livePollMs: 50 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });

  it('serves the page shell at / and at each page path, revalidated by ETag', async () => {
    for (const path of ['/', '/rankings', '/alerts', '/market/sim:btc-usd']) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      const html = await res.text();
      assert.match(html, /<script type="module" src="\/assets\/app-[A-Z0-9]+\.js">/);
      assert.match(html, /<label|aria-label="Pages"/);
    }
    const first = await fetch(`${base}/`);
    const etag = first.headers.get('etag');
    assert.ok(etag);
    const again = await fetch(`${base}/`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
  });

  it('serves hashed assets compressed and immutable, and 404s an unknown one', async () => {
    const html = await (await fetch(`${base}/`)).text();
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const css = /href="(\/assets\/[^"]+\.css)"/.exec(html)![1]!;
    for (const [path, type] of [
      [js, 'text/javascript'],
      [css, 'text/css'],
    ] as const) {
      const res = await app.inject({ url: path, headers: { 'accept-encoding': 'gzip, deflate, br' } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-encoding'], 'br');
      assert.match(String(res.headers['content-type']), new RegExp(type));
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
      const plain = brotliDecompressSync(res.rawPayload);
      const gz = await app.inject({ url: path, headers: { 'accept-encoding': 'gzip' } });
      assert.equal(gz.headers['content-encoding'], 'gzip');
      assert.deepEqual(gunzipSync(gz.rawPayload), plain);
      const identity = await app.inject({ url: path });
      assert.equal(identity.headers['content-encoding'], undefined);
      assert.deepEqual(identity.rawPayload, plain);
      assert.ok(res.rawPayload.length < plain.length / 2, 'compressed to less than half');
    }
    assert.equal((await app.inject({ url: '/assets/app-NOPE.js' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/assets/..%2Fmanifest.json' })).statusCode, 404);
  });

  it('lists recent alerts with ratio and baseline, without channel ids unless configured', async () => {
    await Alert.create({
      key: 'k1',
      subscriptionId: '64b000000000000000000001',
      channel: 'slack:T1:C1',
      market: 'sim:btc-usd',
      metric: 'volume',
      ts: new Date(),
      value: 30,
      baseline: 6,
      ratio: 5,
      factor: 3,
      points: 60,
      status: 'sent',
    });
    const res = await fetch(`${base}/api/v1/alerts`);
    const body = (await res.json()) as { items: Array<Record<string, unknown>> };
    assert.equal(body.items.length, 1);
    assert.equal(body.items[0]!.ratio, 5);
    assert.equal(body.items[0]!.baseline, 6);
    assert.equal(body.items[0]!.channel, undefined);
    assert.doesNotMatch(JSON.stringify(body), /slack:T1/);
    const shown = await buildServer({ config: loadConfig({ DASHBOARD_SHOW_CHANNELS: 'true' }) });
    try {
      const res2 = await shown.inject({ url: '/api/v1/alerts' });
      assert.equal(res2.json().items[0].channel, 'slack:T1:C1');
    } finally {
      await shown.close();
    }
    const bad = await fetch(`${base}/api/v1/alerts?limit=0`);
    assert.equal(bad.status, 400);
  });

  it('answers sparklines for the markets asked, skipping unknown ones', async () => {
    const res = await fetch(`${base}/api/v1/sparklines?markets=sim:btc-usd,sim:eth-usd,nope-nope`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, Array<number | null>>;
    assert.deepEqual(Object.keys(body).sort(), ['sim:btc-usd', 'sim:eth-usd']);
    // 90 minutes of history: the hourly points that have data.
    assert.equal(body['sim:btc-usd']!.length, 2);
    assert.ok(body['sim:btc-usd']!.some((v) => typeof v === 'number' && v > 1_000));
  });

  it("/metric links to the market's page when PUBLIC_URL is set, and not otherwise", async () => {
    const ctx = (config: Config): CommandContext => ({
      platform: 'console',
      channel: 'console:local',
      user: 'u',
      mayManageChannel: true,
      config,
    });
    const linked = loadConfig({ PUBLIC_URL: 'https://bot.example.test/' });
    const reply = await (await loadRegistry(linked)).run(
      'metric',
      CommandRegistry.parseLine('metric sim:btc-usd')!.raw,
      ctx(linked),
    );
    const field = reply.fields?.find((f) => f.name === 'Dashboard');
    assert.equal(field?.value, 'https://bot.example.test/market/sim:btc-usd');
    assert.equal((await fetch(`${base}/market/sim:btc-usd`)).status, 200, 'the linked path is a page');
    const plain = loadConfig({});
    const without = await (await loadRegistry(plain)).run(
      'metric',
      CommandRegistry.parseLine('metric sim:btc-usd')!.raw,
      ctx(plain),
    );
    assert.equal(
      without.fields?.some((f) => f.name === 'Dashboard'),
      false,
    );
  });

  it('streams a snapshot, then each tick once ready, and resumes from Last-Event-ID', async () => {
    const viewer = await openSse(`${base}/api/v1/stream`);
    assert.match(String(viewer.response.headers['content-type']), /text\/event-stream/);
    assert.equal(viewer.response.headers['x-accel-buffering'], 'no');
    const snapshot = await viewer.next((e) => e.event === 'snapshot', 10_000, 'snapshot');
    const snap = JSON.parse(snapshot.data) as { rows: unknown[][]; asOf: number; method: string };
    assert.equal(snap.rows.length, 12);
    assert.equal(snap.asOf, seeded.tick);
    assert.equal(snapshot.id, String(seeded.tick));
    assert.match(snap.method, /24h relative std dev/);
    const status = JSON.parse((await viewer.next((e) => e.event === 'status')).data) as {
      database: boolean;
      sources: Array<{ source: string; tick: number }>;
    };
    assert.equal(status.database, true);
    assert.deepEqual(
      status.sources.map((s) => [s.source, s.tick]),
      [['simulated', seeded.tick]],
    );

    const t1 = await nextTick(seeded, minute++);
    const tick1 = await viewer.next((e) => e.event === 'tick' && e.id === String(t1), 10_000, `tick ${t1}`);
    const rows = (JSON.parse(tick1.data) as { rows: Array<[string, number]> }).rows;
    assert.ok(rows.length > 0 && rows.length <= 12);
    const overview = await getMarketOverview({ uncached: true });
    const btc = overview.rows.find((r) => r.market === 'sim:btc-usd')!;
    const sent = rows.find((r) => r[0] === 'sim:btc-usd');
    if (sent) assert.equal(sent[1], Number(btc.last!.toPrecision(8)));

    // Away for one tick: the missed one comes from the ring, not a snapshot.
    viewer.close();
    const t2 = await nextTick(seeded, minute++);
    await until('the server to have pushed the second tick', () => app.live.pushed >= 2, 10_000);
    const back = await openSse(`${base}/api/v1/stream`, { 'last-event-id': String(t1) });
    const missed = await back.next((e) => e.event === 'tick', 5_000, 'the missed tick');
    assert.equal(missed.id, String(t2));
    assert.equal(
      back.events.filter((e) => e.event === 'snapshot').length,
      0,
      'no snapshot when the ring holds what was missed',
    );
    back.close();

    // Away too long (an id the ring no longer holds): a snapshot.
    const stale = await openSse(`${base}/api/v1/stream`, { 'last-event-id': '1000' });
    const full = await stale.next((e) => e.event === 'snapshot', 5_000, 'snapshot after a long absence');
    assert.equal(full.id, String(t2));
    stale.close();
  });
});

describe('dashboard live stream: many viewers, slow viewers', () => {
  let server: Server;
  let live: LiveStream;
  let base: string;
  let seeded: Seeded;
  after(async () => {
    live?.stop();
    await new Promise((done) => server?.close(done));
  });
  useTestDatabase('dashboard_live');

  before(async () => {
    seeded = await seedMarkets(12, 30);
    live = new LiveStream({ logger: log('test'), pollMs: 30, maxBufferBytes: 1_500 });
    server = createServer((req, res) => {
      // A viewer whose connection cannot send: everything written stays in its buffer.
      if (req.url === '/stuck') res.socket?.cork();
      const last = req.headers['last-event-id'];
      void live.attach(res, typeof last === 'string' ? last : undefined);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  it('writes the same bytes to every viewer and drops one whose buffer passes the bound', async () => {
    const viewers = await Promise.all(Array.from({ length: 20 }, () => openSse(`${base}/`)));
    const stuck = openSse(`${base}/stuck`);
    stuck.catch(() => {});
    await until('21 viewers attached', () => live.viewerCount === 21, 5_000);
    let minute = 100;
    const ticks: number[] = [];
    for (let i = 0; i < 3; i++) {
      ticks.push(await nextTick(seeded, minute++));
      await until(`tick ${i + 1} pushed`, () => live.pushed === i + 1, 10_000);
    }
    await until('the stuck viewer dropped', () => live.dropped === 1, 5_000);
    assert.equal(live.viewerCount, 20);
    for (const v of viewers) {
      const got = await v.next((e) => e.id === String(ticks[2]), 5_000, 'the last tick');
      assert.equal(got.data, viewers[0]!.events.find((e) => e.id === String(ticks[2]))!.data);
      assert.deepEqual(
        v.events.filter((e) => e.event === 'tick').map((e) => e.id),
        ticks.map(String),
      );
      v.close();
    }
  });
});

describe('dashboard live stream: the collecting process pokes it', () => {
  let server: Server;
  let live: LiveStream;
  let base: string;
  let seeded: Seeded;
  after(async () => {
    live?.stop();
    await new Promise((done) => server?.close(done));
  });
  useTestDatabase('dashboard_poke');

  before(async () => {
    seeded = await seedMarkets(6, 30);
    // An interval no test outlasts: only a poke can bring the tick.
    live = new LiveStream({ logger: log('test'), pollMs: 3_600_000 });
    server = createServer((_req, res) => void live.attach(res, undefined));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  it('pushes a tick as soon as it is poked, once however many pokes arrive', async () => {
    const viewer = await openSse(`${base}/`);
    await viewer.next((e) => e.event === 'snapshot', 5_000, 'snapshot');
    const t1 = await nextTick(seeded, 300);
    assert.equal(live.pushed, 0, 'nothing moves without the poll');
    live.poke();
    await viewer.next((e) => e.event === 'tick' && e.id === String(t1), 5_000, `tick ${t1}`);
    // Two pokes in a row: the second arrives while the first poll runs and polls again after it,
    // which finds nothing new.
    const t2 = await nextTick(seeded, 301);
    const polls = live.polls;
    live.poke();
    live.poke();
    await viewer.next((e) => e.event === 'tick' && e.id === String(t2), 5_000, `tick ${t2}`);
    await until('the second poll to end', () => live.polls === polls + 2, 5_000);
    assert.equal(live.pushed, 2);
    assert.equal(viewer.events.filter((e) => e.event === 'tick').length, 2);
    viewer.close();
  });
});

describe('dashboard live stream: the database stops answering', () => {
  let relay: TcpRelay;
  let server: Server;
  let live: LiveStream;
  let base: string;
  const dbName = uniqueDbName('dashboard_down');
  after(async () => {
    live?.stop();
    await new Promise((done) => server?.close(done));
    relay?.restore();
    if (mongoose.connection.readyState === 1) await mongoose.connection.dropDatabase().catch(() => {});
    await mongoose.disconnect();
    await relay?.close();
  });

  before(async () => {
    relay = await startTcpRelay(testDatabaseUri());
    await connectDatabase(relay.uri, { dbName, attempts: 3, serverSelectionTimeoutMS: 1_000 });
    await seedMarkets(3, 5);
    live = new LiveStream({ logger: log('test'), pollMs: 30 });
    server = createServer((_req, res) => void live.attach(res, undefined));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  it('tells the viewers the database is not answering, then that it answers again', async () => {
    const viewer = await openSse(`${base}/`);
    const database = (e: SseEvent) => (JSON.parse(e.data) as { database: boolean }).database;
    const statuses = () => viewer.events.filter((e) => e.event === 'status');
    await viewer.next((e) => e.event === 'status', 5_000, 'the first status');
    assert.equal(database(statuses()[0]!), true);
    relay.cut();
    const down = await viewer.next((e) => e.event === 'status' && !database(e), 30_000, 'database: false');
    const sources = (JSON.parse(down.data) as { sources: Array<{ source: string }> }).sources;
    assert.deepEqual(
      sources.map((s) => s.source),
      ['simulated'],
      'the sources last seen stay listed',
    );
    relay.restore();
    await until('the database answers again', () => database(statuses().at(-1)!), 30_000);
    assert.deepEqual(statuses().map(database), [true, false, true], 'one event per change, not one per poll');
    viewer.close();
  });
});

describe('dashboard: past spikes on the volume chart', () => {
  const T0 = 1_700_000_000;
  /** One point a minute from T0, in whole seconds as the chart has them. */
  const series = (values: number[]) => values.map((value, i) => ({ time: T0 + i * 60, value }));

  it('marks a point above 3x the mean of the hour before it, not one at exactly 3x', () => {
    // An hour of 10s, then 30 (exactly 3x: not marked), then 40 (above 3x the hour before it,
    // which now holds the 30: mean 10.33, line 31).
    const { spikes, threshold } = spikesOf(series([...Array(60).fill(10), 30, 40]));
    assert.deepEqual(spikes, [T0 + 61 * 60]);
    // The line for now: 3x the mean of the last hour's points (minutes 2 to 61).
    assert.ok(Math.abs(threshold! - (3 * (58 * 10 + 30 + 40)) / 60) < 1e-9, String(threshold));
  });

  it('marks nothing without an hour to judge against: the first points, or a silent hour', () => {
    // A jump in the series' first minutes has fewer than 10 points of baseline before it.
    assert.deepEqual(spikesOf(series([10, 10, 10, 10, 10, 1_000, 10, 10])).spikes, []);
    // The same jump once 10 points precede it is marked.
    assert.deepEqual(spikesOf(series([...Array(10).fill(10), 1_000])).spikes, [T0 + 10 * 60]);
    // Points over an hour old leave the baseline: 10s two hours ago do not make a small rise a spike.
    const late = [
      ...series(Array(30).fill(10)),
      ...series(Array(20).fill(1)).map((p) => ({ ...p, time: p.time + 7_200 })),
    ];
    assert.deepEqual(spikesOf([...late, { time: late.at(-1)!.time + 60, value: 3.5 }]).spikes, [
      late.at(-1)!.time + 60,
    ]);
    // No volume at all in the hour before: nothing to be a multiple of.
    assert.deepEqual(spikesOf(series([...Array(60).fill(0), 5])), { spikes: [], threshold: 3 * (5 / 60) });
    assert.deepEqual(spikesOf([]), { spikes: [], threshold: null });
  });
});
