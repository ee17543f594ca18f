/**
 * The one module that writes subscriptions (alert rules of every kind) and channel settings: track,
 * alert, untrack, snooze, mute, digest on/off, detection's rule state, and the delivery side's "this
 * channel is gone". Commands and buttons call these and only format the answer, so every change of
 * alerting state goes through one place.
 *
 * Detection keeps the rules in memory and reloads them when the `subscriptions` counter moved: every
 * write here that detection must see bumps it (markRulesChanged). Detection's own state writes
 * (saveRuleStates) do not: the pipeline that wrote them holds them already.
 *
 * Reads that the commands need to explain a refusal ("Tracked here: ...") live here too, next to
 * the writes they explain.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import mongoose from 'mongoose';
import type { Config } from '../config.js';
import { collections } from '../db/collections.js';
import { Channel, Subscription, type RuleKind } from '../db/models/index.js';
import { UserError } from '../errors.js';
import { findMarket, resolveMarket } from '../market/catalog.js';
import { normaliseInput } from '../market/market-id.js';
import type { MetricName } from '../market/metrics.js';
import type { LevelDirection } from './rules/level.js';
import type { MoveDirection } from './rules/move.js';

const OBJECT_ID = /^[0-9a-f]{24}$/i;
const RULES_COUNTER = 'subscriptions';

/** Tells every detection cache that the rules changed; called by each write below that detection reads. */
export async function markRulesChanged(): Promise<void> {
  await collections
    .counters()
    .updateOne({ _id: RULES_COUNTER }, { $inc: { value: 1 }, $set: { updatedAt: new Date() } }, { upsert: true });
}

/** The rules' version: one lookup by `_id`, cheap enough for every tick. */
export async function rulesVersion(): Promise<number> {
  const doc = await collections.counters().findOne({ _id: RULES_COUNTER }, { projection: { value: 1 } });
  return typeof doc?.value === 'number' ? doc.value : 0;
}

/** The spike is the kind without a rule key: documents from before kinds match it too. */
const SPIKE_FILTER = { rule: null };

/** Where a /track or /untrack points: the channel itself, the caller's DMs, or a webhook. */
export interface Target {
  /** The channel alerts go to ('' for "my DMs" when untracking: found by user instead). */
  channel: string;
  direct?: boolean;
  directFor?: string;
  requestedIn?: string;
  /** "in this channel", "in your direct messages", "to webhook ops". */
  where: string;
}

/**
 * Reads a `to` option. `dm` opens the caller's direct-message channel through the platform (which
 * says why when the user cannot be messaged), unless only finding existing subscriptions.
 */
export async function resolveTarget(
  ctx: { channel: string; user: string; config: Config; openDirect?: () => Promise<string> },
  to: string | undefined,
  { open = true } = {},
): Promise<Target> {
  if (!to || to === 'here') return { channel: ctx.channel, where: 'in this channel' };
  if (to === 'dm') {
    const where = 'in your direct messages';
    if (!open) return { channel: '', directFor: ctx.user, where };
    if (!ctx.openDirect) throw new UserError('Direct messages need Slack or Discord; here alerts go to this channel.');
    return { channel: await ctx.openDirect(), direct: true, requestedIn: ctx.channel, where };
  }
  const name = to.slice('webhook:'.length);
  if (!Object.hasOwn(ctx.config.webhooks, name)) {
    const known = Object.keys(ctx.config.webhooks);
    throw new UserError(
      `No webhook named "${name}" is configured.`,
      known.length
        ? `Configured: ${known.map((k) => `webhook:${k}`).join(', ')}.`
        : 'An operator adds one with WEBHOOKS and WEBHOOK_SECRETS.',
      404,
    );
  }
  return { channel: to, requestedIn: ctx.channel, where: `to webhook ${name}` };
}

/** The settings of a subscription as they were before a write (null when it is new). */
export interface SubscriptionSettings {
  factor: number;
  cooldownMs: number;
  disabled: boolean;
  snoozedUntil: Date | null;
}

export interface TrackInput {
  /** Where alerts go: the channel itself, a user's direct-message channel, or `webhook:<name>`. */
  channel: string;
  /** The user who asked (recorded on a new subscription). */
  user: string;
  /** The channel the request came from, when alerts go elsewhere (a DM or a webhook). */
  requestedIn?: string;
  /** Direct messages to `user`: untrack and /tracking find them by user. */
  direct?: boolean;
  market: string;
  metric?: MetricName;
  factor?: number;
  cooldownMs?: number;
}

export interface TrackResult {
  market: string;
  metric: MetricName;
  factor: number;
  cooldownMs: number;
  /** The settings before this call; null for a new subscription. */
  before: SubscriptionSettings | null;
}

