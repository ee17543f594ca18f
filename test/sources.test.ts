import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { Market, Sample } from '../src/db/models/index.js';
import { initLogger } from '../src/logger.js';
import { invalidateCatalog, resolveMarket } from '../src/market/catalog.js';
import { collectTick } from '../src/market/collect/index.js';
import { parseRetryAfter } from '../src/market/sources/http.js';
import {
  SOURCES,
  isSimulatedSpike,
  SIMULATED_SPIKE_MULTIPLIER,
  simulatedMarkets,
  simulatedQuote,
} from '../src/market/sources/index.js';
import { parseAssetPairs, parseTicker } from '../src/market/sources/kraken.source.js';
import { splitPair } from '../src/market/sources/cryptowatch.source.js';
import { simulatedMinuteVolume } from '../src/market/sources/simulated.source.js';
import { clearDatabase, useTestDatabase } from './support/db.js';
import { FakeCryptowatch, cwCandleVolume } from './support/fake-cryptowatch.js';

useTestDatabase('sources');

const T = Date.UTC(2026, 0, 1, 12, 0);
const min = (n: number) => new Date(T + n * 60_000);
let cw: FakeCryptowatch;

before(async () => {
  initLogger(loadConfig({ LOG_LEVEL: 'silent' }));
  cw = await FakeCryptowatch.start();
});
after(async () => {
  await cw.stop();
});
beforeEach(async () => {
  await clearDatabase();
  invalidateCatalog();
  cw.apiKey = undefined;
  cw.now = T + 2_000;
});

describe('the Cryptowatch-format source', () => {
  it('collects every market of /markets/summaries, change as a percent, and sends the API key', async () => {
    cw.apiKey = 'cw-key-123';
    const config = loadConfig({
      MARKET_SOURCE: 'cryptowatch',
      CRYPTOWATCH_API_URL: cw.url,
      CRYPTOWATCH_API_KEY: 'cw-key-123',
      SOURCE_REQUEST_GAP: '1ms',
    });
    const result = await collectTick(config, 'cryptowatch', { tick: min(0), owner: 'a', backfillMaxMs: 0 });
    assert.equal(result.status, 'ok', result.error);
    assert.equal(result.inserted, 4);
    const btc = await Sample.findOne({ market: 'kraken:btc-usd' }).lean();
    assert.equal(btc?.last, 60_000);
    assert.ok(Math.abs(btc!.changePct - 1.23) < 1e-9, 'a fraction of 0.0123 is stored as 1.23 %');
    assert.equal(btc?.quoteVolume24h, 2_000 * 60_000);
    assert.equal(btc?.volumeMinute, null, 'MARKETS=all asks no candles');
    assert.deepEqual(
      (await Market.find().sort({ _id: 1 }).lean()).map((m) => m._id),
      ['binance:sol-usdt', 'coinbase-pro:btc-usd', 'kraken:btc-usd', 'kraken:eth-usd'],
    );
    assert.equal((await resolveMarket('coinbase-pro:btcusd')).id, 'coinbase-pro:btc-usd');
    assert.ok(cw.requests.every((r) => r.headers['x-cw-api-key'] === 'cw-key-123'));
  });

  it('takes per-minute volume from the last closed candle when MARKETS is a list', async () => {
    const config = loadConfig({
      MARKET_SOURCE: 'cryptowatch',
      CRYPTOWATCH_API_URL: cw.url,
      SOURCE_REQUEST_GAP: '1ms',
      MARKETS: 'kraken:btc-usd,sol-usdt',
    });
    const result = await collectTick(config, 'cryptowatch', { tick: min(0), owner: 'a', backfillMaxMs: 0 });
    assert.equal(result.inserted, 2);
    const btc = await Sample.findOne({ market: 'kraken:btc-usd' }).lean();
    assert.equal(btc?.volumeMinute, cwCandleVolume(T / 1000));
    assert.ok(cw.requests.some((r) => r.path === '/markets/kraken/btcusd/ohlc' && r.query.get('periods') === '60'));
  });

  it('backfills from OHLC', async () => {
    const config = loadConfig({
      MARKET_SOURCE: 'cryptowatch',
      CRYPTOWATCH_API_URL: cw.url,
      SOURCE_REQUEST_GAP: '1ms',
      MARKETS: 'kraken:eth-usd',
      BACKFILL_MAX: '10m',
    });
    const result = await collectTick(config, 'cryptowatch', { tick: min(0), owner: 'a' });
    assert.equal(result.backfilled, 10);
    const rows = await Sample.find({ market: 'kraken:eth-usd' }).sort({ ts: 1 }).lean();
    assert.equal(rows.length, 11);
    assert.equal(rows[0]!.volumeMinute, cwCandleVolume(min(-10).getTime() / 1000));
  });

  it('splits unseparated pair names by their quote asset', () => {
    assert.deepEqual(splitPair('btcusdt'), { base: 'btc', quote: 'usdt' });
    assert.deepEqual(splitPair('ethbtc'), { base: 'eth', quote: 'btc' });
    assert.equal(splitPair('usd'), undefined);
  });
});

