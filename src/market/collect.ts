/**
 * The work of one collector tick for one source:
 *   lease -> claim the tick -> fetch (retried with backoff inside the tick's interval, Retry-After
 *   honoured) -> per-minute volume -> one bulk write -> catalog -> state -> backfill -> run record.
 * A tick's timestamp is the interval boundary it belongs to, not the moment of the fetch, so a
 * retried or re-run tick writes the same {market, ts} keys and the unique index keeps one of each.
 * Nothing here throws for a source's failure: the tick is recorded as failed and the next one
 * (or its backfill) repairs what it can.
 */
import type { Config, SourceName } from '../config.js';
import { CollectorRun, CollectorState } from '../db/models/index.js';
import { log } from '../logger.js';
import { upsertMarkets, type MarketDescriptor } from './catalog.js';
import { acquireLease } from './lease.js';
import { type Frame, toFrame, writeFrames } from './pipeline/frames.js';
import { saveSamples, type SampleInput } from './samples.js';
import { createSource } from './sources/index.js';
import { abortableDelay } from './sources/http.js';
import {
  SourceError,
  type FetchContext,
  type MarketSource,
  type Quote,
  type Snapshot,
  type SourceErrorKind,
  type SourceMarket,
} from './sources/types.js';
import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';

export type TickStatus = 'ok' | 'partial' | 'failed' | 'skipped';

export interface TickResult {
  source: string;
  tick: Date;
  status: TickStatus;
  /** Why a tick was skipped: another replica holds the lease, or already claimed this tick. */
  reason?: 'standby' | 'claimed';
  markets: number;
  inserted: number;
  duplicates: number;
  /** Samples written for missed ticks. */
  backfilled: number;
  /** Missed ticks nothing could be rebuilt for. */
  gaps: number;
  attempts: number;
  durationMs: number;
  errorKind?: SourceErrorKind | 'internal';
  error?: string;
  /** Every failed request of the tick, for the error counters. */
  sourceErrors: SourceErrorKind[];
  /** Milliseconds since the tick started at which each phase ended (fetched, written, done). */
  phases: Record<string, number>;
}

export interface TickOptions {
  /** The source object (tests, bench); by default built from the config by name. */
  source?: MarketSource;
  /** The tick to collect; default the current interval boundary. */
  tick?: Date;
  /** This replica's id (lease and run records). */
  owner?: string;
  /** Fires on shutdown: the tick stops before its write, or finishes a write already started. */
  signal?: AbortSignal;
  /** First retry wait (default 1 s, doubled each attempt up to maxBackoffMs). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Retries stop when the next attempt could not finish by then (default: just before the next boundary). */
  deadline?: number;
  /** How much of the missed history to rebuild at most (default BACKFILL_MAX). */
  backfillMaxMs?: number;
}

const MINUTE = 60_000;
/** Per-minute volume is not derived across more than this many intervals. */
const MAX_DERIVE_INTERVALS = 5;
/** The catalog's lastSeen is refreshed this often even when no market is new. */
const CATALOG_REFRESH_MS = 3_600_000;
/** Backfill rows are written in batches, so a cancel can stop between them. */
const BACKFILL_BATCH = 10_000;

export function alignTick(time: number, intervalMs: number): Date {
  return new Date(Math.floor(time / intervalMs) * intervalMs);
}

export function leaseName(source: string): string {
  return `collect:${source}`;
}

/** Lease lifetime: a live holder renews it every tick; a dead one loses it within two ticks. */
export function leaseTtl(intervalMs: number): number {
  return Math.round(intervalMs * 1.5);
}

function utcDay(time: number): number {
  return Math.floor(time / 86_400_000);
}

/**
 * Volume per minute over the interval ending at `tick`, from a cumulative since-midnight counter.
 * The interval that straddles 00:00 UTC has none: the counter's last total before the reset is
 * unknown, and a guess would read as a spike or a lull.
 */
