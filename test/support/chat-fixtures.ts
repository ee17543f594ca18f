/**
 * Test data for chat tests: a few markets with a day of minute samples (one volume spike), and a
 * config pointing every platform at local fakes.
 */
import { loadConfig, type Config } from '../../src/config.js';
import { initLogger } from '../../src/logger.js';
import { invalidateCatalog, upsertMarkets } from '../../src/market/catalog.js';
import { saveSamples, type SampleInput } from '../../src/market/samples.js';
import { sampleAt } from './samples.js';
import { updateWindowStats } from '../../src/market/window-stats.js';

export const MARKETS = [
  { exchange: 'kraken', base: 'XBT', quote: 'USD', source: 'kraken', symbol: 'XXBTZUSD', price: 64_000, wobble: 0.01 },
  { exchange: 'kraken', base: 'ETH', quote: 'EUR', source: 'kraken', symbol: 'XETHZEUR', price: 3_100, wobble: 0.03 },
  { exchange: 'kraken', base: 'SOL', quote: 'USD', source: 'kraken', symbol: 'SOLUSD', price: 150, wobble: 0.05 },
];

/** Seeds the markets and `minutes` of samples ending at `end` (a spike of volume 10 minutes before the end). */
export async function seedMarkets(end = new Date(), minutes = 24 * 60): Promise<void> {
  await upsertMarkets(
    MARKETS.map(({ exchange, base, quote, source, symbol }) => ({ exchange, base, quote, source, symbol })),
  );
  invalidateCatalog();
  const last = Math.floor(end.getTime() / 60_000) * 60_000;
  const rows: SampleInput[] = [];
  for (const m of MARKETS) {
    const id = `kraken:${m.base === 'XBT' ? 'btc' : m.base.toLowerCase()}-${m.quote.toLowerCase()}`;
    for (let i = minutes - 1; i >= 0; i--) {
      const t = last - i * 60_000;
      const price = m.price * (1 + m.wobble * Math.sin(i / 37) + (m.wobble / 4) * Math.cos(i / 5));
      rows.push(
        sampleAt(id, t, {
          source: m.source,
          last: price,
          high: price * 1.01,
          low: price * 0.99,
          changePct: 1.2,
          volume24h: 1_000 + i,
          quoteVolume24h: (1_000 + i) * price,
          volumeMinute: i === 10 ? 50 : 2 + (i % 3),
        }),
      );
    }
  }
  await saveSamples(rows);
  // What the collector does after each tick: the window statistics rankings and reports read.
  await updateWindowStats({ tick: new Date(last), source: 'kraken' });
}

export function chatConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    MARKET_SOURCE: 'simulated',
    QUICKCHART_URL: 'https://quickchart.example.test',
    COMMAND_RATE_LIMIT_PER_MINUTE: '1000',
    // Every member may change alerting unless a test asks for the admins-only default.
    SLACK_ALERTING_PERMISSION: 'members',
    ...env,
  });
}

/** Silences the process logger for a test file (the registry logs internal failures by design). */
export function quietLogs(): void {
  initLogger(chatConfig());
}
