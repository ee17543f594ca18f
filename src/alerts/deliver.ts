/**
 * The main-thread deliverer: takes pending alerts from the outbox and posts them.
 *
 * A pass claims due alerts in batches (src/alerts/outbox.ts: three round trips per batch, with a
 * lease and a claim id, so no two replicas post the same alert and a replica whose lease ran
 * out cannot settle it any more). Each claimed alert is checked again against its subscription and
 * channel, so an untrack, snooze, mute or switch-off made after detection holds for alerts already
 * queued. The batch is then posted channel by channel, channels side by side and each channel in
 * order: several alerts of one tick for one channel go out as one digest post (unless the channel
 * turned digests off); a platform's per-channel pace (Slack about one post a second) is kept. A
 * channel's lane is topped up by the next claim while it still has a few posts queued, so a paced
 * channel with a backlog posts at its full rate, and settles are written while a lane waits.
 *
 * A claim's lease must outlast every post made under it, or another replica would claim the
 * alert while it is being posted and post it too. So before each post the lane makes sure its
 * claim holds at least the platform's longest post (`maxPostMs`: client timeouts times attempts):
 * if not, it writes the settles of what it has posted and moves the lease of what it still holds
 * forward, in one round trip that matches its claim. When the lease ran out and another replica
 * claimed some of those alerts meanwhile (a process paused, a post far slower than its bound), the
 * lane posts none of them and gives the rest back to the outbox.
 *
 * The one window left is a crash between the platform accepting the post and the settle: the
 * alert is then posted again when the lease expires (at least once, never silently lost).
 *
 * Failures: a 429 waits exactly the Retry-After the platform gave, for that channel only (or the
 * whole platform when the platform says the limit is global), in this replica and, through the
 * queued alerts' nextAttemptAt, in the others; it is not counted as an attempt. Other errors back
 * off exponentially; after the last attempt the alert is marked failed and counted on its channel,
 * which is told "could not deliver N alerts" after the next post that gets through. A channel that
 * is gone (deleted, bot removed) has its subscriptions disabled: retrying would fail forever.
 */
import mongoose from 'mongoose';
import type { Logger } from 'pino';
import {
  ChannelGoneError,
  POST_TIMEOUT_MS,
  RateLimitedError,
  parseChannelId,
  type AlertPayload,
  type ChatPlatform,
} from '../chat/platform.js';
import type { Reply } from '../chat/reply.js';
import { collections } from '../db/collections.js';
import { Alert } from '../db/models/index.js';
import { log } from '../logger.js';
import { replicaId } from '../market/lease.js';
import { METRICS, METRIC_ORDER, type MetricName } from '../market/metrics.js';
import { readRows, type Row } from '../market/window-stats.js';
import { alertsTotal } from '../observability/metrics.js';
import { claimBatch, extendLease, release, settleMany, type OutboxAlert, type Settlement } from './outbox.js';
import { alertReply, digestReply, undeliveredReply } from './reply.js';
import { disableChannel } from './subscriptions.js';

export interface DelivererDeps {
  platforms: ChatPlatform[];
  /** This replica's name on the leases it takes; default host:pid:random. */
  owner?: string;
  /** How often the outbox is polled when nobody calls deliverNow() (default 5 s). */
  pollMs?: number;
  /** Attempts before an alert is marked failed (default 5). */
  maxAttempts?: number;
  /**
   * How long a claim holds (default DELIVERY_LEASE_MS); must exceed every platform's `maxPostMs`,
   * since a lane moves it forward before a post only by this much.
   */
  leaseMs?: number;
  /** Wait before the first retry of a failed post; doubles each time up to 5 min (default 2 s). */
  backoffMs?: number;
  /** QUICKCHART_URL, for the small chart on each alert; no chart without it. */
  quickchartUrl?: string;
  /** Hours of history the alert chart shows (default 3). */
  chartHours?: number;
  /** Alerts claimed per round trip (default 500). */
  batchSize?: number;
  /** Channels posted to side by side (default 256; a paced lane mostly sleeps). */
  concurrency?: number;
  now?: () => number;
  logger?: Logger;
}

export interface Deliverer {
  /** Stops polling and waits for the posts in flight; pending alerts stay in the outbox. */
  stop(): Promise<void>;
  /** Delivers every alert due now; resolves to the number of alerts posted. Never rejects. */
  deliverNow(): Promise<number>;
}