export function derivePerMinute(
  cum: number | undefined,
  prev: { cum: number | null | undefined; tick: number } | undefined,
  tick: number,
  intervalMs: number,
): number | null {
  if (cum === undefined || !prev || prev.cum === null || prev.cum === undefined) return null;
  const elapsed = tick - prev.tick;
  if (elapsed <= 0 || elapsed > MAX_DERIVE_INTERVALS * intervalMs) return null;
  // Each tick is fetched just after its boundary, so a midnight in (prev, tick] means the counter
  // was reset between the two readings.
  if (utcDay(tick) !== utcDay(prev.tick)) return null;
  const delta = cum - prev.cum;
  if (delta < 0) return null;
  return (delta / elapsed) * MINUTE;
}

interface PreviousState {
  tick: number;
  cums: Map<string, number | null>;
  markets: Set<string>;
  /** Known markets by the source's symbol. */
  bySymbol: Map<string, SourceMarket>;
  catalogAt: number;
  backfillPending: boolean;
}

/** A market back from its canonical id and symbol (`kraken:btc-usd`, `XXBTZUSD`). */
function marketFromId(id: string, symbol: string): SourceMarket | undefined {
  const colon = id.indexOf(':');
  const dash = id.indexOf('-', colon);
  if (colon < 1 || dash < 0) return undefined;
  return { id, exchange: id.slice(0, colon), base: id.slice(colon + 1, dash), quote: id.slice(dash + 1), symbol };
}

/** The per-market part of a state document: thousands of entries, rewritten (cums) every tick. */
type StateLists = Pick<PreviousState, 'cums' | 'markets' | 'bySymbol'>;

function stateLists(
  markets: readonly string[],
  cums: ReadonlyArray<number | null | undefined>,
  symbols: ReadonlyArray<string | null | undefined>,
): StateLists {
  const map = new Map<string, number | null>();
  const bySymbol = new Map<string, SourceMarket>();
  markets.forEach((m, i) => {
    map.set(m, cums[i] ?? null);
    const symbol = symbols[i];
    const market = symbol ? marketFromId(m, symbol) : undefined;
    if (market) bySymbol.set(symbol!, market);
  });
  return { cums: map, markets: new Set(markets), bySymbol };
}

/**
 * The lists this process last wrote to each source's state document, under the random stamp it
 * wrote with them. While the document still carries that stamp (no other replica wrote since, in
 * the steady state of a lease holder every tick), the next tick reads only the small fields and
 * takes the lists from here: decoding thousands of entries and rebuilding the maps was a fifth of
 * a tick's time before its write. writeState is the only writer of the lists and always sets a new
 * stamp; the document's tick must match too (see loadState).
 */
const lastWritten = new Map<string, { stamp: string; tick: number; lists: StateLists }>();
const SMALL_FIELDS = { projection: { markets: 0, cums: 0, symbols: 0 } };

async function loadState(source: string): Promise<PreviousState | undefined> {
  const cached = lastWritten.get(source);
  let doc = await CollectorState.collection.findOne({ _id: source as never }, cached ? SMALL_FIELDS : {});
  if (!doc) return undefined;
  let lists: StateLists;
  // The tick as well: a writer that does not know about stamps (an older replica during a rolling
  // update) leaves ours in place, but it writes a later tick.
  if (cached && doc.stamp === cached.stamp && (doc.tick as Date).getTime() === cached.tick) {
    lists = cached.lists;
  } else {
    if (cached) {
      // Written by someone else since: the lists must be read after all.
      lastWritten.delete(source);
      doc = await CollectorState.collection.findOne({ _id: source as never });
      if (!doc) return undefined;
    }
    lists = stateLists(
      (doc.markets ?? []) as string[],
      (doc.cums ?? []) as Array<number | null>,
      (doc.symbols ?? []) as Array<string | null>,
    );
  }
  return {
    tick: (doc.tick as Date).getTime(),
    ...lists,
    catalogAt: doc.catalogAt ? (doc.catalogAt as Date).getTime() : 0,
    backfillPending: doc.backfillPending === true,
  };
}

function isDuplicateKey(err: unknown): boolean {
  return err instanceof mongoose.mongo.MongoServerError && err.code === 11000;
}

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

