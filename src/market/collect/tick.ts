/**
 * The work of one collector tick for one source:
 *   lease -> claim the tick -> fetch (fetch.ts) -> per-minute volume -> one bulk write of the
 *   samples beside the tick's frame and the catalog -> state (state.ts) -> backfill (backfill.ts)
 *   -> run record.
 * A tick's timestamp is the interval boundary it belongs to, not the moment of the fetch, so a
 * retried or re-run tick writes the same {market, ts} keys and the unique index keeps one of each.
 * Nothing here throws for a source's failure: the tick is recorded as failed and the next one
 * (or its backfill) repairs what it can.
 */
import type { Config, SourceName } from '../../config.js';
import { isDuplicateKey } from '../../db/errors.js';
import { CollectorRun } from '../../db/models/index.js';
import { log } from '../../logger.js';
import { upsertMarkets } from '../catalog.js';
import { acquireLease } from '../lease.js';
import { type Frame, toFrame, writeFrames } from '../pipeline/frames.js';
import { saveSamples, type SampleInput } from '../samples.js';
import { createSource } from '../sources/index.js';
import { SourceError } from '../sources/types.js';
import { backfill } from './backfill.js';
import {
  alignTick,
  blankTickResult,
  derivePerMinute,
  describe,
  isFiniteQuote,
  leaseName,
  leaseTtl,
  toSample,
  type RunContext,
  type TickOptions,
  type TickResult,
} from './context.js';
import { fetchWithRetries } from './fetch.js';
import { loadState, setBackfillPending, writeState } from './state.js';

/** The catalog's lastSeen is refreshed this often even when no market is new. */
const CATALOG_REFRESH_MS = 3_600_000;

