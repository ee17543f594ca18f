/**
 * /mute <duration>: no spike alerts in this channel for that long (subscriptions stay as they are);
 * /mute off ends it; /mute alone says whether the channel is muted. Slack calls it /quiet
 * (src/chat/slack-commands.ts): Slack keeps /mute for itself.
 */
import { channelSettings, setChannelMute } from '../src/alerts/subscriptions.js';
import { parseDuration } from '../src/config.js';
import { utc } from '../src/chat/format.js';
import { defineCommand, formatDuration, type CommandContext } from '../src/chat/registry.js';
import type { Reply } from '../src/chat/reply.js';
import { UserError } from '../src/errors.js';
import { whoOf } from './alert-actions.js';

const MAX_MUTE_MS = 30 * 86_400_000;
const OFF = new Set(['off', 'none', 'unmute', 'stop', '0']);

/** `off` or a duration from a minute to 30 days, as text; undefined for anything else. */
export function parseMuteArgument(text: string): string | undefined {
  const key = text.trim().toLowerCase();
  if (OFF.has(key)) return 'off';
  const ms = parseDuration(key);
  return ms !== undefined && ms >= 60_000 && ms <= MAX_MUTE_MS ? key : undefined;
}

async function muteStatus(ctx: CommandContext, now: Date): Promise<Reply> {
  const { mutedUntil, mutedBy } = await channelSettings(ctx.channel);
  const until = mutedUntil && mutedUntil > now ? mutedUntil : null;
  return {
    title: until
      ? `Alerts are muted in this channel until ${utc(until)}${mutedBy ? ` (muted by ${mutedBy})` : ''}`
      : 'Alerts are not muted in this channel',
    text: until ? '/mute off resumes them now.' : '/mute 1h quiets every alert here for an hour; /mute off resumes.',
    ephemeral: true,
  };
}

export const mute = defineCommand({
  name: 'mute',
  description: 'Mute spike alerts in this channel for a while, or "off" to resume',
  options: [
    {
      name: 'duration',
      description: 'How long, e.g. 30m, 2h, 1d (up to 30d), or off',
      kind: 'choice',
      // Discord offers these as a picker; Slack and the console take any duration parse accepts.
      choices: ['off', '15m', '30m', '1h', '2h', '4h', '8h', '12h', '24h', '2d', '7d'],
      parse: parseMuteArgument,
    },
  ],
  examples: ['mute 1h', 'mute off'],
  permission: 'manageChannel',
  // Anyone may ask whether the channel is muted; changing it needs the permission.
  needsPermission: (options) => options.duration !== undefined,
  async run(ctx, options) {
    const now = ctx.now?.() ?? new Date();
    if (options.duration === undefined) return muteStatus(ctx, now);
    if (options.duration === 'off') {
      const before = await setChannelMute(ctx.channel, null, now, whoOf(ctx));
      const wasMuted = Boolean(before.mutedUntil && before.mutedUntil > now);
      return {
        title: wasMuted ? 'Alerts resumed in this channel' : 'Alerts were not muted in this channel',
        tone: 'success',
      };
    }
    const ms = parseDuration(options.duration);
    if (ms === undefined) throw new UserError(`Cannot read "${options.duration}" as a duration.`);
    const until = new Date(now.getTime() + ms);
    await setChannelMute(ctx.channel, until, now, whoOf(ctx));
    return {
      title: `Alerts muted in this channel for ${formatDuration(ms)}`,
      text:
        `No spike alerts here until ${utc(until)}${ctx.userName ? ` (muted by ${ctx.userName})` : ''}. ` +
        '/mute off resumes them sooner.',
      tone: 'success',
    };
  },
});