/**
 * Subscribes (or updates) one market's metric in a channel. Settings not given stay as they were; a
 * disabled or snoozed subscription is switched back on.
 */
export async function trackSubscription(
  input: TrackInput,
  defaults: { factor: number; cooldownMs: number; maxPerChannel?: number },
): Promise<TrackResult> {
  const market = await resolveMarket(input.market);
  const metric = input.metric ?? 'volume';
  const filter = { channel: input.channel, market: market.id, metric, ...SPIKE_FILTER };
  const given: Record<string, unknown> = { disabled: false, snoozedUntil: null };
  if (input.factor !== undefined) given.factor = input.factor;
  if (input.cooldownMs !== undefined) given.cooldownMs = input.cooldownMs;
  const onInsert: Record<string, unknown> = { createdBy: input.user, createdAt: new Date() };
  if (input.factor === undefined) onInsert.factor = defaults.factor;
  if (input.cooldownMs === undefined) onInsert.cooldownMs = defaults.cooldownMs;
  if (input.direct) onInsert.direct = true;
  if (input.requestedIn) onInsert.requestedIn = input.requestedIn;
  // The pre-update document tells a new subscription from an update, in one round trip.
  const { before } = await upsertWithinCap(filter, defaults.maxPerChannel, (_id) =>
    Subscription.findOneAndUpdate(
      filter,
      { $set: given, $setOnInsert: { _id, ...onInsert }, $unset: { disabledReason: 1 } },
      { upsert: true, returnDocument: 'before', lean: true },
    ),
  );
  await markRulesChanged();
  return {
    market: market.id,
    metric,
    factor: input.factor ?? before?.factor ?? defaults.factor,
    cooldownMs: input.cooldownMs ?? before?.cooldownMs ?? defaults.cooldownMs,
    before: priorSettings(before),
  };
}

const capReached = (held: number, cap: number) =>
  new UserError(
    `This channel already tracks ${held} markets and metrics, the most it may (${cap}).`,
    '/tracking lists them; /untrack one to make room.',
    403,
  );

/** Tries at a new rule while parallel newcomers race for a channel's last places. */
const CAP_ATTEMPTS = 4;

/**
 * Upserts one rule (`upsert` gets the _id a new one must take) and keeps its channel within `cap`.
 * A count then an insert are two steps that parallel commands interleave, so a new rule counts its
 * channel again once inserted and withdraws if that count passed the cap: every rule that stays saw
 * at most the cap after its own insert, so the channel never holds more. Newcomers that all withdrew
 * together try again after a random pause while places are left, so a burst does not leave them empty.
 */
async function upsertWithinCap<T>(
  filter: { channel: string } & Record<string, unknown>,
  cap: number | undefined,
  upsert: (id: mongoose.Types.ObjectId) => Promise<T | null>,
): Promise<{ before: T | null; id: mongoose.Types.ObjectId }> {
  const { channel } = filter;
  for (let attempt = 1; ; attempt++) {
    if (cap !== undefined && !(await Subscription.exists(filter))) {
      const held = await Subscription.countDocuments({ channel });
      if (held >= cap) throw capReached(held, cap);
    }
    const id = new mongoose.Types.ObjectId();
    const before = await upsert(id);
    if (before || cap === undefined || (await Subscription.countDocuments({ channel })) <= cap) return { before, id };
    await Subscription.deleteOne({ _id: id });
    if (attempt >= CAP_ATTEMPTS) throw capReached(cap, cap);
    await sleep(Math.random() * 20 * attempt);
  }
}

/** A price level or a percent move: what /alert sets. */
export type RuleParams =
  | { kind: 'level'; direction: LevelDirection; level: number }
  | { kind: 'move'; direction: MoveDirection; percent: number; windowMs: number };

/** Tells two rules of one channel and market apart (the unique index holds it). */
export function ruleKeyOf(rule: RuleParams): string {
  return rule.kind === 'level'
    ? `${rule.direction}:${rule.level}`
    : `move:${rule.direction}:${rule.percent}:${rule.windowMs}`;
}

export interface AlertRuleInput {
  channel: string;
  user: string;
  requestedIn?: string;
  direct?: boolean;
  /** A catalog market id. */
  market: string;
  rule: RuleParams;
  /** Cooldown of a move (default: its window). */
  cooldownMs?: number;
  /** A new level's state from the last known price: armed when below an `above` level, and since when. */
  initial?: { armed: boolean; at: Date };
}

export interface AlertRuleResult {
  id: string;
  /** The settings before this call; null for a new rule. */
  before: SubscriptionSettings | null;
}

