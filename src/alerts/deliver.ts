/**
 * The main-thread deliverer: takes pending alerts from the outbox and posts them.
 *
 * An alert is claimed with a lease (lockedBy/lockedUntil set by one findOneAndUpdate), so two
 * replicas never post the same alert; a replica that dies holding a lease only delays that alert
 * until the lease runs out. It is marked sent with the platform's message reference right after the
 * post. The one window left is a crash between the platform accepting the post and that mark: the
 * alert is then posted again when the lease expires (at least once, never silently lost).
 *
 * Failures: a 429 waits exactly the Retry-After the platform gave, and holds back every post to that
 * platform meanwhile, in this replica and (through the queued alerts' nextAttemptAt) in the others; other errors back off exponentially; after the last attempt the alert is
 * marked failed and counted on its channel, which is told "could not deliver N alerts" after the
 * next post that gets through. A channel that is gone (deleted, bot removed) has its subscriptions
 * disabled: retrying would fail forever.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type mongoose from 'mongoose';
import { Alert, Channel, Sample } from '../db/models/index.js';
import { log } from '../logger.js';
import { METRICS, type MetricName } from '../market/metrics.js';
import { alertsTotal } from '../observability/metrics.js';
import { disableChannel } from './subscriptions.js';
import { alertReply, undeliveredReply, type AlertView } from './reply.js';
import { ChannelGoneError, RateLimitedError, parseChannelId, type ChatPlatform } from '../chat/platform.js';

export interface DelivererDeps {
  platforms: ChatPlatform[];
  /** This replica's name on the leases it takes; default host:pid:random. */
  owner?: string;
  /** How often the outbox is polled when nobody calls deliverNow() (default 5 s). */
  pollMs?: number;
  /** Attempts before an alert is marked failed (default 5). */
  maxAttempts?: number;
  /** How long a claim holds (default 60 s); longer than any post may take. */
  leaseMs?: number;
  /** Wait before the first retry of a failed post; doubles each time up to 5 min (default 2 s). */
  backoffMs?: number;
  /** QUICKCHART_URL, for the small chart on each alert; no chart without it. */
  quickchartUrl?: string;
  /** Hours of history the alert chart shows (default 3). */
  chartHours?: number;
  now?: () => number;
  logger?: Logger;
}

export interface Deliverer {
  /** Stops polling and waits for a post in flight; pending alerts stay in the outbox. */
  stop(): Promise<void>;
  /** Delivers every alert due now; resolves to the number posted. Never rejects. */
  deliverNow(): Promise<number>;
}

const MAX_BACKOFF_MS = 5 * 60_000;
/** Added to wake-up timers: see wakeAtTime. */
const WAKE_MARGIN_MS = 5;

type AlertRecord = AlertView & {
  _id: mongoose.Types.ObjectId;
  channel: string;
  attempts?: number;
};