/** The default lease of a claim: over every platform's longest post (see ChatPlatform.maxPostMs). */
export const DELIVERY_LEASE_MS = 60_000;
const MAX_BACKOFF_MS = 5 * 60_000;
/** Added to wake-up timers: see wakeAtTime. */
const WAKE_MARGIN_MS = 5;
/** Settles written in one round trip when nothing else makes the deliverer wait. */
const SETTLE_BATCH = 200;

type Point = { ts: Date; value: number | null };
/** Per market and metric field: the points a claimed batch's charts need, read in one query per batch. */
type History = Map<string, Point[]>;

/** What one post carries: a single alert or a digest of one tick's alerts, with its batch's chart history. */
interface Unit {
  alerts: OutboxAlert[];
  history: History;
}

/**
 * One channel's posts, in order. The claim loop appends to `queue` while the lane runs, so a paced
 * channel never idles while its next alerts are being claimed.
 */
interface Lane {
  queue: Unit[];
  /** Few posts left: the next claim takes this channel's alerts too. */
  hungry: boolean;
  /** Past its last post (settling, or stopped early): takes no more units. */
  closed: boolean;
  /** The channel has failed alerts to report after its next post. */
  undelivered: boolean;
  /** Units of its platform's pace below which the lane asks for more (see lowWater). */
  lowWater: number;
}

const payloadOf = (a: OutboxAlert): AlertPayload => ({
  id: String(a._id),
  key: a.key,
  subscriptionId: String(a.subscriptionId),
  channel: a.channel,
  market: a.market,
  metric: a.metric,
  ts: a.ts,
  value: a.value,
  baseline: a.baseline,
  ratio: a.ratio,
  factor: a.factor,
  points: a.points,
  kind: a.kind,
  direction: a.direction,
  threshold: a.threshold,
  change: a.change,
  windowMs: a.windowMs,
  more: a.more ?? 0,
});