/**
 * Adds a price level or a percent move on a market's price (or switches an identical one back on:
 * a disabled or snoozed rule is enabled again, a level keeps its state).
 */
export async function addAlertRule(
  input: AlertRuleInput,
  defaults: { maxPerChannel?: number },
): Promise<AlertRuleResult> {
  const filter = { channel: input.channel, market: input.market, metric: 'price', rule: ruleKeyOf(input.rule) };
  const { kind, ...params } = input.rule;
  const onInsert: Record<string, unknown> = { kind, ...params, createdBy: input.user, createdAt: new Date() };
  if (kind === 'move') onInsert.cooldownMs = input.cooldownMs ?? input.rule.windowMs;
  if (kind === 'level' && input.initial) {
    onInsert.armed = input.initial.armed;
    onInsert.armedAt = input.initial.armed ? input.initial.at : null;
    onInsert.stateAt = input.initial.at;
  }
  if (input.direct) onInsert.direct = true;
  if (input.requestedIn) onInsert.requestedIn = input.requestedIn;
  const { before, id } = await upsertWithinCap(filter, defaults.maxPerChannel, (_id) =>
    Subscription.findOneAndUpdate(
      filter,
      {
        $set: { disabled: false, snoozedUntil: null },
        $setOnInsert: { _id, ...onInsert },
        $unset: { disabledReason: 1 },
      },
      { upsert: true, returnDocument: 'before', lean: true },
    ),
  );
  await markRulesChanged();
  return {
    id: String(before?._id ?? id),
    before: priorSettings(before),
  };
}

/** What a rule was before a track or alert command changed it, for the reply's "was ..." part. */
function priorSettings(
  before: { factor: number; cooldownMs: number; disabled?: boolean | null; snoozedUntil?: Date | null } | null,
): SubscriptionSettings | null {
  return before
    ? {
        factor: before.factor,
        cooldownMs: before.cooldownMs,
        disabled: Boolean(before.disabled),
        snoozedUntil: before.snoozedUntil ?? null,
      }
    : null;
}

export interface UntrackTarget {
  /** The channel the subscriptions deliver to. */
  channel?: string;
  /** Instead of a channel: this user's direct-message subscriptions. */
  directFor?: string;
}

const targetFilter = (target: UntrackTarget): Record<string, unknown> =>
  target.directFor ? { createdBy: target.directFor, direct: true } : { channel: target.channel };

/**
 * Removes a market's subscriptions (one metric, or all) from a target. Markets that left the
 * catalog are found by the id /tracking shows. Throws a UserError listing what is tracked when
 * nothing matched.
 */
export async function untrackSubscriptions(
  target: UntrackTarget,
  marketText: string,
  metric?: string,
  kind?: RuleKind,
): Promise<{ market: string; removed: number }> {
  const found = await findMarket(marketText);
  const market = found?.id ?? normaliseInput(marketText);
  const filter: Record<string, unknown> = { ...targetFilter(target), market };
  if (metric) filter.metric = metric;
  if (kind === 'spike') Object.assign(filter, SPIKE_FILTER);
  else if (kind) filter.kind = kind;
  const result = await Subscription.deleteMany(filter);
  if (result.deletedCount > 0) await markRulesChanged();
  if (result.deletedCount === 0) {
    const tracked = await Subscription.find(targetFilter(target), { market: 1, metric: 1, rule: 1 }).lean();
    const list = tracked.map((s) => `${s.market} ${s.rule ? s.rule.replace(/:/g, ' ') : s.metric}`);
    const [where, here] = target.directFor
      ? ['Your direct messages do', 'in your direct messages']
      : ['This channel does', 'here'];
    throw new UserError(
      `${where} not track ${market}${metric ? ` ${metric}` : ''}${kind ? ` (${kind})` : ''}.`,
      list.length
        ? `Tracked ${here}: ${list.slice(0, 10).join(', ')}${list.length > 10 ? ', …' : ''}`
        : `Nothing is tracked ${here}; /track <market> starts.`,
      404,
    );
  }
  return { market, removed: result.deletedCount };
}

/** The subscription a button names, if it belongs to the channel the click came from. */
export async function subscriptionInChannel(channel: string, value: string) {
  const id = value.trim();
  if (!OBJECT_ID.test(id))
    throw new UserError('That button does not name a subscription.', 'Use /tracking to see what this channel tracks.');
  const sub = await Subscription.findOne({ _id: id, channel }).lean();
  if (!sub) {
    throw new UserError(
      'This alert’s subscription no longer exists in this channel (it may have been untracked).',
      'Use /tracking to see what this channel tracks.',
      404,
    );
  }
  return sub;
}