describe('Kraken parsing', () => {
  it('reads AssetPairs names, skips dark pools and offline pairs, and writes XBT as BTC', () => {
    const markets = parseAssetPairs({
      XXBTZUSD: { altname: 'XBTUSD', wsname: 'XBT/USD', base: 'XXBT', quote: 'ZUSD', status: 'online' },
      'XXBTZUSD.d': { altname: 'XBTUSD.d', base: 'XXBT', quote: 'ZUSD' },
      XDGUSD: { altname: 'XDGUSD', wsname: 'XDG/USD', base: 'XXDG', quote: 'ZUSD', status: 'online' },
      OLDUSD: { altname: 'OLDUSD', wsname: 'OLD/USD', base: 'OLD', quote: 'ZUSD', status: 'delisted' },
      XETHZEUR: { altname: 'ETHEUR', base: 'XETH', quote: 'ZEUR' },
    });
    assert.deepEqual(
      markets.map((m) => m.id),
      ['kraken:btc-usd', 'kraken:doge-usd', 'kraken:eth-eur'],
    );
  });

  it('rejects a ticker entry with a missing or non-numeric figure instead of storing NaN', () => {
    const good = { c: ['100', '1'], h: ['110', '111'], l: ['90', '89'], o: '95', v: ['5', '50'], p: ['100', '101'] };
    assert.equal(parseTicker('kraken:x-usd', good)?.high, 111);
    assert.equal(parseTicker('kraken:x-usd', { ...good, c: ['abc', '1'] }), undefined);
    assert.equal(parseTicker('kraken:x-usd', { ...good, v: ['Infinity', '1'] }), undefined);
    assert.equal(parseTicker('kraken:x-usd', { ...good, o: undefined }), undefined);
  });

  it('reads Retry-After as seconds or as a date', () => {
    assert.equal(parseRetryAfter('2'), 2_000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000);
    assert.equal(parseRetryAfter('soon'), undefined);
  });
});

