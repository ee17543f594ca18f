/** GET /api/v1/compare/:pair: one pair's last price on every collected exchange. */
import type { FastifyPluginAsync } from 'fastify';
import { comparePair } from '../../market/compare.js';
import { errorSchema } from './schemas.js';

const rowSchema = {
  type: 'object',
  properties: {
    market: { type: 'string', example: 'binance:btc-usdt' },
    exchange: { type: 'string' },
    source: { type: 'string' },
    last: { type: 'number' },
    ts: { type: 'string', format: 'date-time' },
    deviationPct: { type: 'number', description: '(last - median) / median, in percent' },
  },
} as const;

export const compareSchema = {
  type: 'object',
  properties: {
    pair: { type: 'string', example: 'btc-usd' },
    base: { type: 'string' },
    quote: { type: 'string' },
    rows: { type: 'array', items: rowSchema, description: 'Cheapest first' },
    median: { type: 'number' },
    cheapest: { type: 'string' },
    dearest: { type: 'string' },
    spreadAbs: { type: 'number' },
    spreadPct: { type: 'number', description: '(dearest - cheapest) / cheapest, in percent' },
    stale: { type: 'array', items: { type: 'string' }, description: 'Listed, but no price in the last 15 minutes' },
  },
} as const;

export const compareRoutes: FastifyPluginAsync = async (app) => {
  app.get<{ Params: { pair: string } }>(
    '/compare/:pair',
    {
      schema: {
        tags: ['markets'],
        summary: 'One pair on every exchange: last prices, deviation from the median, spread',
        description:
          'The pair is matched exactly (btc-usd and btc-usdt differ); any alias of it works, with or without an exchange.',
        params: {
          type: 'object',
          properties: { pair: { type: 'string', maxLength: 100, example: 'btc-usd' } },
          required: ['pair'],
        },
        response: { 200: compareSchema, 400: errorSchema, 404: errorSchema },
      },
    },
    async (req) => comparePair(req.params.pair),
  );
};
