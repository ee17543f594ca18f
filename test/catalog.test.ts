/**
 * Resolving what users type costs little whatever they type: an unknown 64-character name used to
 * be compared with every alias in full (45 to 126 ms of CPU each at 2,000 markets).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import {
  invalidateCatalog,
  resolveMarket,
  suggestionSearches,
  suggestMarkets,
  upsertMarkets,
} from '../src/market/catalog.js';
import { editDistance, editDistanceWithin } from '../src/market/market-id.js';
import { useTestDatabase } from './support/db.js';

useTestDatabase('catalog');

const MARKETS = 2_000;

describe('market lookup cost', () => {
  before(async () => {
    const markets = Array.from({ length: MARKETS }, (_, i) => ({
      exchange: i % 2 ? 'kraken' : 'binance',
      base: `c${i.toString(36)}coin`,
      quote: i % 3 ? 'usd' : 'eur',
      source: 'test',
      symbol: `C${i}COIN/${i % 3 ? 'USD' : 'EUR'}`,
    }));
    markets.push({ exchange: 'kraken', base: 'btc', quote: 'usd', source: 'test', symbol: 'XXBTZUSD' });
    // A long name with no other alias of a near length, so the work limit never cuts its search short.
    markets.push({ exchange: 'kraken', base: 'wrappedbitcoin', quote: 'usd', source: 'test', symbol: 'WBTC/USD' });
    await upsertMarkets(markets);
    invalidateCatalog();
  });

  it('the banded distance agrees with the full one up to its limit', () => {
    const words = ['btc-usd', 'btc-usdx', 'xbtusd', 'kraken:btc-usd', 'eth-eur', '', 'a', 'usd-btc', 'bitcoin'];
    for (const a of words) {
      for (const b of words) {
        for (const max of [0, 1, 2, 4]) {
          assert.equal(editDistanceWithin(a, b, max), Math.min(editDistance(a, b), max + 1), `${a} ${b} ${max}`);
        }
      }
    }
  });

  it('still suggests near names', async () => {
    await assert.rejects(resolveMarket('btc-usdx'), /Unknown market "btc-usdx"\. Did you mean kraken:btc-usd/);
    assert.deepEqual(await suggestMarkets('kraken:btc-usdx', 1), ['kraken:btc-usd']);
    assert.deepEqual(await suggestMarkets('btc-usdx', 1), ['kraken:btc-usd'], 'a remembered miss answers the same');
  });

  it('a remembered miss answers without searching the aliases again', async () => {
    const name = randomBytes(32).toString('hex');
    const before = suggestionSearches();
    await assert.rejects(resolveMarket(name), /Unknown market/);
    assert.equal(suggestionSearches(), before + 1, 'the first miss searches');
    await assert.rejects(resolveMarket(name), /Unknown market/);
    await assert.rejects(resolveMarket(name), /Unknown market/);
    assert.equal(suggestionSearches(), before + 1, 'the same miss again does not');
  });

  it('suggests nothing past 4 edits, however long the name', async () => {
    const long = 'kraken:wrappedbitcoin-usdabcde';
    assert.deepEqual(await suggestMarkets(long.slice(0, -1), 1), ['kraken:wrappedbitcoin-usd'], '4 edits: suggested');
    assert.deepEqual(await suggestMarkets(long, 1), [], '5 edits away: nothing');
  });

  it('60 parallel unknown 64-character names cost well under a second of CPU in all', async () => {
    await resolveMarket('btc-usd');
    const names = Array.from({ length: 60 }, () => randomBytes(32).toString('hex'));
    const cpu = process.cpuUsage();
    const results = await Promise.allSettled(names.map((n) => resolveMarket(n)));
    const { user, system } = process.cpuUsage(cpu);
    const ms = (user + system) / 1000;
    assert.ok(
      results.every((r) => r.status === 'rejected' && /Unknown market/.test(String(r.reason))),
      'each is a user error',
    );
    assert.ok(ms < 400, `took ${ms.toFixed(0)} ms of CPU`);
  });
});
