/**
 * The buttons under an alert of any kind: snooze that subscription for 1h or 24h, or untrack it. The
 * button's value is the subscription id; a click from another channel, or on a subscription that
 * is gone, gets a clear answer and changes nothing.
 */
import { ALERT_ACTIONS, ruleCommand, ruleLabel } from '../src/alerts/reply.js';
import { snoozeSubscription, untrackSubscriptionById } from '../src/alerts/subscriptions.js';
import { utc } from '../src/chat/format.js';
import { defineAction, formatDuration, type CommandContext } from '../src/chat/registry.js';
import type { Reply } from '../src/chat/reply.js';

/** How a change's author is shown: the display name with the platform id, or the id. */
export const whoOf = (ctx: CommandContext) => (ctx.userName ? `${ctx.userName} (${ctx.user})` : ctx.user);

async function snooze(ctx: CommandContext, value: string, ms: number): Promise<Reply> {
  const now = ctx.now?.() ?? new Date();
  const until = new Date(now.getTime() + ms);
  const sub = await snoozeSubscription(ctx.channel, value, until, whoOf(ctx));
  return {
    title: `Snoozed ${ruleLabel(sub)} alerts for ${formatDuration(ms)}`,
    text:
      `No alerts for it in this channel until ${utc(until)}${ctx.userName ? ` (snoozed by ${ctx.userName})` : ''}. ` +
      `${ruleCommand(sub)} lifts the snooze.`,
    tone: 'success',
  };
}

export const snooze1hAction = defineAction({
  action: ALERT_ACTIONS.snooze1h,
  permission: 'manageChannel',
  run: (ctx, value) => snooze(ctx, value, 3_600_000),
});

export const snooze24hAction = defineAction({
  action: ALERT_ACTIONS.snooze24h,
  permission: 'manageChannel',
  run: (ctx, value) => snooze(ctx, value, 24 * 3_600_000),
});

export const untrackAlertAction = defineAction({
  action: ALERT_ACTIONS.untrack,
  permission: 'manageChannel',
  async run(ctx, value) {
    const sub = await untrackSubscriptionById(ctx.channel, value);
    return {
      title: `Stopped tracking ${ruleLabel(sub)} in this channel`,
      text: `${ruleCommand(sub)} starts again.`,
      tone: 'success',
    };
  },
});

export const alertActions = [snooze1hAction, snooze24hAction, untrackAlertAction];
