/**
 * Per-market window statistics kept current after every collector tick, and the hourly sample
 * blocks they and the reports are computed from.
 *
 * Why blocks: on mongo-java-server (the embedded and test database) a range query scans the whole
 * samples collection - about 0.7 s at 1.44 million samples - while a lookup by `_id` is served
 * from the primary index. So each tick's samples are also copied into one document per market and
 * hour (`SampleBlock`), and a day of one market is 25 `_id` lookups. A real mongod does both
 * quickly; the blocks cost it little.
 *
 * Why running moments: a ranking needs every market's std dev over a day or a week. Recomputing
 * that each tick would read every block of every market; instead each market keeps Welford moments
 * per window and metric that slide with the window (add the tick's values, remove the ones that
 * left the window). Removal accumulates rounding and misses samples that arrived late, so a few
 * markets per run are recomputed exactly from their blocks, every market about once an hour.
 */
import mongoose from 'mongoose';
import { Market, MarketStat, Sample, SampleBlock } from '../db/models/index.js';
import type { Logger } from '../logger.js';
import { METRICS, WINDOWS, WINDOW_NAMES, type MetricName, type WindowName } from './metrics.js';
import { RETURN_MAX_GAP_MS, addValue, logReturns, meanStd, removeValue, type Moments, type Point } from './stats.js';

const HOUR = 3_600_000;
const LONGEST_WINDOW = Math.max(...Object.values(WINDOWS));
const SHORTEST_WINDOW = Math.min(...Object.values(WINDOWS));
/** Samples this far behind the last run are read again, so a late insert still reaches its block. */
const LOOKBACK_MS = 5 * 60_000;
/** Every market is recomputed exactly at least this often. */
export const EXACT_EVERY_MS = HOUR;
/** Blocks kept beyond the longest window, for reports whose `now` lags the last tick. */
const BLOCK_RETENTION_MS = LONGEST_WINDOW + 2 * HOUR;

/** The order of values in a block slot. */
export const METRIC_ORDER: readonly MetricName[] = [
  'price',
  'high',
  'low',
  'change',
  'volume',
  'volume24h',
  'quoteVolume',
];
const METRIC_INDEX = Object.fromEntries(METRIC_ORDER.map((m, i) => [m, i])) as Record<MetricName, number>;

type Slot = Array<number | null>;
interface BlockDoc {
  _id: string;
  market: string;
  source: string;
  hour: Date;
  v: Record<string, Slot>;
}

/** One sample as read back from the blocks: time and values in METRIC_ORDER. */
export interface Row {
  ts: number;
  values: Slot;
}

/** The fields of a sample the blocks copy (what `samples` documents hold). */
export interface SampleValues {
  market: string;
  ts: Date;
  source: string;
  last: number;
  high: number;
  low: number;
  changePct: number;
  volumeMinute?: number | null;
  volume24h: number;
  quoteVolume24h?: number | null;
}

export function blockId(market: string, ts: number): string {
  return `${market}|${Math.floor(ts / HOUR)}`;
}

function slotOf(s: SampleValues): Slot {
  return METRIC_ORDER.map((m) => {
    const v = (s as unknown as Record<string, unknown>)[METRICS[m].field];
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  });
}

/** Copies samples into their hourly blocks; idempotent (a slot is set, never appended). */
export async function writeBlocks(samples: readonly SampleValues[]): Promise<number> {
  if (samples.length === 0) return 0;
  const byBlock = new Map<string, { s: SampleValues; set: Record<string, Slot> }>();
  for (const s of samples) {
    const ts = s.ts.getTime();
    const id = blockId(s.market, ts);
    let entry = byBlock.get(id);
    if (!entry) {
      entry = { s, set: {} };
      byBlock.set(id, entry);
    }
    entry.set[`v.${Math.floor((ts % HOUR) / 1000)}`] = slotOf(s);
  }
  const ops = [...byBlock].map(([id, { s, set }]) => ({
    updateOne: {
      filter: { _id: id },
      update: {
        $set: set,
        $setOnInsert: { market: s.market, source: s.source, hour: new Date(Math.floor(s.ts.getTime() / HOUR) * HOUR) },
      },
      upsert: true,
    },
  }));
  for (let i = 0; i < ops.length; i += 1_000) {
    await SampleBlock.collection.bulkWrite(ops.slice(i, i + 1_000) as never, { ordered: false });
  }
  return ops.length;
}

