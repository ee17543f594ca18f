/**
 * What every step of a collector tick shares: its result type, its options, the run context that
 * replaces long parameter lists, and the small rules a sample is made by.
 */
import type { Config, SourceName } from '../../config.js';
import type { Logger } from '../../logger.js';
import type { MarketDescriptor } from '../catalog.js';
import type { SampleInput } from '../samples.js';
import type { MarketSource, Quote, SourceErrorKind, SourceMarket } from '../sources/types.js';

/** One tick's run: who runs it, for which source and tick, until when. */
export interface RunContext {
  config: Config;
  sourceName: SourceName;
  source: MarketSource;
  tick: Date;
  owner: string;
  options: TickOptions;
  /** Retries stop when the next attempt could not finish by then (epoch ms). */
  deadline: number;
  logger: Logger;
}

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

export function describe(m: SourceMarket, source: string): MarketDescriptor {
  return { exchange: m.exchange, base: m.base, quote: m.quote, source, symbol: m.symbol, names: m.names };
}

export function toSample(q: Quote, ts: Date, source: string, volumeMinute: number | null): SampleInput {
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
export function isFiniteQuote(q: Quote): boolean {
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
