/**
 * The metrics users ask about and the sample field each reads, and the windows they ask over.
 * Shared by statistics, rankings, commands, the REST API and spike detection.
 */
export const METRICS = {
  price: { field: 'last', label: 'price', unit: 'quote', isPrice: true },
  high: { field: 'high', label: '24h high', unit: 'quote', isPrice: true },
  low: { field: 'low', label: '24h low', unit: 'quote', isPrice: true },
  change: { field: 'changePct', label: '24h change %', unit: '%', isPrice: false },
  volume: { field: 'volumeMinute', label: 'volume per minute', unit: 'base/min', isPrice: false },
  volume24h: { field: 'volume24h', label: '24h volume', unit: 'base', isPrice: false },
  quoteVolume: { field: 'quoteVolume24h', label: '24h quote volume', unit: 'quote', isPrice: false },
} as const;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];
export type SampleField = (typeof METRICS)[MetricName]['field'];

export const WINDOWS = {
  '1h': 3_600_000,
  '6h': 6 * 3_600_000,
  '24h': 24 * 3_600_000,
  '7d': 7 * 24 * 3_600_000,
} as const;
export type WindowName = keyof typeof WINDOWS;

/** The order of a sample's values wherever they are stored packed (frames, window statistics). */
export const METRIC_ORDER: readonly MetricName[] = [
  'price',
  'high',
  'low',
  'change',
  'volume',
  'volume24h',
  'quoteVolume',
];
export const WINDOW_NAMES = Object.keys(WINDOWS) as WindowName[];

/** How a ranking orders markets: relative std dev (scale-free, default), raw std dev, log-return std dev. */
export const RANK_BY = {
  rsd: 'relative std dev (std/mean)',
  std: 'raw std dev',
  logret: 'std dev of 1-minute log returns',
} as const;
export type RankBy = keyof typeof RANK_BY;
export const RANK_BY_NAMES = Object.keys(RANK_BY) as RankBy[];

const METRIC_ALIASES: Record<string, MetricName> = {
  last: 'price',
  close: 'price',
  pct: 'change',
  changepct: 'change',
  vol: 'volume',
  volumeminute: 'volume',
  'volume/min': 'volume',
  vol24h: 'volume24h',
  quotevolume: 'quoteVolume',
  quotevol: 'quoteVolume',
  volumequote: 'quoteVolume',
};

export function parseMetric(text: string): MetricName | undefined {
  const key = text.trim().toLowerCase();
  const direct = METRIC_NAMES.find((m) => m.toLowerCase() === key);
  // hasOwn: a plain-object lookup would answer `__proto__` or `constructor` with Object's own members.
  return direct ?? (Object.hasOwn(METRIC_ALIASES, key) ? METRIC_ALIASES[key] : undefined);
}

export function parseWindow(text: string): WindowName | undefined {
  const key = text.trim().toLowerCase();
  if (key === '1d' || key === 'day') return '24h';
  if (key === '1w' || key === 'week') return '7d';
  return WINDOW_NAMES.find((w) => w === key);
}

/** What people call each ranking figure, in chat and in the API alike. */
const RANK_BY_ALIASES: Record<string, RankBy> = {
  relative: 'rsd',
  cv: 'rsd',
  raw: 'std',
  sd: 'std',
  stddev: 'std',
  stdev: 'std',
  log: 'logret',
  logreturn: 'logret',
  logreturns: 'logret',
  returns: 'logret',
};

export function parseRankBy(text: string): RankBy | undefined {
  const key = text.trim().toLowerCase();
  const direct = RANK_BY_NAMES.find((b) => b === key);
  return direct ?? (Object.hasOwn(RANK_BY_ALIASES, key) ? RANK_BY_ALIASES[key] : undefined);
}
