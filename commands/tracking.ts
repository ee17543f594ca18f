/**
 * /tracking: this channel's subscriptions with their settings and last alert, and those made here
 * that deliver elsewhere (a DM, a webhook). `/tracking digest off` posts each alert on its own;
 * `digest on` groups one tick's alerts into one post again.
 */
import { conditionText } from '../src/alerts/reply.js';
import { utc } from '../src/chat/format.js';
import { defineCommand, formatDuration } from '../src/chat/registry.js';
import { channelSettings, listSubscriptions, setChannelDigest } from '../src/alerts/subscriptions.js';
import { UserError } from '../src/errors.js';

const SHOWN = 50;

export const tracking = defineCommand({
  name: 'tracking',
  description: 'List what this channel tracks, with settings and last alert',
  options: [
    {
      name: 'digest',
      description: 'on: one post for several alerts of one tick (default); off: one post per alert',
      kind: 'choice',
      choices: ['on', 'off'],
    },
  ],
  examples: ['tracking', 'tracking digest off'],
  async run(ctx, options) {
    const now = ctx.now?.() ?? new Date();
    if (options.digest) {
      if (!ctx.mayManageChannel)
        throw new UserError('You may not change how this channel receives alerts.', undefined, 403);
      const on = options.digest === 'on';
      const before = await setChannelDigest(ctx.channel, on, now);
      return {
        title: on ? 'Digests on in this channel' : 'Digests off in this channel',
        text:
          (before.digest === on ? 'That was already the setting. ' : '') +
          (on
            ? 'Several alerts from one tick arrive as one post: the strongest first, then "and N more".'
            : 'Every alert arrives as a post of its own.'),
        tone: 'success',
      };
    }
    const [subs, settings] = await Promise.all([
      listSubscriptions(ctx.channel, SHOWN + 1),
      channelSettings(ctx.channel),
    ]);
    const muted =
      settings.mutedUntil && settings.mutedUntil > now
        ? `Muted until ${utc(settings.mutedUntil)}${settings.mutedBy ? ` by ${settings.mutedBy}` : ''}.`
        : undefined;
    if (subs.length === 0) {
      return {
        title: 'This channel tracks nothing yet',
        text:
          `${muted ? `${muted}\n` : ''}Start with /track btc-usd (volume spikes, 3x the 1h average), ` +
          '/alert btc-usd above 100000 (a price level) or /alert eth-usd move 5% 1h (a move either way).',
      };
    }
    const lines = subs.slice(0, SHOWN).map((s) => {
      const dest = s.channel !== ctx.channel ? (s.direct ? ' → DM' : ` → ${s.channel}`) : '';
      const state = s.disabled
        ? ` · off (${s.disabledReason ?? 'disabled'})`
        : s.snoozedUntil && s.snoozedUntil > now
          ? ` · snoozed until ${utc(s.snoozedUntil)}${s.snoozedBy ? ` by ${s.snoozedBy}` : ''}`
          : '';
      const cooldown = s.kind === 'level' ? '' : `, cooldown ${formatDuration(s.cooldownMs)}`;
      return `• ${s.market} ${conditionText(s)}${dest}${cooldown}, last alert ${utc(s.lastAlertAt)}${state}`;
    });
    if (subs.length > SHOWN) lines.push(`…and more; /untrack what you no longer need.`);
    if (muted) lines.unshift(muted);
    return {
      title: `Tracked in this channel (${Math.min(subs.length, SHOWN)}${subs.length > SHOWN ? '+' : ''})`,
      text: lines.join('\n'),
    };
  },
});
