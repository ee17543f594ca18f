import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { CollectorRun, Lease, Sample } from '../src/db/models/index.js';
import { initLogger } from '../src/logger.js';
import { ticksTotal, samplesWritten } from '../src/observability/metrics.js';
import { startScheduler, type TickEvent } from '../src/scheduler.js';
import { simulatedMarkets, simulatedQuote } from '../src/market/sources/index.js';
import { useTestDatabase } from './support/db.js';
import { FakeBinance } from './support/fake-binance.js';
import { FakeCoinbase } from './support/fake-coinbase.js';
import { FakeKraken } from './support/fake-kraken.js';
import { until } from './support/wait.js';

const db = useTestDatabase('scheduler');

async function counter(metric: typeof ticksTotal, labels: Record<string, string>): Promise<number> {
  const values = (await metric.get()).values;
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k as keyof typeof v.labels] === l))
    .reduce((a, v) => a + v.value, 0);
}

/** Resolves with the first event that matches, or rejects after `ms`. */
function nextEvent<T>(emitter: NodeJS.EventEmitter, name: string, match: (e: T) => boolean, ms = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no matching ${name} event within ${ms} ms`)), ms);
    const on = (e: T) => {
      if (!match(e)) return;
      clearTimeout(timer);
      emitter.off(name, on);
      resolve(e);
    };
    emitter.on(name, on);
  });
}

before(() => {
  initLogger(loadConfig({ LOG_LEVEL: 'silent' }));
});

describe('the scheduler with real Bree workers', () => {
  it('collects a tick in a worker, runs the after-tick jobs in order, relays figures and emits events', async () => {
    const config = loadConfig({
      MARKET_SOURCE: 'simulated',
      SIMULATED_MARKETS: '5',
      COLLECT_INTERVAL: '5s',
      BACKFILL_MAX: '1m',
      LOG_LEVEL: 'silent',
    });
    const before = await counter(ticksTotal, { source: 'simulated', status: 'ok' });
    const written = await counter(samplesWritten, { source: 'simulated' });
    const scheduler = await startScheduler(config, {
      dbUri: db.uri,
      dbName: db.dbName,
      owner: 'test-replica',
      afterTick: ['prune-samples', 'no-such-job'],
    });
    const order: string[] = [];
    scheduler.events.on('job-done', (e: { name: string }) => order.push(`job-done:${e.name}`));
    scheduler.events.on('tick', () => order.push('tick'));
    try {
      const tick = await nextEvent<TickEvent>(scheduler.events, 'tick', (e) => e.status === 'ok');
      assert.equal(tick.source, 'simulated');
      assert.equal(tick.tick.getTime() % 5_000, 0, 'aligned to the interval');
      assert.ok(tick.inserted === 5, `inserted ${tick.inserted}`);
      assert.deepEqual(order.slice(0, 2), ['job-done:prune-samples', 'tick']);
      const rows = await Sample.find({ ts: tick.tick }).lean();
      assert.equal(rows.length, 5);
      const btc = rows.find((r) => r.market === 'sim:btc-usd')!;
      assert.equal(btc.last, simulatedQuote(config, simulatedMarkets(config)[0]!, tick.tick).last);
      assert.equal(
        (await CollectorRun.findOne({ source: 'simulated', tick: tick.tick }).lean())?.owner,
        'test-replica',
      );
      assert.ok((await counter(ticksTotal, { source: 'simulated', status: 'ok' })) > before);
      assert.ok((await counter(samplesWritten, { source: 'simulated' })) >= written + 5);

      // A tick asked for by name and time runs the same way and resolves when it is done.
      const at = new Date(Math.floor(Date.now() / 5_000) * 5_000 - 3_600_000);
      await scheduler.runJob('collect-simulated', { tick: at.toISOString() });
      assert.equal(await Sample.countDocuments({ ts: at }), 5);
    } finally {
      await scheduler.stop();
    }
    assert.equal(await Lease.countDocuments({ _id: 'collect:simulated' }), 0, 'the lease is handed over on stop');
  });

  it('stops without hanging while a tick waits on a source that does not answer, and writes nothing', async () => {
    const kraken = await FakeKraken.start();
    kraken.failNext({ kind: 'timeout' }, { path: '/0/public/AssetPairs', times: 100 });
    const config = loadConfig({
      MARKET_SOURCE: 'kraken',
      KRAKEN_API_URL: kraken.url,
      SOURCE_TIMEOUT: '60s',
      COLLECT_INTERVAL: '1m',
      SOURCE_REQUEST_GAP: '1ms',
      LOG_LEVEL: 'silent',
    });
    const scheduler = await startScheduler(config, {
      dbUri: db.uri,
      dbName: db.dbName,
      owner: 'stopper',
      autoStart: false,
    });
    try {
      const tick = new Date(Date.UTC(2026, 1, 1, 0, 0));
      const ticked = nextEvent<TickEvent>(scheduler.events, 'tick', () => true);
      const run = scheduler.runJob('collect-kraken', { tick: tick.toISOString() });
      const deadline = Date.now() + 20_000;
      while (kraken.requestsTo('/0/public/AssetPairs') === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      assert.ok(kraken.requestsTo('/0/public/AssetPairs') > 0, 'the worker reached the source');
      const started = Date.now();
      await scheduler.stop();
      assert.ok(Date.now() - started < 8_000, `stop took ${Date.now() - started} ms`);
      await run;
      const event = await ticked;
      assert.equal(event.status, 'failed');
      assert.equal(await Sample.countDocuments({ ts: tick }), 0);
      const record = await CollectorRun.findOne({ source: 'kraken', tick }).lean();
      assert.equal(record?.status, 'failed');
      assert.equal(record?.errorKind, 'cancelled');
    } finally {
      await scheduler.stop();
      await kraken.stop();
    }
  });

  it('runs every ccxt exchange in one worker, each on its own lease, and one hung exchange holds up no other', async () => {
    const [binance, coinbase] = await Promise.all([FakeBinance.start(), FakeCoinbase.start()]);
    const config = loadConfig({
      MARKET_SOURCE: 'binance,coinbase',
      CCXT_API_URLS: `binance=${binance.url},coinbase=${coinbase.url}`,
      DATA_DIR: await mkdtemp(join(tmpdir(), 'scheduler-ccxt-')),
      COLLECT_INTERVAL: '1m',
      BACKFILL_MAX: '1m',
      SOURCE_TIMEOUT: '60s',
      LOG_LEVEL: 'silent',
    });
    const scheduler = await startScheduler(config, {
      dbUri: db.uri,
      dbName: db.dbName,
      owner: 'ccxt-replica',
      autoStart: false,
      stopGraceMs: 2_000,
    });
    const events: TickEvent[] = [];
    scheduler.events.on('tick', (e: TickEvent) => events.push(e));
    const statusOf = (source: string, tick: Date) =>
      events.find((e) => e.source === source && e.tick.getTime() === tick.getTime())?.status;
    const count = (market: RegExp, ts: Date) => Sample.countDocuments({ market, ts });
    const now = Math.floor(Date.now() / 60_000) * 60_000;
    const t1 = new Date(now - 2 * 60_000);
    const t2 = new Date(now - 60_000);
    const t3 = new Date(now);
    try {
      // Another replica holds binance: this one collects coinbase alone, in the shared worker.
      await Lease.create({ _id: 'collect:binance', owner: 'other-replica', until: new Date(Date.now() + 600_000) });
      await Promise.all(
        ['binance', 'coinbase'].map((s) => scheduler.runJob(`collect-${s}`, { tick: t1.toISOString() })),
      );
      assert.deepEqual(scheduler.workers(), ['collect-ccxt'], 'one worker for both exchanges');
      assert.equal(statusOf('binance', t1), 'skipped');
      assert.equal(statusOf('coinbase', t1), 'ok');
      assert.equal(await count(/^coinbase:/, t1), 3);
      assert.equal(await count(/^binance:/, t1), 0);

      // The lease handed over: both collect, still in that one worker.
      await Lease.deleteOne({ _id: 'collect:binance' });
      await Promise.all(
        ['binance', 'coinbase'].map((s) => scheduler.runJob(`collect-${s}`, { tick: t2.toISOString() })),
      );
      assert.equal(statusOf('binance', t2), 'ok');
      assert.equal(statusOf('coinbase', t2), 'ok');
      assert.equal(await count(/^binance:/, t2), 5);
      assert.equal(await count(/^coinbase:/, t2), 3);
      assert.deepEqual(scheduler.workers(), ['collect-ccxt']);
      assert.equal(binance.requestsTo('/api/v3/exchangeInfo'), 1, 'markets listed once for the worker');

      // Binance stops answering (its requests hang): coinbase's tick still runs to its end.
      binance.failNext({ kind: 'timeout' }, { path: '/api/v3/ticker/24hr', times: 100 });
      const held = binance.requestsTo('/api/v3/ticker/24hr');
      const hung = scheduler.runJob('collect-binance', { tick: t3.toISOString() });
      await until('binance asked for its tickers', async () => binance.requestsTo('/api/v3/ticker/24hr') > held);
      await scheduler.runJob('collect-coinbase', { tick: t3.toISOString() });
      assert.equal(statusOf('coinbase', t3), 'ok');
      assert.equal(await count(/^coinbase:/, t3), 3);
      assert.equal(statusOf('binance', t3), undefined, 'the binance tick is still waiting for its answer');
      await scheduler.stop();
      await hung;
    } finally {
      await scheduler.stop();
      await Promise.all([binance.stop(), coinbase.stop()]);
    }
  });
});
