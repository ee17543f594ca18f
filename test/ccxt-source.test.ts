/**
 * The ccxt source against local servers that play Binance's, Coinbase's and Bitstamp's public REST APIs:
 * full ticks, exact per-minute volume against the fakes' own candles, 429 and 418, a delisting,
 * a pair on two exchanges, backfill after downtime, and the requests each fake receives.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';
import { Market, Sample } from '../src/db/models/index.js';
import { initLogger } from '../src/logger.js';
import { invalidateCatalog, resolveMarket, setSourceOrder } from '../src/market/catalog.js';
import { alignTick, collectTick } from '../src/market/collect/index.js';
import { ccxtExchangeIds, volumePlan } from '../src/market/sources/ccxt-exchanges.js';
import { ccxtCalls, ccxtSource, resetCcxtInstances } from '../src/market/sources/ccxt.source.js';
import { SourceError } from '../src/market/sources/types.js';
import { clearDatabase, useTestDatabase } from './support/db.js';
import { binanceCandleVolume, binanceWeight, FakeBinance } from './support/fake-binance.js';
import {
  BITSTAMP_PER_10_MINUTES,
  BITSTAMP_PER_SECOND,
  bitstampCandleVolume,
  FakeBitstamp,
} from './support/fake-bitstamp.js';
import { coinbaseCandleVolume, FakeCoinbase } from './support/fake-coinbase.js';

useTestDatabase('ccxt');

const MINUTE = 60_000;
let binance: FakeBinance;
let coinbase: FakeCoinbase;
let bitstamp: FakeBitstamp;
/** Each test starts without a kept market list (DATA_DIR/ccxt-markets). */
let dataDir = '';

before(async () => {
  initLogger(loadConfig({ LOG_LEVEL: 'silent' }));
  [binance, coinbase, bitstamp] = await Promise.all([FakeBinance.start(), FakeCoinbase.start(), FakeBitstamp.start()]);
});
after(async () => {
  await Promise.all([binance.stop(), coinbase.stop(), bitstamp.stop()]);
  setSourceOrder([]);
});
beforeEach(async () => {
  await clearDatabase();
  invalidateCatalog();
  resetCcxtInstances();
  dataDir = await mkdtemp(join(tmpdir(), 'ccxt-test-'));
  binance.requests.length = 0;
  coinbase.requests.length = 0;
  bitstamp.requests.length = 0;
  binance.bannedUntil = 0;
  binance.clearFaults();
  coinbase.clearFaults();
  bitstamp.clearFaults();
  binance.now = Date.now();
  coinbase.now = Date.now();
  bitstamp.now = Date.now();
});

function config(extra: Record<string, string> = {}) {
  return loadConfig({
    MARKET_SOURCE: 'binance,coinbase,bitstamp',
    CCXT_API_URLS: `binance=${binance.url},coinbase=${coinbase.url},bitstamp=${bitstamp.url}`,
    DATA_DIR: dataDir,
    ...extra,
  });
}

const within1pct = (actual: number | null | undefined, expected: number, what: string) => {
  assert.ok(actual !== null && actual !== undefined, `${what}: no per-minute volume`);
  assert.ok(Math.abs(actual - expected) <= expected * 0.01, `${what}: ${actual} vs the candle's ${expected}`);
};

