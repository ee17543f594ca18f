/**
 * The answers chat commands and the REST API give: one market's report (statistics, series, rank)
 * and the std-dev leaderboard. Contract shared with the chat commands; the bodies are being filled in.
 */
import type { CatalogEntry } from './catalog.js';
import type { MetricName, RankBy, WindowName } from './metrics.js';

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
}

export interface ReportOptions {
  metric?: MetricName;
  window?: WindowName;
  points?: number;
  by?: RankBy;
  now?: Date;
}

export interface RankingOptions {
  metric?: MetricName;
  window?: WindowName;
  by?: RankBy;
  limit?: number;
  now?: Date;
}

export async function getMarketReport(input: string, opts: ReportOptions = {}): Promise<MarketReport> {
  void input;
  void opts;
  throw new Error('getMarketReport: not implemented yet');
}

export async function getRanking(opts: RankingOptions = {}): Promise<Ranking> {
  void opts;
  throw new Error('getRanking: not implemented yet');
}
