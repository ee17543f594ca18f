/**
 * GET /api/v1/channels/:channel/rules: a channel's alert rules of every kind. Registered only when
 * API_RULES_TOKEN is set (the route does not exist otherwise), and answered only to
 * `Authorization: Bearer <that token>`, compared in constant time: channel ids and who tracks what
 * are not for every client of the public API.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { conditionText } from '../../alerts/reply.js';
import { listSubscriptions } from '../../alerts/subscriptions.js';
import { errorSchema } from './schemas.js';

/** Rules listed at most; a channel holds at most MAX_SUBSCRIPTIONS_PER_CHANNEL of its own. */
const LIMIT = 1_000;

const ruleSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'The rule (subscription) id the alert buttons act on' },
    kind: { type: 'string', enum: ['spike', 'level', 'move'] },
    market: { type: 'string', example: 'kraken:btc-usd' },
    metric: { type: 'string', example: 'price' },
    condition: { type: 'string', example: 'price above 100,000', description: 'The condition in words' },
    channel: { type: 'string', description: 'Where its alerts go: this channel, a DM channel or webhook:<name>' },
    direct: { type: 'boolean', description: 'Alerts go to the direct messages of the user who asked' },
    factor: { type: 'number', description: 'spike: alert above this many times the 1h average' },
    direction: { type: 'string', description: 'level: above | below; move: up | down | either' },
    level: { type: 'number', description: 'level: the price' },
    percent: { type: 'number', description: 'move: the threshold in percent' },
    windowMs: { type: 'number', description: 'move: the window in milliseconds' },
    armed: {
      type: 'boolean',
      nullable: true,
      description: 'level: true while waiting for a crossing, false after one until re-armed, null before any price',
    },
    cooldownMs: { type: 'number' },
    snoozedUntil: { type: 'string', format: 'date-time', nullable: true },
    lastAlertAt: { type: 'string', format: 'date-time', nullable: true },
    disabled: { type: 'boolean' },
    disabledReason: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const;

const rulesSchema = {
  type: 'object',
  properties: {
    channel: { type: 'string', example: 'slack:T0123:C0456' },
    rules: { type: 'array', items: ruleSchema },
  },
} as const;

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Compares digests, so neither the token's length nor its content leaks through timing. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer (.+)$/i.exec(header?.trim() ?? '')?.[1] ?? '';
  return timingSafeEqual(digest(given), digest(token)) && given.length > 0;
}

export const rulesRoutes: FastifyPluginAsync<{ token: string }> = async (app, { token }) => {
  app.get<{ Params: { channel: string } }>(
    '/channels/:channel/rules',
    {
      schema: {
        tags: ['alerts'],
        summary: "A channel's alert rules: spikes, price levels and moves, with their state",
        description:
          'Lists the rules that deliver to the channel and those made in it that deliver elsewhere (a DM, ' +
          'a webhook). Needs `Authorization: Bearer <API_RULES_TOKEN>`; without that key set, the route does not exist.',
        security: [{ bearerAuth: [] }],
        params: {
          type: 'object',
          properties: { channel: { type: 'string', maxLength: 200, example: 'slack:T0123:C0456' } },
          required: ['channel'],
        },
        response: { 200: rulesSchema, 401: errorSchema },
      },
    },
    async (req, reply) => {
      if (!tokenMatches(req.headers.authorization, token)) {
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'A valid bearer token is required: Authorization: Bearer <API_RULES_TOKEN>.' });
      }
      const subs = await listSubscriptions(req.params.channel, LIMIT);
      return {
        channel: req.params.channel,
        rules: subs.map((s) => ({
          id: String(s._id),
          kind: s.kind ?? 'spike',
          market: s.market,
          metric: s.metric,
          condition: conditionText(s),
          channel: s.channel,
          direct: Boolean(s.direct),
          ...(s.kind === 'level' || s.kind === 'move' ? {} : { factor: s.factor }),
          ...(s.direction ? { direction: s.direction } : {}),
          ...(typeof s.level === 'number' ? { level: s.level } : {}),
          ...(typeof s.percent === 'number' ? { percent: s.percent } : {}),
          ...(typeof s.windowMs === 'number' ? { windowMs: s.windowMs } : {}),
          ...(s.kind === 'level' ? { armed: s.armed ?? null } : {}),
          cooldownMs: s.cooldownMs,
          snoozedUntil: s.snoozedUntil ?? null,
          lastAlertAt: s.lastAlertAt ?? null,
          disabled: Boolean(s.disabled),
          ...(s.disabledReason ? { disabledReason: s.disabledReason } : {}),
          createdAt: s.createdAt,
        })),
      };
    },
  );
};
