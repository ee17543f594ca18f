/**
 * The deliverer against the real wire-protocol server, with a small recording ChatPlatform:
 * restarts, racing replicas, Retry-After, retries to the last attempt, channels that are gone, and
 * a channel's pace kept while its lane is topped up.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { startDeliverer, type Deliverer } from '../src/alerts/deliver.js';
import { claimBatch } from '../src/alerts/outbox.js';
import { ChannelGoneError, RateLimitedError, type ChatPlatform, type PlatformName } from '../src/chat/platform.js';
import type { Reply } from '../src/chat/reply.js';
import { Alert, Channel, Subscription } from '../src/db/models/index.js';
import { detectSpikes } from '../src/alerts/detect.js';
import { saveSamples, type SampleInput } from '../src/market/samples.js';
import { registry } from '../src/observability/metrics.js';
import { clearDatabase, useTestDatabase } from './support/db.js';
import { until } from './support/wait.js';

useTestDatabase('deliver');

type Script = (channel: string, reply: Reply) => void | Promise<void>;

/** A platform that records every attempt and does what its script says (throw, wait) first. */
class RecordingPlatform implements ChatPlatform {
  readonly attempts: Array<{ channel: string; reply: Reply; at: number }> = [];
  readonly posts: Array<{ channel: string; reply: Reply; ref: string }> = [];
  private scripts: Script[] = [];
  private seq = 0;
  /** The longest post this platform promises (undefined: the default bound). */
  maxPostMs?: number;
  constructor(readonly name: PlatformName = 'slack') {}

  /** The next post runs `script` before it is accepted (or instead, if the script throws). */
  next(script: Script): this {
    this.scripts.push(script);
    return this;
  }

  async post(channel: string, reply: Reply): Promise<{ ref: string }> {
    this.attempts.push({ channel, reply, at: performance.now() });
    const script = this.scripts.shift();
    if (script) await script(channel, reply);
    const ref = `${this.name}-${++this.seq}`;
    this.posts.push({ channel, reply, ref });
    return { ref };
  }
}

/** Slack's pace, shortened: at least `postIntervalMs` between two posts to one channel. */
class PacedPlatform extends RecordingPlatform {
  constructor(readonly postIntervalMs: number) {
    super('slack');
  }
}

const T0 = Date.UTC(2026, 3, 1, 9, 0);
const at = (minute: number) => new Date(T0 + minute * 60_000);

async function pendingAlert(channel: string, minute = 0, extra: Record<string, unknown> = {}) {
  const sub = await Subscription.findOneAndUpdate(
    { channel, market: 'sim:aaa-usd', metric: 'volume' },
    { $setOnInsert: { factor: 3 } },
    { upsert: true, returnDocument: 'after' },
  );
  return Alert.create({
    key: `${String(sub._id)}|sim:aaa-usd|volume|${at(minute).toISOString()}`,
    subscriptionId: sub._id,
    channel,
    market: 'sim:aaa-usd',
    metric: 'volume',
    ts: at(minute),
    value: 34,
    baseline: 10,
    ratio: 3.4,
    factor: 3,
    points: 60,
    ...extra,
  });
}

const running: Deliverer[] = [];
function deliverer(
  platforms: ChatPlatform[],
  extra: Parameters<typeof startDeliverer>[0] extends infer D ? Partial<D> : never = {},
) {
  const d = startDeliverer({ platforms, pollMs: 60_000, ...extra });
  running.push(d);
  return d;
}

beforeEach(clearDatabase);
afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop()));
});

