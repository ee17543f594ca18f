/**
 * Window statistics of one source's markets, kept in memory by the pipeline and slid tick by
 * tick: every value that enters a window is added, every value that leaves it (read from the
 * frame of one window ago) is removed, and log returns are chained and unchained with them.
 * Layout and sizes: docs/scaling.md ("What the pipeline keeps in memory").
 *
 * Per market, window and metric the book holds ten numbers: Welford moments (n, mean, m2), the
 * newest point (value, time), the moments of log returns (n, mean, m2) and a compensated sum
 * (sum, compensation) from which a spike's baseline mean is read exactly.
 */
import { METRICS, METRIC_ORDER, WINDOWS, WINDOW_NAMES, type MetricName, type WindowName } from '../metrics.js';
import { RETURN_MAX_GAP_MS, meanStd } from '../stats.js';
import { WIDTH, type Frame } from './frames.js';

export const FIELDS = 10;
const N = 0;
const MU = 1;
const M2 = 2;
const L = 3;
const LT = 4;
const RN = 5;
const RMU = 6;
const RM2 = 7;
const S = 8;
const C = 9;

const NW = WINDOW_NAMES.length;
const STRIDE = NW * WIDTH * FIELDS;
const WINDOW_MS = WINDOW_NAMES.map((w) => WINDOWS[w]);
const IS_PRICE = METRIC_ORDER.map((m) => METRICS[m].isPrice);
const ONE_HOUR = WINDOW_NAMES.indexOf('1h');
const LONGEST = WINDOW_MS.indexOf(Math.max(...WINDOW_MS));

export function windowIndex(w: WindowName): number {
  return WINDOW_NAMES.indexOf(w);
}
export function metricIndex(m: MetricName): number {
  return METRIC_ORDER.indexOf(m);
}

/** One market's figures for one window and metric. */
export interface AccView {
  n: number;
  mean: number;
  m2: number;
  last: number | null;
  lastTs: number | null;
  rn: number;
  rmean: number;
  rm2: number;
  sum: number;
}

/** The baseline hour [ts - 1h, ts) of each metric, as it stood just before a new point was added. */
export interface Baseline {
  ts: number;
  /** Per metric in METRIC_ORDER: count and exact sum of the hour before. */
  count: Float64Array;
  sum: Float64Array;
  /** The new point's values (NaN where absent). */
  values: Float64Array;
}

export interface FoldFigures {
  added: number;
  removed: number;
}

export class WindowBook {
  /** The tick the statistics are as of: each window is (asOf - window, asOf]. */
  asOf = 0;
  readonly markets: string[] = [];
  readonly slots = new Map<string, number>();
  acc = new Float64Array(0);
  /** Per slot, when the market was last recomputed exactly (epoch ms). */
  exactAt = new Float64Array(0);
  /**
   * Per slot, a time no point of the longest window is older than (epoch ms, 0 when unknown): an
   * exact recompute reads the market's samples from there, not from a week back.
   */
  since = new Float64Array(0);

  constructor(readonly source: string) {}

  get size(): number {
    return this.markets.length;
  }

  /** Bytes the book's numbers take. */
  get bytes(): number {
    return this.acc.byteLength + this.exactAt.byteLength + this.since.byteLength;
  }

  slotOf(market: string, create = true): number | undefined {
    let slot = this.slots.get(market);
    if (slot === undefined && create) {
      slot = this.markets.length;
      this.markets.push(market);
      this.slots.set(market, slot);
      if ((slot + 1) * STRIDE > this.acc.length) {
        const grown = new Float64Array(Math.max(STRIDE * 64, this.acc.length * 2));
        grown.set(this.acc);
        this.acc = grown;
        const ex = new Float64Array(grown.length / STRIDE);
        ex.set(this.exactAt);
        this.exactAt = ex;
        const since = new Float64Array(grown.length / STRIDE);
        since.set(this.since);
        this.since = since;
      }
      this.resetSlot(slot);
    }
    return slot;
  }

