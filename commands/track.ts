/**
 * /track <market> [metric] [factor] [cooldown] [to]: subscribe this channel (or, with `dm`, the
 * caller's direct messages, or a configured `webhook:<name>`) to spike alerts. Tracking again
 * updates the settings given and says what changed; settings not given stay as they were.
 */
import { resolveTarget, trackSubscription } from '../src/alerts/subscriptions.js';
import { formatDuration, defineAction, defineCommand, type CommandContext } from '../src/chat/registry.js';
import type { Reply } from '../src/chat/reply.js';
import { Market } from '../src/db/models/index.js';
import { UserError } from '../src/errors.js';
import { resolveMarket, type CatalogEntry } from '../src/market/catalog.js';
import { volumeSupport } from '../src/market/sources/ccxt-exchanges.js';
import { METRICS, type MetricName } from '../src/market/metrics.js';
import { marketOption, metricOption, toOption } from './options.js';

interface TrackRequest {
  market: string;
  metric?: MetricName;
  factor?: number;
  cooldownMs?: number;
  to?: string;
}

/** Volume alerts need an exact per-minute volume; a source that cannot give one says why. */
async function ensurePerMinuteVolume(ctx: CommandContext, market: CatalogEntry): Promise<void> {
  const count = await Market.countDocuments({ source: market.source, active: true });
  const support = volumeSupport(market.source, ctx.config.market, count);
  if (support.perMinuteVolume) return;
  throw new UserError(
    `Volume alerts are not available for ${market.id}: ${support.reason}.`,
    `Price alerts still work: /track ${market.id} price`,
    400,
  );
}

export async function trackMarket(ctx: CommandContext, req: TrackRequest): Promise<Reply> {
  const now = ctx.now?.() ?? new Date();
  const resolved = await resolveMarket(req.market);
  if ((req.metric ?? 'volume') === 'volume') await ensurePerMinuteVolume(ctx, resolved);
  const target = await resolveTarget(ctx, req.to);
  const result = await trackSubscription(
    {
      ...target,
      user: ctx.user,
      market: resolved.id,
      metric: req.metric,
      factor: req.factor,
      cooldownMs: req.cooldownMs,
    },
    ctx.config.alerts,
  );
  const { market, metric, before } = result;
  const label = METRICS[metric].label;
  const settings = `factor ${result.factor}x the 1h average, cooldown ${formatDuration(result.cooldownMs)}`;
  if (!before) {
    return {
      title: `Now tracking ${market} ${label} ${target.where}`,
      text: `${resolved.note ? `${resolved.note}\n` : ''}An alert is posted when a new point exceeds ${settings}.`,
      tone: 'success',
      footer: `/untrack ${market} ${metric}${req.to && req.to !== 'here' ? ` ${req.to}` : ''} to stop`,
    };
  }
  const changes: string[] = [];
  if (req.factor !== undefined && req.factor !== before.factor)
    changes.push(`factor ${before.factor}x → ${req.factor}x`);
  if (req.cooldownMs !== undefined && req.cooldownMs !== before.cooldownMs)
    changes.push(`cooldown ${formatDuration(before.cooldownMs)} → ${formatDuration(req.cooldownMs)}`);
  if (before.disabled) changes.push('re-enabled (it had been switched off)');
  if (before.snoozedUntil && before.snoozedUntil.getTime() > now.getTime()) changes.push('snooze lifted');
  return {
    title: changes.length
      ? `Updated tracking of ${market} ${label}`
      : `Already tracking ${market} ${label}; settings unchanged`,
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
    toOption,
  ],
  examples: ['track btc-usd', 'track eth-eur volume 5 1h', 'track btc-usd dm', 'track btc-usd webhook:ops'],
  permission: 'manageChannel',
  run: (ctx, o) =>
    trackMarket(ctx, { market: o.market, metric: o.metric, factor: o.factor, cooldownMs: o.cooldown, to: o.to }),
});

/** The "Track volume spikes here" button under /metric: tracks with the default settings. */
export const trackAction = defineAction({
  action: 'track',
  permission: 'manageChannel',
  run: (ctx, value) => trackMarket(ctx, { market: value }),
});
