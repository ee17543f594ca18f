/**
 * Slack channel identity. A channel is keyed by the workspace that installed the bot (the team of
 * its token, from auth.test) and the channel id: `slack:<installing team>:<channel>`. The invoking
 * user's team is not used, since in a Slack Connect channel members of other organisations have
 * other team ids, and one channel would get one identity per organisation.
 *
 * Ids written before under another team are moved to the installing team's at start; where both
 * exist, the installing team's subscription or settings win and the other copy is dropped.
 */
import { Alert, Channel, Subscription } from '../db/models/index.js';

export function slackChannelId(installTeam: string, channelId: string): string {
  return `slack:${installTeam}:${channelId}`;
}

export interface SlackMigration {
  channels: number;
  subscriptions: number;
  dropped: number;
}

/** Moves every `slack:<other team>:<channel>` id to `slack:<installTeam>:<channel>`. Idempotent. */
export async function migrateSlackChannelIds(installTeam: string): Promise<SlackMigration> {
  const ours = `slack:${installTeam}:`;
  const foreign = (ids: string[]) => ids.filter((id) => id.startsWith('slack:') && !id.startsWith(ours));
  const fromSubs = (await Subscription.distinct('channel', { channel: /^slack:/ })) as string[];
  const fromChannels = (await Channel.distinct('_id', { _id: /^slack:/ })) as string[];
  const fromAlerts = (await Alert.distinct('channel', { channel: /^slack:/ })) as string[];
  const old = [...new Set(foreign([...fromSubs, ...fromChannels, ...fromAlerts]))];
  const result: SlackMigration = { channels: 0, subscriptions: 0, dropped: 0 };
  for (const from of old) {
    const channelId = from.split(':').at(-1)!;
    const to = slackChannelId(installTeam, channelId);
    for (const sub of await Subscription.find({ channel: from }).lean()) {
      const clash = await Subscription.exists({ channel: to, market: sub.market, metric: sub.metric });
      if (clash) {
        await Subscription.deleteOne({ _id: sub._id });
        result.dropped += 1;
      } else {
        await Subscription.updateOne({ _id: sub._id }, { $set: { channel: to } });
        result.subscriptions += 1;
      }
    }
    const settings = await Channel.findById(from).lean();
    if (settings) {
      if (!(await Channel.exists({ _id: to }))) await Channel.create({ ...settings, _id: to });
      await Channel.deleteOne({ _id: from });
    }
    await Alert.updateMany({ channel: from }, { $set: { channel: to } });
    result.channels += 1;
  }
  return result;
}