function hourIds(market: string, from: number, to: number): string[] {
  const ids: string[] = [];
  for (let h = Math.floor(from / HOUR); h <= Math.floor(to / HOUR); h++) ids.push(`${market}|${h}`);
  return ids;
}

/**
 * Rows of several markets with `from < ts <= to`, time-ordered per market, read from the blocks
 * by `_id` in batches.
 */
export async function readRows(markets: readonly string[], from: number, to: number): Promise<Map<string, Row[]>> {
  const out = new Map<string, Row[]>(markets.map((m) => [m, []]));
  const ids = markets.flatMap((m) => hourIds(m, from, to));
  for (let i = 0; i < ids.length; i += 2_000) {
    const docs = (await SampleBlock.collection
      .find({ _id: { $in: ids.slice(i, i + 2_000) } } as never)
      .toArray()) as unknown as BlockDoc[];
    for (const doc of docs) {
      const rows = out.get(doc.market);
      if (!rows) continue;
      const base = doc.hour.getTime();
      for (const [offset, values] of Object.entries(doc.v ?? {})) {
        const ts = base + Number(offset) * 1000;
        if (ts > from && ts <= to) rows.push({ ts, values });
      }
    }
  }
  for (const rows of out.values()) rows.sort((a, b) => a.ts - b.ts);
  return out;
}

/** The points of one metric in time order, nulls skipped. */
export function pointsOf(rows: readonly Row[], metric: MetricName): Point[] {
  const i = METRIC_INDEX[metric];
  const out: Point[] = [];
  for (const r of rows) {
    const v = r.values[i];
    if (typeof v === 'number') out.push({ ts: r.ts, value: v });
  }
  return out;
}

/**
 * Running figures of one metric in one window: value moments, the newest value (to chain the
 * next log return) and the moments of the log returns (prices only). Short keys: 1,000 markets x
 * 4 windows x 7 metrics are rewritten every tick.
 */
export interface Acc {
  n: number;
  mu: number;
  m2: number;
  l: number | null;
  lt: number | null;
  rn: number;
  rmu: number;
  rm2: number;
}
export type StatState = Record<WindowName, Record<MetricName, Acc>>;

function emptyAcc(): Acc {
  return { n: 0, mu: 0, m2: 0, l: null, lt: null, rn: 0, rmu: 0, rm2: 0 };
}

const valueMoments = (a: Acc): Moments => ({ n: a.n, mean: a.mu, m2: a.m2 });
const returnMoments = (a: Acc): Moments => ({ n: a.rn, mean: a.rmu, m2: a.rm2 });
function store(a: Acc, v: Moments, r: Moments): void {
  a.n = v.n;
  a.mu = v.mean;
  a.m2 = v.m2;
  a.rn = r.n;
  a.rmu = r.mean;
  a.rm2 = r.m2;
}

/** Exact figures of every window and metric from a market's rows (two-pass). */
export function exactState(rows: readonly Row[], tick: number): StatState {
  const state = {} as StatState;
  for (const w of WINDOW_NAMES) {
    const from = tick - WINDOWS[w];
    const inWindow = rows.filter((r) => r.ts > from && r.ts <= tick);
    state[w] = {} as Record<MetricName, Acc>;
    for (const m of METRIC_ORDER) {
      const points = pointsOf(inWindow, m);
      const acc = emptyAcc();
      const ms = meanStd(points.map((p) => p.value));
      if (ms) {
        acc.n = points.length;
        acc.mu = ms.mean;
        acc.m2 = ms.std * ms.std * points.length;
        const lastPoint = points[points.length - 1]!;
        acc.l = lastPoint.value;
        acc.lt = lastPoint.ts;
      }
      if (METRICS[m].isPrice) {
        const returns = logReturns(points);
        const rs = meanStd(returns);
        if (rs) {
          acc.rn = returns.length;
          acc.rmu = rs.mean;
          acc.rm2 = rs.std * rs.std * returns.length;
        }
      }
      state[w][m] = acc;
    }
  }
  return state;
}