export function startDeliverer(deps: DelivererDeps): Deliverer {
  const owner = deps.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const logger = deps.logger ?? log('deliver', { owner });
  const pollMs = deps.pollMs ?? 5_000;
  const maxAttempts = Math.max(1, deps.maxAttempts ?? 5);
  const leaseMs = deps.leaseMs ?? 60_000;
  const backoffMs = deps.backoffMs ?? 2_000;
  const now = deps.now ?? Date.now;
  const platforms = new Map(deps.platforms.map((p) => [p.name, p]));
  /** Platform -> time its last 429 lets us post again. */
  const blockedUntil = new Map<string, number>();

  let stopped = false;
  let chain: Promise<number> = Promise.resolve(0);
  let pollTimer: NodeJS.Timeout | undefined;
  let wakeTimer: NodeJS.Timeout | undefined;
  let wakeAt = Infinity;

  /**
   * Runs deliverNow at `at` if that is before the next poll (a Retry-After shorter than the poll).
   * A timer may fire a millisecond before the wall clock reaches `at`, which would find the alert
   * not yet due and leave it to the next poll: the margin keeps the wake-up after it.
   */
  const wakeAtTime = (at: number) => {
    if (stopped || at >= wakeAt) return;
    if (wakeTimer) clearTimeout(wakeTimer);
    wakeAt = at;
    wakeTimer = setTimeout(
      () => {
        wakeAt = Infinity;
        wakeTimer = undefined;
        void deliverNow();
      },
      Math.max(0, at - now()) + WAKE_MARGIN_MS,
    );
    wakeTimer.unref();
  };

  const claim = async (): Promise<AlertRecord | null> => {
    const t = now();
    const open = [...platforms.keys()].filter((name) => (blockedUntil.get(name) ?? 0) <= t);
    if (open.length === 0) return null;
    const doc = await Alert.collection.findOneAndUpdate(
      {
        status: 'pending',
        nextAttemptAt: { $lte: new Date(t) },
        channel: { $regex: `^(${open.join('|')}):` },
        $or: [{ lockedUntil: null }, { lockedUntil: { $lte: new Date(t) } }],
      },
      { $set: { lockedBy: owner, lockedUntil: new Date(t + leaseMs) } },
      { sort: { nextAttemptAt: 1, _id: 1 }, returnDocument: 'after' },
    );
    return doc as unknown as AlertRecord | null;
  };

  /** Updates an alert this replica still holds. */
  const settle = (alert: AlertRecord, update: Record<string, unknown>) =>
    Alert.collection.updateOne({ _id: alert._id }, { $set: { lockedBy: null, lockedUntil: null, ...update } });

  const history = async (alert: AlertRecord) => {
    const field = METRICS[alert.metric as MetricName]?.field;
    if (!deps.quickchartUrl || !field) return undefined;
    const hours = deps.chartHours ?? 3;
    const rows = await Sample.collection
      .find(
        { market: alert.market, ts: { $gt: new Date(alert.ts.getTime() - hours * 3_600_000), $lte: alert.ts } },
        { projection: { ts: 1, [field]: 1 } },
      )
      .toArray();
    return rows
      .map((r) => ({ ts: r.ts as Date, value: typeof r[field] === 'number' ? (r[field] as number) : null }))
      .sort((a, b) => a.ts.getTime() - b.ts.getTime());
  };

  /** Tells a channel that just took a post about the alerts that never reached it. */
  const reportUndelivered = async (platform: ChatPlatform, channel: string) => {
    const before = await Channel.collection.findOneAndUpdate(
      { _id: channel as never, undelivered: { $gt: 0 } },
      { $set: { undelivered: 0, updatedAt: new Date(now()) } },
      { returnDocument: 'before' },
    );
    const count = typeof before?.undelivered === 'number' ? before.undelivered : 0;
    if (count === 0) return;
    try {
      await platform.post(channel, undeliveredReply(count));
      logger.info({ channel, count }, 'told channel about undelivered alerts');
    } catch (err) {
      await Channel.collection.updateOne({ _id: channel as never }, { $inc: { undelivered: count } });
      logger.warn(
        { channel, count, err: (err as Error).message },
        'could not post the undelivered-alerts warning; will try after the next post',
      );
    }
  };

  const failForGood = async (
    alert: AlertRecord,
    platform: string,
    attempts: number,
    error: string,
    countOnChannel: boolean,
  ) => {
    await settle(alert, { status: 'failed', attempts, lastError: error.slice(0, 500) });
    alertsTotal.inc({ stage: 'failed', platform });
    if (countOnChannel) {
      await Channel.collection.updateOne(
        { _id: alert.channel as never },
        { $inc: { undelivered: 1 }, $set: { updatedAt: new Date(now()) }, $setOnInsert: { mutedUntil: null } },
        { upsert: true },
      );
    }
    logger.warn(
      { alert: String(alert._id), channel: alert.channel, market: alert.market, attempts, error },
      'alert not delivered',
    );
  };

  const channelGone = async (alert: AlertRecord, platform: string, err: Error) => {
    const reason = `channel gone: ${err.message}`.slice(0, 300);
    const disabled = await disableChannel(alert.channel, reason);
    await failForGood(alert, platform, (alert.attempts ?? 0) + 1, reason, false);
    const others = await Alert.collection.updateMany(
      { channel: alert.channel, status: 'pending' },
      { $set: { status: 'failed', lastError: reason } },
    );
    if (others.modifiedCount) alertsTotal.inc({ stage: 'failed', platform }, others.modifiedCount);
    logger.warn(
      {
        channel: alert.channel,
        disabledSubscriptions: disabled,
        droppedAlerts: others.modifiedCount,
        err: err.message,
      },
      'channel is gone or the bot was removed; its subscriptions are disabled (/track again re-enables)',
    );
  };

  /** Posts one claimed alert; true when it was delivered. */
  const deliver = async (alert: AlertRecord): Promise<boolean> => {
    const platformName = parseChannelId(alert.channel).platform;
    const platform = platforms.get(platformName)!;
    const attempts = (alert.attempts ?? 0) + 1;
    try {
      const reply = alertReply(alert, {
        quickchartUrl: deps.quickchartUrl,
        history: await history(alert).catch(() => undefined),
        chartHours: deps.chartHours,
      });
      const { ref } = await platform.post(alert.channel, reply);
      await settle(alert, { status: 'sent', attempts, messageRef: ref, sentAt: new Date(now()) });
      alertsTotal.inc({ stage: 'sent', platform: platformName });
      logger.info(
        { alert: String(alert._id), channel: alert.channel, market: alert.market, metric: alert.metric, ref },
        'alert posted',
      );
      await reportUndelivered(platform, alert.channel);
      return true;
    } catch (err) {
      if (err instanceof ChannelGoneError) {
        await channelGone(alert, platformName, err);
        return false;
      }
      const message = (err as Error)?.message ?? String(err);
      if (attempts >= maxAttempts) {
        await failForGood(alert, platformName, attempts, message, true);
        return false;
      }
      let retryAt: number;
      if (err instanceof RateLimitedError) {
        retryAt = now() + Math.max(0, err.retryAfterMs);
        blockedUntil.set(platformName, retryAt);
        // Other replicas post with the same token: the wait is written on the platform's queued
        // alerts, so none of them claims one before the platform is ready again.
        await Alert.collection.updateMany(
          { status: 'pending', channel: { $regex: `^${platformName}:` }, nextAttemptAt: { $lt: new Date(retryAt) } },
          { $set: { nextAttemptAt: new Date(retryAt) } },
        );
        logger.warn(
          { channel: alert.channel, retryAfterMs: err.retryAfterMs, attempts },
          'rate limited; waiting as told',
        );
      } else {
        retryAt = now() + Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** (attempts - 1));
        logger.warn(
          { alert: String(alert._id), channel: alert.channel, attempts, retryAt: new Date(retryAt), err: message },
          'alert post failed; will retry',
        );
      }
      await settle(alert, { attempts, nextAttemptAt: new Date(retryAt), lastError: message.slice(0, 500) });
      alertsTotal.inc({ stage: 'retried', platform: platformName });
      wakeAtTime(retryAt);
      return false;
    }
  };

  const runOnce = async (): Promise<number> => {
    let sent = 0;
    try {
      while (!stopped) {
        const alert = await claim();
        if (!alert) break;
        if (await deliver(alert)) sent++;
      }
    } catch (err) {
      logger.error({ err }, 'alert delivery pass failed; the next poll retries');
    }
    return sent;
  };

  function deliverNow(): Promise<number> {
    if (stopped) return Promise.resolve(0);
    const next = chain.then(runOnce, runOnce);
    chain = next;
    return next;
  }

  const poll = () => {
    if (stopped) return;
    void deliverNow().finally(() => {
      if (!stopped) pollTimer = setTimeout(poll, pollMs).unref();
    });
  };
  poll();

  return {
    deliverNow,
    async stop() {
      stopped = true;
      if (pollTimer) clearTimeout(pollTimer);
      if (wakeTimer) clearTimeout(wakeTimer);
      await chain;
    },
  };
}
