import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { initLogger } from '../src/logger.js';
import { CollectorRun, CollectorState, Lease, Market, Sample } from '../src/db/models/index.js';
import { invalidateCatalog, resolveMarket } from '../src/market/catalog.js';
import { alignTick, collectTick, derivePerMinute } from '../src/market/collect/index.js';
import { acquireLease, leaseHolder, releaseLease } from '../src/market/lease.js';
import { pruneSamples } from '../src/market/prune.js';
import { clearDatabase, useTestDatabase } from './support/db.js';
import { FakeKraken, fakeCandle, DEFAULT_PAIRS } from './support/fake-kraken.js';

useTestDatabase('collector');

const T = Date.UTC(2026, 0, 1, 12, 0);
const min = (n: number) => new Date(T + n * 60_000);
let kraken: FakeKraken;
const config = () =>
  loadConfig({
    MARKET_SOURCE: 'kraken',
    KRAKEN_API_URL: kraken.url,
    SOURCE_REQUEST_GAP: '1ms',
    SOURCE_TIMEOUT: '1s',
    LOG_LEVEL: 'silent',
    BACKFILL_MAX: '1h',
  });

/** A tick of an empty database would backfill BACKFILL_MAX; most tests start without history. */
const fresh = { backfillMaxMs: 0 };

before(async () => {
  initLogger(loadConfig({ LOG_LEVEL: 'silent' }));
  kraken = await FakeKraken.start();
});
after(async () => {
  await kraken.stop();
});
beforeEach(async () => {
  await clearDatabase();
  invalidateCatalog();
  kraken.clearFaults();
  kraken.now = T;
  for (const p of DEFAULT_PAIRS) kraken.setTicker(p.key, { volumeToday: 100 });
});

