/**
 * Spike detection as pure functions. A point spikes when its value is strictly greater than
 * `factor` x the mean of the same metric over the hour before it. The point itself is never part
 * of that mean: a spike that counted towards its own baseline would raise the bar it has to clear.
 *
 * The hour before a point at `ts` is the half-open interval [ts - windowMs, ts).
 */

export const SPIKE_WINDOW_MS = 3_600_000;

export interface SpikeRule {
  /** Alert when value > factor x baseline (exactly factor x is not a spike). */
  factor: number;
  /** Fewer points than this in the baseline hour: no verdict. */
  minPoints: number;
}

/** Why a point was not judged a spike; callers log these so a silent channel can be explained. */
export type NoSpikeReason = 'too-few-points' | 'zero-baseline' | 'negative-baseline' | 'below-threshold' | 'no-value';

export type SpikeVerdict =
  | { spike: true; value: number; baseline: number; ratio: number; points: number }
  | {
      spike: false;
      reason: NoSpikeReason;
      value: number | null;
      baseline: number | null;
      ratio: number | null;
      points: number;
    };

/** Judges one value against the sum and count of the points in its baseline hour. */
export function judge(
  value: number | null | undefined,
  window: { sum: number; count: number },
  rule: SpikeRule,
): SpikeVerdict {
  const points = window.count;
  if (value === null || value === undefined || !Number.isFinite(value)) {
    return { spike: false, reason: 'no-value', value: null, baseline: null, ratio: null, points };
  }
  if (points < rule.minPoints || points === 0) {
    return {
      spike: false,
      reason: 'too-few-points',
      value,
      baseline: points ? window.sum / points : null,
      ratio: null,
      points,
    };
  }
  const baseline = window.sum / points;
  if (baseline === 0) return { spike: false, reason: 'zero-baseline', value, baseline, ratio: null, points };
  // "3x the average" has no meaning for a metric averaging below zero (a falling 24h change):
  // every value above a negative threshold would fire.
  if (baseline < 0) return { spike: false, reason: 'negative-baseline', value, baseline, ratio: null, points };
  const ratio = value / baseline;
  if (value > rule.factor * baseline) return { spike: true, value, baseline, ratio, points };
  return { spike: false, reason: 'below-threshold', value, baseline, ratio, points };
}

export interface SeriesPoint {
  ts: Date | number;
  value: number | null;
}

const msOf = (ts: Date | number): number => (typeof ts === 'number' ? ts : ts.getTime());

/** Sum and count of the points in [ts - windowMs, ts), skipping missing values. */
export function baselineWindow(
  series: readonly SeriesPoint[],
  ts: Date | number,
  windowMs = SPIKE_WINDOW_MS,
): { sum: number; count: number } {
  const end = msOf(ts);
  const start = end - windowMs;
  let sum = 0;
  let count = 0;
  for (const p of series) {
    const t = msOf(p.ts);
    if (t < start || t >= end || p.value === null || !Number.isFinite(p.value)) continue;
    sum += p.value;
    count++;
  }
  return { sum, count };
}

/** Judges the point of `series` at `index` against the hour before it. */
export function detectSpikeAt(
  series: readonly SeriesPoint[],
  index: number,
  rule: SpikeRule,
  windowMs = SPIKE_WINDOW_MS,
): SpikeVerdict {
  const point = series[index];
  if (!point) throw new RangeError(`no point at index ${index}`);
  return judge(point.value, baselineWindow(series, point.ts, windowMs), rule);
}

/**
 * The points of one (market, metric) in the last hour, with their running sum, so each tick costs
 * the points that enter and leave rather than a reread of the hour. Points must be added in time
 * order. The sum is compensated (Neumaier), so adding and removing a huge spike leaves no residue
 * that would turn a flat zero series into a tiny positive baseline.
 */
export class HourWindow {
  private ts: number[] = [];
  private values: number[] = [];
  private head = 0;
  private total = 0;
  private compensation = 0;

  constructor(readonly windowMs = SPIKE_WINDOW_MS) {}

  /** Rebuilds a window from stored (ts, value) pairs. */
  static from(points: Iterable<readonly [number, number]>, windowMs = SPIKE_WINDOW_MS): HourWindow {
    const w = new HourWindow(windowMs);
    for (const [t, v] of points) w.add(t, v);
    return w;
  }

  get count(): number {
    return this.ts.length - this.head;
  }

  get sum(): number {
    return this.count === 0 ? 0 : this.total + this.compensation;
  }

  get lastTs(): number | undefined {
    return this.count ? this.ts[this.ts.length - 1] : undefined;
  }

  /** Drops the points that are outside the hour before `ts`. */
  evictBefore(ts: number): void {
    const start = ts - this.windowMs;
    while (this.head < this.ts.length && this.ts[this.head]! < start) {
      this.accumulate(-this.values[this.head]!);
      this.head++;
    }
    if (this.head === this.ts.length) {
      this.reset();
    } else if (this.head > 64 && this.head * 2 > this.ts.length) {
      this.ts = this.ts.slice(this.head);
      this.values = this.values.slice(this.head);
      this.head = 0;
    }
  }

  /** Judges a value at `ts` against the hour before it (the point itself excluded). */
  judgeAt(ts: number, value: number | null | undefined, rule: SpikeRule): SpikeVerdict {
    this.evictBefore(ts);
    return judge(value, this, rule);
  }

  add(ts: number, value: number): void {
    const last = this.lastTs;
    if (last !== undefined && ts <= last)
      throw new RangeError(`points must be added in time order (${ts} after ${last})`);
    this.evictBefore(ts);
    this.ts.push(ts);
    this.values.push(value);
    this.accumulate(value);
  }

  *points(): IterableIterator<[number, number]> {
    for (let i = this.head; i < this.ts.length; i++) yield [this.ts[i]!, this.values[i]!];
  }

  private reset(): void {
    this.ts = [];
    this.values = [];
    this.head = 0;
    this.total = 0;
    this.compensation = 0;
  }

  private accumulate(x: number): void {
    const t = this.total + x;
    if (Math.abs(this.total) >= Math.abs(x)) this.compensation += this.total - t + x;
    else this.compensation += x - t + this.total;
    this.total = t;
  }
}