/**
 * Slides a state from (asOf - W, asOf] to (tick - W, tick]: removes the values in
 * (asOf - W, tick - W] (with the returns that started at them) and adds the values in
 * (asOf, tick]. `edge[w]` holds the rows from asOf - W to a little past tick - W; `added` the
 * rows after asOf. Needs tick - asOf shorter than every window.
 */
export function slideState(
  state: StatState,
  asOf: number,
  tick: number,
  edge: Record<WindowName, readonly Row[]>,
  added: readonly Row[],
): StatState {
  const next = structuredClone(state);
  for (const w of WINDOW_NAMES) {
    const cut = tick - WINDOWS[w];
    const oldRows = edge[w].filter((r) => r.ts > asOf - WINDOWS[w] && r.ts <= asOf);
    for (const m of METRIC_ORDER) {
      next[w] ??= {} as Record<MetricName, Acc>;
      const acc = next[w][m] ?? emptyAcc();
      next[w][m] = acc;
      const values = valueMoments(acc);
      const returns = returnMoments(acc);
      const price = METRICS[m].isPrice;
      const old = pointsOf(oldRows, m);
      for (let i = 0; i < old.length && old[i]!.ts <= cut; i++) {
        const p = old[i]!;
        removeValue(values, p.value);
        const following = old[i + 1];
        if (price && following && following.ts - p.ts <= RETURN_MAX_GAP_MS && p.value > 0 && following.value > 0) {
          removeValue(returns, Math.log(following.value / p.value));
        }
      }
      if (values.n === 0) {
        acc.l = null;
        acc.lt = null;
        returns.n = 0;
        returns.mean = 0;
        returns.m2 = 0;
      }
      for (const p of pointsOf(added, m)) {
        if (p.ts <= asOf || p.ts > tick) continue;
        if (
          price &&
          acc.l !== null &&
          acc.lt !== null &&
          p.ts - acc.lt <= RETURN_MAX_GAP_MS &&
          acc.l > 0 &&
          p.value > 0
        ) {
          addValue(returns, Math.log(p.value / acc.l));
        }
        addValue(values, p.value);
        acc.l = p.value;
        acc.lt = p.ts;
      }
      store(acc, values, returns);
    }
  }
  return next;
}

/**
 * A marker document bumped by every pass: readers keep answers while it is unchanged, so a
 * question costs one computation per tick, not one per request.
 */
const VERSION_ID = '~version';

/** When the window statistics last changed (epoch ms), or 0 before the first pass. */
export async function statsVersion(): Promise<number> {
  const doc = (await MarketStat.collection.findOne({ _id: VERSION_ID } as never)) as { at?: Date } | null;
  return doc?.at?.getTime() ?? 0;
}

export interface UpdateStatsResult {
  source: string;
  tick: string;
  markets: number;
  incremental: number;
  exact: number;
  skipped: number;
  samplesRead: number;
  blocksWritten: number;
  durationMs: number;
}

interface StateDoc {
  _id: string;
  source: string;
  asOf: Date;
  exactAt: Date;
  w: StatState;
}

const DUPLICATE_KEY = 11000;

/** Reads samples with a cursor and writes their blocks in batches; keeps only what `keep` wants. */
async function copySamples(
  filter: Record<string, unknown>,
  keep: (s: SampleValues) => boolean,
): Promise<{ read: number; blocks: number; kept: SampleValues[] }> {
  const projection = {
    _id: 0,
    market: 1,
    ts: 1,
    source: 1,
    last: 1,
    high: 1,
    low: 1,
    changePct: 1,
    volumeMinute: 1,
    volume24h: 1,
    quoteVolume24h: 1,
  };
  const cursor = Sample.collection.find(filter, { projection, batchSize: 10_000 });
  let batch: SampleValues[] = [];
  const kept: SampleValues[] = [];
  let read = 0;
  let blocks = 0;
  for await (const doc of cursor) {
    const s = doc as unknown as SampleValues;
    read++;
    batch.push(s);
    if (keep(s)) kept.push(s);
    if (batch.length >= 20_000) {
      blocks += await writeBlocks(batch);
      batch = [];
    }
  }
  blocks += await writeBlocks(batch);
  return { read, blocks, kept };
}

