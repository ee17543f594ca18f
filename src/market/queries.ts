/**
 * The answers chat commands and the REST API give: one market's report (statistics, chart series,
 * rank) and the std-dev leaderboard.
 *
 * A report reads its market's samples by `_id` and computes exact figures; a ranking reads the
 * window statistics the tick pipeline stores, never the
 * samples. Both change once per collector tick, so answers are kept for a few seconds: a burst of
 * the same question costs one computation.
 */
import { UserError } from '../errors.js';
import { listMarkets, resolveMarket, type CatalogEntry } from './catalog.js';
import {
  METRICS,
  METRIC_NAMES,
  METRIC_ORDER,
  RANK_BY,
  RANK_BY_NAMES,
  WINDOWS,
  WINDOW_NAMES,
  parseMetric,
  parseRankBy,
  parseWindow,
  type MetricName,
  type RankBy,
  type WindowName,
} from './metrics.js';
import { downsample } from './downsample.js';
import { computeStats, relativeStd } from './stats.js';
import { loadTable, pointsOf, readRows, statsVersion, type TableEntry } from './window-stats.js';

export interface WindowStats {
  count: number;
  first: number | null;
  last: number | null;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
  rsd: number | null;
  change: number | null;
  changePct: number | null;
  logretStd: number | null;
  firstTs: Date | null;
  lastTs: Date | null;
}

export interface RankInfo {
  position: number;
  of: number;
  by: RankBy;
  method: string;
  value: number | null;
  tied: boolean;
}

export interface MarketReport {
  market: CatalogEntry;
  metric: MetricName;
  window: WindowName;
  stats: WindowStats;
  /** null when too few points; `rankNote` says why. */
  rank: RankInfo | null;
  rankNote?: string;
  series: Array<{ ts: Date; min: number; max: number; last: number }>;
  latestTs: Date | null;
}

export interface RankingRow {
  position: number;
  market: string;
  value: number | null;
  std: number | null;
  rsd: number | null;
  logretStd: number | null;
  mean: number | null;
  last: number | null;
  count: number;
}

export interface Ranking {
  metric: MetricName;
  window: WindowName;
  by: RankBy;
  /** e.g. '24h relative std dev (std/mean)' */
  method: string;
  total: number;
  /** markets with too few points */
  excluded: number;
  top: RankingRow[];
  bottom: RankingRow[];
  asOf: Date | null;
  /** The one exchange ranked, or null when the ranking covers them all. */
  exchange: string | null;
  /** Every exchange in the ranking, for the reply to name them. */
  exchanges: string[];
}

export interface ReportOptions {
  metric?: MetricName;
  window?: WindowName;
  points?: number;
  by?: RankBy;
  now?: Date;
}

export interface RankingOptions {
  /** Only this exchange's markets (`binance`); absent: every exchange. */
  exchange?: string;
  metric?: MetricName;
  window?: WindowName;
  by?: RankBy;
  limit?: number;
  now?: Date;
}

/** A market needs this many points in the window (returns, for log-return ranking) to be ranked. */
export const MIN_RANK_POINTS = 10;
export const DEFAULT_POINTS = 90;
export const MAX_POINTS = 500;
export const DEFAULT_LIMIT = 10;
export const MAX_LIMIT = 100;
/**
 * A computed answer is reused while the window statistics are unchanged (the tick pipeline
 * bumps a version after each tick; it is read at most once a second) and for at most this long,
 * so a window still slides when ticks stop.
 */
export const ANSWER_MAX_AGE_MS = 60_000;
const VERSION_CHECK_MS = 1_000;

/** A user's spelling of a choice, read by `parse`; undefined when absent, a UserError naming it when unknown. */
export function readChoice<T extends string>(
  name: string,
  value: unknown,
  parse: (text: string) => T | undefined,
  allowed: readonly string[],
): T | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const parsed = typeof value === 'string' ? parse(value) : undefined;
  if (parsed === undefined) {
    throw new UserError(
      `Unknown ${name} "${String(value).slice(0, 40)}".`,
      `${name} is one of: ${allowed.join(', ')}.`,
      400,
    );
  }
  return parsed;
}