function describe(m: SourceMarket, source: string): MarketDescriptor {
  return { exchange: m.exchange, base: m.base, quote: m.quote, source, symbol: m.symbol, names: m.names };
}

function toSample(q: Quote, ts: Date, source: string, volumeMinute: number | null): SampleInput {
  const sample: SampleInput = {
    market: q.market,
    ts,
    source,
    last: q.last,
    high: q.high,
    low: q.low,
    changePct: q.changePct,
    volume24h: q.volume24h,
    volumeMinute: volumeMinute !== null && Number.isFinite(volumeMinute) ? volumeMinute : null,
  };
  if (q.changeAbs !== undefined) sample.changeAbs = q.changeAbs;
  if (q.quoteVolume24h !== undefined) sample.quoteVolume24h = q.quoteVolume24h;
  if (q.volumeCum !== undefined) sample.volumeCum = q.volumeCum;
  return sample;
}

/**
 * Every figure a sample stores must be finite; a parser bug must not write NaN. Spelt out rather
 * than as `[...].every(...)`: two arrays per market at thousands of markets a tick showed up.
 */
function isFiniteQuote(q: Quote): boolean {
  return (
    Number.isFinite(q.last) &&
    Number.isFinite(q.high) &&
    Number.isFinite(q.low) &&
    Number.isFinite(q.changePct) &&
    Number.isFinite(q.volume24h) &&
    (q.changeAbs === undefined || Number.isFinite(q.changeAbs)) &&
    (q.quoteVolume24h === undefined || Number.isFinite(q.quoteVolume24h)) &&
    (q.volumeCum === undefined || Number.isFinite(q.volumeCum))
  );
}

