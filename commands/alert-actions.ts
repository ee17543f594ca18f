/**
 * The buttons under a spike alert: snooze that subscription for 1h or 24h, or untrack it. The
 * button's value is the subscription id; a click from another channel, or on a subscription that
 * is gone, gets a clear answer and changes nothing.
 */
import { utc } from '../src/chat/format.js';
import { defineAction, formatDuration, type CommandContext } from '../src/chat/registry.js';
import type { Reply } from '../src/chat/reply.js';
import { ALERT_ACTIONS } from '../src/chat/alert-reply.js';
import { Subscription } from '../src/db/models/index.js';
import { UserError } from '../src/errors.js';
import { METRICS, type MetricName } from '../src/market/metrics.js';

const OBJECT_ID = /^[0-9a-f]{24}$/i;

async function subscriptionOf(ctx: CommandContext, value: string) {
  const id = value.trim();
  if (!OBJECT_ID.test(id))
    throw new UserError('That button does not name a subscription.', 'Use /tracking to see what this channel tracks.');
  const sub = await Subscription.findOne({ _id: id, channel: ctx.channel }).lean();
  if (!sub) {
    throw new UserError(
      'This alert’s subscription no longer exists in this channel (it may have been untracked).',
      'Use /tracking to see what this channel tracks.',
      404,
    );
  }
  return sub;
}

/** How a change's author is shown: the display name with the platform id, or the id. */
export const whoOf = (ctx: CommandContext) => (ctx.userName ? `${ctx.userName} (${ctx.user})` : ctx.user);

const labelOf = (metric: string) => METRICS[metric as MetricName]?.label ?? metric;

/** Quiets one subscription until now + `ms`; detection skips its spikes until then. */
export async function snoozeSubscription(ctx: CommandContext, value: string, ms: number): Promise<Reply> {
  const sub = await subscriptionOf(ctx, value);
  const now = ctx.now?.() ?? new Date();
  const until = new Date(now.getTime() + ms);
  await Subscription.updateOne({ _id: sub._id }, { $set: { snoozedUntil: until, snoozedBy: whoOf(ctx) } });
  return {
    title: `Snoozed ${sub.market} ${labelOf(sub.metric)} alerts for ${formatDuration(ms)}`,
    text: `No alerts for it in this channel until ${utc(until)}${ctx.userName ? ` (snoozed by ${ctx.userName})` : ''}. /track ${sub.market} ${sub.metric} lifts the snooze.`,
    tone: 'success',
  };
}

export const snooze1hAction = defineAction({
  action: ALERT_ACTIONS.snooze1h,
  permission: 'manageChannel',
  run: (ctx, value) => snoozeSubscription(ctx, value, 3_600_000),
});

export const snooze24hAction = defineAction({
  action: ALERT_ACTIONS.snooze24h,
  permission: 'manageChannel',
  run: (ctx, value) => snoozeSubscription(ctx, value, 24 * 3_600_000),
});

export const untrackAlertAction = defineAction({
  action: ALERT_ACTIONS.untrack,
  permission: 'manageChannel',
  async run(ctx, value) {
    const sub = await subscriptionOf(ctx, value);
    await Subscription.deleteOne({ _id: sub._id, channel: ctx.channel });
    return {
      title: `Stopped tracking ${sub.market} ${labelOf(sub.metric)} in this channel`,
      text: `/track ${sub.market} ${sub.metric} starts again.`,
      tone: 'success',
    };
  },
});

export const alertActions = [snooze1hAction, snooze24hAction, untrackAlertAction];