/** Claims (source, tick) for this owner. A failed, gap or long-stalled claim may be taken again. */
async function claimRun(source: string, tick: Date, owner: string, staleBefore: Date): Promise<boolean> {
  try {
    await CollectorRun.findOneAndUpdate(
      {
        source,
        tick,
        $or: [{ status: { $in: ['failed', 'gap'] } }, { status: 'running', startedAt: { $lt: staleBefore } }],
      },
      {
        $set: { status: 'running', owner, startedAt: new Date(), attempts: 0 },
        $unset: { errorKind: 1, error: 1, finishedAt: 1 },
      },
      { upsert: true, returnDocument: 'after', lean: true },
    );
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

/** One tick of a source; the pipeline (src/market/pipeline/) uses collectTickRows for the rows in hand. */
export async function collectTick(
  config: Config,
  sourceName: SourceName,
  options: TickOptions = {},
): Promise<TickResult> {
  return (await collectTickRows(config, sourceName, options)).result;
}

/** What a tick wrote and still holds: its result and its frame (every market's values of the tick). */
export interface CollectedTick {
  result: TickResult;
  /** The tick's own rows as written, undefined when nothing was written. */
  frame?: Frame;
}

export async function collectTickRows(
  config: Config,
  sourceName: SourceName,
  options: TickOptions = {},
): Promise<CollectedTick> {
  const started = Date.now();
  const interval = config.market.intervalMs;
  const tick = options.tick ?? alignTick(started, interval);
  const owner = options.owner ?? 'local';
  const logger = log('collect', { source: sourceName, tick: tick.toISOString() });
  const result = blankTickResult(sourceName, tick);
  let frame: Frame | undefined;
  const finish = (): CollectedTick => {
    result.durationMs = Date.now() - started;
    return { result, frame };
  };

  if (!(await acquireLease(leaseName(sourceName), owner, leaseTtl(interval)))) {
    result.status = 'skipped';
    result.reason = 'standby';
    return finish();
  }
  // The claim, the previous state and the fetch are independent: one round trip instead of three.
  // The lease is taken first, so a standby replica never calls the exchange.
  const fetchControl = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, fetchControl.signal]) : fetchControl.signal;
  const source = options.source ?? createSource(sourceName, config);
  // Retries end before the next boundary, so a struggling tick does not make the next one skip.
  // A tick collected late (a re-run of an old one) gets most of an interval from its start instead.
  const boundaryDeadline = tick.getTime() + interval * 0.95;
  const deadline =
    options.deadline ?? (boundaryDeadline > started + 1_000 ? boundaryDeadline : started + interval * 0.8);
  const run: RunContext = { config, sourceName, source, tick, owner, options, deadline, logger };
  const stateLoading = loadState(sourceName).catch((err: unknown) => err as Error);
  const fetching = stateLoading
    .then((state) => {
      const usable = state instanceof Error ? undefined : state;
      const hint = usable ? { known: usable.bySymbol, refresh: started - usable.catalogAt > CATALOG_REFRESH_MS } : {};
      return fetchWithRetries({ ...run, options: { ...options, signal } }, hint);
    })
    .catch((err: unknown) => err as Error);
  let claimed: boolean;
  try {
    claimed = await claimRun(sourceName, tick, owner, new Date(started - 2 * interval));
  } finally {
    // Whatever the claim's outcome, nothing is left running behind this function's back.
    if (!claimed!) fetchControl.abort();
  }
  if (!claimed) {
    await Promise.all([fetching, stateLoading]);
    result.status = 'skipped';
    result.reason = 'claimed';
    result.attempts = 0;
    result.sourceErrors = [];
    delete result.errorKind;
    delete result.error;
    return finish();
  }

  // The driver's collection, not the model: the values are already the stored types, and mongoose's
  // casting of the update is time the tick spends after its write.
  const recordRun = async (extra: Record<string, unknown> = {}) => {
    await CollectorRun.collection.updateOne(
      { source: sourceName, tick, owner },
      {
        $set: {
          status: result.status,
          finishedAt: new Date(),
          durationMs: Date.now() - started,
          markets: result.markets,
          inserted: result.inserted,
          duplicates: result.duplicates,
          backfilled: result.backfilled,
          attempts: result.attempts,
          ...(result.errorKind ? { errorKind: result.errorKind, error: result.error?.slice(0, 500) } : {}),
          ...extra,
        },
      },
    );
  };

  try {
    const fetched = await fetching;
    result.phases.fetched = Date.now() - started;
    if (fetched instanceof Error) throw fetched;
    result.attempts = fetched.attempts;
    result.sourceErrors.push(...fetched.sourceErrors);
    if (fetched.errorKind) {
      result.errorKind = fetched.errorKind;
      result.error = fetched.error;
    }
    const snapshot = fetched.snapshot;
    if (!snapshot) {
      result.status = 'failed';
      await recordRun();
      return finish();
    }
    if (options.signal?.aborted) {
      // Shutdown before the write: abandon the tick whole; the next run's backfill repairs it.
      result.status = 'failed';
      result.errorKind = 'cancelled';
      result.error = 'stopped before writing';
      await recordRun();
      return finish();
    }

    const loaded = await stateLoading;
    if (loaded instanceof Error) throw loaded;
    const previous = loaded;
    const prevUsable = previous && previous.tick < tick.getTime() ? previous : undefined;
    const samples: SampleInput[] = [];
    // One reusable "previous reading" for derivePerMinute instead of an object per market.
    const prevReading = prevUsable ? { cum: undefined as number | null | undefined, tick: prevUsable.tick } : undefined;
    const tickMs = tick.getTime();
    for (const q of snapshot.quotes) {
      if (!isFiniteQuote(q)) continue;
      let volumeMinute = q.volumeMinute;
      if (volumeMinute === undefined) {
        if (prevReading) prevReading.cum = prevUsable!.cums.get(q.market);
        volumeMinute = derivePerMinute(q.volumeCum, prevReading, tickMs, interval);
      }
      samples.push(toSample(q, tick, sourceName, volumeMinute));
    }
    // Catalog: new markets at once (no restart needed), every market's lastSeen once an hour.
    const newMarkets = previous ? snapshot.markets.filter((m) => !previous.markets.has(m.id)) : snapshot.markets;
    const refreshAll = !previous || started - previous.catalogAt > CATALOG_REFRESH_MS;
    const toCatalog = refreshAll ? snapshot.markets : newMarkets;
    // The samples are the one bulk write; the tick's frame and the catalog go alongside it. The
    // state goes after: a state that records this tick while its samples failed would keep the
    // next tick from backfilling it.
    result.phases.normalised = Date.now() - started;
    const tickFrame = toFrame(tick.getTime(), samples);
    const [saved] = await Promise.all([
      saveSamples(samples),
      writeFrames(sourceName, [tickFrame]),
      toCatalog.length ? upsertMarkets(toCatalog.map((m) => describe(m, sourceName))) : undefined,
    ]);
    await writeState({
      source: sourceName,
      tick,
      snapshot,
      previous,
      catalogAt: refreshAll ? started : previous!.catalogAt,
    });
    frame = tickFrame;
    result.markets = samples.length;
    result.inserted = saved.inserted;
    result.duplicates = saved.duplicates;
    result.status = snapshot.missing.length > 0 || samples.length < snapshot.quotes.length ? 'partial' : 'ok';
    if (result.status === 'partial' && !result.errorKind) {
      result.errorKind = 'partial';
      result.error = `${snapshot.missing.length + snapshot.quotes.length - samples.length} market(s) missing or invalid: ${snapshot.missing.slice(0, 10).join(', ')}`;
    }

    result.phases.written = Date.now() - started;
    // The previous tick was this one's predecessor: nothing was missed, no need to look.
    if (!previous || previous.tick !== tick.getTime() - interval || previous.backfillPending) {
      const filled = await backfill(run, snapshot);
      result.backfilled = filled.backfilled;
      result.gaps = filled.gaps;
      result.sourceErrors.push(...filled.sourceErrors);
      // A cancelled backfill leaves unrecorded ticks behind; the flag makes the next tick look again.
      const pending = Boolean(options.signal?.aborted);
      if (pending || previous?.backfillPending) await setBackfillPending(sourceName, pending);
    }
    await recordRun();
    return finish();
  } catch (err) {
    const cancelled = err instanceof SourceError && err.kind === 'cancelled';
    result.status = result.inserted > 0 ? 'partial' : 'failed';
    result.errorKind = cancelled ? 'cancelled' : 'internal';
    result.error = (err as Error).message;
    if (!cancelled) logger.error({ err }, 'tick failed unexpectedly');
    await recordRun().catch((e: unknown) => logger.warn({ err: e }, 'could not record the failed tick'));
    return finish();
  }
}