function option<T extends string>(
  name: string,
  value: unknown,
  fallback: T,
  parse: (text: string) => T | undefined,
  allowed: readonly string[],
): T {
  return readChoice(name, value, parse, allowed) ?? fallback;
}

/** Kept here for the callers that import it from the queries; the one definition is in metrics.ts. */
export { parseRankBy };

function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\s*\d+\s*$/.test(value)
        ? Number(value)
        : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UserError(
      `Invalid ${name} "${String(value).slice(0, 40)}".`,
      `${name} is a whole number from ${min} to ${max}.`,
      400,
    );
  }
  return n;
}

interface Common {
  metric: MetricName;
  window: WindowName;
  by: RankBy;
}

function commonOptions(opts: { metric?: unknown; window?: unknown; by?: unknown }): Common {
  const metric = option('metric', opts.metric, 'price', parseMetric, METRIC_NAMES);
  const window = option('window', opts.window, '24h', parseWindow, WINDOW_NAMES);
  const by = option('by', opts.by, 'rsd', parseRankBy, RANK_BY_NAMES);
  if (by === 'logret' && !METRICS[metric].isPrice) {
    throw new UserError(
      `by "logret" ranks prices only; ${metric} is not a price.`,
      'Log returns need a price (price, high, low); rank other metrics by rsd or std.',
      400,
    );
  }
  return { metric, window, by };
}

function methodOf(window: WindowName, by: RankBy): string {
  return `${window} ${RANK_BY[by]}`;
}

interface RankedRow extends RankingRow {
  tied: boolean;
}

interface RankedTable {
  ranked: RankedRow[];
  byMarket: Map<string, RankedRow>;
  entries: Map<string, TableEntry>;
  excluded: number;
  asOf: Date | null;
}

function rankValue(e: TableEntry, by: RankBy): number | null {
  if (by === 'std') return e.std;
  if (by === 'logret') return e.logretStd;
  return relativeStd(e.std, e.mean);
}

/** Same value to 12 significant digits: rounding in the running sums must not break a real tie. */
function sameValue(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));
}

/** Most volatile first; equal values share a position (1, 2, 2, 4) and are flagged. */
export function rankEntries(entries: readonly TableEntry[], by: RankBy): { ranked: RankedRow[]; excluded: number } {
  const eligible: Array<{ e: TableEntry; value: number }> = [];
  for (const e of entries) {
    const value = rankValue(e, by);
    const enough = by === 'logret' ? e.returns >= MIN_RANK_POINTS - 1 : e.count >= MIN_RANK_POINTS;
    if (enough && value !== null && Number.isFinite(value)) eligible.push({ e, value });
  }
  eligible.sort((a, b) => b.value - a.value || a.e.market.localeCompare(b.e.market));
  const ranked: RankedRow[] = [];
  for (let i = 0; i < eligible.length; i++) {
    const { e, value } = eligible[i]!;
    const prev = ranked[i - 1];
    const tiedWithPrev = prev !== undefined && prev.value !== null && sameValue(prev.value, value);
    if (tiedWithPrev) prev.tied = true;
    ranked.push({
      position: tiedWithPrev ? prev.position : i + 1,
      market: e.market,
      value,
      std: e.std,
      rsd: relativeStd(e.std, e.mean),
      logretStd: e.logretStd,
      mean: e.mean,
      last: e.last,
      count: e.count,
      tied: tiedWithPrev,
    });
  }
  return { ranked, excluded: entries.length - ranked.length };
}

interface Cached<T> {
  at: number;
  version: number;
  value: Promise<T>;
  bytes: number;
}

/**
 * Answers kept by key, bounded by an estimate of their bytes rather than their count: a report of
 * 500 points weighs about 250 times one of 2. The oldest entry goes first; entries of an older
 * stats version are dropped as soon as a newer version is seen, since they can never be served.
 */