export function startDeliverer(deps: DelivererDeps): Deliverer {
  const owner = deps.owner ?? replicaId();
  const logger = deps.logger ?? log('deliver', { owner });
  const pollMs = deps.pollMs ?? 5_000;
  const maxAttempts = Math.max(1, deps.maxAttempts ?? 5);
  const leaseMs = deps.leaseMs ?? DELIVERY_LEASE_MS;
  const backoffMs = deps.backoffMs ?? 2_000;
  const batchSize = Math.max(1, deps.batchSize ?? 500);
  const concurrency = Math.max(1, deps.concurrency ?? 256);
  const now = deps.now ?? Date.now;
  const platforms = new Map(deps.platforms.map((p) => [p.name, p]));
  /** Platform -> time a global 429 lets us post again. */
  const platformBlockedUntil = new Map<string, number>();
  /** Channel -> time its 429 lets us post again. */
  const channelBlockedUntil = new Map<string, number>();
  /**
   * Channel -> earliest time of its next post under the platform's pace, on the monotonic clock:
   * a wall clock set back or slewed must not shorten the interval.
   */
  const nextPostAt = new Map<string, number>();
  const monotonic = () => performance.now();

  let stopped = false;
  let chain: Promise<number> = Promise.resolve(0);
  let pollTimer: NodeJS.Timeout | undefined;
  let wakeTimer: NodeJS.Timeout | undefined;
  let wakeAt = Infinity;
  /** Sleeps that pace posts; stop() ends them early. */
  const sleepers = new Set<() => void>();

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

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      sleepers.add(done);
    });

  const hours = deps.chartHours ?? 3;

  /** Reads the chart history of every single-alert post of a batch at once, instead of a query per alert. */
  const loadHistory = async (alerts: readonly OutboxAlert[]): Promise<History> => {
    const history: History = new Map();
    if (!deps.quickchartUrl || alerts.length === 0) return history;
    const fields = new Set<string>();
    let from = Infinity;
    let to = -Infinity;
    for (const a of alerts) {
      const field = METRICS[a.metric as MetricName]?.field;
      if (!field) continue;
      fields.add(field);
      from = Math.min(from, a.ts.getTime() - hours * 3_600_000);
      to = Math.max(to, a.ts.getTime());
    }
    if (fields.size === 0) return history;
    // Read by sample _id: a range query is a whole-collection scan on the embedded server.
    const byMarket = await readRows([...new Set(alerts.map((a) => a.market))], from, to).catch(
      () => new Map<string, Row[]>(),
    );
    for (const [market, rows] of byMarket) {
      for (const f of fields) {
        const k = METRIC_ORDER.findIndex((m) => METRICS[m].field === f);
        history.set(
          `${market}|${f}`,
          rows.map((r) => ({
            ts: new Date(r.ts),
            value: typeof r.values[k] === 'number' ? (r.values[k] as number) : null,
          })),
        );
      }
    }
    return history;
  };

  /** The metric's last hours up to an alert's point, from the batch's history. */
  const historyOf = (history: History, alert: OutboxAlert): Point[] | undefined => {
    const field = METRICS[alert.metric as MetricName]?.field;
    const list = field ? history.get(`${alert.market}|${field}`) : undefined;
    if (!list) return undefined;
    const from = alert.ts.getTime() - hours * 3_600_000;
    const to = alert.ts.getTime();
    // Sorted by time: binary search for the first point after `from`.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.ts.getTime() <= from) lo = mid + 1;
      else hi = mid;
    }
    const out: Point[] = [];
    for (let i = lo; i < list.length && list[i]!.ts.getTime() <= to; i++) out.push(list[i]!);
    return out;
  };

  const replyFor = async (unit: Unit): Promise<Reply> => {
    if (unit.alerts.length > 1) return digestReply(unit.alerts);
    const alert = unit.alerts[0]!;
    return alertReply(alert, {
      quickchartUrl: deps.quickchartUrl,
      history: historyOf(unit.history, alert),
      chartHours: deps.chartHours,
    });
  };

  /** Tells a channel that just took a post about the alerts that never reached it, through its lane's `post`. */
  const reportUndelivered = async (channel: string, post: (reply: Reply) => Promise<unknown>) => {
    const before = await collections
      .channels()
      .findOneAndUpdate(
        { _id: channel, undelivered: { $gt: 0 } },
        { $set: { undelivered: 0, updatedAt: new Date(now()) } },
        { returnDocument: 'before' },
      );
    const count = typeof before?.undelivered === 'number' ? before.undelivered : 0;
    if (count === 0) return;
    try {
      await post(undeliveredReply(count));
      logger.info({ channel, count }, 'told channel about undelivered alerts');
    } catch (err) {
      await collections.channels().updateOne({ _id: channel }, { $inc: { undelivered: count } });
      logger.warn(
        { channel, count, err: (err as Error).message },
        'could not post the undelivered-alerts warning; will try after the next post',
      );
    }
  };

  const countUndelivered = (channel: string, count: number) =>
    collections
      .channels()
      .updateOne(
        { _id: channel },
        { $inc: { undelivered: count }, $set: { updatedAt: new Date(now()) }, $setOnInsert: { mutedUntil: null } },
        { upsert: true },
      );

  const channelGone = async (channel: string, unit: Unit, platform: string, err: Error) => {
    const reason = `channel gone: ${err.message}`.slice(0, 300);
    const disabled = await disableChannel(channel, reason);
    await settleMany(
      unit.alerts.map((alert) => ({
        alert,
        set: { status: 'failed', attempts: (alert.attempts ?? 0) + 1, lastError: reason },
      })),
    );
    alertsTotal.inc({ stage: 'failed', platform }, unit.alerts.length);
    const others = await Alert.collection.updateMany(
      { channel, status: 'pending' },
      { $set: { status: 'failed', lastError: reason, lockedBy: null, lockedUntil: null, claim: null } },
    );
    if (others.modifiedCount) alertsTotal.inc({ stage: 'failed', platform }, others.modifiedCount);
    logger.warn(
      { channel, disabledSubscriptions: disabled, droppedAlerts: others.modifiedCount, err: err.message },
      'channel is gone or the bot was removed; its subscriptions are disabled (/track again re-enables)',
    );
  };

  /** A 429: the channel (or platform) waits; the alerts go back to the outbox due then, attempts unchanged. */
  const rateLimited = async (channel: string, platform: string, rest: OutboxAlert[], err: RateLimitedError) => {
    const retryAt = now() + Math.max(0, err.retryAfterMs);
    const global = err.scope === 'platform';
    (global ? platformBlockedUntil : channelBlockedUntil).set(global ? platform : channel, retryAt);
    await release(rest, new Date(retryAt));
    // Other replicas post with the same token: the wait is written on the queued alerts, so none
    // of them claims one before the channel (or platform) is ready again.
    await Alert.collection.updateMany(
      {
        status: 'pending',
        channel: global ? { $regex: `^${platform}:` } : channel,
        nextAttemptAt: { $lt: new Date(retryAt) },
      },
      { $set: { nextAttemptAt: new Date(retryAt) } },
    );
    alertsTotal.inc({ stage: 'retried', platform }, rest.length);
    logger.warn({ channel, scope: err.scope, retryAfterMs: err.retryAfterMs }, 'rate limited; waiting as told');
    wakeAtTime(retryAt);
  };

  /** Settlements for a post that failed for another reason: back off, or fail for good after the last attempt. */
  const failed = (unit: Unit, message: string): Settlement[] => {
    const settlements: Settlement[] = [];
    let retryAt = Infinity;
    for (const alert of unit.alerts) {
      const attempts = (alert.attempts ?? 0) + 1;
      if (attempts >= maxAttempts) {
        settlements.push({ alert, set: { status: 'failed', attempts, lastError: message.slice(0, 500) } });
        logger.warn(
          { alert: String(alert._id), channel: alert.channel, market: alert.market, attempts, error: message },
          'alert not delivered',
        );
      } else {
        const at = now() + Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** (attempts - 1));
        retryAt = Math.min(retryAt, at);
        settlements.push({
          alert,
          set: { attempts, nextAttemptAt: new Date(at), lastError: message.slice(0, 500) },
        });
      }
    }
    if (retryAt < Infinity) {
      logger.warn(
        { channel: unit.alerts[0]!.channel, alerts: unit.alerts.length, retryAt: new Date(retryAt), err: message },
        'alert post failed; will retry',
      );
      wakeAtTime(retryAt);
    }
    return settlements;
  };

  /**
   * Posts a lane's units in order, keeping the platform's pace; returns the alerts posted. Every
   * way out marks the lane closed before its next await, so the claim loop never adds a unit that
   * nobody will post.
   */
  const deliverChannel = async (channel: string, lane: Lane, wakeClaims: () => void): Promise<number> => {
    const platformName = parseChannelId(channel).platform;
    const platform = platforms.get(platformName)!;
    const pace = platform.postIntervalMs ?? 0;
    const longestPost = platform.maxPostMs ?? POST_TIMEOUT_MS;
    let sent = 0;
    let pending: Settlement[] = [];
    /**
     * Settles are written in the background, one write at a time behind the others, so that a slow
     * database holds up neither the pace of the posts nor the claim of more. A failed write stops
     * the lane at its next post: with the database unreachable, posting on would only post alerts
     * that will go out again when their lease runs out.
     */
    let settling = Promise.resolve();
    let settleError: unknown;
    /** Queues the settles so far; the promise is every queued settle written (never rejects). */
    const flush = () => {
      const batch = pending;
      pending = [];
      if (batch.length)
        settling = settling
          .then(() => settleMany(batch))
          .then(
            () => {},
            (err: unknown) => {
              settleError ??= err;
            },
          );
      return settling;
    };
    const take = () => {
      const unit = lane.queue.shift();
      if (unit && !lane.hungry && lane.queue.length <= lane.lowWater) {
        lane.hungry = true;
        wakeClaims();
      }
      return unit;
    };
    /** Waits until the channel's pace lets the next post start; a timer may fire a moment early. */
    const waitPace = async () => {
      for (let wait = (nextPostAt.get(channel) ?? 0) - monotonic(); wait > 0 && !stopped; ) {
        void flush();
        await sleep(Math.ceil(wait));
        wait = (nextPostAt.get(channel) ?? 0) - monotonic();
      }
    };
    /**
     * Hands a post to the platform once the pace allows. The interval counts from the hand-over, so
     * the next post starts a full interval after this one did, however long this one takes.
     */
    const post = (reply: Reply, alerts?: readonly AlertPayload[]) => {
      if ((nextPostAt.get(channel) ?? 0) > monotonic()) throw new Error('stopped before the pace allowed the post');
      const posting = platform.post(channel, reply, alerts);
      if (pace > 0) nextPostAt.set(channel, monotonic() + pace);
      return posting;
    };
    /**
     * Makes sure the claim on everything the lane holds outlasts the platform's longest post, before
     * `unit` is posted; false when another replica has claimed some of it since (see the top).
     */
    const holdLease = async (unit: Unit): Promise<boolean> => {
      const held = [unit, ...lane.queue].flatMap((u) => u.alerts);
      let soonest = Infinity;
      for (const a of held) soonest = Math.min(soonest, a.lockedUntil.getTime());
      for (const s of pending) soonest = Math.min(soonest, s.alert.lockedUntil.getTime());
      if (soonest - now() >= longestPost) return true;
      // Posted alerts whose settle is still queued would be claimed and posted again once their
      // lease ran out: written first.
      await flush();
      if (settleError) throw settleError;
      const until = new Date(now() + leaseMs);
      if ((await extendLease(held, until)) < held.length) return false;
      for (const a of held) a.lockedUntil = until;
      return true;
    };
    /** Closes the lane and returns the alerts of `unit` and of every unit still queued. */
    const close = (unit?: Unit) => {
      lane.closed = true;
      return [...(unit ? [unit] : []), ...lane.queue.splice(0)].flatMap((u) => u.alerts);
    };
    try {
      for (let unit = take(); unit; unit = take()) {
        if (settleError) {
          lane.queue.unshift(unit);
          throw settleError;
        }
        const blocked = platformBlockedUntil.get(platformName) ?? 0;
        if (stopped || blocked > now()) {
          // Stopping, or another lane met a global 429: the rest goes back, due when it ends.
          await release(close(unit), blocked > now() ? new Date(blocked) : undefined);
          break;
        }
        // Built while the lane waits out its pace; a failure to build surfaces as the post's.
        const reply = replyFor(unit);
        reply.catch(() => {});
        await waitPace();
        if (stopped) {
          await release(close(unit));
          break;
        }
        if (!(await holdLease(unit))) {
          const rest = close(unit);
          await release(rest);
          logger.warn(
            { channel, alerts: rest.length },
            'claim lost before the post (lease ran out and another replica claimed); the rest went back to the outbox',
          );
          break;
        }
        try {
          const body = await reply;
          const { ref } = await post(body, unit.alerts.map(payloadOf));
          const sentAt = new Date(now());
          for (const alert of unit.alerts) {
            pending.push({
              alert,
              set: { status: 'sent', attempts: (alert.attempts ?? 0) + 1, messageRef: ref, sentAt },
            });
          }
          sent += unit.alerts.length;
          alertsTotal.inc({ stage: 'sent', platform: platformName }, unit.alerts.length);
          logger.info(
            { channel, alerts: unit.alerts.length, market: unit.alerts[0]!.market, ref },
            unit.alerts.length > 1 ? 'digest posted' : 'alert posted',
          );
          if (pending.length >= SETTLE_BATCH) {
            // One batch written while the next is posted, and no more: the settles keep up.
            const previous = settling;
            void flush();
            await previous;
          }
          if (lane.undelivered) {
            lane.undelivered = false;
            await flush();
            await reportUndelivered(channel, async (warning) => {
              await waitPace();
              return post(warning);
            });
          }
        } catch (err) {
          // Before any await: lanes of other channels must see a global limit at once.
          if (err instanceof RateLimitedError && err.scope === 'platform')
            platformBlockedUntil.set(platformName, now() + Math.max(0, err.retryAfterMs));
          if (err instanceof ChannelGoneError) {
            const rest = close();
            await flush();
            await channelGone(channel, unit, platformName, err);
            await release(rest);
            break;
          }
          if (err instanceof RateLimitedError) {
            const rest = close(unit);
            await flush();
            await rateLimited(channel, platformName, rest, err);
            break;
          }
          await flush();
          const settlements = failed(unit, (err as Error)?.message ?? String(err));
          const forGood = settlements.filter((x) => x.set.status === 'failed');
          // Counted only where this claim still held the alert: a late replica changes nothing.
          const failedHeld = await settleMany(forGood);
          const retried = await settleMany(settlements.filter((x) => x.set.status !== 'failed'));
          if (failedHeld) {
            alertsTotal.inc({ stage: 'failed', platform: platformName }, failedHeld);
            await countUndelivered(channel, failedHeld);
          }
          if (retried) alertsTotal.inc({ stage: 'retried', platform: platformName }, retried);
        }
      }
    } finally {
      // Reached at once when the queue runs dry; an error thrown above gives back what is queued.
      const rest = close();
      await flush();
      if (rest.length) await release(rest);
    }
    if (settleError) throw settleError;
    return sent;
  };

  /**
   * Drops claimed alerts whose subscription is gone, off or snoozed, or whose channel is muted,
   * now; returns the rest and the channels' settings.
   */
  const recheck = async (batch: OutboxAlert[]) => {
    const t = new Date(now());
    const [subs, channels] = await Promise.all([
      collections
        .subscriptions()
        .find(
          {
            _id: {
              $in: [...new Set(batch.map((a) => String(a.subscriptionId)))]
                .filter((id) => mongoose.isValidObjectId(id))
                .map((id) => new mongoose.Types.ObjectId(id)),
            },
          },
          { projection: { disabled: 1, snoozedUntil: 1 } },
        )
        .toArray(),
      collections
        .channels()
        .find(
          { _id: { $in: [...new Set(batch.map((a) => a.channel))] } },
          { projection: { mutedUntil: 1, digest: 1, undelivered: 1 } },
        )
        .toArray(),
    ]);
    const subById = new Map(subs.map((s) => [String(s._id), s]));
    const channelById = new Map(channels.map((c) => [String(c._id), c]));
    const keep: OutboxAlert[] = [];
    const skipped: Settlement[] = [];
    for (const alert of batch) {
      const sub = subById.get(String(alert.subscriptionId));
      const channel = channelById.get(alert.channel);
      const reason = !sub
        ? 'untracked after detection'
        : sub.disabled
          ? 'subscription switched off after detection'
          : sub.snoozedUntil && (sub.snoozedUntil as Date) > t
            ? 'snoozed after detection'
            : channel?.mutedUntil && (channel.mutedUntil as Date) > t
              ? 'channel muted after detection'
              : undefined;
      if (reason) skipped.push({ alert, set: { status: 'skipped', lastError: reason } });
      else keep.push(alert);
    }
    if (skipped.length) {
      await settleMany(skipped);
      for (const s of skipped)
        alertsTotal.inc({ stage: 'skipped', platform: parseChannelId(s.alert.channel).platform });
      logger.info(
        { skipped: skipped.length },
        'queued alerts dropped: subscription or channel changed since detection',
      );
    }
    return { keep, channelById };
  };

  /**
   * Splits a channel's claimed alerts into posts: one per tick when digests are on, else one per
   * alert. Keeps what the platform's pace lets out well within the lease, counting the `queued`
   * units its lane already holds, and returns the rest to be released.
   */
  const unitsFor = (
    channel: string,
    alerts: OutboxAlert[],
    digestOff: boolean,
    history: History,
    queued: number,
  ): { units: Unit[]; rest: OutboxAlert[] } => {
    const platform = platforms.get(parseChannelId(channel).platform)!;
    const units: Unit[] = [];
    if (platform.digests !== false && !digestOff) {
      // Alerts written by one detection run share createdAt: one tick, one post.
      const ticks = new Map<number, OutboxAlert[]>();
      for (const a of alerts) {
        const t = a.createdAt.getTime();
        const group = ticks.get(t);
        if (group) group.push(a);
        else ticks.set(t, [a]);
      }
      for (const group of ticks.values()) units.push({ alerts: group, history });
    } else {
      for (const a of alerts) units.push({ alerts: [a], history });
    }
    const pace = platform.postIntervalMs ?? 0;
    const fit = pace > 0 ? Math.max(0, Math.floor(leaseMs / 2 / pace) - queued) : units.length;
    return { units: units.slice(0, fit), rest: units.slice(fit).flatMap((u) => u.alerts) };
  };

  /**
   * A lane asks for more while it still has this many posts queued: for a paced channel five
   * seconds of posts, time enough for a claim on a busy machine, so the channel keeps its full
   * rate; otherwise half a batch, so claims overlap posting.
   */
  const lowWater = (channel: string) => {
    const pace = platforms.get(parseChannelId(channel).platform)!.postIntervalMs ?? 0;
    return pace > 0 ? Math.ceil(5_000 / pace) : Math.ceil(batchSize / 2);
  };

  /**
   * One pass: claims batches and hands each channel's alerts to a lane of its own, until nothing
   * due is left that a free lane could take. A channel whose lane has posts enough queued is left
   * out of further claims, so a slow (paced) channel never holds up the others and a big backlog
   * in one channel never crowds the rest out of a batch; a lane running low is topped up while it
   * still posts, so its channel never waits for a claim.
   */
  const runOnce = async (): Promise<number> => {
    let sent = 0;
    /** Each channel's newest lane (open, or settling its last posts). */
    const lanes = new Map<string, Lane>();
    const running = new Set<Promise<void>>();
    let wake = () => {};
    let woken = Promise.resolve();
    const startLane = (channel: string, lane: Lane) => {
      lanes.set(channel, lane);
      const run: Promise<void> = deliverChannel(channel, lane, () => wake())
        .then((n) => {
          sent += n;
        })
        .catch((err: unknown) =>
          logger.error({ err, channel }, 'channel delivery failed; its alerts wait for their lease'),
        )
        .finally(() => {
          running.delete(run);
          if (lanes.get(channel) === lane) lanes.delete(channel);
        });
      running.add(run);
    };
    for (const [channel, at] of nextPostAt) if (at <= monotonic()) nextPostAt.delete(channel);
    try {
      while (!stopped) {
        const t = now();
        const open = [...platforms.keys()].filter((name) => (platformBlockedUntil.get(name) ?? 0) <= t);
        const skipChannels: string[] = [];
        let openLanes = 0;
        let hungry = false;
        for (const [channel, lane] of lanes) {
          if (lane.closed) continue;
          openLanes++;
          if (lane.hungry) hungry = true;
          else skipChannels.push(channel);
        }
        for (const [channel, until] of channelBlockedUntil) {
          if (until > t) skipChannels.push(channel);
          else channelBlockedUntil.delete(channel);
        }
        const free = concurrency - openLanes;
        // Armed before the claim: a lane that runs low meanwhile is heard after it.
        woken = new Promise<void>((resolve) => {
          wake = resolve;
        });
        const batch =
          free > 0 || hungry
            ? await claimBatch({ owner, leaseMs, now: t, limit: batchSize, platforms: open, skipChannels })
            : [];
        if (batch.length === 0) {
          if (running.size === 0) break;
          await Promise.race([...running, woken]);
          continue;
        }
        const { keep, channelById } = await recheck(batch);
        const history = await loadHistory(keep);
        const byChannel = new Map<string, OutboxAlert[]>();
        for (const a of keep) {
          const list = byChannel.get(a.channel);
          if (list) list.push(a);
          else byChannel.set(a.channel, [a]);
        }
        let slots = free;
        const giveBack: OutboxAlert[] = [];
        for (const [channel, alerts] of byChannel) {
          const settings = channelById.get(channel);
          const undelivered = typeof settings?.undelivered === 'number' && settings.undelivered > 0;
          const lane = lanes.get(channel);
          const current = lane && !lane.closed ? lane : undefined;
          if (!current && (slots <= 0 || stopped)) {
            giveBack.push(...alerts);
            continue;
          }
          // No await from here to the push: the lane must still be open when it gets the units.
          const { units, rest } = unitsFor(
            channel,
            alerts,
            settings?.digest === false,
            history,
            current?.queue.length ?? 0,
          );
          giveBack.push(...rest);
          if (current) {
            current.queue.push(...units);
            current.hungry = current.queue.length <= current.lowWater;
            current.undelivered ||= undelivered;
          } else {
            slots--;
            const low = lowWater(channel);
            startLane(channel, {
              queue: units,
              hungry: units.length <= low,
              closed: false,
              undelivered,
              lowWater: low,
            });
          }
        }
        await release(giveBack);
      }
      while (running.size) await Promise.all([...running]);
    } catch (err) {
      logger.error({ err }, 'alert delivery pass failed; the next poll retries');
      while (running.size) await Promise.allSettled([...running]);
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
      for (const wake of [...sleepers]) wake();
      await chain;
    },
  };
}