/** Quiets one subscription until `until`; detection skips its spikes and the deliverer drops queued ones. */
export async function snoozeSubscription(channel: string, value: string, until: Date, by?: string) {
  const sub = await subscriptionInChannel(channel, value);
  await Subscription.updateOne({ _id: sub._id }, { $set: { snoozedUntil: until, ...(by ? { snoozedBy: by } : {}) } });
  await markRulesChanged();
  return sub;
}

/** Removes the subscription a button names. */
export async function untrackSubscriptionById(channel: string, value: string) {
  const sub = await subscriptionInChannel(channel, value);
  await Subscription.deleteOne({ _id: sub._id, channel });
  await markRulesChanged();
  return sub;
}

/** A channel's subscriptions, and those made from it that deliver elsewhere (DMs, webhooks). */
export async function listSubscriptions(channel: string, limit: number) {
  return Subscription.find({ $or: [{ channel }, { requestedIn: channel }] })
    .sort({ market: 1, metric: 1 })
    .limit(limit)
    .lean();
}

export interface ChannelSettings {
  mutedUntil: Date | null;
  /** Who last muted or unmuted the channel, when known. */
  mutedBy: string | null;
  /** False when the channel asked for one post per alert. */
  digest: boolean;
}

export async function channelSettings(channel: string): Promise<ChannelSettings> {
  const doc = await Channel.findById(channel).lean();
  return { mutedUntil: doc?.mutedUntil ?? null, mutedBy: doc?.mutedBy ?? null, digest: doc?.digest !== false };
}

/** Mutes a channel until `until`, or unmutes it with null; `by` says who. Returns the settings before. */
export async function setChannelMute(
  channel: string,
  until: Date | null,
  now: Date,
  by?: string,
): Promise<ChannelSettings> {
  const before = await Channel.findOneAndUpdate(
    { _id: channel },
    { $set: { mutedUntil: until, updatedAt: now, ...(by ? { mutedBy: by } : {}) } },
    { upsert: true, returnDocument: 'before', lean: true },
  );
  return { mutedUntil: before?.mutedUntil ?? null, mutedBy: before?.mutedBy ?? null, digest: before?.digest !== false };
}

/** Digests on (several alerts of one tick in one post) or off (one post per alert); returns the settings before. */
export async function setChannelDigest(channel: string, digest: boolean, now: Date): Promise<ChannelSettings> {
  const before = await Channel.findOneAndUpdate(
    { _id: channel },
    { $set: { digest, updatedAt: now }, $setOnInsert: { mutedUntil: null } },
    { upsert: true, returnDocument: 'before', lean: true },
  );
  return { mutedUntil: before?.mutedUntil ?? null, mutedBy: before?.mutedBy ?? null, digest: before?.digest !== false };
}

/**
 * A channel that is gone (deleted, bot removed, user unreachable): its subscriptions are switched
 * off with the reason, since retrying would fail forever. /track switches one back on.
 */
export async function disableChannel(channel: string, reason: string): Promise<number> {
  const subs = await Subscription.updateMany(
    { channel, disabled: { $ne: true } },
    { $set: { disabled: true, disabledReason: reason } },
  );
  if (subs.modifiedCount > 0) await markRulesChanged();
  return subs.modifiedCount;
}

/** What detection changed on one rule in a run: its cooldown state, and a level's state. */
export interface RuleStateUpdate {
  id: mongoose.Types.ObjectId;
  lastAlertAt: number | null;
  suppressed: number;
  /** A level's state, written only over an older one (stateAt), so a late writer cannot undo a newer change. */
  level?: { armed: boolean | null; armedAt: number | null; stateAt: number };
}

/**
 * Detection's writes, after the run's alerts are in the outbox: a run that dies between the two is
 * judged again from the old state, and its alerts' keys are already taken.
 */
export async function saveRuleStates(updates: readonly RuleStateUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  const date = (ms: number | null) => (ms === null ? null : new Date(ms));
  const ops: mongoose.mongo.AnyBulkWriteOperation[] = updates.map((u) => {
    const set: Record<string, unknown> = { lastAlertAt: date(u.lastAlertAt), suppressed: u.suppressed };
    const filter: Record<string, unknown> = { _id: u.id };
    if (u.level) {
      Object.assign(set, { armed: u.level.armed, armedAt: date(u.level.armedAt), stateAt: date(u.level.stateAt) });
      filter.$or = [{ stateAt: null }, { stateAt: { $lt: new Date(u.level.stateAt) } }];
    }
    return { updateOne: { filter, update: { $set: set } } };
  });
  await Subscription.collection.bulkWrite(ops, { ordered: false });
}