class AnswerCache<T> {
  private readonly entries = new Map<string, Cached<T>>();
  private total = 0;

  constructor(private maxBytes: number) {}

  get limit(): number {
    return this.maxBytes;
  }

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): Cached<T> | undefined {
    return this.entries.get(key);
  }

  set(key: string, entry: Cached<T>): void {
    this.delete(key);
    if (entry.bytes > this.maxBytes) return;
    this.evictTo(this.maxBytes - entry.bytes);
    this.entries.set(key, entry);
    this.total += entry.bytes;
  }

  resize(maxBytes: number): void {
    this.maxBytes = maxBytes;
    this.evictTo(maxBytes);
  }

  private evictTo(bytes: number): void {
    for (const key of this.entries.keys()) {
      if (this.total <= bytes) return;
      this.delete(key);
    }
  }

  delete(key: string, only?: Cached<T>): void {
    const entry = this.entries.get(key);
    if (!entry || (only && entry !== only)) return;
    this.entries.delete(key);
    this.total -= entry.bytes;
  }

  dropOlderThan(version: number): void {
    for (const [key, entry] of this.entries) if (entry.version < version) this.delete(key);
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }
}

/** Default bound of the report cache (REPORT_CACHE_MB). */
export const DEFAULT_REPORT_CACHE_BYTES = 64 * 1024 * 1024;
/**
 * Estimated heap bytes of a kept report: a fixed part (key, stats, rank, promise) and one series
 * point (an object with a Date and three numbers) per requested point, an upper bound of the
 * series' length.
 */
export const REPORT_BASE_BYTES = 2_048;
export const REPORT_POINT_BYTES = 160;
/** Ranked tables are few (metric x window x method) but each holds every market. */
const TABLE_CACHE_BYTES = Number.MAX_SAFE_INTEGER;

const tables = new AnswerCache<RankedTable>(TABLE_CACHE_BYTES);
const reports = new AnswerCache<MarketReport>(DEFAULT_REPORT_CACHE_BYTES);

let version: { at: number; value: Promise<number> } | undefined;
let newestVersion = 0;

/** Sets the report cache's bound in bytes (REPORT_CACHE_MB); shrinking drops the oldest entries. */
export function configureReportCache(maxBytes: number): void {
  reports.resize(maxBytes);
}

/** What the report cache holds now: entries and their estimated bytes. */
export function reportCacheUsage(): { entries: number; bytes: number; maxBytes: number } {
  return { entries: reports.size, bytes: reports.bytes, maxBytes: reports.limit };
}

/** The stats version, asked of the database at most once a second for the whole process. */
function currentVersion(): Promise<number> {
  if (!version || Date.now() - version.at >= VERSION_CHECK_MS) {
    const value = statsVersion();
    version = { at: Date.now(), value };
    value.catch(() => (version = undefined));
  }
  return version.value;
}

/** Forgets every kept answer (tests, and after data is rewritten outside the collector). */
export function clearQueryCaches(): void {
  tables.clear();
  reports.clear();
  version = undefined;
  newestVersion = 0;
}

async function remembered<T>(
  cache: AnswerCache<T>,
  key: string,
  fresh: boolean,
  make: () => Promise<T>,
  bytes = 0,
): Promise<T> {
  if (!fresh) return make();
  const v = await currentVersion();
  if (v > newestVersion) {
    newestVersion = v;
    tables.dropOlderThan(v);
    reports.dropOlderThan(v);
  }
  const hit = cache.get(key);
  if (hit && hit.version === v && Date.now() - hit.at < ANSWER_MAX_AGE_MS) return hit.value;
  const value = make();
  const entry = { at: Date.now(), version: v, value, bytes };
  cache.set(key, entry);
  // A failure is not remembered: the next caller tries again.
  value.catch(() => cache.delete(key, entry));
  return value;
}