describe('the ccxt source on Binance', () => {
  it('collects a full tick: every spot market, prices from the bulk ticker, volume from 1-minute candles', async () => {
    const tick = alignTick(Date.now(), MINUTE);
    const result = await collectTick(config(), 'binance', { tick, owner: 'a', backfillMaxMs: 0 });
    assert.equal(result.status, 'ok', result.error);
    assert.equal(result.inserted, 5);
    const ids = (await Market.find({ source: 'binance' }).sort({ _id: 1 }).lean()).map((m) => m._id);
    assert.deepEqual(ids, [
      'binance:btc-usdc',
      'binance:btc-usdt',
      'binance:eth-btc',
      'binance:eth-usdt',
      'binance:sol-usdt',
    ]);
    const btc = await Sample.findOne({ market: 'binance:btc-usdt' }).lean();
    assert.ok(btc && btc.last > 59_000 && btc.last < 61_000);
    assert.equal(btc.high, 60_000 * 1.02);
    assert.ok(btc.volume24h > 0 && (btc.quoteVolume24h ?? 0) > 0);
    within1pct(btc.volumeMinute, binanceCandleVolume('BTCUSDT', tick.getTime() - MINUTE), 'btc-usdt');
    for (const s of ['ETHUSDT', 'SOLUSDT', 'ETHBTC']) {
      const id = `binance:${s === 'ETHBTC' ? 'eth-btc' : `${s.slice(0, 3).toLowerCase()}-usdt`}`;
      const row = await Sample.findOne({ market: id }).lean();
      within1pct(row?.volumeMinute, binanceCandleVolume(s, tick.getTime() - MINUTE), id);
    }
    assert.equal(binance.requestsTo('/api/v3/ticker/24hr'), 1, 'one bulk ticker call');
    assert.equal(binance.requestsTo('/api/v3/klines'), 5, 'one candle call per market');
  });

  it('loads the markets once over several ticks and stays within the weight limit, at 1 m and at 10 s', async () => {
    const source = ccxtSource('binance', config());
    const now = alignTick(Date.now(), MINUTE).getTime();
    for (let i = 0; i < 6; i++) await source.snapshot({ tick: new Date(now - 5 * MINUTE + i * MINUTE) });
    assert.equal(binance.requestsTo('/api/v3/exchangeInfo'), 1, 'loadMarkets is not repeated');
    assert.equal(ccxtCalls('binance').get('loadMarkets'), 1);
    assert.equal(binance.requestsTo('/api/v3/ticker/24hr'), 6);
    // A second source object for the same exchange (a new tick's) reuses the instance and its markets.
    await ccxtSource('binance', config()).snapshot({ tick: new Date(now) });
    assert.equal(binance.requestsTo('/api/v3/exchangeInfo'), 1);
    // A new process (a worker thread started for one tick) within the hour: the markets come from
    // the copy kept on disk, not from the exchange.
    resetCcxtInstances();
    await ccxtSource('binance', config()).snapshot({ tick: new Date(now) });
    assert.equal(binance.requestsTo('/api/v3/exchangeInfo'), 1, 'no market listing in a new process');
    assert.equal(ccxtCalls('binance').get('restoreMarkets'), 1);
    const weight = binance.requests.reduce((sum, r) => sum + binanceWeight(r.path, r.query), 0);
    assert.ok(weight / 8 <= 6_000 * 0.5, `${weight / 8} weight per tick`);

    // At 10 s, six ticks in one minute ask the candles once.
    binance.requests.length = 0;
    resetCcxtInstances();
    dataDir = await mkdtemp(join(tmpdir(), 'ccxt-test-'));
    const fast = ccxtSource('binance', config({ COLLECT_INTERVAL: '10s' }));
    for (let i = 0; i < 6; i++) await fast.snapshot({ tick: new Date(now + i * 10_000) });
    assert.equal(binance.requestsTo('/api/v3/klines'), 5, 'candles once per closed minute');
    assert.equal(binance.requestsTo('/api/v3/ticker/24hr'), 6);
    const perMinute = binance.requests.reduce((sum, r) => sum + binanceWeight(r.path, r.query), 0);
    assert.ok(perMinute <= 6_000 * 0.5, `${perMinute} weight in a minute at 10 s`);
  });

  it('plans per-minute volume against the documented limit, and refuses it where it cannot fit', () => {
    assert.equal(volumePlan('binance', 5, true, MINUTE).perMinuteVolume, true);
    assert.equal(volumePlan('binance', 2_000, true, MINUTE).perMinuteVolume, false, '2,000 candle calls x 2 > 3,000');
    assert.equal(volumePlan('binance', 600, false, MINUTE).perMinuteVolume, true);
    assert.equal(volumePlan('binance', 100, false, 10_000).perMinuteVolume, true);
    assert.equal(volumePlan('coinbase', 700, true, MINUTE).perMinuteVolume, false);
    assert.equal(volumePlan('coinbase', 40, false, 10_000).perMinuteVolume, true);
    assert.equal(volumePlan('bitstamp', 400, false, MINUTE).perMinuteVolume, true);
    // Within the weight limit, but a minute's candle calls, spaced by ccxt's throttle, would outlast the tick.
    const slow = volumePlan('binance', 1_000, false, 10_000);
    assert.equal(slow.perMinuteVolume, false);
    assert.match(slow.reason, /would take 50 s a tick .* over half the 10 s interval/);
    assert.equal(volumePlan('bitstamp', 100, false, 10_000).perMinuteVolume, false);
  });

  it('answers a 429 with its Retry-After and sends nothing more until it has passed', async () => {
    const source = ccxtSource('binance', config());
    const tick = alignTick(Date.now(), MINUTE);
    binance.failNext({ kind: 'rate-limit', retryAfter: '30' }, { path: '/api/v3/ticker/24hr' });
    const err = await source.snapshot({ tick }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof SourceError && err.kind === 'rate_limited', String(err));
    assert.equal(err.retryAfterMs, 30_000);
    const sent = binance.requests.length;
    await assert.rejects(
      source.snapshot({ tick }),
      (e: unknown) => e instanceof SourceError && e.kind === 'rate_limited',
    );
    assert.equal(binance.requests.length, sent, 'no request while Retry-After runs');
  });

  it('stops at a 418 ban for as long as Retry-After says', async () => {
    binance.bannedUntil = Date.now() + 120_000;
    const source = ccxtSource('binance', config());
    const tick = alignTick(Date.now(), MINUTE);
    const err = await source.snapshot({ tick }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof SourceError && err.kind === 'rate_limited', String(err));
    assert.ok(err.retryAfterMs! > 100_000, `${err.retryAfterMs}`);
    const sent = binance.requests.length;
    for (let i = 0; i < 3; i++) await assert.rejects(source.snapshot({ tick }));
    assert.equal(binance.requests.length, sent, 'a banned client sends nothing');
  });

  it('reports a market delisted between ticks as missing and writes no sample for it', async () => {
    const tick = alignTick(Date.now(), MINUTE);
    const first = await collectTick(config(), 'binance', {
      tick: new Date(tick.getTime() - MINUTE),
      owner: 'a',
      backfillMaxMs: 0,
    });
    assert.equal(first.inserted, 5);
    binance.symbols.find((s) => s.symbol === 'SOLUSDT')!.status = 'BREAK';
    try {
      const snap = await ccxtSource('binance', config()).snapshot({ tick });
      assert.deepEqual(snap.missing, ['binance:sol-usdt']);
      assert.equal(snap.quotes.length, 4);
      const second = await collectTick(config(), 'binance', { tick, owner: 'a', backfillMaxMs: 0 });
      assert.equal(second.inserted, 4);
      assert.equal(await Sample.countDocuments({ market: 'binance:sol-usdt', ts: tick }), 0);
    } finally {
      binance.symbols.find((s) => s.symbol === 'SOLUSDT')!.status = 'TRADING';
    }
  });

  it('backfills 30 minutes of downtime from 1-minute candles, volumes exact', async () => {
    const now = alignTick(Date.now(), MINUTE).getTime();
    const source = ccxtSource('binance', config({ MARKETS: 'btc-usdt@binance' }));
    assert.ok(source.history, 'binance has fetchOHLCV');
    const from = new Date(now - 30 * MINUTE);
    const result = await source.history!({
      markets: [{ id: 'binance:btc-usdt', exchange: 'binance', base: 'btc', quote: 'usdt', symbol: 'BTC/USDT' }],
      from,
      to: new Date(now),
      intervalMs: MINUTE,
    });
    assert.equal(result.covered, 1);
    assert.equal(result.rows.length, 31);
    for (const row of result.rows)
      within1pct(row.volumeMinute, binanceCandleVolume('BTCUSDT', row.ts.getTime() - MINUTE), 'backfill');
    // A day before the gap, in pages of 1,000 candles: two requests.
    assert.equal(binance.requestsTo('/api/v3/klines'), 2);
    assert.ok(result.rows.every((r) => r.volume24h > 0 && r.high >= r.low));
  });

  it('backfills through the collector after a 30-minute outage', async () => {
    const tick = alignTick(Date.now(), MINUTE);
    const cfg = config({ MARKETS: 'btc-usdt@binance,eth-usdt@binance' });
    await collectTick(cfg, 'binance', { tick: new Date(tick.getTime() - 31 * MINUTE), owner: 'a', backfillMaxMs: 0 });
    // A generous deadline: a tick collected late in its minute would otherwise stop the backfill early.
    const result = await collectTick(cfg, 'binance', {
      tick,
      owner: 'a',
      backfillMaxMs: 3_600_000,
      deadline: Date.now() + 60_000,
    });
    assert.equal(result.status, 'ok', result.error);
    assert.equal(result.backfilled, 60, '30 missed minutes x 2 markets');
    const rows = await Sample.find({ market: 'binance:eth-usdt' }).sort({ ts: 1 }).lean();
    assert.equal(rows.length, 32);
    for (const r of rows.slice(1))
      within1pct(r.volumeMinute, binanceCandleVolume('ETHUSDT', r.ts.getTime() - MINUTE), 'eth');
  });
});

