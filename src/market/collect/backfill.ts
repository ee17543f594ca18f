import { bulkWriteKeyed, isDuplicateKey } from '../../db/errors.js';
import { CollectorRun } from '../../db/models/index.js';
import { toFrame, writeFrames } from '../pipeline/frames.js';
import { saveSamples, type SampleInput } from '../samples.js';
import { SourceError, type Snapshot, type SourceErrorKind } from '../sources/types.js';
import { isFiniteQuote, toSample, type RunContext } from './context.js';

/** Backfill rows are written in batches, so a cancel can stop between them. */
const BACKFILL_BATCH = 10_000;

export interface BackfillFigures {
  /** Samples written for missed ticks. */
  backfilled: number;
  /** Missed ticks nothing could be rebuilt for. */
  gaps: number;
  sourceErrors: SourceErrorKind[];
}

/**
 * Rebuilds the missed ticks within BACKFILL_MAX (on an empty database, the whole reach) from the
 * source's history, and records each one as backfilled or as a gap. A tick is missed when it has no
 * run record, or one that failed or never finished (its replica died).
 *
 * Rows are written oldest tick first in batches of whole ticks, each batch followed by its run
 * records, so a cancel (shutdown) between batches leaves every tick either complete and recorded
 * or untouched and unrecorded: the next tick's backfill picks up exactly what is left.
 */
export async function backfill(ctx: RunContext, snapshot: Snapshot): Promise<BackfillFigures> {
  const { config, sourceName, source, tick, owner, options, deadline, logger } = ctx;
  const result: BackfillFigures = { backfilled: 0, gaps: 0, sourceErrors: [] };
  const interval = config.market.intervalMs;
  const maxMs = options.backfillMaxMs ?? config.market.backfillMaxMs;
  const earliest = tick.getTime() - Math.floor(maxMs / interval) * interval;
  const to = tick.getTime() - interval;
  if (earliest > to || snapshot.markets.length === 0) return result;
  // Ticks before the source's first record are not "missed": they were never meant to be collected,
  // except by the first start's backfill, which marks where it begins so a shutdown midway resumes.
  const oldest = await CollectorRun.findOne({ source: sourceName }, { tick: 1, _id: 0 }).sort({ tick: 1 }).lean();
  let lower = earliest;
  if (oldest && oldest.tick.getTime() < tick.getTime()) {
    lower = Math.max(earliest, oldest.tick.getTime());
  } else {
    await CollectorRun.updateOne(
      { source: sourceName, tick: new Date(earliest) },
      { $setOnInsert: { status: 'running', owner, startedAt: new Date() } },
      { upsert: true },
    ).catch((err: unknown) => {
      if (!isDuplicateKey(err)) throw err;
    });
  }
  const done = await CollectorRun.find(
    {
      source: sourceName,
      tick: { $gte: new Date(lower), $lte: new Date(to) },
      status: { $in: ['ok', 'partial', 'gap'] },
    },
    { tick: 1, _id: 0 },
  ).lean();
  const recorded = new Set(done.map((r) => r.tick.getTime()));
  const missing: number[] = [];
  for (let t = lower; t <= to; t += interval) if (!recorded.has(t)) missing.push(t);
  if (missing.length === 0) return result;
  const from = missing[0]!;
  const last = missing[missing.length - 1]!;

  const rowsByTick = new Map<number, SampleInput[]>();
  let covered = 0;
  if (source.history) {
    try {
      const history = await source.history({
        markets: snapshot.markets,
        from: new Date(from),
        to: new Date(last),
        intervalMs: interval,
        signal: options.signal,
        deadline,
      });
      covered = history.covered;
      for (const r of history.rows) {
        if (!isFiniteQuote(r)) continue;
        const t = r.ts.getTime();
        const list = rowsByTick.get(t);
        const row = toSample(r, r.ts, sourceName, r.volumeMinute ?? null);
        if (list) list.push(row);
        else rowsByTick.set(t, [row]);
      }
      if (covered < snapshot.markets.length) {
        logger.warn(
          { covered, markets: snapshot.markets.length },
          'backfill covered only some markets within the tick; the rest stay gaps',
        );
      }
    } catch (err) {
      const kind = err instanceof SourceError ? err.kind : 'internal';
      if (err instanceof SourceError && err.kind !== 'cancelled') result.sourceErrors.push(err.kind);
      logger.warn({ kind, err: (err as Error).message }, 'backfill failed; missed ticks stay gaps');
      if (options.signal?.aborted) return result;
    }
  }

  const hasHistory = Boolean(source.history);
  const flush = async (ticks: number[], rows: SampleInput[]) => {
    if (rows.length) {
      const frames = ticks.flatMap((t) => {
        const list = rowsByTick.get(t);
        return list?.length ? [toFrame(t, list)] : [];
      });
      const [saved] = await Promise.all([saveSamples(rows), writeFrames(sourceName, frames)]);
      result.backfilled += saved.inserted;
    }
    const ops = ticks.map((t) => {
      const n = rowsByTick.get(t)?.length ?? 0;
      if (n === 0) result.gaps++;
      return {
        updateOne: {
          // Replaces a failed or abandoned record; a tick another replica recorded meanwhile
          // collides on the unique {source, tick} and theirs stands.
          filter: { source: sourceName, tick: new Date(t), status: { $nin: ['ok', 'partial', 'gap'] } },
          update: {
            $set: {
              status: n === 0 ? 'gap' : n < snapshot.markets.length ? 'partial' : 'ok',
              owner,
              startedAt: new Date(),
              finishedAt: new Date(),
              markets: n,
              inserted: 0,
              backfilled: n,
              attempts: 0,
              ...(n === 0
                ? { errorKind: 'gap', error: hasHistory ? 'not in the source history' : 'source keeps no history' }
                : {}),
            },
          },
          upsert: true,
        },
      };
    });
    await bulkWriteKeyed(CollectorRun.collection, ops);
  };

  let batchTicks: number[] = [];
  let batchRows: SampleInput[] = [];
  for (const t of missing) {
    batchTicks.push(t);
    const rows = rowsByTick.get(t);
    if (rows) batchRows.push(...rows);
    if (batchRows.length >= BACKFILL_BATCH || batchTicks.length >= 1_000) {
      if (options.signal?.aborted) break;
      await flush(batchTicks, batchRows);
      batchTicks = [];
      batchRows = [];
    }
  }
  if (batchTicks.length && !options.signal?.aborted) await flush(batchTicks, batchRows);
  if (result.backfilled || result.gaps) {
    logger.info(
      {
        from: new Date(from).toISOString(),
        to: new Date(last).toISOString(),
        backfilled: result.backfilled,
        gaps: result.gaps,
        covered,
      },
      'missed ticks backfilled',
    );
  }
  return result;
}
