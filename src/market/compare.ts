/**
 * One pair across every exchange collected: each exchange's last price, its deviation from the
 * median of them all, and the spread between the cheapest and the dearest. The pair is matched
 * exactly, so btc-usd and btc-usdt are different pairs.
 */
import { Sample } from '../db/models/index.js';
import { UserError } from '../errors.js';
import { listMarkets, resolveMarket } from './catalog.js';

export interface CompareRow {
  market: string;
  exchange: string;
  source: string;
  last: number;
  /** When that price was collected. */
  ts: Date;
  /** (last - median) / median, in percent. */
  deviationPct: number;
}

export interface Comparison {
  pair: string;
  base: string;
  quote: string;
  /** Cheapest first. */
  rows: CompareRow[];
  median: number;
  cheapest: string;
  dearest: string;
  spreadAbs: number;
  /** (dearest - cheapest) / cheapest, in percent. */
  spreadPct: number;
  /** Exchanges that list the pair but have no price in the last `maxAgeMs`. */
  stale: string[];
}

/** Prices older than this are left out: they would compare an exchange's past with another's present. */
export const COMPARE_MAX_AGE_MS = 15 * 60_000;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function comparePair(text: string, now = new Date()): Promise<Comparison> {
  if (typeof text !== 'string' || text.trim() === '')
    throw new UserError('Which pair?', 'Name a pair like btc-usd or eth-usdt.', 400);
  const found = await resolveMarket(text);
  const { base, quote } = found;
  const pair = `${base}-${quote}`;
  const markets = (await listMarkets()).filter((m) => m.active && m.base === base && m.quote === quote);
  const since = new Date(now.getTime() - COMPARE_MAX_AGE_MS);
  const latest = await Promise.all(
    markets.map((m) =>
      Sample.findOne({ market: m.id, ts: { $gte: since, $lte: now } }, { last: 1, ts: 1, _id: 0 })
        .sort({ ts: -1 })
        .lean(),
    ),
  );
  const priced: Array<Omit<CompareRow, 'deviationPct'>> = [];
  const stale: string[] = [];
  markets.forEach((m, i) => {
    const s = latest[i];
    if (s && Number.isFinite(s.last) && s.last > 0)
      priced.push({ market: m.id, exchange: m.exchange, source: m.source, last: s.last, ts: s.ts });
    else stale.push(m.id);
  });
  if (priced.length === 0) {
    throw new UserError(
      `No exchange has a price for ${pair} in the last ${COMPARE_MAX_AGE_MS / 60_000} minutes.`,
      'The collector records one a minute; try again shortly.',
      404,
    );
  }
  const mid = median(priced.map((p) => p.last));
  const rows = priced
    .map((p) => ({ ...p, deviationPct: ((p.last - mid) / mid) * 100 }))
    .sort((a, b) => a.last - b.last || a.market.localeCompare(b.market));
  const cheapest = rows[0]!;
  const dearest = rows[rows.length - 1]!;
  return {
    pair,
    base,
    quote,
    rows,
    median: mid,
    cheapest: cheapest.market,
    dearest: dearest.market,
    spreadAbs: dearest.last - cheapest.last,
    spreadPct: ((dearest.last - cheapest.last) / cheapest.last) * 100,
    stale: stale.sort(),
  };
}