describe('alert deliverer', () => {
  it('posts a pending alert once and marks it sent with the message reference', async () => {
    const slack = new RecordingPlatform('slack');
    const alert = await pendingAlert('slack:T1:C1', 0, { more: 2 });
    const d = deliverer([slack]);
    await d.deliverNow();
    assert.equal(slack.posts.length, 1);
    const { channel, reply } = slack.posts[0]!;
    assert.equal(channel, 'slack:T1:C1');
    assert.match(reply.text ?? '', /34 AAA\/min at 2026-04-01 09:00 UTC: 3\.4x the 1h average of 10 AAA\/min/);
    assert.match(reply.text ?? '', /\+2 more/);
    assert.deepEqual(
      reply.buttons?.map((b) => [b.action, b.value]),
      [
        ['snooze:1h', String(alert.subscriptionId)],
        ['snooze:24h', String(alert.subscriptionId)],
        ['alert:untrack', String(alert.subscriptionId)],
      ],
    );
    const stored = await Alert.findById(alert._id).lean();
    assert.equal(stored!.status, 'sent');
    assert.equal(stored!.messageRef, 'slack-1');
    assert.equal(stored!.attempts, 1);
    assert.equal(stored!.lockedBy, null);
    await d.deliverNow();
    assert.equal(slack.posts.length, 1);
  });

  it('delivers once across a restart between detection and delivery', async () => {
    const samples: SampleInput[] = [];
    for (let m = 0; m <= 60; m++) {
      samples.push({
        market: 'sim:aaa-usd',
        ts: at(m),
        source: 'simulated',
        last: 1,
        high: 1,
        low: 1,
        changePct: 0,
        volume24h: 1,
        volumeMinute: m === 60 ? 50 : 10,
      });
    }
    await saveSamples(samples);
    await Subscription.create({ channel: 'slack:T1:C1', market: 'sim:aaa-usd', metric: 'volume' });
    assert.equal((await detectSpikes({ tick: at(60), minPoints: 30 })).alerts, 1);

    // The first process claimed the alert and died before posting: its lease must run out first.
    const leaseEnds = Date.now() + 60_000;
    await Alert.updateOne({}, { $set: { lockedBy: 'dead-replica', lockedUntil: new Date(leaseEnds) } });
    const slack = new RecordingPlatform('slack');
    const early = deliverer([slack]);
    await early.deliverNow();
    assert.equal(slack.attempts.length, 0, 'a live lease is respected');
    await early.stop();

    const later = deliverer([slack], { now: () => leaseEnds + 1 });
    await later.deliverNow();
    assert.equal(slack.posts.length, 1);
    // Detection runs again for the same tick after the restart: nothing new to post.
    assert.equal((await detectSpikes({ tick: at(60), minPoints: 30 })).alerts, 0);
    await later.deliverNow();
    assert.equal(slack.posts.length, 1);
    assert.equal((await Alert.findOne().lean())!.status, 'sent');
  });

  it('stop() waits for the post in flight and leaves the rest pending, unlocked, for the next start', async () => {
    for (let m = 0; m < 3; m++) await pendingAlert('slack:T1:C1', m);
    const slack = new RecordingPlatform('slack');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    slack.next(() => gate);
    const first = deliverer([slack]);
    await until('the first post to start', () => slack.attempts.length === 1);
    let stoppedEarly = false;
    const stopping = first.stop().then(() => (stoppedEarly = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(stoppedEarly, false, 'stop waits for the post in flight');
    release();
    await stopping;
    assert.equal(await Alert.countDocuments({ status: 'sent' }), 1);
    assert.equal(await Alert.countDocuments({ status: 'pending', lockedBy: null }), 2);

    const second = deliverer([slack]);
    await second.deliverNow();
    assert.deepEqual(
      slack.posts.map((p) => p.reply.fields?.find((f) => f.name === 'Time')?.value),
      ['2026-04-01 09:00 UTC', '2026-04-01 09:01 UTC', '2026-04-01 09:02 UTC'],
    );
  });

  it('posts each alert once when two deliverers race for the same outbox', async () => {
    for (let m = 0; m < 30; m++) await pendingAlert(`discord:G1:C${m % 3}`, m);
    const a = new RecordingPlatform('discord');
    const b = new RecordingPlatform('discord');
    // Replica a's first post waits until b has posted, and b starts only once a is blocked there,
    // so both take part whatever the machine's load; the other posts take a moment, so the two
    // replicas' claims interleave.
    let bPosted!: () => void;
    const gate = new Promise<void>((r) => (bPosted = r));
    a.next(() => gate);
    b.next(() => bPosted());
    for (let i = 0; i < 30; i++) {
      a.next(() => new Promise((r) => setTimeout(r, 2)));
      b.next(() => new Promise((r) => setTimeout(r, 2)));
    }
    // Small batches, so the two replicas' claims interleave.
    const one = deliverer([a], { owner: 'replica-a', batchSize: 2 });
    await until('replica a to be blocked on its first post', () => a.attempts.length >= 1);
    const two = deliverer([b], { owner: 'replica-b', batchSize: 2 });
    await Promise.all([one.deliverNow(), two.deliverNow()]);
    const [n1, n2] = [a.posts.length, b.posts.length];
    assert.equal(n1 + n2, 30);
    assert.ok(n1 > 0 && n2 > 0, `both replicas took part (${n1} + ${n2})`);
    const times = [...a.posts, ...b.posts].map(
      (p) => `${p.channel} ${p.reply.fields?.find((f) => f.name === 'Time')?.value}`,
    );
    assert.equal(new Set(times).size, 30, 'no alert posted twice');
    assert.equal(await Alert.countDocuments({ status: 'sent' }), 30);
  });

  it('waits the Retry-After of a 429 in that channel only, and does not count it as an attempt', async () => {
    await pendingAlert('slack:T1:C1', 0);
    await pendingAlert('slack:T1:C2', 1);
    await pendingAlert('console:local', 2);
    const slack = new RecordingPlatform('slack').next(() => {
      throw new RateLimitedError(400);
    });
    const consoleOut = new RecordingPlatform('console');
    const d = deliverer([slack, consoleOut], { maxAttempts: 1 });
    await d.deliverNow();
    assert.deepEqual(
      slack.posts.map((p) => p.channel),
      ['slack:T1:C2'],
      'the other Slack channel is not held back',
    );
    assert.equal(consoleOut.posts.length, 1, 'other platforms are not held back');
    await until('the limited channel to be posted', () => slack.posts.length === 2);
    const waited = slack.attempts.at(-1)!.at - slack.attempts[0]!.at;
    assert.ok(waited >= 395, `waited ${waited.toFixed(0)} ms, Retry-After was 400 ms`);
    assert.ok(
      waited < 400 + 1_500,
      `waited ${waited.toFixed(0)} ms; the poll interval is a minute, so a wake-up at Retry-After did it`,
    );
    // With one attempt allowed, a 429 counted as an attempt would have failed it for good.
    const retried = await until('the limited alert to be settled', async () => {
      const doc = await Alert.findOne({ channel: 'slack:T1:C1' }).lean();
      return doc?.status === 'pending' ? undefined : doc;
    });
    assert.equal(retried!.status, 'sent');
    assert.equal(retried!.attempts, 1);
  });

  it('holds back the whole platform when the limit is global', async () => {
    await pendingAlert('slack:T1:C1', 0);
    await pendingAlert('slack:T1:C2', 1);
    await pendingAlert('slack:T1:C2', 2);
    const slack = new RecordingPlatform('slack').next(() => {
      throw new RateLimitedError(300, 'global', 'platform');
    });
    const d = deliverer([slack], { backoffMs: 10 });
    await d.deliverNow();
    // The two channels' first posts started side by side; nothing starts after the 429 until it ends.
    assert.equal(slack.attempts.length, 2, 'the second alert of the other channel waits too');
    await until('every Slack alert', () => slack.posts.length === 3);
    for (const later of slack.attempts.slice(2))
      assert.ok(later.at - slack.attempts[0]!.at >= 295, 'posted after the Retry-After');
  });

  it('makes other replicas wait out a 429 too, through the queued alerts of that channel', async () => {
    await pendingAlert('slack:T1:C1', 0);
    await pendingAlert('slack:T1:C1', 1);
    await pendingAlert('slack:T1:C2', 2);
    const first = new RecordingPlatform('slack').next(() => {
      throw new RateLimitedError(60_000);
    });
    const t = Date.now();
    const a = deliverer([first], { owner: 'replica-a', now: () => t });
    await a.deliverNow();
    await a.stop();
    assert.deepEqual(
      first.posts.map((p) => p.channel),
      ['slack:T1:C2'],
    );
    const second = new RecordingPlatform('slack');
    const b = deliverer([second], { owner: 'replica-b', now: () => t + 59_000 });
    await b.deliverNow();
    assert.equal(second.attempts.length, 0, 'the other replica does not post before Retry-After');
    await b.stop();
    const c = deliverer([second], { owner: 'replica-c', now: () => t + 60_000 });
    await c.deliverNow();
    assert.equal(second.posts.length, 2);
    assert.equal(await Alert.countDocuments({ status: 'sent' }), 3);
  });

  it('marks an alert failed after the last attempt and tells the channel once it is reachable', async () => {
    const failedBefore = await metricValue('failed', 'slack');
    await pendingAlert('slack:T1:C1', 0);
    const slack = new RecordingPlatform('slack');
    for (let i = 0; i < 3; i++)
      slack.next(() => {
        throw new Error('socket hang up');
      });
    const d = deliverer([slack], { maxAttempts: 3, backoffMs: 20 });
    await d.deliverNow();
    const failed = await until(
      'the alert to fail',
      async () => (await Alert.findOne({ status: 'failed' }).lean()) ?? undefined,
    );
    assert.equal(failed.attempts, 3);
    assert.equal(failed.lastError, 'socket hang up');
    assert.ok(slack.attempts[2]!.at - slack.attempts[1]!.at >= 35, 'the second wait is longer than the first');
    // The channel's count is written right after the alert's status.
    const channel = await until('the failure counted on its channel', async () => {
      const doc = await Channel.findById('slack:T1:C1').lean();
      return doc && (doc.undelivered ?? 0) > 0 ? doc : undefined;
    });
    assert.equal(channel.undelivered, 1);
    assert.equal((await metricValue('failed', 'slack')) - failedBefore, 1);

    await pendingAlert('slack:T1:C1', 5);
    await d.deliverNow();
    assert.deepEqual(
      slack.posts.map((p) => p.reply.title),
      ['Spike: sim:aaa-usd volume per minute', 'Could not deliver 1 alert to this channel'],
    );
    assert.equal((await Channel.findById('slack:T1:C1').lean())!.undelivered, 0);
    await pendingAlert('slack:T1:C1', 10);
    await d.deliverNow();
    assert.equal(slack.posts.length, 3, 'the warning is posted once');
  });

  it('disables the subscriptions of a channel that is gone and drops its pending alerts', async () => {
    await pendingAlert('discord:G1:GONE', 0);
    await pendingAlert('discord:G1:GONE', 1);
    await pendingAlert('discord:G1:OK', 2);
    const discord = new RecordingPlatform('discord').next(() => {
      throw new ChannelGoneError('Unknown Channel');
    });
    const d = deliverer([discord]);
    await d.deliverNow();
    assert.equal(await Alert.countDocuments({ channel: 'discord:G1:GONE', status: 'failed' }), 2);
    assert.equal((await Alert.findOne({ channel: 'discord:G1:OK' }).lean())!.status, 'sent');
    const gone = await Subscription.findOne({ channel: 'discord:G1:GONE' }).lean();
    assert.equal(gone!.disabled, true);
    assert.match(gone!.disabledReason ?? '', /Unknown Channel/);
    assert.equal((await Subscription.findOne({ channel: 'discord:G1:OK' }).lean())!.disabled, false);
    assert.equal(discord.attempts.length, 2);
  });

  it('a replica whose lease ran out cannot overwrite "sent" with "failed"', async () => {
    const alert = await pendingAlert('slack:T1:C1', 0);
    let fail!: () => void;
    const hung = new Promise<void>((_, reject) => (fail = () => reject(new Error('socket hang up'))));
    const slow = new RecordingPlatform('slack').next(() => hung);
    const t = Date.now();
    const late = deliverer([slow], { owner: 'replica-late', leaseMs: 1_000, maxAttempts: 1, now: () => t });
    const lateRound = late.deliverNow();
    await until('the slow post to start', () => slow.attempts.length === 1);
    // The lease has run out: another replica takes the alert over and posts it.
    const fast = new RecordingPlatform('slack');
    const other = deliverer([fast], { owner: 'replica-b', now: () => t + 2_000 });
    await other.deliverNow();
    assert.equal(fast.posts.length, 1);
    assert.equal((await Alert.findById(alert._id).lean())!.status, 'sent');
    // Now the late replica's post fails, on what it took to be its last attempt.
    fail();
    await lateRound;
    const stored = await Alert.findById(alert._id).lean();
    assert.equal(stored!.status, 'sent');
    assert.equal(stored!.messageRef, 'slack-1');
    assert.equal((await Channel.findById('slack:T1:C1').lean())?.undelivered ?? 0, 0);
  });

  it('moves its lease forward before a post that could outlive it, so no replica claims the lane meanwhile', async () => {
    await Channel.create({ _id: 'discord:G1:C1', digest: false });
    for (let m = 0; m < 3; m++) await pendingAlert('discord:G1:C1', m);
    const t = Date.now();
    let clock = t;
    const a = new RecordingPlatform('discord');
    a.maxPostMs = 400;
    const b = new RecordingPlatform('discord');
    // Each post takes 400 ms of this replica's clock, its stated longest. The third starts 800 ms
    // into a 1 s lease; while it is in flight, the lease it was claimed with has run out and the
    // other replica looks for work.
    a.next(() => void (clock += 400)).next(() => void (clock += 400));
    a.next(async () => {
      clock += 400;
      await deliverer([b], { owner: 'replica-b', now: () => t + 1_100 }).deliverNow();
    });
    const one = deliverer([a], { owner: 'replica-a', leaseMs: 1_000, now: () => clock });
    await one.deliverNow();
    assert.equal(a.posts.length, 3);
    assert.equal(b.attempts.length, 0, 'the other replica found every alert still held, or settled');
    assert.equal(await Alert.countDocuments({ status: 'sent' }), 3);
  });

  it('a lane whose lease ran out during a slow post posts nothing that another replica has claimed since', async () => {
    await Channel.create({ _id: 'discord:G1:C1', digest: false });
    await pendingAlert('discord:G1:C1', 0);
    await pendingAlert('discord:G1:C1', 1);
    const t = Date.now();
    let clock = t;
    const a = new RecordingPlatform('discord');
    a.maxPostMs = 400;
    const b = new RecordingPlatform('discord');
    // The first post hangs past the 1 s lease; the other replica claims both alerts and posts them;
    // then the hung post fails. The lane must not go on to post the second alert.
    a.next(async () => {
      clock = t + 1_200;
      await deliverer([b], { owner: 'replica-b', now: () => t + 1_200 }).deliverNow();
      throw new Error('socket hang up');
    });
    const one = deliverer([a], { owner: 'replica-a', leaseMs: 1_000, now: () => clock });
    await one.deliverNow();
    assert.equal(b.posts.length, 2);
    assert.equal(a.posts.length, 0, `replica a posted ${a.posts.length} alert(s) replica b had claimed`);
    assert.equal(a.attempts.length, 1);
    assert.equal(await Alert.countDocuments({ status: 'sent' }), 2);
  });

  it('drops a queued alert whose subscription was untracked, snoozed or switched off, or whose channel was muted', async () => {
    const untracked = await pendingAlert('slack:T1:UNTRACKED', 0);
    await Subscription.deleteOne({ _id: untracked.subscriptionId });
    const snoozed = await pendingAlert('slack:T1:SNOOZED', 0);
    await Subscription.updateOne({ _id: snoozed.subscriptionId }, { $set: { snoozedUntil: at(24 * 60 * 365) } });
    const off = await pendingAlert('slack:T1:OFF', 0);
    await Subscription.updateOne({ _id: off.subscriptionId }, { $set: { disabled: true } });
    await pendingAlert('slack:T1:MUTED', 0);
    await Channel.create({ _id: 'slack:T1:MUTED', mutedUntil: new Date(Date.now() + 3_600_000) });
    // A mute that has ended holds nothing back.
    await pendingAlert('slack:T1:WAS-MUTED', 0);
    await Channel.create({ _id: 'slack:T1:WAS-MUTED', mutedUntil: new Date(Date.now() - 1_000) });
    const slack = new RecordingPlatform('slack');
    const d = deliverer([slack]);
    await d.deliverNow();
    assert.deepEqual(
      slack.posts.map((p) => p.channel),
      ['slack:T1:WAS-MUTED'],
    );
    const skipped = await Alert.find({ status: 'skipped' }).sort({ channel: 1 }).lean();
    assert.deepEqual(
      skipped.map((a) => [a.channel, a.lastError]),
      [
        ['slack:T1:MUTED', 'channel muted after detection'],
        ['slack:T1:OFF', 'subscription switched off after detection'],
        ['slack:T1:SNOOZED', 'snoozed after detection'],
        ['slack:T1:UNTRACKED', 'untracked after detection'],
      ],
    );
  });

  it("keeps each channel's pace while small claims top up its lane, and posts in order", async () => {
    for (const channel of ['slack:T1:C1', 'slack:T1:C2']) {
      await Channel.create({ _id: channel, digest: false });
      for (let m = 0; m < 6; m++) await pendingAlert(channel, m);
    }
    const slack = new PacedPlatform(150);
    // Two alerts a claim: each lane is fed by several claims while it posts.
    const d = deliverer([slack], { batchSize: 2 });
    await d.deliverNow();
    assert.equal(slack.posts.length, 12);
    for (const channel of ['slack:T1:C1', 'slack:T1:C2']) {
      const attempts = slack.attempts.filter((a) => a.channel === channel);
      const times = attempts.map((a) => a.reply.fields?.find((f) => f.name === 'Time')?.value);
      assert.deepEqual(times, [...times].sort(), `${channel} in order`);
      assert.equal(new Set(times).size, 6, `${channel}: each alert once`);
      for (let i = 1; i < attempts.length; i++) {
        const gap = attempts[i]!.at - attempts[i - 1]!.at;
        assert.ok(gap >= 150, `${channel}: ${gap.toFixed(1)} ms between two posts, pace 150 ms`);
      }
    }
    assert.equal(await Alert.countDocuments({ status: 'sent' }), 12);
  });

  it('keeps the pace for the undelivered-alerts warning too', async () => {
    await Channel.create({ _id: 'slack:T1:C1', undelivered: 2 });
    await pendingAlert('slack:T1:C1', 0);
    const slack = new PacedPlatform(150);
    const d = deliverer([slack]);
    await d.deliverNow();
    assert.deepEqual(
      slack.posts.map((p) => p.reply.title),
      ['Spike: sim:aaa-usd volume per minute', 'Could not deliver 2 alerts to this channel'],
    );
    const gap = slack.attempts[1]!.at - slack.attempts[0]!.at;
    assert.ok(gap >= 150, `${gap.toFixed(1)} ms between the alert and the warning, pace 150 ms`);
  });

  it('a claim leaves out the channels it is told to skip, and the platforms it does not post to', async () => {
    await pendingAlert('slack:T1:BUSY', 0);
    await pendingAlert('slack:T1:FREE', 1);
    await pendingAlert('discord:G1:C1', 2);
    const claimed = await claimBatch({
      owner: 'replica-a',
      leaseMs: 60_000,
      now: Date.now(),
      limit: 10,
      platforms: ['slack'],
      skipChannels: ['slack:T1:BUSY'],
    });
    assert.deepEqual(
      claimed.map((a) => a.channel),
      ['slack:T1:FREE'],
    );
    const untouched = await Alert.find({ channel: { $ne: 'slack:T1:FREE' } }).lean();
    assert.deepEqual(
      untouched.map((a) => [a.channel, a.lockedBy, a.claim]),
      [
        ['slack:T1:BUSY', null, null],
        ['discord:G1:C1', null, null],
      ],
    );
  });

  it('leaves alerts for a platform this process does not run to a replica that does', async () => {
    await pendingAlert('discord:G1:C1', 0);
    const slack = new RecordingPlatform('slack');
    const d = deliverer([slack]);
    await d.deliverNow();
    assert.equal(slack.attempts.length, 0);
    const alert = await Alert.findOne().lean();
    assert.equal(alert!.status, 'pending');
    assert.equal(alert!.lockedBy, null);
  });
});

async function metricValue(stage: string, platform: string): Promise<number> {
  const metric = await registry.getSingleMetric('chatops_alerts_total')!.get();
  return metric.values.find((v) => v.labels.stage === stage && v.labels.platform === platform)?.value ?? 0;
}
