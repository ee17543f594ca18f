/**
 * Market data for the dashboard's tests and screenshots, written the way a tick writes it: the
 * catalog, one sample per market per minute, the window statistics pass that follows a tick, and
 * the tick's collector run record.
 */
import { CollectorRun } from '../../src/db/models/index.js';
import { invalidateCatalog, upsertMarkets } from '../../src/market/catalog.js';
import { clearQueryCaches } from '../../src/market/queries.js';
import { saveSamples, type SampleInput } from '../../src/market/samples.js';
import { updateWindowStats } from '../../src/market/window-stats.js';

export const MINUTE = 60_000;
export const BASES = ['btc', 'eth', 'sol', 'xrp', 'ada', 'doge', 'dot', 'ltc', 'link', 'atom', 'shib', 'avax'];

export interface Seeded {
  markets: string[];
  /** The newest tick written, ms. */
  tick: number;
}

function priceOf(i: number, minute: number): number {
  const base =
    [60_000, 3_000, 150, 0.6, 0.45, 0.12, 7, 80, 14, 9, 0.00002, 35][i % 12]! * (1 + Math.floor(i / 12) / 10);
  const wave = Math.sin(minute / (20 + i)) * 0.01 + Math.sin(minute / 170) * 0.02 * ((i % 3) + 1);
  return base * (1 + wave);
}

function volumeOf(i: number, minute: number): number {
  // A spike every 97 minutes per market, so the volume chart has past spikes to mark.
  const spike = (minute + i * 13) % 97 === 0 ? 12 : 1;
  return (5 + (((minute * 7 + i * 3) % 11) / 11) * 2) * spike;
}

function samplesAt(markets: string[], minute: number, ts: number): SampleInput[] {
  return markets.map((market, i) => {
    const last = priceOf(i, minute);
    return {
      market,
      ts: new Date(ts),
      source: 'simulated',
      last,
      high: last * 1.01,
      low: last * 0.99,
      changePct: ((minute % 200) - 100) / 20 + (i % 5) - 2,
      volume24h: 10_000,
      quoteVolume24h: 10_000 * last,
      volumeMinute: volumeOf(i, minute),
    };
  });
}

export function marketIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    i < BASES.length ? `sim:${BASES[i]}-usd` : `sim:${BASES[i % BASES.length]}${Math.floor(i / BASES.length)}-usd`,
  );
}

/** `count` markets with `minutes` of history ending at the last whole minute. */
export async function seedMarkets(count: number, minutes: number, now = Date.now()): Promise<Seeded> {
  const markets = marketIds(count);
  await upsertMarkets(
    markets.map((id) => ({
      exchange: 'sim',
      base: id.slice(4, id.indexOf('-')),
      quote: 'usd',
      source: 'simulated',
      symbol: id.slice(4).replace('-', '').toUpperCase(),
    })),
  );
  invalidateCatalog();
  const tick = Math.floor(now / MINUTE) * MINUTE;
  const batch: SampleInput[] = [];
  for (let k = 0; k < minutes; k++) {
    batch.push(...samplesAt(markets, k, tick - (minutes - 1 - k) * MINUTE));
    if (batch.length >= 5_000) await saveSamples(batch.splice(0));
  }
  await saveSamples(batch);
  await updateWindowStats({ tick: new Date(tick), source: 'simulated' });
  await CollectorRun.create({ source: 'simulated', tick: new Date(tick), status: 'ok', finishedAt: new Date() });
  clearQueryCaches();
  return { markets, tick };
}

/** One more tick, one minute after the last: samples, then the run record, then the statistics. */
export async function nextTick(seeded: Seeded, minuteIndex: number): Promise<number> {
  const tick = seeded.tick + MINUTE;
  await saveSamples(samplesAt(seeded.markets, minuteIndex, tick));
  await CollectorRun.create({ source: 'simulated', tick: new Date(tick), status: 'ok', finishedAt: new Date() });
  await updateWindowStats({ tick: new Date(tick), source: 'simulated' });
  seeded.tick = tick;
  return tick;
}
