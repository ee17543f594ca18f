/** GET /api/v1/rankings: markets by volatility for a metric and window. */
import type { FastifyPluginAsync } from 'fastify';
import { getRanking } from '../../market/queries.js';
import { byParam, errorSchema, limitParam, metricParam, rankingSchema, windowParam } from './schemas.js';

export const rankingRoutes: FastifyPluginAsync = async (app) => {
  app.get<{ Querystring: { exchange?: string; metric?: string; window?: string; by?: string; limit?: number } }>(
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
      return getRanking({ exchange, metric: metric as never, window: window as never, by: by as never, limit });
    },
  );
};
