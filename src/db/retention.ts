/**
 * Retention of what the samples' prune (src/market/prune.ts, RETENTION) does not cover: delivered
 * and failed alerts, and channels that have been gone a long time. Each function is idempotent and
 * safe on several replicas at once, like the samples' prune. docs/operations.md states the
 * retention of every collection.
 */
import { Alert, Channel, Subscription } from './models/index.js';

const DAY_MS = 86_400_000;

/** Sent, failed and skipped alerts are kept this long after they were detected; pending ones until delivered. */
export const ALERT_RETENTION_MS = 30 * DAY_MS;
/**
 * A channel whose every subscription is disabled (the platform said it is gone, or the bot was
 * removed) and that has seen no alert and no change for this long is forgotten: its subscriptions
 * and its settings are deleted. `/track` there again starts afresh.
 */
export const GONE_CHANNEL_RETENTION_MS = 30 * DAY_MS;

export interface RetentionResult {
  alerts: number;
  channels: number;
  subscriptions: number;
}

/** Deletes sent, failed and skipped alerts detected before `now - retentionMs`. */
export async function pruneAlerts(now = new Date(), retentionMs = ALERT_RETENTION_MS): Promise<number> {
  const cutoff = new Date(now.getTime() - retentionMs);
  const res = await Alert.deleteMany({ status: { $in: ['sent', 'failed', 'skipped'] }, createdAt: { $lt: cutoff } });
  return res.deletedCount;
}

/**
 * Deletes channels gone for longer than `retentionMs`: every subscription disabled, none created,
 * alerted or changed since the cutoff, no alert since the cutoff and no pending alert. Returns the
 * channels and subscriptions deleted.
 */
export async function pruneGoneChannels(
  now = new Date(),
  retentionMs = GONE_CHANNEL_RETENTION_MS,
): Promise<{ channels: number; subscriptions: number }> {
  const cutoff = new Date(now.getTime() - retentionMs);
  const candidates = (await Subscription.distinct('channel', { disabled: true })) as string[];
  let channels = 0;
  let subscriptions = 0;
  for (const channel of candidates) {
    const live = await Subscription.exists({
      channel,
      $or: [
        { disabled: { $ne: true } },
        { createdAt: { $gte: cutoff } },
        { lastAlertAt: { $gte: cutoff } },
        { snoozedUntil: { $gte: cutoff } },
      ],
    });
    if (live) continue;
    const recent = await Alert.exists({ channel, $or: [{ createdAt: { $gte: cutoff } }, { status: 'pending' }] });
    if (recent) continue;
    const settings = await Channel.findById(channel, { updatedAt: 1, mutedUntil: 1 }).lean();
    if (settings && (settings.updatedAt > cutoff || (settings.mutedUntil && settings.mutedUntil > cutoff))) continue;
    const subs = await Subscription.deleteMany({ channel, disabled: true });
    const ch = await Channel.deleteOne({ _id: channel });
    subscriptions += subs.deletedCount;
    channels += ch.deletedCount > 0 || subs.deletedCount > 0 ? 1 : 0;
  }
  return { channels, subscriptions };
}

/** Both of the above, for the prune job. */
export async function pruneRetained(now = new Date()): Promise<RetentionResult> {
  const alerts = await pruneAlerts(now);
  const gone = await pruneGoneChannels(now);
  return { alerts, ...gone };
}
