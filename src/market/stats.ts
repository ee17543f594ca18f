/**
 * Statistics over one market's metric in a window, as pure functions.
 *
 * Exact figures are computed in two passes (mean first, then squared deviations from it), which
 * keeps the variance of a 60,000-dollar price moving by cents accurate where the textbook
 * sum-of-squares formula cancels to noise. The running form (`Moments`) uses Welford's update,
 * and can also remove a value, so window statistics can follow a sliding window tick by tick;
 * removal accumulates rounding, so its users recompute exactly from time to time.
 */
import type { WindowStats } from './queries.js';

/** One observation: time in epoch milliseconds and a finite value. */
export interface Point {
  ts: number;
  value: number;
}

/**
 * Two consecutive samples further apart than this are across a gap: no return is taken between
 * them, so an outage does not pass for one violent minute. 1.5 minutes tolerates a late tick.
 */
export const RETURN_MAX_GAP_MS = 90_000;

export const EMPTY_STATS: Readonly<WindowStats> = Object.freeze({
  count: 0,
  first: null,
  last: null,
  min: null,
  max: null,
  mean: null,
  std: null,
  rsd: null,
  change: null,
  changePct: null,
  logretStd: null,
  firstTs: null,
  lastTs: null,
});

/**
 * Relative std dev. The absolute mean keeps a series that sits below zero (24h change %) from
 * ranking as "least volatile" by sign alone; with a zero mean the figure has no meaning.
 */
export function relativeStd(std: number | null, mean: number | null): number | null {
  if (std === null || mean === null || mean === 0) return null;
  return std / Math.abs(mean);
}

/** Population mean and std dev in two passes; null for an empty list. */
export function meanStd(values: readonly number[]): { mean: number; std: number } | null {
  const n = values.length;
  if (n === 0) return null;
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  let ss = 0;
  // The compensation term corrects the mean's rounding error (corrected two-pass algorithm).
  let comp = 0;
  for (const v of values) {
    const d = v - mean;
    ss += d * d;
    comp += d;
  }
  const variance = Math.max(0, (ss - (comp * comp) / n) / n);
  return { mean: mean + comp / n, std: Math.sqrt(variance) };
}

/**
 * Natural-log returns between consecutive points at most `maxGapMs` apart. Non-positive values
 * have no log and break the chain around them.
 */
export function logReturns(points: readonly Point[], maxGapMs = RETURN_MAX_GAP_MS): number[] {
  const out: number[] = [];
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    if (b.ts - a.ts > maxGapMs || a.value <= 0 || b.value <= 0) continue;
    out.push(Math.log(b.value / a.value));
  }
  return out;
}

export interface StatsOptions {
  /** Compute the std dev of log returns (prices only; volumes and % changes are not prices). */
  logReturns?: boolean;
  maxGapMs?: number;
}

/** Every window statistic of a time-ordered series in one call. */
export function computeStats(points: readonly Point[], opts: StatsOptions = {}): WindowStats {
  const n = points.length;
  if (n === 0) return { ...EMPTY_STATS };
  const values = new Array<number>(n);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = points[i]!.value;
    values[i] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const ms = meanStd(values)!;
  const firstPoint = points[0]!;
  const lastPoint = points[n - 1]!;
  const change = lastPoint.value - firstPoint.value;
  let logretStd: number | null = null;
  if (opts.logReturns) {
    const r = meanStd(logReturns(points, opts.maxGapMs));
    logretStd = r ? r.std : null;
  }
  return {
    count: n,
    first: firstPoint.value,
    last: lastPoint.value,
    min,
    max,
    mean: ms.mean,
    std: ms.std,
    rsd: relativeStd(ms.std, ms.mean),
    change,
    changePct: firstPoint.value === 0 ? null : (change / Math.abs(firstPoint.value)) * 100,
    logretStd,
    firstTs: new Date(firstPoint.ts),
    lastTs: new Date(lastPoint.ts),
  };
}

/** Running count, mean and sum of squared deviations (Welford). */
export interface Moments {
  n: number;
  mean: number;
  m2: number;
}

export function emptyMoments(): Moments {
  return { n: 0, mean: 0, m2: 0 };
}

export function addValue(m: Moments, x: number): void {
  m.n += 1;
  const d = x - m.mean;
  m.mean += d / m.n;
  m.m2 += d * (x - m.mean);
}

/** Takes back a value added earlier; the inverse of addValue up to rounding. */
export function removeValue(m: Moments, x: number): void {
  if (m.n <= 1) {
    m.n = 0;
    m.mean = 0;
    m.m2 = 0;
    return;
  }
  const d = x - m.mean;
  m.n -= 1;
  m.mean -= d / m.n;
  m.m2 -= d * (x - m.mean);
  if (m.m2 < 0) m.m2 = 0;
}

/** Population std dev of the values the moments hold; null when they hold none. */
export function momentsStd(m: Moments): number | null {
  return m.n === 0 ? null : Math.sqrt(Math.max(0, m.m2) / m.n);
}