/** A tick that has done nothing yet: counts at zero, status failed until something succeeds. */
export function blankTickResult(source: SourceName, tick: Date): TickResult {
  return {
    source,
    tick,
    status: 'failed',
    markets: 0,
    inserted: 0,
    duplicates: 0,
    backfilled: 0,
    gaps: 0,
    attempts: 0,
    durationMs: 0,
    sourceErrors: [],
    phases: {},
  };
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
  const stateLoading = loadState(sourceName).catch((err: unknown) => err as Error);
  const fetching = stateLoading
    .then((state) => {
      const usable = state instanceof Error ? undefined : state;
      const hint = usable ? { known: usable.bySymbol, refresh: started - usable.catalogAt > CATALOG_REFRESH_MS } : {};
      return fetchWithRetries(source, tick, { ...options, signal }, deadline, result, logger, hint);
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
    const snapshot = fetched;
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
    const writeState = async () => {
      if (previous && previous.tick > tick.getTime()) return; // a re-run of an old tick
      // What the source listed: the markets it answered for, and those it listed but left out this
      // time (so a partial answer does not make them new again). A delisted market drops out.
      const symbolOf = new Map<string, string>();
      for (const [symbol, m] of previous?.bySymbol ?? []) symbolOf.set(m.id, symbol);
      const known = new Map<string, string | null>();
      for (const m of snapshot.markets) known.set(m.id, m.symbol);
      for (const id of snapshot.missing) if (!known.has(id)) known.set(id, symbolOf.get(id) ?? null);
      const cumByMarket = new Map(snapshot.quotes.map((q) => [q.market, q.volumeCum ?? null]));
      const markets = [...known.keys()];
      const cums = markets.map((m) => cumByMarket.get(m) ?? null);
      const stamp = randomUUID();
      const set: Record<string, unknown> = {
        tick,
        cums,
        catalogAt: new Date(refreshAll ? started : previous!.catalogAt),
        stamp,
      };
      // The market list rarely changes; at thousands of markets not rewriting it is worth the check.
      const previousOrder = previous ? [...previous.markets] : [];
      const sameList =
        previousOrder.length === markets.length &&
        markets.every((m, i) => m === previousOrder[i] && previous!.bySymbol.get(known.get(m) ?? '')?.id === m);
      let lists: StateLists;
      if (sameList) {
        // The stored lists stay as they were, so do the maps built from them.
        const cumMap = new Map<string, number | null>();
        markets.forEach((m, i) => {
          cumMap.set(m, cums[i] ?? null);
        });
        lists = { cums: cumMap, markets: previous!.markets, bySymbol: previous!.bySymbol };
      } else {
        const symbols = markets.map((m) => known.get(m) ?? null);
        set.markets = markets;
        set.symbols = symbols;
        lists = stateLists(markets, cums, symbols);
      }
      // Forgotten first: if the write fails after reaching the server, the next tick reads it all.
      lastWritten.delete(sourceName);
      await CollectorState.collection.updateOne({ _id: sourceName as never }, { $set: set }, { upsert: true });
      lastWritten.set(sourceName, { stamp, tick: tick.getTime(), lists });
    };
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
    await writeState();
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
      await backfill(config, sourceName, source, snapshot, tick, owner, options, deadline, result, logger);
      // A cancelled backfill leaves unrecorded ticks behind; the flag makes the next tick look again.
      const pending = Boolean(options.signal?.aborted);
      if (pending || previous?.backfillPending) {
        await CollectorState.collection.updateOne({ _id: sourceName as never }, { $set: { backfillPending: pending } });
      }
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

async function fetchWithRetries(
  source: MarketSource,
  tick: Date,
  options: TickOptions,
  deadline: number,
  result: TickResult,
  logger: ReturnType<typeof log>,
  hint: Pick<FetchContext, 'known' | 'refresh'> = {},
): Promise<Snapshot | undefined> {
  let wait = options.backoffMs ?? 1_000;
  const maxWait = options.maxBackoffMs ?? 15_000;
  let best: Snapshot | undefined;
  for (;;) {
    result.attempts++;
    let retryAfter: number | undefined;
    try {
      const snapshot = await source.snapshot({ tick, signal: options.signal, ...hint });
      if (!best || snapshot.quotes.length >= best.quotes.length) best = snapshot;
      if (snapshot.missing.length === 0) return snapshot;
      result.sourceErrors.push('partial');
      logger.debug({ missing: snapshot.missing.length, attempt: result.attempts }, 'partial answer, retrying');
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      if (err.kind === 'cancelled') {
        result.errorKind = 'cancelled';
        result.error = 'stopped while fetching';
        return undefined;
      }
      result.sourceErrors.push(err.kind);
      result.errorKind = err.kind;
      result.error = err.message;
      logger.debug({ kind: err.kind, err: err.message, attempt: result.attempts }, 'source request failed');
      if (!err.retryable) return best;
      retryAfter = err.retryAfterMs;
    }
    const pause = retryAfter ?? wait;
    wait = Math.min(wait * 2, maxWait);
    // Retry only if the pause plus a request could still end inside the tick's time.
    if (Date.now() + pause >= deadline) {
      if (best) return best;
      if (retryAfter !== undefined)
        result.error = `${result.error} (Retry-After ${Math.round(retryAfter / 1000)} s is past this tick's time)`;
      return undefined;
    }
    try {
      await abortableDelay(pause, options.signal);
    } catch {
      result.errorKind = 'cancelled';
      result.error = 'stopped while waiting to retry';
      return undefined;
    }
  }
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
async function backfill(
  config: Config,
  sourceName: string,
  source: MarketSource,
  snapshot: Snapshot,
  tick: Date,
  owner: string,
  options: TickOptions,
  deadline: number,
  result: TickResult,
  logger: ReturnType<typeof log>,
): Promise<void> {
  const interval = config.market.intervalMs;
  const maxMs = options.backfillMaxMs ?? config.market.backfillMaxMs;
  const earliest = tick.getTime() - Math.floor(maxMs / interval) * interval;
  const to = tick.getTime() - interval;
  if (earliest > to || snapshot.markets.length === 0) return;
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
      if ((err as { code?: number }).code !== 11000) throw err;
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
  if (missing.length === 0) return;
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
      if (options.signal?.aborted) return;
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
    try {
      await CollectorRun.bulkWrite(ops as Parameters<typeof CollectorRun.bulkWrite>[0], { ordered: false });
    } catch (err) {
      if (!(err instanceof mongoose.mongo.MongoBulkWriteError)) throw err;
    }
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
}