  resetSlot(slot: number): void {
    const base = slot * STRIDE;
    this.acc.fill(0, base, base + STRIDE);
    for (let w = 0; w < NW; w++) {
      for (let k = 0; k < WIDTH; k++) {
        const o = base + (w * WIDTH + k) * FIELDS;
        this.acc[o + L] = Number.NaN;
        this.acc[o + LT] = Number.NaN;
      }
    }
  }

  view(market: string, w: WindowName, m: MetricName): AccView | undefined {
    const slot = this.slots.get(market);
    if (slot === undefined) return undefined;
    const o = slot * STRIDE + (windowIndex(w) * WIDTH + metricIndex(m)) * FIELDS;
    const a = this.acc;
    return {
      n: a[o + N]!,
      mean: a[o + MU]!,
      m2: a[o + M2]!,
      last: Number.isNaN(a[o + L]!) ? null : a[o + L]!,
      lastTs: Number.isNaN(a[o + LT]!) ? null : a[o + LT]!,
      rn: a[o + RN]!,
      rmean: a[o + RMU]!,
      rm2: a[o + RM2]!,
      sum: a[o + S]! + a[o + C]!,
    };
  }

  /** The ten numbers of every market for one window and metric, in slot order (for storage). */
  column(w: number, k: number): Float64Array {
    const out = new Float64Array(this.size * FIELDS);
    for (let slot = 0; slot < this.size; slot++) {
      const o = slot * STRIDE + (w * WIDTH + k) * FIELDS;
      out.set(this.acc.subarray(o, o + FIELDS), slot * FIELDS);
    }
    return out;
  }

  setColumn(w: number, k: number, markets: readonly string[], values: Float64Array): void {
    for (let i = 0; i < markets.length; i++) {
      const slot = this.slotOf(markets[i]!)!;
      const o = slot * STRIDE + (w * WIDTH + k) * FIELDS;
      this.acc.set(values.subarray(i * FIELDS, (i + 1) * FIELDS), o);
    }
  }