describe('a Kraken tick', () => {
  it('writes one sample per pair at the aligned tick time, with numbers, and records the run', async () => {
    kraken.setTicker('XXBTZUSD', {
      last: 61_000,
      high24: 62_000,
      low24: 59_500,
      open: 60_000,
      volume24: 2_500,
      vwap24: 60_500,
      volumeToday: 1_234.5,
    });
    const result = await collectTick(config(), 'kraken', { tick: min(0), owner: 'a', ...fresh });
    assert.equal(result.status, 'ok');
    assert.equal(result.markets, 4);
    assert.equal(result.inserted, 4);
    const btc = await Sample.findOne({ market: 'kraken:btc-usd' }).lean();
    assert.ok(btc);
    assert.equal(btc.ts.getTime(), T);
    assert.equal(btc.last, 61_000);
    assert.equal(btc.high, 62_000);
    assert.equal(btc.low, 59_500);
    assert.ok(Math.abs(btc.changePct - (1_000 / 60_000) * 100) < 1e-9);
    assert.equal(btc.volume24h, 2_500);
    assert.equal(btc.quoteVolume24h, 2_500 * 60_500);
    assert.equal(btc.volumeCum, 1_234.5);
    assert.equal(btc.volumeMinute, null, 'no previous counter on the first tick');
    assert.deepEqual(
      (await Market.find().sort({ _id: 1 }).lean()).map((m) => m._id),
      ['kraken:btc-eur', 'kraken:btc-usd', 'kraken:eth-usd', 'kraken:sol-usd'],
    );
    const run = await CollectorRun.findOne({ source: 'kraken', tick: min(0) }).lean();
    assert.equal(run?.status, 'ok');
    assert.equal(run?.inserted, 4);
    assert.equal(run?.owner, 'a');
  });

  it('asks only the ticker while it knows every pair, and picks up a newly listed pair without a restart', async () => {
    await collectTick(config(), 'kraken', { tick: min(0), owner: 'a', ...fresh });
    const listings = kraken.requestsTo('/0/public/AssetPairs');
    await collectTick(config(), 'kraken', { tick: min(1), owner: 'a' });
    assert.equal(kraken.requestsTo('/0/public/AssetPairs'), listings, 'no listing on a tick of known pairs');
    kraken.pairs = [
      ...kraken.pairs,
      { key: 'ADAUSD', altname: 'ADAUSD', wsname: 'ADA/USD', base: 'ADA', quote: 'ZUSD', price: 0.45 },
    ];
    kraken.setTicker('ADAUSD', {});
    try {
      const result = await collectTick(config(), 'kraken', { tick: min(2), owner: 'a' });
      assert.equal(result.inserted, 5);
      assert.equal(kraken.requestsTo('/0/public/AssetPairs'), listings + 1);
      assert.equal((await resolveMarket('ada/usd')).id, 'kraken:ada-usd');
    } finally {
      kraken.pairs = kraken.pairs.filter((p) => p.key !== 'ADAUSD');
    }
  });

  it('aligns the tick to the interval, not to the moment of the fetch', () => {
    assert.equal(alignTick(T + 59_999, 60_000).getTime(), T);
    assert.equal(alignTick(T + 44_000, 15_000).getTime(), T + 30_000);
  });

  it('resolves every alias users type to the Kraken market', async () => {
    await collectTick(config(), 'kraken', { tick: min(0), owner: 'a', ...fresh });
    for (const text of [
      'btc-usd',
      'BTC/USD',
      'btcusd',
      'xbt-usd',
      'kraken:btc-usd',
      'kraken:XBTUSD',
      'XXBTZUSD',
      'XBT/USD',
    ]) {
      assert.equal((await resolveMarket(text)).id, 'kraken:btc-usd', text);
    }
    await assert.rejects(resolveMarket('btc-usdx'), /Unknown market "btc-usdx"\. Did you mean kraken:btc-usd/);
  });

  it('tracks only the configured markets when MARKETS is a list', async () => {
    const c = loadConfig({
      MARKET_SOURCE: 'kraken',
      KRAKEN_API_URL: kraken.url,
      SOURCE_REQUEST_GAP: '1ms',
      LOG_LEVEL: 'silent',
      MARKETS: 'btc-usd,XETHZUSD',
    });
    const result = await collectTick(c, 'kraken', { tick: min(0), owner: 'a', ...fresh });
    assert.equal(result.markets, 2);
    assert.deepEqual(
      (await Sample.find().sort({ market: 1 }).lean()).map((s) => s.market),
      ['kraken:btc-usd', 'kraken:eth-usd'],
    );
    const last = kraken.requests.filter((r) => r.path === '/0/public/Ticker').at(-1)!;
    assert.equal(last.query.get('pair'), 'XXBTZUSD,XETHZUSD');
  });

  it('derives per-minute volume from the since-midnight counter, across the 00:00 UTC reset', async () => {
    const midnight = Date.UTC(2026, 0, 2);
    const at = (n: number) => new Date(midnight + n * 60_000);
    const readings: Array<[number, number]> = [
      [-2, 5_000],
      [-1, 5_012],
      [0, 3],
      [1, 10],
      [2, 10],
    ];
    const perMinute: Array<number | null> = [];
    for (const [n, cum] of readings) {
      kraken.setTicker('XXBTZUSD', { volumeToday: cum });
      await collectTick(config(), 'kraken', { tick: at(n), owner: 'a', backfillMaxMs: 0 });
      perMinute.push((await Sample.findOne({ market: 'kraken:btc-usd', ts: at(n) }).lean())!.volumeMinute ?? null);
    }
    // First reading has nothing before it; the minute across midnight has an unknown pre-reset total.
    assert.deepEqual(perMinute, [null, 12, null, 7, 0]);
  });

  it('derives a per-minute rate over several intervals, and none across a long gap or a falling counter', () => {
    assert.equal(derivePerMinute(130, { cum: 100, tick: T }, T + 180_000, 60_000), 10);
    assert.equal(derivePerMinute(130, { cum: 100, tick: T }, T + 360_000, 60_000), null);
    assert.equal(derivePerMinute(90, { cum: 100, tick: T }, T + 60_000, 60_000), null);
    assert.equal(derivePerMinute(130, { cum: 100, tick: T }, T + 15_000, 15_000), 120);
  });

  it('is idempotent: a re-run tick and a retried write create no duplicates', async () => {
    const first = await collectTick(config(), 'kraken', { tick: min(0), owner: 'a', ...fresh });
    const again = await collectTick(config(), 'kraken', { tick: min(0), owner: 'a', ...fresh });
    assert.equal(first.inserted, 4);
    assert.equal(again.status, 'skipped');
    assert.equal(again.reason, 'claimed');
    // A tick recorded as failed after some rows landed is retried, and only the rest is written.
    await CollectorRun.updateOne({ source: 'kraken', tick: min(0) }, { $set: { status: 'failed' } });
    await Sample.deleteMany({ market: { $in: ['kraken:eth-usd', 'kraken:sol-usd'] } });
    const retried = await collectTick(config(), 'kraken', { tick: min(0), owner: 'a', ...fresh });
    assert.equal(retried.status, 'ok');
    assert.equal(retried.inserted, 2);
    assert.equal(retried.duplicates, 2);
    assert.equal(await Sample.countDocuments(), 4);
    assert.equal(await CollectorRun.countDocuments({ tick: min(0) }), 1);
  });

  it('backfills a 30-minute gap from one-minute OHLC candles and records each missed tick', async () => {
    await collectTick(config(), 'kraken', { tick: min(0), owner: 'a', ...fresh });
    kraken.now = min(31).getTime() + 2_000;
    const result = await collectTick(config(), 'kraken', { tick: min(31), owner: 'a' });
    assert.equal(result.status, 'ok');
    assert.equal(result.backfilled, 30 * 4);
    assert.equal(result.gaps, 0);
    const btc = await Sample.find({ market: 'kraken:btc-usd' }).sort({ ts: 1 }).lean();
    assert.deepEqual(
      btc.map((s) => (s.ts.getTime() - T) / 60_000),
      Array.from({ length: 32 }, (_, i) => i),
    );
    // The sample at 12:15 is the candle that opened at 12:14 and closed at 12:15.
    const candle = fakeCandle(DEFAULT_PAIRS[0]!, min(14).getTime() / 1000);
    const rebuilt = btc.find((s) => s.ts.getTime() === min(15).getTime())!;
    assert.equal(rebuilt.last, candle.close);
    assert.equal(rebuilt.volumeMinute, candle.volume);
    assert.ok(rebuilt.high >= rebuilt.last && rebuilt.low <= rebuilt.last);
    const runs = await CollectorRun.find({ source: 'kraken' }).sort({ tick: 1 }).lean();
    assert.equal(runs.length, 32);
    assert.ok(runs.every((r) => r.status === 'ok'));
    assert.equal(runs[5]!.backfilled, 4);
  });

  it('records missed ticks as gaps where the source has no history for them', async () => {
    await collectTick(config(), 'kraken', { tick: min(0), owner: 'a', ...fresh });
    kraken.failNext({ kind: 'status', status: 502 }, { path: '/0/public/OHLC', times: 10 });
    const result = await collectTick(config(), 'kraken', { tick: min(4), owner: 'a' });
    assert.equal(result.status, 'ok');
    assert.equal(result.gaps, 3);
    const gaps = await CollectorRun.find({ source: 'kraken', status: 'gap' }).sort({ tick: 1 }).lean();
    assert.deepEqual(
      gaps.map((g) => g.tick.getTime()),
      [min(1), min(2), min(3)].map((d) => d.getTime()),
    );
  });
});

