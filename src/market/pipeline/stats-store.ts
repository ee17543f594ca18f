/**
 * Window statistics in the database (market_stats), column by column: per source, one document per
 * window and metric holding every market's ten numbers, and an index document with the market
 * list and the time they are as of. A tick rewrites 29 documents, whatever the number of markets;
 * a ranking reads one per source. Schema: docs/scaling.md ("Storage").
 */
import type mongoose from 'mongoose';
import { frameLists, marketStats, samples } from '../../db/collections.js';
import { METRICS, METRIC_ORDER, WINDOWS, WINDOW_NAMES, type MetricName, type WindowName } from '../metrics.js';
import { ensureList, storedFrameTicks, writeFrames, type Frame, WIDTH } from './frames.js';
import { FIELDS, WindowBook, metricIndex, setExact, windowIndex, type ExactRow } from './window-book.js';

/** A marker document bumped by every write: readers keep answers while it is unchanged. */
export const VERSION_ID = '~version';

const indexId = (source: string) => `${source}|index`;
const columnId = (source: string, w: WindowName, m: MetricName) => `${source}|${w}|${m}`;

function bytes(a: Float64Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function floats(stored: Uint8Array | mongoose.mongo.Binary | undefined): Float64Array {
  if (!stored) return new Float64Array(0);
  const raw = stored instanceof Uint8Array ? stored : stored.buffer.subarray(0, stored.length());
  // Copied: a Float64Array needs an 8-byte aligned offset, which a BSON slice may not have.
  return new Float64Array(new Uint8Array(raw).buffer);
}

/** When the window statistics last changed (epoch ms), or 0 before the first write. */
export async function statsVersion(): Promise<number> {
  const doc = await marketStats().findOne({ _id: VERSION_ID });
  return doc?.at instanceof Date ? doc.at.getTime() : 0;
}

export async function saveBook(book: WindowBook): Promise<void> {
  const list = await ensureList(book.markets);
  const asOf = new Date(book.asOf);
  // One window's seven columns a write: each column is built just before its batch is sent, so
  // a tick holds a few megabytes of them at once at 5,000 markets, not all 28.
  for (const w of WINDOW_NAMES) {
    const ops = METRIC_ORDER.map((m) => ({
      replaceOne: {
        filter: { _id: columnId(book.source, w, m) },
        replacement: {
          kind: 'acc' as const,
          source: book.source,
          window: w,
          metric: m,
          list,
          asOf,
          a: bytes(book.column(windowIndex(w), metricIndex(m))),
        },
        upsert: true,
      },
    }));
    await marketStats().bulkWrite(ops, { ordered: false });
  }
  // The index last: a reader that finds it finds every column of the same asOf.
  await marketStats().replaceOne(
    { _id: indexId(book.source) },
    {
      kind: 'index',
      source: book.source,
      list,
      asOf,
      exactAt: bytes(book.exactAt.subarray(0, book.size)),
      since: bytes(book.since.subarray(0, book.size)),
    },
    { upsert: true },
  );
  await marketStats().updateOne({ _id: VERSION_ID }, { $set: { at: new Date() } }, { upsert: true });
}

const lists = new Map<string, string[]>();

/** A stored market list; lists never change once written (their id is their hash), so they are kept. */
async function listOf(id: unknown): Promise<string[] | undefined> {
  const key = String(id);
  const known = lists.get(key);
  if (known) return known;
  const doc = await frameLists().findOne({ _id: key });
  if (!doc) return undefined;
  const markets = doc.markets as string[];
  if (lists.size > 64) lists.clear();
  lists.set(key, markets);
  return markets;
}

/** The stored book of a source, or undefined when there is none (or it is incomplete). */
export async function loadBook(source: string): Promise<WindowBook | undefined> {
  const docs = await marketStats()
    .find({ source, kind: { $in: ['index', 'acc'] } })
    .toArray();
  const index = docs.find((d) => d.kind === 'index');
  if (!index || !(index.asOf instanceof Date)) return undefined;
  const markets = await listOf(index.list);
  if (!markets) return undefined;
  const book = new WindowBook(source);
  for (const m of markets) book.slotOf(m);
  let columns = 0;
  for (const d of docs) {
    if (d.kind !== 'acc' || d.list !== index.list || d.asOf?.getTime() !== index.asOf.getTime()) continue;
    const values = floats(d.a);
    if (values.length !== markets.length * FIELDS) continue;
    book.setColumn(windowIndex(d.window as WindowName), metricIndex(d.metric as MetricName), markets, values);
    columns++;
  }
  if (columns !== WINDOW_NAMES.length * METRIC_ORDER.length) return undefined;
  book.exactAt.set(floats(index.exactAt).subarray(0, markets.length));
  const since = floats(index.since);
  if (since.length === markets.length) book.since.set(since);
  book.asOf = index.asOf.getTime();
  return book;
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
 * Every market's figures for one metric and window, one document per source. A source whose
 * statistics are older than the window (it stopped) has nothing in the window and counts as empty.
 */
export async function loadTable(
  metric: MetricName,
  window: WindowName,
): Promise<{ entries: TableEntry[]; asOf: Date | null }> {
  const docs = await marketStats().find({ kind: 'acc', window, metric }).toArray();
  let newest = 0;
  for (const d of docs) if (d.asOf instanceof Date) newest = Math.max(newest, d.asOf.getTime());
  const byMarket = new Map<string, TableEntry>();
  for (const d of docs) {
    const markets = await listOf(d.list);
    if (!markets || !(d.asOf instanceof Date)) continue;
    const values = floats(d.a);
    if (values.length !== markets.length * FIELDS) continue;
    const stale = d.asOf.getTime() <= newest - WINDOWS[window];
    for (let i = 0; i < markets.length; i++) {
      const o = i * FIELDS;
      const n = values[o]!;
      const entry: TableEntry =
        stale || n === 0
          ? { market: markets[i]!, count: 0, mean: null, std: null, logretStd: null, returns: 0, last: null }
          : {
              market: markets[i]!,
              count: n,
              mean: values[o + 1]!,
              std: Math.sqrt(Math.max(0, values[o + 2]!) / n),
              logretStd:
                METRICS[metric].isPrice && values[o + 5]! > 0
                  ? Math.sqrt(Math.max(0, values[o + 7]!) / values[o + 5]!)
                  : null,
              returns: values[o + 5]!,
              last: Number.isNaN(values[o + 3]!) ? null : values[o + 3]!,
            };
      const had = byMarket.get(entry.market);
      if (!had || had.count === 0) byMarket.set(entry.market, entry);
    }
  }
  return { entries: [...byMarket.values()], asOf: newest ? new Date(newest) : null };
}

const FIELD_OF = METRIC_ORDER.map((m) => METRICS[m].field);

/**
 * A source's book computed exactly from its stored samples over the longest window, for a start
 * with no usable stored statistics. The frames of those ticks are written too (the slide needs
 * them later to remove what leaves a window). Reads the source's samples of the longest window once.
 */
export async function rebuildBook(
  source: string,
  tick: number,
  signal?: AbortSignal,
): Promise<{ book: WindowBook; samplesRead: number; framesWritten: number }> {
  const longest = Math.max(...Object.values(WINDOWS));
  const projection: Record<string, 0 | 1> = { _id: 0, market: 1, ts: 1 };
  for (const f of FIELD_OF) projection[f] = 1;
  const cursor = samples().find(
    { source, ts: { $gt: new Date(tick - longest), $lte: new Date(tick) } },
    { projection, batchSize: 10_000 },
  );
  const byMarket = new Map<string, ExactRow[]>();
  // Per tick, the same value arrays the markets' rows hold (not the documents): a first start reads
  // every sample of the longest window, and keeping them twice was most of the worker's peak memory.
  const byTick = new Map<number, Array<[string, Array<number | null>]>>();
  let samplesRead = 0;
  for await (const doc of cursor) {
    signal?.throwIfAborted();
    samplesRead++;
    const ts = (doc.ts as Date).getTime();
    const market = String(doc.market);
    const values = FIELD_OF.map((f) => {
      const v = doc[f];
      return typeof v === 'number' && Number.isFinite(v) ? v : null;
    });
    let rows = byMarket.get(market);
    if (!rows) {
      rows = [];
      byMarket.set(market, rows);
    }
    rows.push({ ts, values });
    let list = byTick.get(ts);
    if (!list) {
      list = [];
      byTick.set(ts, list);
    }
    list.push([market, values]);
  }
  const book = new WindowBook(source);
  for (const [market, rows] of byMarket) {
    rows.sort((a, b) => a.ts - b.ts);
    setExact(book, market, rows, tick);
  }
  book.asOf = tick;
  // Frames for the ticks that have none (written before frames existed, or samples stored directly).
  const stored = await storedFrameTicks(source, [...byTick.keys()]);
  const frames: Frame[] = [];
  for (const [ts, list] of byTick) {
    if (stored.has(ts)) continue;
    const values = new Float64Array(list.length * WIDTH);
    list.forEach(([, v], i) => {
      for (let k = 0; k < WIDTH; k++) values[i * WIDTH + k] = v[k] ?? Number.NaN;
    });
    frames.push({ tick: ts, markets: list.map(([m]) => m), values });
  }
  await writeFrames(source, frames, signal);
  return { book, samplesRead, framesWritten: frames.length };
}

export { WIDTH };
