/**
 * What readers need of the stored series and window statistics: one market's rows (read by
 * sample `_id`), every market's figures for a ranking, and an exact rebuild of a source's
 * statistics from its samples. The pipeline keeps the statistics current tick by tick
 * (src/market/pipeline/); this module is how everyone else reads them.
 */
import { samples } from '../db/collections.js';
import type { Logger } from '../logger.js';
import { METRICS, METRIC_ORDER, type MetricName } from './metrics.js';
import { loadTable, rebuildBook, saveBook, statsVersion, type TableEntry } from './pipeline/stats-store.js';
import { sampleId } from './samples.js';
import type { Point } from './stats.js';

export { METRIC_ORDER, loadTable, statsVersion, type TableEntry };

/** One sample as read back: time and values in METRIC_ORDER. */
export interface Row {
  ts: number;
  values: Array<number | null>;
}

let gridMs = 60_000;

/** The spacing of stored samples (the collect interval): a series is read at every point of it. */
export function setSeriesGrid(intervalMs: number): void {
  gridMs = intervalMs;
}

const FIELD_OF = METRIC_ORDER.map((m) => METRICS[m].field);

/** Rows of several markets with `from < ts <= to`, time-ordered per market, read by `_id` in batches. */
export async function readRows(markets: readonly string[], from: number, to: number): Promise<Map<string, Row[]>> {
  const out = new Map<string, Row[]>(markets.map((m) => [m, []]));
  const ids: string[] = [];
  const first = Math.floor(from / gridMs) * gridMs + gridMs;
  for (const m of markets) for (let t = first; t <= to; t += gridMs) ids.push(sampleId(m, t));
  const projection: Record<string, 0 | 1> = { _id: 0, market: 1, ts: 1 };
  for (const f of FIELD_OF) projection[f] = 1;
  for (let i = 0; i < ids.length; i += 5_000) {
    const docs = await samples()
      .find({ _id: { $in: ids.slice(i, i + 5_000) } }, { projection })
      .toArray();
    for (const doc of docs) {
      const rows = out.get(String(doc.market));
      if (!rows) continue;
      rows.push({
        ts: (doc.ts as Date).getTime(),
        values: FIELD_OF.map((f) => {
          const v = doc[f];
          return typeof v === 'number' && Number.isFinite(v) ? v : null;
        }),
      });
    }
  }
  for (const rows of out.values()) rows.sort((a, b) => a.ts - b.ts);
  return out;
}

/** The points of one metric in time order, nulls skipped. */
export function pointsOf(rows: readonly Row[], metric: MetricName): Point[] {
  const i = METRIC_ORDER.indexOf(metric);
  const out: Point[] = [];
  for (const r of rows) {
    const v = r.values[i];
    if (typeof v === 'number') out.push({ ts: r.ts, value: v });
  }
  return out;
}

export interface UpdateStatsResult {
  source: string;
  tick: string;
  markets: number;
  samplesRead: number;
  framesWritten: number;
  durationMs: number;
}

/**
 * Recomputes a source's window statistics exactly from its stored samples and stores them: what
 * the pipeline does when it starts with no usable statistics, and what tools and tests use after
 * writing samples directly.
 */
export async function updateWindowStats(opts: {
  tick: Date;
  source: string;
  logger?: Logger;
}): Promise<UpdateStatsResult> {
  const started = Date.now();
  const { book, samplesRead, framesWritten } = await rebuildBook(opts.source, opts.tick.getTime());
  await saveBook(book);
  const result: UpdateStatsResult = {
    source: opts.source,
    tick: opts.tick.toISOString(),
    markets: book.size,
    samplesRead,
    framesWritten,
    durationMs: Date.now() - started,
  };
  opts.logger?.debug(result, 'window statistics rebuilt');
  return result;
}
