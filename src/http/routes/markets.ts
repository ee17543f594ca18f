/** GET /api/v1/markets (catalog, search, paging) and GET /api/v1/markets/:market (the report). */
import { listMarkets } from '../../market/catalog.js';
import { normaliseInput } from '../../market/market-id.js';
import {
  METRIC_NAMES,
  RANK_BY_NAMES,
  WINDOW_NAMES,
  parseMetric,
  parseRankBy,
  parseWindow,
} from '../../market/metrics.js';
import { getMarketReport, readChoice, type MarketReport } from '../../market/queries.js';
import type { TypedRoutes } from '../type-provider.js';
import {
  byParam,
  catalogEntrySchema,
  errorSchema,
  metricParam,
  pointsParam,
  reportSchema,
  windowParam,
} from './schemas.js';

/**
 * Reports are reused for a few seconds by queries.ts; their JSON is kept beside them, so a burst
 * of the same question is answered without serialising it again.
 */
const rendered = new WeakMap<MarketReport, string>();

export const marketRoutes: TypedRoutes = async (app) => {
  app.get(
    '/markets',
    {
      schema: {
        tags: ['markets'],
        summary: 'The market catalog',
        description: 'Every tracked market with the aliases it answers to, in id order; `q` searches ids and aliases.',
        querystring: {
          type: 'object',
          properties: {
            q: { type: 'string', maxLength: 64, description: 'Search text, e.g. "btc" or "BTC/USD"' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            offset: { type: 'integer', minimum: 0, default: 0 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              total: { type: 'integer' },
              offset: { type: 'integer' },
              limit: { type: 'integer' },
              items: { type: 'array', items: catalogEntrySchema },
            },
          },
          400: errorSchema,
        },
      },
    },
    async (req) => {
      const { q, limit, offset } = req.query;
      const key = q ? normaliseInput(q) : '';
      const all = [...(await listMarkets())].sort((a, b) => a.id.localeCompare(b.id));
      const found = key ? all.filter((m) => m.id.includes(key) || m.aliases.some((a) => a.includes(key))) : all;
      return { total: found.length, offset, limit, items: found.slice(offset, offset + limit) };
    },
  );

  app.get(
    '/markets/:market',
    {
      schema: {
        tags: ['markets'],
        summary: 'One market: statistics, chart series and rank',
        description:
          'The market may be written as any alias (btc-usd, BTC/USD, kraken:btcusd). ' +
          'Statistics are exact over the window; ' +
          'the rank is among all markets by `by`, and `rank.method` says which figure it uses.',
        params: {
          type: 'object',
          properties: { market: { type: 'string', maxLength: 100, example: 'btc-usd' } },
          required: ['market'],
        },
        querystring: {
          type: 'object',
          properties: { metric: metricParam, window: windowParam, points: pointsParam, by: byParam },
        },
        response: { 200: reportSchema, 400: errorSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      const { metric, window, points, by } = req.query;
      const report = await getMarketReport(req.params.market, {
        metric: readChoice('metric', metric, parseMetric, METRIC_NAMES),
        window: readChoice('window', window, parseWindow, WINDOW_NAMES),
        points,
        by: readChoice('by', by, parseRankBy, RANK_BY_NAMES),
      });
      let body = rendered.get(report);
      if (body === undefined) {
        body = JSON.stringify(report);
        rendered.set(report, body);
      }
      return reply.type('application/json; charset=utf-8').send(body);
    },
  );
};