describe('the simulated source', () => {
  const config = loadConfig({
    MARKET_SOURCE: 'simulated',
    SIMULATED_MARKETS: '24',
    SIMULATED_SEED: '7',
    SIMULATED_SPIKE_EVERY: '5m',
  });

  it('is deterministic: the same seed gives the same data for any minute, another seed other data', async () => {
    const a = await SOURCES.simulated(config).snapshot({ tick: min(0) });
    const b = await SOURCES.simulated(config).snapshot({ tick: min(0) });
    const other = await SOURCES.simulated(loadConfig({ MARKET_SOURCE: 'simulated', SIMULATED_SEED: '8' })).snapshot({
      tick: min(0),
    });
    assert.deepEqual(a.quotes, b.quotes);
    assert.notEqual(a.quotes[0]!.last, other.quotes[0]!.last);
    const m = simulatedMarkets(config)[0]!;
    assert.deepEqual(simulatedQuote(config, m, min(0)), { ...a.quotes[0]!, ts: min(0) });
  });

  it('names markets sim:btc-usd, sim:eth-usd, ... at price levels from ~0.00002 to ~60000', async () => {
    const { quotes, markets } = await SOURCES.simulated(config).snapshot({ tick: min(0) });
    assert.equal(markets.length, 24);
    assert.deepEqual(
      markets.slice(0, 2).map((m) => m.id),
      ['sim:btc-usd', 'sim:eth-usd'],
    );
    const prices = quotes.map((q) => q.last);
    assert.ok(
      Math.min(...prices) < 1e-4 && Math.max(...prices) > 3e4,
      `prices ${Math.min(...prices)} .. ${Math.max(...prices)}`,
    );
    for (const q of quotes) {
      assert.ok(q.low <= q.last && q.last <= q.high, q.market);
      assert.ok(q.volumeMinute! > 0 && q.volume24h > q.volumeMinute!, q.market);
    }
  });

  it('injects each market one spike per period, above 3x the preceding hour mean', () => {
    let spikes = 0;
    for (const m of simulatedMarkets(config).slice(0, 6)) {
      const t0 = Math.floor(T / 60_000);
      for (let minute = t0; minute < t0 + 180; minute++) {
        const spike = isSimulatedSpike(m.id, new Date(minute * 60_000), config);
        if (!spike) continue;
        spikes++;
        let sum = 0;
        for (let k = 1; k <= 60; k++) sum += simulatedMinuteVolume(config, m, minute - k);
        assert.ok(simulatedMinuteVolume(config, m, minute) > 3 * (sum / 60), `${m.id} at minute ${minute}`);
      }
    }
    assert.equal(spikes, 6 * 36, 'one every 5 minutes per market');
    assert.ok(SIMULATED_SPIKE_MULTIPLIER >= 10);
    const off = loadConfig({ MARKET_SOURCE: 'simulated', SIMULATED_SPIKE_EVERY: '0' });
    assert.equal(isSimulatedSpike('sim:btc-usd', min(0), off), false);
  });

  it('a tick writes exactly what the generator predicts, and the spike minute carries the spike', async () => {
    const c = loadConfig({
      MARKET_SOURCE: 'simulated',
      SIMULATED_MARKETS: '3',
      SIMULATED_SEED: '7',
      SIMULATED_SPIKE_EVERY: '5m',
    });
    let spikeMinute = 0;
    while (!isSimulatedSpike('sim:eth-usd', min(spikeMinute), c)) spikeMinute++;
    await collectTick(c, 'simulated', { tick: min(spikeMinute), owner: 'a', backfillMaxMs: 0 });
    await collectTick(c, 'simulated', { tick: min(spikeMinute + 1), owner: 'a' });
    const [spike, after] = await Sample.find({ market: 'sim:eth-usd' }).sort({ ts: 1 }).lean();
    const predicted = simulatedQuote(c, simulatedMarkets(c)[1]!, min(spikeMinute));
    assert.equal(spike!.last, predicted.last);
    assert.equal(spike!.volumeMinute, predicted.volumeMinute);
    assert.ok(spike!.volumeMinute! > 5 * after!.volumeMinute!);
  });

  it('backfills 24 hours of history at first start when BACKFILL_MAX allows it', async () => {
    const c = loadConfig({
      MARKET_SOURCE: 'simulated',
      SIMULATED_MARKETS: '2',
      BACKFILL_MAX: '24h',
      COLLECT_INTERVAL: '1m',
    });
    const result = await collectTick(c, 'simulated', { tick: min(0), owner: 'a' });
    assert.equal(result.backfilled, 2 * 1440);
    assert.equal(await Sample.countDocuments({ market: 'sim:btc-usd' }), 1441);
    const oldest = await Sample.findOne({ market: 'sim:btc-usd' }).sort({ ts: 1 }).lean();
    assert.equal(oldest!.ts.getTime(), min(-1440).getTime());
    assert.equal(oldest!.last, simulatedQuote(c, simulatedMarkets(c)[0]!, min(-1440)).last);
  });
});
