/**
 * Names across exchanges: a Cryptowatch-format API that lists one pair on three exchanges (names
 * with a hyphen and a digit), `pair@exchange`, the rule that picks one exchange for a bare pair and
 * the note that says so.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { marketChoices } from '../src/chat/discord.adapter.js';
import { loadConfig } from '../src/config.js';
import { Market } from '../src/db/models/index.js';
import { initLogger } from '../src/logger.js';
import { invalidateCatalog, resolveMarket, setSourceOrder, suggestMarkets } from '../src/market/catalog.js';
import { collectTick } from '../src/market/collect/index.js';
import { normaliseInput } from '../src/market/market-id.js';
import { clearDatabase, useTestDatabase } from './support/db.js';
import { FakeCryptowatch } from './support/fake-cryptowatch.js';

useTestDatabase('names');

const T = Date.UTC(2026, 0, 1, 12, 0);
let cw: FakeCryptowatch;

const market = (key: string, last: number, volume: number) => ({
  key,
  last,
  high: last * 1.01,
  low: last * 0.99,
  changeFraction: 0.01,
  volume,
});

before(async () => {
  initLogger(loadConfig({ LOG_LEVEL: 'silent' }));
  cw = await FakeCryptowatch.start([
    // 24h quote volumes: kraken 120 M, coinbase-pro 300 M, bit2c 6 M.
    market('kraken:btcusd', 60_000, 2_000),
    market('coinbase-pro:btcusd', 60_010, 5_000),
    market('bit2c:btcusd', 60_020, 100),
    market('hitbtc:cbceth', 0.0001, 1_000_000),
    market('gate-io2:ethusdt', 3_000, 10),
  ]);
  cw.now = T + 2_000;
});
after(async () => {
  await cw.stop();
  setSourceOrder([]);
});
beforeEach(async () => {
  await clearDatabase();
  invalidateCatalog();
});

async function collect(): Promise<void> {
  const config = loadConfig({ MARKET_SOURCE: 'cryptowatch', CRYPTOWATCH_API_URL: cw.url, SOURCE_REQUEST_GAP: '1ms' });
  const result = await collectTick(config, 'cryptowatch', { tick: new Date(T), owner: 'a', backfillMaxMs: 0 });
  assert.equal(result.status, 'ok', result.error);
  invalidateCatalog();
}

describe('exchange names with a hyphen or a digit', () => {
  it('splits the pair after the exchange, not the whole id', async () => {
    await collect();
    const docs = await Market.find().sort({ _id: 1 }).lean();
    const byId = new Map(docs.map((d) => [d._id, d]));
    assert.deepEqual(
      [...byId.keys()],
      ['bit2c:btc-usd', 'coinbase-pro:btc-usd', 'gate-io2:eth-usdt', 'hitbtc:cbc-eth', 'kraken:btc-usd'],
    );
    const pro = byId.get('coinbase-pro:btc-usd')!;
    assert.deepEqual([pro.exchange, pro.base, pro.quote], ['coinbase-pro', 'btc', 'usd']);
    const gate = byId.get('gate-io2:eth-usdt')!;
    assert.deepEqual([gate.exchange, gate.base, gate.quote], ['gate-io2', 'eth', 'usdt']);
    assert.equal((await resolveMarket('eth-usdt@gate-io2')).id, 'gate-io2:eth-usdt');
    assert.equal((await resolveMarket('coinbase-pro:BTC/USD')).id, 'coinbase-pro:btc-usd');
  });
});

describe('a pair that one source lists on three exchanges', () => {
  it('answers the bare pair with the highest 24h quote volume, and says which and where else', async () => {
    await collect();
    const found = await resolveMarket('btc-usd');
    assert.equal(found.id, 'coinbase-pro:btc-usd');
    assert.match(found.note ?? '', /listed on 3 exchanges; showing coinbase-pro:btc-usd/);
    assert.match(found.note ?? '', /highest 24h quote volume/);
    assert.match(found.note ?? '', /kraken: use kraken:btc-usd/);
    assert.match(found.note ?? '', /bit2c: use bit2c:btc-usd/);
  });

  it('follows the volumes when they change', async () => {
    cw.markets.find((m) => m.key === 'kraken:btcusd')!.volume = 50_000;
    try {
      await collect();
      assert.equal((await resolveMarket('btcusd')).id, 'kraken:btc-usd');
    } finally {
      cw.markets.find((m) => m.key === 'kraken:btcusd')!.volume = 2_000;
    }
  });

  it('picks one exchange without a note when it is named, as exchange:pair or pair@exchange', async () => {
    await collect();
    for (const text of ['kraken:btc-usd', 'btc-usd@kraken', 'BTC/USD@kraken', 'kraken:xbtusd']) {
      const found = await resolveMarket(text);
      assert.equal(found.id, 'kraken:btc-usd', text);
      assert.equal(found.note, undefined, text);
    }
    assert.equal(normaliseInput('btc-usd@bit2c'), 'bit2c:btc-usd');
  });

  it('autocompletes a whole pair with every exchange that has it, first', async () => {
    await collect();
    const choices = await marketChoices('btc-usd');
    assert.deepEqual(
      choices.slice(0, 3).map((c) => c.value),
      ['bit2c:btc-usd', 'coinbase-pro:btc-usd', 'kraken:btc-usd'],
    );
    assert.equal(choices[0]!.name, 'bit2c:btc-usd (btc-usd on bit2c)');
    assert.deepEqual(
      (await marketChoices('btc-usd@kraken')).map((c) => c.value),
      ['kraken:btc-usd'],
    );
  });

  it('names every exchange that has the pair in "did you mean"', async () => {
    await collect();
    const suggestions = await suggestMarkets('btc-usdd');
    for (const id of ['bit2c:btc-usd', 'coinbase-pro:btc-usd', 'kraken:btc-usd'])
      assert.ok(suggestions.includes(id), id);
    await assert.rejects(
      resolveMarket('btc-usdd'),
      /Did you mean .*bit2c:btc-usd.*coinbase-pro:btc-usd.*kraken:btc-usd/,
    );
  });
});
