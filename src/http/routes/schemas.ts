/** JSON schemas shared by the routes: they validate input and document the API at /docs. */
import { METRIC_NAMES, RANK_BY, RANK_BY_NAMES, WINDOW_NAMES } from '../../market/metrics.js';
import { DEFAULT_LIMIT, DEFAULT_POINTS, MAX_LIMIT, MAX_POINTS } from '../../market/queries.js';

const nullableNumber = { type: 'number', nullable: true } as const;
const nullableDate = { type: 'string', format: 'date-time', nullable: true } as const;

export const metricParam = {
  type: 'string',
  description: `Which figure: ${METRIC_NAMES.join(', ')} (volume is per minute). Default price.`,
  example: 'price',
} as const;
export const windowParam = {
  type: 'string',
  description: `Window ending now: ${WINDOW_NAMES.join(', ')}. Default 24h.`,
  example: '24h',
} as const;
export const byParam = {
  type: 'string',
  description:
    `Ranking figure: ${RANK_BY_NAMES.map((b) => `${b} = ${RANK_BY[b]}`).join('; ')}. ` +
    'Default rsd; logret applies to prices only.',
  example: 'rsd',
} as const;
export const pointsParam = {
  type: 'integer',
  minimum: 2,
  maximum: MAX_POINTS,
  default: DEFAULT_POINTS,
  description: 'Series buckets (min/max/last each).',
} as const;
export const limitParam = {
  type: 'integer',
  minimum: 1,
  maximum: MAX_LIMIT,
  default: DEFAULT_LIMIT,
  description: 'Rows in the top and in the bottom list.',
} as const;

export const errorSchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    hint: { type: 'string' },
    parameter: { type: 'string' },
    reference: { type: 'string' },
  },
  required: ['error'],
} as const;

export const catalogEntrySchema = {
  type: 'object',
  properties: {
    id: { type: 'string', example: 'kraken:btc-usd' },
    exchange: { type: 'string' },
    base: { type: 'string' },
    quote: { type: 'string' },
    source: { type: 'string' },
    symbol: { type: 'string' },
    aliases: { type: 'array', items: { type: 'string' } },
    active: { type: 'boolean' },
    note: { type: 'string', description: 'Set when the name matched several exchanges: which one answers and why' },
  },
  required: ['id', 'exchange', 'base', 'quote', 'source', 'symbol', 'aliases', 'active'],
} as const;

export const statsSchema = {
  type: 'object',
  description: 'Population statistics of the metric over the window; nulls where undefined (empty window, zero mean).',
  properties: {
    count: { type: 'integer' },
    first: nullableNumber,
    last: nullableNumber,
    min: nullableNumber,
    max: nullableNumber,
    mean: nullableNumber,
    std: nullableNumber,
    rsd: { ...nullableNumber, description: 'std / |mean|' },
    change: nullableNumber,
    changePct: nullableNumber,
    logretStd: { ...nullableNumber, description: 'std dev of 1-minute log returns (prices only)' },
    firstTs: nullableDate,
    lastTs: nullableDate,
  },
} as const;

export const rankSchema = {
  type: 'object',
  nullable: true,
  properties: {
    position: { type: 'integer' },
    of: { type: 'integer' },
    by: { type: 'string', enum: RANK_BY_NAMES },
    method: { type: 'string' },
    value: nullableNumber,
    tied: { type: 'boolean' },
  },
} as const;

export const reportSchema = {
  type: 'object',
  properties: {
    market: catalogEntrySchema,
    metric: { type: 'string', enum: METRIC_NAMES },
    window: { type: 'string', enum: WINDOW_NAMES },
    stats: statsSchema,
    rank: rankSchema,
    rankNote: { type: 'string' },
    series: {
      type: 'array',
      description:
        'The window in fixed time slices, each with its min, max and last value (a spike survives as a max).',
      items: {
        type: 'object',
        properties: {
          ts: { type: 'string', format: 'date-time' },
          min: { type: 'number' },
          max: { type: 'number' },
          last: { type: 'number' },
        },
      },
    },
    latestTs: nullableDate,
  },
} as const;

const rowSchema = {
  type: 'object',
  properties: {
    position: { type: 'integer' },
    market: { type: 'string' },
    value: nullableNumber,
    std: nullableNumber,
    rsd: nullableNumber,
    logretStd: nullableNumber,
    mean: nullableNumber,
    last: nullableNumber,
    count: { type: 'integer' },
  },
} as const;

export const rankingSchema = {
  type: 'object',
  properties: {
    metric: { type: 'string', enum: METRIC_NAMES },
    window: { type: 'string', enum: WINDOW_NAMES },
    by: { type: 'string', enum: RANK_BY_NAMES },
    method: { type: 'string', example: '24h relative std dev (std/mean)' },
    total: { type: 'integer', description: 'Markets ranked' },
    excluded: {
      type: 'integer',
      description: 'Markets left out: too few points in the window, or an undefined figure',
    },
    top: { type: 'array', items: rowSchema },
    bottom: { type: 'array', items: rowSchema },
    asOf: nullableDate,
    exchange: { type: 'string', nullable: true, description: 'The one exchange ranked; null: all of them' },
    exchanges: { type: 'array', items: { type: 'string' }, description: 'Exchanges in the ranking' },
  },
} as const;
