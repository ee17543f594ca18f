/**
 * /track <market> [metric] [factor] [cooldown]: subscribe this channel to spike alerts. Tracking
 * again updates the settings given and says what changed; settings not given stay as they were.
 */
import { formatDuration, defineAction, defineCommand, type CommandContext } from '../src/chat/registry.js';
import type { Reply } from '../src/chat/reply.js';
import { Subscription } from '../src/db/models/index.js';
import { UserError } from '../src/errors.js';
import { resolveMarket } from '../src/market/catalog.js';
import { METRICS, type MetricName } from '../src/market/metrics.js';
import { marketOption, metricOption } from './options.js';

interface TrackRequest {
  market: string;
  metric?: string;
  factor?: number;
  cooldownMs?: number;
}

export async function trackMarket(ctx: CommandContext, req: TrackRequest): Promise<Reply> {
  const market = await resolveMarket(req.market);
  const metric = (req.metric ?? 'volume') as MetricName;
  const cap = ctx.config.alerts.maxPerChannel;
  if (!(await Subscription.exists({ channel: ctx.channel, market: market.id, metric }))) {
    const held = await Subscription.countDocuments({ channel: ctx.channel });
    if (held >= cap) {
      throw new UserError(
        `This channel already tracks ${held} markets and metrics, the most it may (${cap}).`,
        '/tracking lists them; /untrack one to make room.',
        403,
      );
    }
  }
  const given: Record<string, unknown> = { disabled: false, snoozedUntil: null };
  if (req.factor !== undefined) given.factor = req.factor;
  if (req.cooldownMs !== undefined) given.cooldownMs = req.cooldownMs;
  const defaults: Record<string, unknown> = { createdBy: ctx.user, createdAt: new Date() };
  if (req.factor === undefined) defaults.factor = ctx.config.alerts.factor;
  if (req.cooldownMs === undefined) defaults.cooldownMs = ctx.config.alerts.cooldownMs;
  // The pre-update document tells a new subscription from an update, in one round trip.
  const before = await Subscription.findOneAndUpdate(
    { channel: ctx.channel, market: market.id, metric },
    { $set: given, $setOnInsert: defaults, $unset: { disabledReason: 1 } },
    { upsert: true, returnDocument: 'before', lean: true },
  );
  const factor = req.factor ?? before?.factor ?? ctx.config.alerts.factor;
  const cooldownMs = req.cooldownMs ?? before?.cooldownMs ?? ctx.config.alerts.cooldownMs;
  const label = METRICS[metric].label;
  const settings = `factor ${factor}x the 1h average, cooldown ${formatDuration(cooldownMs)}`;
  if (!before) {
    return {
      title: `Now tracking ${market.id} ${label} in this channel`,
      text: `An alert is posted when a new point exceeds ${settings}.`,
      tone: 'success',
      footer: `/untrack ${market.id} ${metric} to stop`,
    };
  }
  const changes: string[] = [];
  if (req.factor !== undefined && req.factor !== before.factor)
    changes.push(`factor ${before.factor}x → ${req.factor}x`);
  if (req.cooldownMs !== undefined && req.cooldownMs !== before.cooldownMs)
    changes.push(`cooldown ${formatDuration(before.cooldownMs)} → ${formatDuration(req.cooldownMs)}`);
  if (before.disabled) changes.push('re-enabled (it had been switched off)');
  if (before.snoozedUntil && before.snoozedUntil.getTime() > Date.now()) changes.push('snooze lifted');
  return {
    title: changes.length
      ? `Updated tracking of ${market.id} ${label}`
      : `Already tracking ${market.id} ${label}; settings unchanged`,
    text: changes.length ? `${changes.join('; ')}. Now: ${settings}.` : `Settings: ${settings}.`,
    tone: changes.length ? 'success' : 'info',
  };
}

export const track = defineCommand({
  name: 'track',
  description: 'Post an alert to this channel when a market’s metric spikes',
  options: [
    marketOption,
    metricOption('Metric to watch (default volume per minute)'),
    {
      name: 'factor',
      description: 'Alert when a point exceeds this many times the 1h average (default 3)',
      kind: 'number',
      min: 1.01,
      max: 1000,
    },
    {
      name: 'cooldown',
      description: 'Quiet time after an alert, e.g. 15m, 1h (default 15m)',
      kind: 'duration',
      min: 60_000,
      max: 7 * 86_400_000,
    },
  ],
  examples: ['track btc-usd', 'track eth-eur volume 5 1h'],
  permission: 'manageChannel',
  run: (ctx, o) => trackMarket(ctx, { market: o.market, metric: o.metric, factor: o.factor, cooldownMs: o.cooldown }),
});

/** The "Track volume spikes here" button under /metric: tracks with the default settings. */
export const trackAction = defineAction({
  action: 'track',
  permission: 'manageChannel',
  run: (ctx, value) => trackMarket(ctx, { market: value }),
});
