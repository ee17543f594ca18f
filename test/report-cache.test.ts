/**
 * The report cache is bounded by bytes, not by entry count, and drops answers of an older stats
 * version as soon as a newer one is seen.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { marketStats } from '../src/db/collections.js';
import {
  DEFAULT_REPORT_CACHE_BYTES,
  clearQueryCaches,
  configureReportCache,
  getMarketReport,
  reportCacheUsage,
} from '../src/market/queries.js';
import { seedMarkets } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';
import { until } from './support/wait.js';

useTestDatabase('report_cache');

const BOUND = 256 * 1024;

describe('report cache', () => {
  before(async () => {
    await seedMarkets(new Date(), 120);
    clearQueryCaches();
    configureReportCache(BOUND);
  });
  after(() => configureReportCache(DEFAULT_REPORT_CACHE_BYTES));

  it('stays under its byte bound however many distinct reports are asked for', async () => {
    let asked = 0;
    for (const market of ['btc-usd', 'eth-eur', 'sol-usd']) {
      for (const metric of ['price', 'volume'] as const) {
        for (let points = 2; points <= 500; points += 37) {
          await getMarketReport(market, { metric, points });
          asked += 1;
          const usage = reportCacheUsage();
          assert.ok(usage.bytes <= BOUND, `${usage.bytes} bytes kept, bound ${BOUND}`);
        }
      }
    }
    const usage = reportCacheUsage();
    assert.ok(usage.entries > 0 && usage.entries < asked, `${usage.entries} of ${asked} reports kept`);
    assert.ok(usage.bytes > BOUND / 2, 'the bound is used, not left empty');
  });

  it('a smaller bound drops the oldest reports at once', () => {
    configureReportCache(BOUND / 4);
    assert.ok(reportCacheUsage().bytes <= BOUND / 4);
    configureReportCache(BOUND);
  });

  it('drops reports of an older stats version once a newer one is seen', async () => {
    await getMarketReport('btc-usd', { points: 10 });
    await getMarketReport('eth-eur', { points: 10 });
    assert.ok(reportCacheUsage().entries > 1);
    await marketStats().updateOne(
      { _id: '~version' },
      { $set: { at: new Date(Date.now() + 60_000) } },
      { upsert: true },
    );
    // The version is read at most once a second; ask until the new one is seen.
    await until('the stale reports to be dropped', async () => {
      await getMarketReport('btc-usd', { points: 11 });
      return reportCacheUsage().entries === 1;
    });
  });
});