  /**
   * Brings every window from (asOf - W, asOf] to (tick - W, tick]. `added` are the frames after
   * asOf up to the tick; `edges` every frame from asOf minus the longest window on (the values
   * leaving, and the points just after them, which unchain a log return). Returns the spike
   * baseline of each new point, per market.
   */
  fold(
    tick: number,
    added: readonly Frame[],
    edges: ReadonlyMap<number, Frame>,
  ): {
    baselines: Map<string, Baseline[]>;
    figures: FoldFigures;
  } {
    const A = this.asOf;
    const figures: FoldFigures = { added: 0, removed: 0 };
    const baselines = new Map<string, Baseline[]>();
    const newFrames = added.filter((f) => f.tick > A && f.tick <= tick).sort((a, b) => a.tick - b.tick);

    // Per market: the new points, in time order.
    const newBy = new Map<number, Array<{ ts: number; frame: Frame; col: number }>>();
    for (const f of newFrames) {
      for (let col = 0; col < f.markets.length; col++) {
        const slot = this.slotOf(f.markets[col]!)!;
        let list = newBy.get(slot);
        if (!list) {
          list = [];
          newBy.set(slot, list);
        }
        list.push({ ts: f.tick, frame: f, col });
      }
    }

    // Per window: the stored frames whose values leave it, plus those just after (next points).
    const edgeFrames = [...edges.values()].sort((a, b) => a.tick - b.tick);
    const leaving: Array<Map<number, Array<{ ts: number; frame: Frame; col: number }>>> = [];
    for (let w = 0; w < NW; w++) {
      const from = A - WINDOW_MS[w]!;
      const to = tick - WINDOW_MS[w]! + RETURN_MAX_GAP_MS;
      const by = new Map<number, Array<{ ts: number; frame: Frame; col: number }>>();
      if (A > 0) {
        for (const f of edgeFrames) {
          if (f.tick <= from || f.tick > to) continue;
          for (let col = 0; col < f.markets.length; col++) {
            const slot = this.slots.get(f.markets[col]!);
            if (slot === undefined) continue;
            let list = by.get(slot);
            if (!list) {
              list = [];
              by.set(slot, list);
            }
            list.push({ ts: f.tick, frame: f, col });
          }
        }
      }
      leaving.push(by);
    }

    const slots = new Set<number>([...newBy.keys()]);
    for (const by of leaving) for (const s of by.keys()) slots.add(s);
    const a = this.acc;
    for (const slot of slots) {
      const news = newBy.get(slot) ?? [];
      for (let w = 0; w < NW; w++) {
        const cut = tick - WINDOW_MS[w]!;
        const old = leaving[w]!.get(slot) ?? [];
        let next = 0;
        const removeUntil = (limit: number, inclusive: boolean) => {
          while (next < old.length) {
            const p = old[next]!;
            if (p.ts > cut || (inclusive ? p.ts > limit : p.ts >= limit)) break;
            for (let k = 0; k < WIDTH; k++) {
              const v = p.frame.values[p.col * WIDTH + k]!;
              if (Number.isNaN(v)) continue;
              const o = slot * STRIDE + (w * WIDTH + k) * FIELDS;
              remove(a, o, v);
              figures.removed++;
              if (IS_PRICE[k]) {
                // The return from this point to the next one in the window leaves with it.
                for (let j = next + 1; j < old.length; j++) {
                  const q = old[j]!;
                  if (q.ts - p.ts > RETURN_MAX_GAP_MS) break;
                  const qv = q.frame.values[q.col * WIDTH + k]!;
                  if (Number.isNaN(qv)) continue;
                  if (v > 0 && qv > 0) removeReturn(a, o, Math.log(qv / v));
                  break;
                }
              }
              if (a[o + N] === 0) clearAcc(a, o);
            }
            if (w === LONGEST && p.ts > this.since[slot]!) this.since[slot] = p.ts;
            next++;
          }
        };
        for (const p of news) {
          if (w === ONE_HOUR) {
            // The baseline hour of a point is [ts - 1h, ts): older values leave first.
            removeUntil(p.ts - WINDOW_MS[w]!, false);
            let list = baselines.get(this.markets[slot]!);
            if (!list) {
              list = [];
              baselines.set(this.markets[slot]!, list);
            }
            const count = new Float64Array(WIDTH);
            const sum = new Float64Array(WIDTH);
            for (let k = 0; k < WIDTH; k++) {
              const o = slot * STRIDE + (w * WIDTH + k) * FIELDS;
              count[k] = a[o + N]!;
              sum[k] = a[o + S]! + a[o + C]!;
            }
            list.push({ ts: p.ts, count, sum, values: p.frame.values.subarray(p.col * WIDTH, (p.col + 1) * WIDTH) });
          } else {
            removeUntil(p.ts - WINDOW_MS[w]!, true);
          }
          for (let k = 0; k < WIDTH; k++) {
            const v = p.frame.values[p.col * WIDTH + k]!;
            if (Number.isNaN(v)) continue;
            const o = slot * STRIDE + (w * WIDTH + k) * FIELDS;
            if (IS_PRICE[k]) {
              const l = a[o + L]!;
              const lt = a[o + LT]!;
              if (!Number.isNaN(l) && p.ts - lt <= RETURN_MAX_GAP_MS && l > 0 && v > 0)
                addReturn(a, o, Math.log(v / l));
            }
            add(a, o, v);
            a[o + L] = v;
            a[o + LT] = p.ts;
            figures.added++;
          }
          if (w === LONGEST && this.since[slot] === 0) this.since[slot] = p.ts - 1;
        }
        removeUntil(cut, true);
      }
    }
    this.asOf = Math.max(A, tick);
    return { baselines, figures };
  }
}

function add(a: Float64Array, o: number, x: number): void {
  const n = a[o + N]! + 1;
  const d = x - a[o + MU]!;
  const mean = a[o + MU]! + d / n;
  a[o + N] = n;
  a[o + MU] = mean;
  a[o + M2] = a[o + M2]! + d * (x - mean);
  neumaier(a, o, x);
}

function remove(a: Float64Array, o: number, x: number): void {
  const n = a[o + N]!;
  if (n <= 1) {
    a[o + N] = 0;
    a[o + MU] = 0;
    a[o + M2] = 0;
    a[o + S] = 0;
    a[o + C] = 0;
    return;
  }
  const d = x - a[o + MU]!;
  const mean = a[o + MU]! - d / (n - 1);
  a[o + N] = n - 1;
  a[o + MU] = mean;
  const m2 = a[o + M2]! - d * (x - mean);
  a[o + M2] = Math.max(m2, 0);
  neumaier(a, o, -x);
}