/**
 * One after-tick pass for one source: copy the new samples into blocks, then bring every market's
 * window statistics to `tick`. Safe to run twice or concurrently: each state is written only if
 * it is still the one this pass read.
 */
export async function updateWindowStats(opts: {
  tick: Date;
  source: string;
  /** Markets recomputed exactly per pass in rotation (default: enough for one hour's rotation). */
  exactPerRun?: number;
  logger?: Logger;
}): Promise<UpdateStatsResult> {
  const started = Date.now();
  const T = opts.tick.getTime();
  const source = opts.source;
  const states = (await MarketStat.collection.find({ source }).toArray()) as unknown as StateDoc[];
  const stateOf = new Map(states.map((s) => [s._id, s]));
  const catalog = (await Market.find({ source }, { _id: 1 }).lean()).map((m) => String(m._id));
  const unseen = catalog.filter((id) => !stateOf.has(id));

  // Newly seen markets (and a first run) need their history copied, not just the last minutes.
  let samplesRead = 0;
  let blocksWritten = 0;
  if (states.length === 0 || unseen.length > 0) {
    const filter: Record<string, unknown> = { source, ts: { $gt: new Date(T - LONGEST_WINDOW), $lte: opts.tick } };
    if (states.length > 0) filter.market = { $in: unseen };
    const copied = await copySamples(filter, () => false);
    samplesRead += copied.read;
    blocksWritten += copied.blocks;
  }

  const current = states.filter((s) => s.asOf.getTime() < T && T - s.asOf.getTime() < LONGEST_WINDOW);
  const since = current.length ? Math.min(...current.map((s) => s.asOf.getTime())) : T;
  const incrementalOk = (s: StateDoc) => s.asOf.getTime() < T && T - s.asOf.getTime() < SHORTEST_WINDOW;
  const copied = await copySamples({ source, ts: { $gt: new Date(since - LOOKBACK_MS), $lte: opts.tick } }, (s) => {
    const st = stateOf.get(s.market);
    return st !== undefined && incrementalOk(st) && s.ts.getTime() > st.asOf.getTime();
  });
  samplesRead += copied.read;
  blocksWritten += copied.blocks;
  const addedBy = new Map<string, Row[]>();
  for (const s of copied.kept) {
    const rows = addedBy.get(s.market) ?? [];
    rows.push({ ts: s.ts.getTime(), values: slotOf(s) });
    addedBy.set(s.market, rows);
  }
  for (const rows of addedBy.values()) rows.sort((a, b) => a.ts - b.ts);

  // Every market of the source this pass knows of: catalog, existing states, samples just read.
  const markets = new Set<string>([...catalog, ...stateOf.keys(), ...addedBy.keys()]);
  const exact = new Set<string>();
  const incremental: StateDoc[] = [];
  let skipped = 0;
  for (const id of markets) {
    const st = stateOf.get(id);
    if (!st) exact.add(id);
    else if (st.asOf.getTime() >= T) skipped++;
    else if (!incrementalOk(st)) exact.add(id);
    else incremental.push(st);
  }
  const rotation = opts.exactPerRun ?? Math.max(4, Math.ceil(markets.size / 50));
  const due = incremental
    .filter((s) => T - s.exactAt.getTime() >= EXACT_EVERY_MS)
    .sort((a, b) => a.exactAt.getTime() - b.exactAt.getTime())
    .slice(0, rotation);
  for (const s of due) exact.add(s._id);

  const writes: Array<{ id: string; prev: Date | undefined; state: StatState; exactAt: Date }> = [];

  // Sliding: group by asOf (one group unless a pass was interrupted) and read each window's edge.
  const groups = new Map<number, StateDoc[]>();
  for (const s of incremental) {
    if (exact.has(s._id)) continue;
    const list = groups.get(s.asOf.getTime()) ?? [];
    list.push(s);
    groups.set(s.asOf.getTime(), list);
  }
  for (const [A, group] of groups) {
    const ids = group.map((s) => s._id);
    const edges = {} as Record<WindowName, Map<string, Row[]>>;
    for (const w of WINDOW_NAMES) edges[w] = await readRows(ids, A - WINDOWS[w], T - WINDOWS[w] + RETURN_MAX_GAP_MS);
    for (const s of group) {
      const edge = {} as Record<WindowName, Row[]>;
      for (const w of WINDOW_NAMES) edge[w] = edges[w].get(s._id) ?? [];
      writes.push({
        id: s._id,
        prev: s.asOf,
        state: slideState(s.w, A, T, edge, addedBy.get(s._id) ?? []),
        exactAt: s.exactAt,
      });
    }
  }

  const exactIds = [...exact];
  for (let i = 0; i < exactIds.length; i += 20) {
    const batch = exactIds.slice(i, i + 20);
    const rows = await readRows(batch, T - LONGEST_WINDOW, T);
    for (const id of batch) {
      writes.push({ id, prev: stateOf.get(id)?.asOf, state: exactState(rows.get(id) ?? [], T), exactAt: opts.tick });
    }
  }

  const ops = writes.map((w) => ({
    replaceOne: {
      filter: w.prev ? { _id: w.id, asOf: w.prev } : { _id: w.id, asOf: { $exists: false } },
      replacement: { source, asOf: opts.tick, exactAt: w.exactAt, w: w.state },
      upsert: true,
    },
  }));
  for (let i = 0; i < ops.length; i += 500) {
    try {
      await MarketStat.collection.bulkWrite(ops.slice(i, i + 500) as never, { ordered: false });
    } catch (err) {
      // Another pass got there first for these markets: theirs stands.
      if (!(err instanceof mongoose.mongo.MongoBulkWriteError)) throw err;
      const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      if (errors.some((e) => e.code !== DUPLICATE_KEY)) throw err;
    }
  }

  await MarketStat.collection.updateOne({ _id: VERSION_ID } as never, { $set: { at: new Date() } }, { upsert: true });

  if (Math.floor(T / HOUR) !== Math.floor(since / HOUR)) {
    await SampleBlock.collection.deleteMany({ hour: { $lt: new Date(T - BLOCK_RETENTION_MS) } });
  }

  const result: UpdateStatsResult = {
    source,
    tick: opts.tick.toISOString(),
    markets: markets.size,
    incremental: writes.length - exactIds.length,
    exact: exactIds.length,
    skipped,
    samplesRead,
    blocksWritten,
    durationMs: Date.now() - started,
  };
  opts.logger?.debug(result, 'window statistics updated');
  return result;
}

