/**
 * What every market data source provides. A source only talks to its API and turns answers into
 * plain quotes; the collector (../collect.ts) owns timing, retries, per-minute volume, the catalog
 * and writes. Adding an exchange is one file implementing MarketSource plus one line in index.ts.
 */
import type { Config } from '../../config.js';

/** A market as a source names it, before it is in the catalog. */
export interface SourceMarket {
  /** Canonical id, `exchange:base-quote`. */
  id: string;
  exchange: string;
  base: string;
  quote: string;
  /** The source's own name for the pair (Kraken `XXBTZUSD`, Cryptowatch `btcusd`). */
  symbol: string;
  /** Other names the source uses (Kraken altname `XBTUSD`, wsname `XBT/USD`); each becomes an alias. */
  names?: string[];
}

/** One market's summary as fetched; numbers already finite (the source's parser rejects the rest). */
export interface Quote {
  market: string;
  last: number;
  high: number;
  low: number;
  /** 24h change in percent. */
  changePct: number;
  changeAbs?: number;
  volume24h: number;
  quoteVolume24h?: number;
  /** A cumulative counter (Kraken `v[0]`, since 00:00 UTC) the collector differences. */
  volumeCum?: number;
  /** Volume per minute when the source knows it directly (candles, simulator). */
  volumeMinute?: number | null;
}

/** A quote for a past tick, rebuilt from candles or a model. */
export interface HistoricQuote extends Quote {
  ts: Date;
}

export interface Snapshot {
  /** Every market the answer covered, for the catalog. */
  markets: SourceMarket[];
  quotes: Quote[];
  /** Markets asked for (or listed by the source) that the answer left out. */
  missing: string[];
  /** When the answer arrived; per-minute volume is a rate over real elapsed time. */
  fetchedAt: Date;
}

export interface FetchContext {
  /** The tick being collected (aligned to the interval). */
  tick: Date;
  signal?: AbortSignal;
  /**
   * The markets the last tick saw, by the source's symbol. A source that lists its markets with a
   * separate call (Kraken's AssetPairs) may skip that call while every answer maps to a known one.
   */
  known?: ReadonlyMap<string, SourceMarket>;
  /** Ask the full market list again even when `known` covers the answer (the hourly refresh). */
  refresh?: boolean;
}

export interface HistoryRequest {
  markets: readonly SourceMarket[];
  /** First tick to rebuild (inclusive) and last (inclusive); aligned to intervalMs. */
  from: Date;
  to: Date;
  intervalMs: number;
  signal?: AbortSignal;
  /** Stop asking for more markets after this time (epoch ms): a backfill never overruns its tick. */
  deadline?: number;
}

export interface HistoryResult {
  rows: HistoricQuote[];
  /** Markets the source could rebuild; the others stay gaps. */
  covered: number;
}

export interface MarketSource {
  readonly name: string;
  /** The source's tracked markets and their current summaries. */
  snapshot(ctx: FetchContext): Promise<Snapshot>;
  /** Rebuilds missed ticks, where the source keeps history (OHLC). Absent: missed ticks stay gaps. */
  history?(request: HistoryRequest): Promise<HistoryResult>;
  /** How far back history reaches (Kraken's OHLC: 720 one-minute rows). */
  readonly historyReachMs?: number;
}

export interface SourceOptions {
  /** Replaces global fetch (bench, tests). */
  fetch?: typeof fetch;
}

export type SourceFactory = (config: Config, options?: SourceOptions) => MarketSource;

export type SourceErrorKind =
  | 'timeout'
  | 'network'
  | 'http_5xx'
  | 'http_4xx'
  | 'rate_limited'
  | 'malformed'
  | 'api_error'
  | 'partial'
  | 'cancelled';

/** A failed request, classified so the collector knows whether and when to retry. */
export class SourceError extends Error {
  override name = 'SourceError';
  constructor(
    readonly kind: SourceErrorKind,
    message: string,
    readonly options: { retryAfterMs?: number; status?: number } = {},
  ) {
    super(message);
  }
  get retryable(): boolean {
    return this.kind !== 'http_4xx' && this.kind !== 'cancelled';
  }
  get retryAfterMs(): number | undefined {
    return this.options.retryAfterMs;
  }
}

/** A finite number from a number or numeric string, or undefined. */
export function toNumber(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** Picks the markets a config asks for out of a source's full list (ids or any alias). */
export function selectMarkets<T extends SourceMarket>(
  all: readonly T[],
  wanted: 'all' | readonly string[],
  aliases: (m: T) => string[],
): T[] {
  if (wanted === 'all') return [...all];
  const keys = new Set(wanted.map((w) => w.trim().toLowerCase()));
  return all.filter((m) => keys.has(m.id) || aliases(m).some((a) => keys.has(a)));
}