function rankedTable(metric: MetricName, window: WindowName, by: RankBy, fresh: boolean): Promise<RankedTable> {
  return remembered(tables, `${metric}|${window}|${by}`, fresh, async () => {
    const { entries, asOf } = await loadTable(metric, window);
    const { ranked, excluded } = rankEntries(entries, by);
    return {
      ranked,
      byMarket: new Map(ranked.map((r) => [r.market, r])),
      entries: new Map(entries.map((e) => [e.market, e])),
      excluded,
      asOf,
    };
  });
}

const publicRow = ({ tied: _tied, ...row }: RankedRow): RankingRow => row;

export async function getRanking(opts: RankingOptions = {}): Promise<Ranking> {
  const { metric, window, by } = commonOptions(opts);
  const limit = integerOption('limit', opts.limit, DEFAULT_LIMIT, 1, MAX_LIMIT);
  const table = await rankedTable(metric, window, by, opts.now === undefined);
  let { ranked, excluded } = table;
  const exchange = opts.exchange === undefined || opts.exchange === '' ? null : await knownExchange(opts.exchange);
  if (exchange) {
    const prefix = `${exchange}:`;
    ({ ranked, excluded } = rankEntries(
      [...table.entries.values()].filter((e) => e.market.startsWith(prefix)),
      by,
    ));
  }
  const exchanges = [...new Set(ranked.map((r) => r.market.slice(0, r.market.indexOf(':'))))].sort();
  const top = ranked.slice(0, limit).map(publicRow);
  const bottom = ranked.slice(Math.max(limit, ranked.length - limit)).map(publicRow);
  return {
    exchange,
    exchanges,
    metric,
    window,
    by,
    method: methodOf(window, by),
    total: ranked.length,
    excluded,
    top,
    bottom,
    asOf: table.asOf,
  };
}

/** An exchange the catalog knows, or a UserError that lists them. */
async function knownExchange(text: unknown): Promise<string> {
  const name = typeof text === 'string' ? text.trim().toLowerCase() : '';
  const known = [...new Set((await listMarkets()).map((m) => m.exchange))].sort();
  if (known.includes(name)) return name;
  throw new UserError(
    `Unknown exchange "${name.slice(0, 40)}".`,
    known.length ? `Exchanges with markets: ${known.join(', ')}.` : 'No market has been collected yet.',
    404,
  );
}

function rankNote(table: RankedTable, market: string, window: WindowName, by: RankBy): string {
  const e = table.entries.get(market);
  if (!e) return 'Not ranked yet: window statistics for this market are computed after the next collector tick.';
  const enough = by === 'logret' ? e.returns >= MIN_RANK_POINTS - 1 : e.count >= MIN_RANK_POINTS;
  if (!enough) {
    const have = by === 'logret' ? `${e.returns} one-minute returns` : `${e.count} points`;
    const needed = by === 'logret' ? MIN_RANK_POINTS - 1 : MIN_RANK_POINTS;
    return `Not ranked: only ${have} in the last ${window}; at least ${needed} needed.`;
  }
  return by === 'rsd'
    ? 'Not ranked: the relative std dev is undefined when the mean is 0.'
    : 'Not ranked: the figure is undefined for this window.';
}

export async function getMarketReport(input: string, opts: ReportOptions = {}): Promise<MarketReport> {
  if (typeof input !== 'string' || input.trim() === '') {
    throw new UserError('Which market?', 'Name a market like btc-usd, BTC/USD or kraken:btc-usd.', 400);
  }
  const { metric, window, by } = commonOptions(opts);
  const points = integerOption('points', opts.points, DEFAULT_POINTS, 2, MAX_POINTS);
  const market = await resolveMarket(input);
  const fresh = opts.now === undefined;
  const report = await reportOf(market, metric, window, points, by, fresh, opts.now);
  // A kept answer may have been asked by another name: the note belongs to this question.
  return report.market.note === market.note ? report : { ...report, market };
}

