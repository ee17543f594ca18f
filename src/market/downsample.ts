/**
 * Downsampling a series for charts. Each bucket keeps its min, max and last value, so a one-minute
 * spike still shows as the bucket's max after a day of minutes becomes ninety points (an average
 * would flatten it to a bump). Buckets are fixed time slices of the window, so a gap in the data
 * stays a gap in the chart instead of being squeezed out.
 */
import type { Point } from './stats.js';

export interface SeriesBucket {
  /** Start of the bucket's time slice (the point's own time when no downsampling was needed). */
  ts: Date;
  min: number;
  max: number;
  last: number;
}

/**
 * Reduces time-ordered `points` within [start, end) to at most `buckets` buckets in one pass.
 * A series already short enough comes back point by point.
 */
export function downsample(points: readonly Point[], buckets: number, start: number, end: number): SeriesBucket[] {
  if (!Number.isInteger(buckets) || buckets < 1)
    throw new RangeError(`buckets must be a positive integer, got ${buckets}`);
  if (points.length <= buckets)
    return points.map((p) => ({ ts: new Date(p.ts), min: p.value, max: p.value, last: p.value }));
  const span = Math.max(1, end - start);
  const width = span / buckets;
  const out: SeriesBucket[] = [];
  let current: SeriesBucket | undefined;
  let currentIndex = -1;
  for (const p of points) {
    const index = Math.min(buckets - 1, Math.max(0, Math.floor((p.ts - start) / width)));
    if (index !== currentIndex || !current) {
      current = { ts: new Date(Math.round(start + index * width)), min: p.value, max: p.value, last: p.value };
      currentIndex = index;
      out.push(current);
      continue;
    }
    if (p.value < current.min) current.min = p.value;
    if (p.value > current.max) current.max = p.value;
    current.last = p.value;
  }
  return out;
}