describe('first start', () => {
  it('backfills up to BACKFILL_MAX when the database has no history of the source', async () => {
    kraken.now = min(0).getTime() + 2_000;
    const result = await collectTick(config(), 'kraken', { tick: min(0), owner: 'a' });
    assert.equal(result.backfilled, 60 * 4);
    assert.equal(await Sample.countDocuments({ market: 'kraken:eth-usd' }), 61);
    const first = await Sample.findOne({ market: 'kraken:eth-usd' }).sort({ ts: 1 }).lean();
    assert.equal(first!.ts.getTime(), min(-60).getTime());
  });
});

describe('several replicas', () => {
  it('lets one of two racing collectors take the lease and the tick, and writes each sample once', async () => {
    const [a, b] = await Promise.all([
      collectTick(config(), 'kraken', { tick: min(0), owner: 'replica-a', ...fresh }),
      collectTick(config(), 'kraken', { tick: min(0), owner: 'replica-b', ...fresh }),
    ]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, ['ok', 'skipped']);
    assert.equal((a.status === 'skipped' ? a : b).reason, 'standby');
    assert.equal(await Sample.countDocuments(), 4);
    assert.equal(await CollectorRun.countDocuments(), 1);
  });

  it('hands the lease over once it lapses or is released, and the new holder goes on without duplicates', async () => {
    const ttl = 90_000;
    const now = new Date(T);
    assert.equal(await acquireLease('collect:x', 'a', ttl, now), true);
    assert.equal(await acquireLease('collect:x', 'b', ttl, new Date(T + 60_000)), false, 'a holds it one tick later');
    assert.equal(await acquireLease('collect:x', 'a', ttl, new Date(T + 60_000)), true, 'the holder renews');
    assert.equal(await acquireLease('collect:x', 'b', ttl, new Date(T + 60_000 + ttl)), true, 'lapsed: b takes over');
    assert.equal(await leaseHolder('collect:x', new Date(T + 60_000 + ttl)), 'b');
    await releaseLease('collect:x', 'b');
    assert.equal(await Lease.countDocuments({ _id: 'collect:x' }), 0);

    // A replica that held the kraken lease dies after tick 0; b takes over within two ticks.
    await collectTick(config(), 'kraken', { tick: min(0), owner: 'a', ...fresh });
    await Lease.updateOne({ _id: 'collect:kraken' }, { $set: { until: new Date(Date.now() - 1) } });
    kraken.now = min(2).getTime() + 2_000;
    const takeover = await collectTick(config(), 'kraken', { tick: min(2), owner: 'b' });
    assert.equal(takeover.status, 'ok');
    assert.equal(takeover.backfilled, 4, 'the tick a missed is rebuilt');
    assert.equal(await Sample.countDocuments({ market: 'kraken:btc-usd' }), 3);
  });
});