function reportOf(
  market: CatalogEntry,
  metric: MetricName,
  window: WindowName,
  points: number,
  by: RankBy,
  fresh: boolean,
  now: Date | undefined,
): Promise<MarketReport> {
  const opts = { now };
  const key = `${market.id}|${metric}|${window}|${points}|${by}`;
  const bytes = REPORT_BASE_BYTES + key.length * 2 + points * REPORT_POINT_BYTES;
  return remembered(
    reports,
    key,
    fresh,
    async () => {
      const end = (opts.now ?? new Date()).getTime();
      const start = end - WINDOWS[window];
      const [rows, table] = await Promise.all([
        readRows([market.id], start, end).then((m) => m.get(market.id) ?? []),
        rankedTable(metric, window, by, fresh),
      ]);
      const series = pointsOf(rows, metric);
      const stats = computeStats(series, { logReturns: METRICS[metric].isPrice });
      const row = table.byMarket.get(market.id);
      const rank: RankInfo | null = row
        ? {
            position: row.position,
            of: table.ranked.length,
            by,
            method: methodOf(window, by),
            value: row.value,
            tied: row.tied,
          }
        : null;
      const report: MarketReport = {
        market,
        metric,
        window,
        stats,
        rank,
        series: downsample(series, points, start, end),
        latestTs: rows.length ? new Date(rows[rows.length - 1]!.ts) : null,
      };
      if (!rank) report.rankNote = rankNote(table, market.id, window, by);
      return report;
    },
    bytes,
  );
}

/**
 * When the window statistics last changed (epoch ms, 0 before the first pass), read now rather
 * than through the once-a-second check the answer cache uses: for a poller that wants a tick's
 * statistics as soon as they are all written.
 */
export function readStatsVersion(): Promise<number> {
  return statsVersion();
}

/** One market's line on the dashboard's market list. */
export interface OverviewRow {
  market: string;
  /** Last price. */
  last: number | null;
  /** The source's 24h change in percent. */
  changePct: number | null;
  /** Position among all markets by 24h relative std dev of the price; null when not ranked. */
  rank: number | null;
  /** 24h relative std dev of the price (std/mean). */
  rsd: number | null;
}

export interface MarketOverview {
  /** What `rank` orders by. */
  method: string;
  /** Markets ranked. */
  ranked: number;
  rows: OverviewRow[];
  /** The newest tick the statistics are as of. */
  asOf: Date | null;
}

/**
 * Every market with its last price, 24h change and rank by 24h relative std dev, in id order,
 * from the window statistics (no sample is read). `uncached` skips the answer cache: a caller that
 * has just seen a tick finish wants the statistics of that tick, not the ones kept from before.
 */
export async function getMarketOverview(opts: { uncached?: boolean } = {}): Promise<MarketOverview> {
  const fresh = !opts.uncached;
  const [price, change] = await Promise.all([
    rankedTable('price', '24h', 'rsd', fresh),
    rankedTable('change', '24h', 'rsd', fresh),
  ]);
  const rows: OverviewRow[] = [];
  for (const [market, e] of price.entries) {
    const ranked = price.byMarket.get(market);
    rows.push({
      market,
      last: e.last,
      changePct: change.entries.get(market)?.last ?? null,
      rank: ranked?.position ?? null,
      rsd: relativeStd(e.std, e.mean),
    });
  }
  rows.sort((a, b) => (a.market < b.market ? -1 : a.market > b.market ? 1 : 0));
  return { method: methodOf('24h', 'rsd'), ranked: price.ranked.length, rows, asOf: price.asOf };
}

/** A market's last stored price within `withinMs` before `now`, read by sample id; undefined when none. */
export async function latestPrice(
  market: string,
  now: number,
  withinMs = 3_600_000,
): Promise<{ ts: Date; value: number } | undefined> {
  const rows = (await readRows([market], now - withinMs, now)).get(market) ?? [];
  const k = METRIC_ORDER.indexOf('price');
  for (let i = rows.length - 1; i >= 0; i--) {
    const v = rows[i]!.values[k];
    if (typeof v === 'number' && Number.isFinite(v)) return { ts: new Date(rows[i]!.ts), value: v };
  }
  return undefined;
}
