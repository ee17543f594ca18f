/** GET /api/v1/rankings: markets by volatility for a metric and window. */
import {
  METRIC_NAMES,
  RANK_BY_NAMES,
  WINDOW_NAMES,
  parseMetric,
  parseRankBy,
  parseWindow,
} from '../../market/metrics.js';
import { getRanking, readChoice } from '../../market/queries.js';
import type { TypedRoutes } from '../type-provider.js';
import { byParam, errorSchema, limitParam, metricParam, rankingSchema, windowParam } from './schemas.js';

export const rankingRoutes: TypedRoutes = async (app) => {
  app.get(
    '/rankings',
    {
      schema: {
        tags: ['rankings'],
        summary: 'Markets ranked by standard deviation',
        description:
          'Most volatile first. Relative std dev (std/mean) by default: raw std dev is not comparable across prices. ' +
          'Equal values share a position. Markets with fewer than 10 points in the window are counted in `excluded`.',
        querystring: {
          type: 'object',
          properties: {
            exchange: {
              type: 'string',
              maxLength: 40,
              description:
                'Only this exchange’s markets (binance); absent: every exchange. `exchange` in the answer says which.',
            },
            metric: metricParam,
            window: windowParam,
            by: byParam,
            limit: limitParam,
          },
        },
        response: { 200: rankingSchema, 400: errorSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const { exchange, metric, window, by, limit } = req.query;
      return getRanking({
        exchange,
        metric: readChoice('metric', metric, parseMetric, METRIC_NAMES),
        window: readChoice('window', window, parseWindow, WINDOW_NAMES),
        by: readChoice('by', by, parseRankBy, RANK_BY_NAMES),
        limit,
      });
    },
  );
};