/** Compensated (Neumaier) summation: the baseline sum stays exact to the last bit in practice. */
function neumaier(a: Float64Array, o: number, x: number): void {
  const s = a[o + S]!;
  const t = s + x;
  a[o + C] = a[o + C]! + (Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s);
  a[o + S] = t;
}

function addReturn(a: Float64Array, o: number, r: number): void {
  const n = a[o + RN]! + 1;
  const d = r - a[o + RMU]!;
  const mean = a[o + RMU]! + d / n;
  a[o + RN] = n;
  a[o + RMU] = mean;
  a[o + RM2] = a[o + RM2]! + d * (r - mean);
}

function removeReturn(a: Float64Array, o: number, r: number): void {
  const n = a[o + RN]!;
  if (n <= 1) {
    a[o + RN] = 0;
    a[o + RMU] = 0;
    a[o + RM2] = 0;
    return;
  }
  const d = r - a[o + RMU]!;
  const mean = a[o + RMU]! - d / (n - 1);
  a[o + RN] = n - 1;
  a[o + RMU] = mean;
  const m2 = a[o + RM2]! - d * (r - mean);
  a[o + RM2] = Math.max(m2, 0);
}

/** An emptied window forgets its last point and returns, as a fresh one would. */
function clearAcc(a: Float64Array, o: number): void {
  a.fill(0, o, o + FIELDS);
  a[o + L] = Number.NaN;
  a[o + LT] = Number.NaN;
}

export { STRIDE, NW };

/** Row: one sample's time and values in METRIC_ORDER (null where absent). */
export interface ExactRow {
  ts: number;
  values: ReadonlyArray<number | null>;
}

/**
 * Sets one market's figures exactly from its rows (time-ordered): two-pass moments per window, as
 * window-stats.ts' exactState computes them, plus the compensated sum.
 */
export function setExact(book: WindowBook, market: string, rows: readonly ExactRow[], tick: number): void {
  const slot = book.slotOf(market)!;
  book.resetSlot(slot);
  const a = book.acc;
  for (let w = 0; w < NW; w++) {
    const from = tick - WINDOW_MS[w]!;
    for (let k = 0; k < WIDTH; k++) {
      const o = slot * STRIDE + (w * WIDTH + k) * FIELDS;
      const pts: Array<{ ts: number; v: number }> = [];
      for (const r of rows) {
        const v = r.values[k];
        if (r.ts > from && r.ts <= tick && typeof v === 'number' && Number.isFinite(v)) pts.push({ ts: r.ts, v });
      }
      if (pts.length === 0) continue;
      const two = twoPass(pts.map((p) => p.v));
      a[o + N] = pts.length;
      a[o + MU] = two.mean;
      a[o + M2] = two.m2;
      for (const p of pts) neumaier(a, o, p.v);
      const lastPt = pts[pts.length - 1]!;
      a[o + L] = lastPt.v;
      a[o + LT] = lastPt.ts;
      if (IS_PRICE[k]) {
        const rets: number[] = [];
        for (let i = 1; i < pts.length; i++) {
          const p = pts[i - 1]!;
          const q = pts[i]!;
          if (q.ts - p.ts <= RETURN_MAX_GAP_MS && p.v > 0 && q.v > 0) rets.push(Math.log(q.v / p.v));
        }
        if (rets.length) {
          const r = twoPass(rets);
          a[o + RN] = rets.length;
          a[o + RMU] = r.mean;
          a[o + RM2] = r.m2;
        }
      }
    }
  }
  book.exactAt[slot] = tick;
  const longest = Math.max(...WINDOW_MS);
  const first = rows.find((r) => r.ts > tick - longest);
  book.since[slot] = first ? first.ts - 1 : tick;
}

/** Two-pass moments (stats.ts meanStd, the corrected two-pass algorithm) as a mean and m2. */
function twoPass(values: readonly number[]): { mean: number; m2: number } {
  const ms = meanStd(values)!;
  return { mean: ms.mean, m2: ms.std * ms.std * values.length };
}