/** One market's figures for a metric and window, as rankings use them. */
export interface TableEntry {
  market: string;
  count: number;
  mean: number | null;
  std: number | null;
  logretStd: number | null;
  returns: number;
  last: number | null;
}

/**
 * Every market's figures for one metric and window, read from the stat documents (one per
 * market, projected to the one accumulator). A market whose statistics are older than the window
 * (its source stopped) has nothing in the window and counts as empty.
 */
export async function loadTable(
  metric: MetricName,
  window: WindowName,
): Promise<{ entries: TableEntry[]; asOf: Date | null }> {
  const path = `w.${window}.${metric}`;
  const docs = (await MarketStat.collection
    .find({}, { projection: { asOf: 1, [path]: 1 } })
    .toArray()) as unknown as Array<{
    _id: string;
    asOf: Date;
    w?: Partial<StatState>;
  }>;
  const markets = docs.filter((d) => d._id !== VERSION_ID && d.asOf instanceof Date);
  let newest = 0;
  for (const d of markets) newest = Math.max(newest, d.asOf.getTime());
  const entries = markets.map((d): TableEntry => {
    const acc = d.w?.[window]?.[metric];
    if (!acc || acc.n === 0 || d.asOf.getTime() <= newest - WINDOWS[window]) {
      return { market: d._id, count: 0, mean: null, std: null, logretStd: null, returns: 0, last: null };
    }
    return {
      market: d._id,
      count: acc.n,
      mean: acc.mu,
      std: Math.sqrt(Math.max(0, acc.m2) / acc.n),
      logretStd: METRICS[metric].isPrice && acc.rn > 0 ? Math.sqrt(Math.max(0, acc.rm2) / acc.rn) : null,
      returns: acc.rn,
      last: acc.l,
    };
  });
  return { entries, asOf: newest ? new Date(newest) : null };
}
