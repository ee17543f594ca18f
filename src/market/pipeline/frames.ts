/**
 * Tick frames: each tick of a source also stored as one column block (tick_frames), all markets'
 * values in one Float64 buffer. The pipeline reads the values that leave a window from the frame
 * of one window ago: four lookups by `_id` a tick, whatever the number of markets.
 */
import { createHash } from 'node:crypto';
import { frameLists, marketStats, tickFrames, type TickFrameRecord } from '../../db/collections.js';
import { isDuplicateKey } from '../../db/errors.js';
import { METRICS, METRIC_ORDER } from '../metrics.js';

export const WIDTH = METRIC_ORDER.length;

/** A frame in memory: the markets in column order and their values (NaN where absent). */
export interface Frame {
  tick: number;
  markets: readonly string[];
  values: Float64Array;
}

/** What a frame is built from: a sample's fields. */
export type FrameRow = { market: string } & Partial<Record<(typeof METRICS)[keyof typeof METRICS]['field'], unknown>>;

export function frameId(source: string, tick: number): string {
  return `${source}|${tick}`;
}

const FIELDS = METRIC_ORDER.map((m) => METRICS[m].field);

export function toFrame(tick: number, rows: readonly FrameRow[]): Frame {
  const markets = rows.map((r) => r.market);
  const values = new Float64Array(rows.length * WIDTH);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]! as Record<string, unknown>;
    for (let k = 0; k < WIDTH; k++) {
      const v = row[FIELDS[k]!];
      values[i * WIDTH + k] = typeof v === 'number' && Number.isFinite(v) ? v : Number.NaN;
    }
  }
  return { tick, markets, values };
}

/**
 * Lists this process has stored or confirmed, by id, with when (epoch ms); and the lists read, for
 * decoding. A list in use is confirmed again (its `usedAt` moved) at least this often, so the prune
 * never deletes a list a writer still takes to be stored.
 */
const storedLists = new Map<string, number>();
const LIST_CONFIRM_MS = 3_600_000;
const listCache = new Map<string, readonly string[]>();

function listId(markets: readonly string[]): string {
  return createHash('sha1').update(markets.join('\n')).digest('base64url');
}

export async function ensureList(markets: readonly string[]): Promise<string> {
  const id = listId(markets);
  const at = Date.now();
  if (at - (storedLists.get(id) ?? Number.NEGATIVE_INFINITY) < LIST_CONFIRM_MS) return id;
  const usedAt = new Date(at);
  try {
    await frameLists().updateOne(
      { _id: id },
      { $set: { usedAt }, $setOnInsert: { markets: [...markets], createdAt: usedAt } },
      { upsert: true },
    );
  } catch (err) {
    // Another writer inserted the same new list first.
    if (!isDuplicateKey(err)) throw err;
    await frameLists().updateOne({ _id: id }, { $set: { usedAt } });
  }
  storedLists.set(id, at);
  listCache.set(id, markets);
  return id;
}

/** Writes a frame; writing the same tick again replaces it (a re-run or a backfill of that tick). */
export async function writeFrames(source: string, frames: readonly Frame[], signal?: AbortSignal): Promise<void> {
  if (frames.length === 0) return;
  const ops = [];
  for (const f of frames) {
    const list = await ensureList(f.markets);
    ops.push({
      replaceOne: {
        filter: { _id: frameId(source, f.tick) },
        replacement: {
          source,
          tick: new Date(f.tick),
          list,
          v: Buffer.from(f.values.buffer, f.values.byteOffset, f.values.byteLength),
        },
        upsert: true,
      },
    });
  }
  for (let i = 0; i < ops.length; i += 100) {
    signal?.throwIfAborted();
    await tickFrames().bulkWrite(ops.slice(i, i + 100), { ordered: false });
  }
}

function bytesOf(v: TickFrameRecord['v']): Uint8Array {
  return v instanceof Uint8Array ? v : v.buffer.subarray(0, v.length());
}

/** The stored frames of these ticks (those that exist), decoded. */
export async function readFrames(source: string, ticks: readonly number[]): Promise<Map<number, Frame>> {
  const out = new Map<number, Frame>();
  for (let i = 0; i < ticks.length; i += 200) {
    const ids = ticks.slice(i, i + 200).map((t) => frameId(source, t));
    const docs = await tickFrames()
      .find({ _id: { $in: ids } })
      .toArray();
    const missingLists = [...new Set(docs.map((d) => d.list))].filter((l) => !listCache.has(l));
    if (missingLists.length) {
      for (const l of await frameLists()
        .find({ _id: { $in: missingLists } })
        .toArray()) {
        listCache.set(l._id, l.markets);
      }
    }
    for (const d of docs) {
      const markets = listCache.get(d.list);
      if (!markets) continue;
      // Copied: a Float64Array needs an 8-byte aligned offset, which a BSON slice may not have.
      const values = new Float64Array(new Uint8Array(bytesOf(d.v)).buffer);
      if (values.length !== markets.length * WIDTH) continue;
      out.set(d.tick.getTime(), { tick: d.tick.getTime(), markets, values });
    }
  }
  return out;
}

/** Which of these ticks already have a stored frame (ids only, nothing decoded). */
export async function storedFrameTicks(source: string, ticks: readonly number[]): Promise<Set<number>> {
  const out = new Set<number>();
  for (let i = 0; i < ticks.length; i += 1_000) {
    const ids = ticks.slice(i, i + 1_000).map((t) => frameId(source, t));
    const docs = await tickFrames()
      .find({ _id: { $in: ids } }, { projection: { tick: 1 } })
      .toArray();
    for (const d of docs) out.add(d.tick.getTime());
  }
  return out;
}

/** Frames of one source between two times, for an interval grid: (from, to]. */
export function gridTicks(from: number, to: number, intervalMs: number): number[] {
  const out: number[] = [];
  for (let t = Math.floor(from / intervalMs) * intervalMs + intervalMs; t <= to; t += intervalMs) out.push(t);
  return out;
}

/** Deletes frames older than `before` (retention). */
export async function pruneFrames(before: Date): Promise<number> {
  const r = await tickFrames().deleteMany({ tick: { $lt: before } });
  return r.deletedCount ?? 0;
}

/**
 * Deletes the market lists that no frame and no window statistics name any more and that no writer
 * has used since `before`: a list is written once per market set, so one is left behind each time
 * the tracked markets change.
 */
export async function pruneFrameLists(before: Date): Promise<number> {
  const idle = { $or: [{ usedAt: { $lt: before } }, { usedAt: null, createdAt: { $lt: before } }] };
  const candidates = await frameLists()
    .find(idle, { projection: { _id: 1 } })
    .toArray();
  if (candidates.length === 0) return 0;
  const named = new Set<unknown>([...(await tickFrames().distinct('list')), ...(await marketStats().distinct('list'))]);
  const unused = candidates.map((l) => l._id).filter((id) => !named.has(id));
  if (unused.length === 0) return 0;
  const r = await frameLists().deleteMany({ _id: { $in: unused }, ...idle });
  return r.deletedCount ?? 0;
}