describe('the ccxt source on Coinbase', () => {
  it('collects a full tick from the product list, volume from 1-minute candles', async () => {
    const tick = alignTick(Date.now(), MINUTE);
    const result = await collectTick(config(), 'coinbase', { tick, owner: 'a', backfillMaxMs: 0 });
    assert.equal(result.status, 'ok', result.error);
    assert.equal(result.inserted, 3);
    const ids = (await Market.find({ source: 'coinbase' }).sort({ _id: 1 }).lean()).map((m) => m._id);
    assert.deepEqual(ids, ['coinbase:btc-usd', 'coinbase:btc-usdt', 'coinbase:eth-usd']);
    const btc = await Sample.findOne({ market: 'coinbase:btc-usd' }).lean();
    assert.ok(btc && btc.last > 59_000 && btc.last < 61_000);
    within1pct(btc.volumeMinute, coinbaseCandleVolume('BTC-USD', tick.getTime() - MINUTE), 'coinbase btc-usd');
    assert.equal(coinbase.requests.filter((r) => r.path.endsWith('/candles')).length, 3);
  });

  it('lists the products once over several ticks and stays within 10 requests a second, at 1 m and at 10 s', async () => {
    const now = alignTick(Date.now(), MINUTE).getTime();
    const products = () => coinbase.requestsTo('/api/v3/brokerage/market/products');
    const candleCalls = () => coinbase.requests.filter((r) => r.path.endsWith('/candles')).length;
    // The listing is three calls to the product list (spot, then two futures listings), made once.
    const LISTING = 3;
    const slow = ccxtSource('coinbase', config());
    for (let i = 0; i < 5; i++) await slow.snapshot({ tick: new Date(now - 4 * MINUTE + i * MINUTE) });
    assert.equal(products(), LISTING + 5, 'the listing once, then one product list per tick');
    assert.equal(candleCalls(), 5 * 3, 'one candle call per product per tick');
    resetCcxtInstances();
    dataDir = await mkdtemp(join(tmpdir(), 'ccxt-test-'));
    coinbase.requests.length = 0;
    const fast = ccxtSource('coinbase', config({ COLLECT_INTERVAL: '10s' }));
    for (let i = 0; i < 12; i++) await fast.snapshot({ tick: new Date(now + i * 10_000) });
    assert.equal(products(), LISTING + 12);
    assert.equal(candleCalls(), 2 * 3, 'candles once per closed minute');
    const perMinute = (coinbase.requests.length - LISTING) / 2;
    assert.ok(perMinute <= 600 / 2, `${perMinute} requests a minute at 10 s`);
    // ccxt's throttle spaces them: never more than the documented 10 in one second.
    assert.ok(coinbase.peakRequests(1_000) <= 10, `${coinbase.peakRequests(1_000)} requests in one second`);
  });

  it('answers a 429 as a rate limit', async () => {
    coinbase.failNext({ kind: 'rate-limit', retryAfter: '5' }, { path: '/api/v3/brokerage/market/products' });
    const err = await ccxtSource('coinbase', config())
      .snapshot({ tick: alignTick(Date.now(), MINUTE) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof SourceError && err.kind === 'rate_limited', String(err));
  });
});

describe('the ccxt source on Bitstamp', () => {
  const candle = (pair: string, tick: Date) => bitstampCandleVolume(pair, tick.getTime() - MINUTE);

  it('collects a full tick: enabled spot pairs, prices from the all-pairs ticker, volume from 1-minute candles', async () => {
    const tick = alignTick(Date.now(), MINUTE);
    const result = await collectTick(config(), 'bitstamp', { tick, owner: 'a', backfillMaxMs: 0 });
    assert.equal(result.status, 'ok', result.error);
    const ids = (await Market.find({ source: 'bitstamp' }).sort({ _id: 1 }).lean()).map((m) => m._id);
    // The disabled XRP/USD and the BTC/USD perpetual are listed by the exchange but not collected.
    assert.deepEqual(ids, ['bitstamp:btc-eur', 'bitstamp:btc-usd', 'bitstamp:eth-btc', 'bitstamp:eth-usd']);
    assert.equal(result.inserted, 4);
    const btc = await Sample.findOne({ market: 'bitstamp:btc-usd' }).lean();
    assert.ok(btc && btc.last > 59_000 && btc.last < 61_000, `${btc?.last}`);
    assert.equal(btc.high, 60_030 * 1.03);
    assert.equal(btc.low, 60_030 * 0.96);
    assert.equal(btc.volume24h, 800 + 60_030 / 500);
    for (const [id, pair] of [
      ['bitstamp:btc-usd', 'btcusd'],
      ['bitstamp:eth-usd', 'ethusd'],
      ['bitstamp:btc-eur', 'btceur'],
      ['bitstamp:eth-btc', 'ethbtc'],
    ] as const) {
      const row = await Sample.findOne({ market: id, ts: tick }).lean();
      within1pct(row?.volumeMinute, candle(pair, tick), id);
    }
    assert.equal(bitstamp.requestsTo('/api/v2/markets/'), 1);
    assert.equal(bitstamp.requestsTo('/api/v2/ticker/'), 1, 'one ticker call for every pair');
    assert.equal(
      bitstamp.requests.filter((r) => r.path.startsWith('/api/v2/ohlc/')).length,
      4,
      'one candle call per pair',
    );
    assert.ok(
      bitstamp.requests.filter((r) => r.path.startsWith('/api/v2/ohlc/')).every((r) => r.query.get('step') === '60'),
    );
  });

  it('gives per-minute volume as the candles have it at 10 s too, asking the candles once a minute', async () => {
    const source = ccxtSource('bitstamp', config({ COLLECT_INTERVAL: '10s' }));
    const start = alignTick(Date.now(), MINUTE).getTime();
    for (let i = 0; i < 6; i++) {
      const tick = new Date(start + i * 10_000);
      const snap = await source.snapshot({ tick });
      const btc = snap.quotes.find((q) => q.market === 'bitstamp:btc-usd');
      within1pct(btc?.volumeMinute, candle('btcusd', new Date(start)), `tick +${i * 10}s`);
    }
    assert.equal(bitstamp.requestsTo('/api/v2/ticker/'), 6);
    assert.equal(
      bitstamp.requests.filter((r) => r.path.startsWith('/api/v2/ohlc/')).length,
      4,
      'candles once a minute',
    );
  });

  it('stays within the documented limits over several ticks, at 1 m and at 10 s, listing the markets once', async () => {
    const now = alignTick(Date.now(), MINUTE).getTime();
    const slow = ccxtSource('bitstamp', config());
    for (let i = 0; i < 5; i++) await slow.snapshot({ tick: new Date(now - 4 * MINUTE + i * MINUTE) });
    assert.equal(bitstamp.requestsTo('/api/v2/markets/'), 1, 'loadMarkets is not repeated');
    // Per tick at 1 m: the ticker and one candle call per pair.
    assert.equal(bitstamp.requests.length, 1 + 5 * (1 + 4));
    resetCcxtInstances();
    dataDir = await mkdtemp(join(tmpdir(), 'ccxt-test-'));
    bitstamp.requests.length = 0;
    const fast = ccxtSource('bitstamp', config({ COLLECT_INTERVAL: '10s' }));
    for (let i = 0; i < 12; i++) await fast.snapshot({ tick: new Date(now + i * 10_000) });
    // Two minutes at 10 s: 12 tickers, the candles of two minutes, one listing.
    assert.equal(bitstamp.requests.length, 1 + 12 + 2 * 4);
    const perMinuteAt10s = (bitstamp.requests.length - 1) / 2;
    assert.ok(perMinuteAt10s * 10 <= BITSTAMP_PER_10_MINUTES / 2, `${perMinuteAt10s} requests a minute`);
    const perSecond = bitstamp.peakRequests(1_000);
    assert.ok(perSecond <= BITSTAMP_PER_SECOND, `${perSecond} in one second`);
    const per10Minutes = bitstamp.peakRequests(600_000);
    assert.ok(per10Minutes <= BITSTAMP_PER_10_MINUTES, `${per10Minutes} in ten minutes`);
  });

  it('answers a 429 with its Retry-After and sends nothing more until it has passed', async () => {
    const source = ccxtSource('bitstamp', config());
    const tick = alignTick(Date.now(), MINUTE);
    bitstamp.failNext({ kind: 'rate-limit', retryAfter: '20' }, { path: '/api/v2/ticker/' });
    const err = await source.snapshot({ tick }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof SourceError && err.kind === 'rate_limited', String(err));
    assert.equal(err.retryAfterMs, 20_000);
    const sent = bitstamp.requests.length;
    await assert.rejects(
      source.snapshot({ tick }),
      (e: unknown) => e instanceof SourceError && e.kind === 'rate_limited',
    );
    assert.equal(bitstamp.requests.length, sent, 'no request while Retry-After runs');
  });

  it('backfills through the collector after a 30-minute outage, volumes exact', async () => {
    const tick = alignTick(Date.now(), MINUTE);
    const cfg = config({ MARKETS: 'btc-usd@bitstamp,eth-btc@bitstamp' });
    await collectTick(cfg, 'bitstamp', { tick: new Date(tick.getTime() - 31 * MINUTE), owner: 'a', backfillMaxMs: 0 });
    const result = await collectTick(cfg, 'bitstamp', {
      tick,
      owner: 'a',
      backfillMaxMs: 3_600_000,
      deadline: Date.now() + 60_000,
    });
    assert.equal(result.status, 'ok', result.error);
    assert.equal(result.backfilled, 60, '30 missed minutes x 2 pairs');
    for (const [id, pair] of [
      ['bitstamp:btc-usd', 'btcusd'],
      ['bitstamp:eth-btc', 'ethbtc'],
    ] as const) {
      const rows = await Sample.find({ market: id }).sort({ ts: 1 }).lean();
      assert.equal(rows.length, 32, id);
      for (const r of rows.slice(1)) within1pct(r.volumeMinute, candle(pair, r.ts), `${id} ${r.ts.toISOString()}`);
    }
    // A day and a half hour of candles per pair, in pages of at most 1,000.
    const pages = bitstamp.requests.filter((r) => r.path.startsWith('/api/v2/ohlc/'));
    assert.ok(pages.every((r) => Number(r.query.get('limit')) <= 1000));
  });
});

describe('a pair on two exchanges', () => {
  it('keeps one market per exchange, resolves the bare pair to the first source and names the other', async () => {
    setSourceOrder(['binance', 'coinbase']);
    const tick = alignTick(Date.now(), MINUTE);
    await collectTick(config(), 'binance', { tick, owner: 'a', backfillMaxMs: 0 });
    await collectTick(config(), 'coinbase', { tick, owner: 'a', backfillMaxMs: 0 });
    invalidateCatalog();
    const found = await resolveMarket('btc-usdt');
    assert.equal(found.id, 'binance:btc-usdt');
    assert.match(found.note ?? '', /binance comes first in MARKET_SOURCE/);
    assert.match(found.note ?? '', /Also on coinbase: use coinbase:btc-usdt/);
    assert.equal((await resolveMarket('btc-usdt@coinbase')).id, 'coinbase:btc-usdt');
    assert.equal((await resolveMarket('coinbase:BTC/USDT')).id, 'coinbase:btc-usdt');
    // USD and USDT stay apart: btc-usd is coinbase's alone.
    const usd = await resolveMarket('btc-usd');
    assert.equal(usd.id, 'coinbase:btc-usd');
    assert.equal(usd.note, undefined);
    setSourceOrder(['coinbase', 'binance']);
    assert.equal((await resolveMarket('btc-usdt')).id, 'coinbase:btc-usdt');
  });
});

describe('MARKET_SOURCE with ccxt exchange ids', () => {
  it('accepts ids ccxt offers beside the built-in sources, in order', () => {
    const cfg = loadConfig({ MARKET_SOURCE: 'kraken, binance,coinbase,bitstamp' });
    assert.deepEqual(cfg.market.sources, ['kraken', 'binance', 'coinbase', 'bitstamp']);
    assert.ok(ccxtExchangeIds().length > 90, 'ccxt offers about a hundred exchanges');
  });

  it('refuses an unknown id at boot with a clear message', () => {
    assert.throws(
      () => loadConfig({ MARKET_SOURCE: 'kraken,binanse' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /MARKET_SOURCE: "binanse" is not kraken, cryptowatch, simulated nor one of the \d+ exchange ids ccxt offers/.test(
          err.message,
        ),
    );
    assert.throws(
      () => loadConfig({ CCXT_API_URLS: 'binance' }),
      /CCXT_API_URLS: expected exchange=http\(s\):\/\/host pairs/,
    );
  });
});
