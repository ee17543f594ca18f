/**
 * /tracking: this channel's subscriptions with their settings and last alert.
 */
import { utc } from '../src/chat/format.js';
import { defineCommand, formatDuration } from '../src/chat/registry.js';
import { Channel, Subscription } from '../src/db/models/index.js';

const SHOWN = 50;

export const tracking = defineCommand({
  name: 'tracking',
  description: 'List what this channel tracks, with settings and last alert',
  options: [],
  examples: ['tracking'],
  async run(ctx) {
    const now = ctx.now?.() ?? new Date();
    const subs = await Subscription.find({ channel: ctx.channel })
      .sort({ market: 1, metric: 1 })
      .limit(SHOWN + 1)
      .lean();
    const settings = await Channel.findById(ctx.channel, { mutedUntil: 1, mutedBy: 1 }).lean();
    const muted =
      settings?.mutedUntil && settings.mutedUntil > now
        ? `Muted until ${utc(settings.mutedUntil)}${settings.mutedBy ? ` by ${settings.mutedBy}` : ''}.`
        : undefined;
    if (subs.length === 0) {
      return {
        title: 'This channel tracks nothing yet',
        text: `${muted ? `${muted}\n` : ''}Start with /track btc-usd (volume spikes, 3x the 1h average).`,
      };
    }
    const lines = subs.slice(0, SHOWN).map((s) => {
      const state = s.disabled
        ? ` · off (${s.disabledReason ?? 'disabled'})`
        : s.snoozedUntil && s.snoozedUntil > now
          ? ` · snoozed until ${utc(s.snoozedUntil)}${s.snoozedBy ? ` by ${s.snoozedBy}` : ''}`
          : '';
      return `• ${s.market} ${s.metric}: ${s.factor}x, cooldown ${formatDuration(s.cooldownMs)}, last alert ${utc(s.lastAlertAt)}${state}`;
    });
    if (subs.length > SHOWN) lines.push(`…and more; /untrack what you no longer need.`);
    if (muted) lines.unshift(muted);
    return {
      title: `Tracked in this channel (${Math.min(subs.length, SHOWN)}${subs.length > SHOWN ? '+' : ''})`,
      text: lines.join('\n'),
    };
  },
});