describe('prune', () => {
  it('deletes samples and run records older than the retention, and keeps the rest', async () => {
    const c = loadConfig({ MARKET_SOURCE: 'kraken', RETENTION: '7d', LOG_LEVEL: 'silent' });
    const now = new Date(T);
    const day = 86_400_000;
    const doc = (ts: number) => ({
      market: 'kraken:btc-usd',
      ts: new Date(ts),
      source: 'kraken',
      last: 1,
      high: 1,
      low: 1,
      changePct: 0,
      volume24h: 1,
      volumeMinute: 1,
    });
    await Sample.insertMany([doc(T - 8 * day), doc(T - 7 * day - 1), doc(T - 7 * day + 1), doc(T - day)]);
    await CollectorRun.insertMany([
      { source: 'kraken', tick: new Date(T - 8 * day), status: 'ok' },
      { source: 'kraken', tick: new Date(T - day), status: 'ok' },
    ]);
    const result = await pruneSamples(c, now);
    assert.deepEqual({ samples: result.samples, runs: result.runs }, { samples: 2, runs: 1 });
    assert.equal(await Sample.countDocuments(), 2);
    assert.equal((await pruneSamples(c, now)).samples, 0, 'pruning again deletes nothing');
  });
});

describe('state', () => {
  it('keeps one state document per source with the counters of the last tick', async () => {
    kraken.setTicker('XXBTZUSD', { volumeToday: 42 });
    await collectTick(config(), 'kraken', { tick: min(0), owner: 'a', ...fresh });
    const state = await CollectorState.findById('kraken').lean();
    assert.ok(state);
    const i = state.markets.indexOf('kraken:btc-usd');
    assert.equal(state.cums[i], 42);
  });

  it('derives per-minute volume from the stored counters when another replica wrote them since', async () => {
    /** Another replica's state write: btc's counter and the tick, with its own stamp or (an older version) none. */
    const writeAsOther = async (n: number, cum: number, stamp?: string) => {
      const state = (await CollectorState.findById('kraken').lean())!;
      const cums = state.markets.map((m, i) => (m === 'kraken:btc-usd' ? cum : state.cums[i]));
      await CollectorState.collection.updateOne(
        { _id: 'kraken' as never },
        { $set: { tick: min(n), cums, ...(stamp ? { stamp } : {}) } },
      );
    };
    const perMinute = async (n: number, volumeToday: number) => {
      kraken.setTicker('XXBTZUSD', { volumeToday });
      await collectTick(config(), 'kraken', { tick: min(n), owner: 'a', ...(n === 0 ? fresh : {}) });
      return (await Sample.findOne({ market: 'kraken:btc-usd', ts: min(n) }).lean())?.volumeMinute;
    };
    await perMinute(0, 100);
    await writeAsOther(0, 130, 'other-replica');
    assert.equal(
      await perMinute(1, 250),
      120,
      "from the counter the other replica stored (130), not this process's (100)",
    );
    await writeAsOther(2, 280);
    assert.equal(await perMinute(3, 400), 120, 'a write without a stamp is seen by its tick');
  });
});
