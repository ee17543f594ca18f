/**
 * Detection: for every tracked (market, metric) pair, judge each new point for every rule of the
 * pair (a spike against the hour before it, a level against its state, a move against the price one
 * window ago), and write one outbox alert per verdict under a unique key. Delivery is someone else's
 * job (src/alerts/deliver.ts). `decidePoint` is the one place a verdict becomes an alert: the tick
 * pipeline calls it for every kind; `detectSpikes` below judges spike rules from stored samples
 * (tests and `npm run bench -- detect`).
 *
 * Cost is linear in tracked pairs: each run reads every subscription, one baseline document per
 * pair (the hour's values, packed) and only the samples newer than the pair's last run, and writes
 * one baseline document per pair. Every query here is either a scan of a small collection or a
 * time-range query; none uses `$in` over markets, which the embedded wire server evaluates in time
 * proportional to the list for every document it scans.
 *
 * Re-running a tick writes nothing: a pair whose baseline has already seen the tick is skipped, and
 * an alert's key is unique. A run that dies between writing alerts and saving baselines is repeated
 * by the next run; its alerts are then duplicates (dropped by the key) and a subscription's
 * `lastAlertAt` tells it those points were handled. The one thing such a repeat can do is count a
 * spike swallowed by the cooldown twice in the next "+N more".
 */
import type { Logger } from 'pino';
import mongoose from 'mongoose';
import {
  Alert,
  Channel,
  Market,
  RULE_KINDS,
  Sample,
  SpikeBaseline,
  Subscription,
  type RuleKind,
} from '../db/models/index.js';
import { insertManyKeyed } from '../db/errors.js';
import { log } from '../logger.js';
import { METRICS, type MetricName } from '../market/metrics.js';
import { judgeLevel, type LevelDirection } from './rules/level.js';
import { judgeMove, type MoveReason, type MoveRule } from './rules/move.js';
import { HourWindow, SPIKE_WINDOW_MS, judge, type NoSpikeReason } from './rules/spike.js';
import { rulesVersion, saveRuleStates, type RuleStateUpdate } from './subscriptions.js';

export interface DetectOptions {
  /** The collector tick just written (aligned, as in Sample.ts). */
  tick: Date;
  /** Only pairs whose market this source reports (Market.source); all pairs when absent. */
  source?: string;
  /** Points the baseline hour needs before any verdict (SPIKE_MIN_POINTS). */
  minPoints: number;
  /** Factor for a subscription that carries none (SPIKE_FACTOR). */
  defaultFactor?: number;
  windowMs?: number;
  /** Wall-clock time written on new alerts; defaults to the current time. */
  now?: Date;
  logger?: Logger;
}

export interface DetectResult {
  tick: string;
  pairs: number;
  /** Pairs seen for the first time, whose hour was read from the samples once. */
  bootstrapped: number;
  /** Pairs skipped because this tick was already processed for them. */
  alreadyDone: number;
  points: number;
  spikes: number;
  /** Levels reached by an armed rule, and moves past their threshold. */
  crossings: number;
  moves: number;
  alerts: number;
  /** Alerts the outbox already held (a repeated run). */
  duplicates: number;
  suppressed: number;
  snoozed: number;
  muted: number;
  skipped: Partial<Record<NoSpikeReason | MoveReason, number>>;
  alertsByPlatform: Record<string, number>;
  durationMs: number;
}

/** Below this many markets a range of samples is read market by market, above it in one query. */
const PER_MARKET_QUERY_LIMIT = 20;

export interface LevelState {
  direction: LevelDirection;
  level: number;
  armed: boolean | null;
  armedAt: number | null;
  stateAt: number | null;
  changed: boolean;
}

export interface SubState {
  id: mongoose.Types.ObjectId;
  channel: string;
  kind: RuleKind;
  level?: LevelState;
  move?: MoveRule;
  factor: number;
  cooldownMs: number;
  snoozedUntil: number | null;
  lastAlertAt: number | null;
  suppressed: number;
  changed: boolean;
}

export interface Pair {
  id: string;
  market: string;
  metric: MetricName;
  field: string;
  subs: SubState[];
  window: HourWindow;
  /** Samples after this ts (exclusive) are new; undefined for a pair seen for the first time. */
  after?: number;
}

type RawSample = { market: string; ts: Date } & Record<string, unknown>;
type BaselineRecord = { _id: string } & Record<string, unknown>;
const baselines = () => SpikeBaseline.collection as unknown as mongoose.mongo.Collection<BaselineRecord>;

export function pairId(market: string, metric: string): string {
  return `${market}|${metric}`;
}

/** A baseline's packed [ts, value] pairs. */
export function encodeWindow(window: HourWindow): Buffer {
  const flat: number[] = [];
  for (const [t, v] of window.points()) flat.push(t, v);
  return Buffer.from(new Float64Array(flat).buffer);
}

export function decodeWindow(stored: unknown, windowMs = SPIKE_WINDOW_MS): HourWindow {
  const bytes = bytesOf(stored);
  // Copied into a fresh buffer: a Float64Array needs an 8-byte aligned offset, a BSON slice may not have one.
  const flat = new Float64Array(new Uint8Array(bytes).buffer);
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
  return HourWindow.from(pairs, windowMs);
}

function bytesOf(stored: unknown): Uint8Array {
  if (stored instanceof Uint8Array) return stored;
  if (stored instanceof mongoose.mongo.Binary) return stored.buffer.subarray(0, stored.length());
  return new Uint8Array(0);
}

const platformOf = (channel: string): string => channel.split(':', 1)[0] ?? 'unknown';

/** The tracked (market, metric) pairs with their subscriptions, for one source's markets or all. */
export async function loadPairs(
  options: Pick<DetectOptions, 'source' | 'defaultFactor' | 'windowMs'> & {
    markets?: { has(market: string): boolean };
    /** Only rules of these kinds (default: every kind). */
    kinds?: readonly RuleKind[];
  },
  logger: Logger,
): Promise<{ pairs: Map<string, Pair>; tracked: Set<string> }> {
  const windowMs = options.windowMs ?? SPIKE_WINDOW_MS;
  const subs = await Subscription.collection
    .find(
      { disabled: { $ne: true } },
      {
        projection: {
          channel: 1,
          market: 1,
          metric: 1,
          kind: 1,
          direction: 1,
          level: 1,
          percent: 1,
          windowMs: 1,
          armed: 1,
          armedAt: 1,
          stateAt: 1,
          factor: 1,
          cooldownMs: 1,
          snoozedUntil: 1,
          lastAlertAt: 1,
          suppressed: 1,
        },
      },
    )
    .toArray();
  let ours: Set<string> | undefined;
  let catalogued: Set<string> | undefined;
  if (options.source) {
    const markets = await Market.collection.find({}, { projection: { _id: 1, source: 1 } }).toArray();
    ours = new Set(markets.filter((m) => m.source === options.source).map((m) => String(m._id)));
    catalogued = new Set(markets.map((m) => String(m._id)));
  }
  const tracked = new Set<string>();
  const pairs = new Map<string, Pair>();
  const unknownMetrics = new Set<string>();
  const malformed: string[] = [];
  for (const s of subs) {
    const market = String(s.market);
    const metric = String(s.metric);
    const id = pairId(market, metric);
    tracked.add(id);
    if (!(metric in METRICS)) {
      unknownMetrics.add(metric);
      continue;
    }
    const kind = kindOf(s.kind);
    if (options.kinds && !options.kinds.includes(kind)) continue;
    const params = ruleParams(kind, s);
    if (!params) {
      malformed.push(String(s._id));
      continue;
    }
    // A market the catalog does not know is judged by every source's run rather than by none.
    if (ours && catalogued?.has(market) && !ours.has(market)) continue;
    if (options.markets && !options.markets.has(market)) continue;
    let pair = pairs.get(id);
    if (!pair) {
      pair = {
        id,
        market,
        metric: metric as MetricName,
        field: METRICS[metric as MetricName].field,
        subs: [],
        window: new HourWindow(windowMs),
      };
      pairs.set(id, pair);
    }
    pair.subs.push({
      id: s._id,
      channel: String(s.channel),
      kind,
      ...params,
      factor: typeof s.factor === 'number' && s.factor > 0 ? s.factor : (options.defaultFactor ?? 3),
      cooldownMs: typeof s.cooldownMs === 'number' ? s.cooldownMs : 15 * 60_000,
      snoozedUntil: s.snoozedUntil instanceof Date ? s.snoozedUntil.getTime() : null,
      lastAlertAt: s.lastAlertAt instanceof Date ? s.lastAlertAt.getTime() : null,
      suppressed: typeof s.suppressed === 'number' ? s.suppressed : 0,
      changed: false,
    });
  }
  if (unknownMetrics.size)
    logger.warn({ metrics: [...unknownMetrics] }, 'subscriptions name metrics detection does not know; skipped');
  if (malformed.length)
    logger.warn({ subscriptions: malformed.slice(0, 20) }, 'level or move rules without valid parameters; skipped');

  return { pairs, tracked };
}

/** A document without a kind is a spike: every subscription was, before kinds existed. */
const kindOf = (kind: unknown): RuleKind =>
  typeof kind === 'string' && (RULE_KINDS as readonly string[]).includes(kind) ? (kind as RuleKind) : 'spike';

const msOrNull = (d: unknown) => (d instanceof Date ? d.getTime() : null);

/** A level's or a move's parameters from its document; undefined when they do not make a rule. */
function ruleParams(kind: RuleKind, s: Record<string, unknown>): Pick<SubState, 'level' | 'move'> | undefined {
  if (kind === 'spike') return {};
  if (kind === 'level') {
    const { direction, level } = s;
    if ((direction !== 'above' && direction !== 'below') || typeof level !== 'number' || !(level > 0)) return undefined;
    const armed = typeof s.armed === 'boolean' ? s.armed : null;
    return {
      level: { direction, level, armed, armedAt: msOrNull(s.armedAt), stateAt: msOrNull(s.stateAt), changed: false },
    };
  }
  const { direction, percent, windowMs } = s;
  if (direction !== 'up' && direction !== 'down' && direction !== 'either') return undefined;
  if (typeof percent !== 'number' || !(percent > 0) || typeof windowMs !== 'number' || !(windowMs > 0))
    return undefined;
  return { move: { direction, percent, windowMs } };
}

/**
 * The rules in memory between ticks, reloaded only when the rules' version (bumped by every write of
 * src/alerts/subscriptions.ts) moved: one lookup by `_id` per tick instead of reading every
 * subscription. Detection's own state changes are made to these objects and written through, so
 * the copy stays current; drop it (`clear`) whenever another process may have judged in between
 * (standby, takeover, a failed tick).
 */
export class RuleCache {
  private pairs: Map<string, Pair> | undefined;
  private version: number | undefined;
  /** Times the rules were read whole, for figures and tests. */
  loads = 0;

  constructor(private readonly options: { defaultFactor?: number }) {}

  async get(logger: Logger): Promise<Map<string, Pair>> {
    const version = await rulesVersion();
    if (this.pairs && version === this.version) return this.pairs;
    // Read after the version: a write in between moves it again, and the next tick reloads.
    const { pairs } = await loadPairs({ defaultFactor: this.options.defaultFactor }, logger);
    this.pairs = pairs;
    this.version = version;
    this.loads++;
    return pairs;
  }

  clear(): void {
    this.pairs = undefined;
    this.version = undefined;
  }
}

export interface DecideContext {
  minPoints: number;
  /** Wall-clock time written on new alerts. */
  now: Date;
  /** Channel -> muted until (epoch ms). */
  muted: ReadonlyMap<string, number>;
  logger: Logger;
  /** Re-arm margin of levels, as a fraction (ALERT_LEVEL_HYSTERESIS). */
  hysteresis?: number;
  /** A move's reference: the market's price for a point at `ts` one window earlier, or null (a gap). */
  referenceOf?: (market: string, ts: number, windowMs: number) => number | null;
}

type Outbox = Record<string, unknown>[];

const outboxFields = (ctx: DecideContext) => ({
  status: 'pending',
  attempts: 0,
  nextAttemptAt: ctx.now,
  lockedBy: null,
  lockedUntil: null,
  createdAt: ctx.now,
});

/** Whether a snooze or a mute holds back an alert for a point at `ts` (counted in the result). */
function heldBack(sub: SubState, ts: number, ctx: DecideContext, result: DetectResult): boolean {
  if (sub.snoozedUntil !== null && ts < sub.snoozedUntil) {
    result.snoozed++;
    return true;
  }
  const mutedUntil = ctx.muted.get(sub.channel);
  if (mutedUntil !== undefined && ts < mutedUntil) {
    result.muted++;
    return true;
  }
  return false;
}

/** Whether the cooldown since the last alert holds this one back ("+N more" on the next). */
function cooledDown(sub: SubState, ts: number, result: DetectResult): boolean {
  if (sub.lastAlertAt === null || ts - sub.lastAlertAt >= sub.cooldownMs) return false;
  sub.suppressed++;
  sub.changed = true;
  result.suppressed++;
  return true;
}

/**
 * Judges one new point of a pair for each of its rules and queues an outbox alert where one fires
 * and no snooze, mute or cooldown holds it back. The one place a verdict becomes an alert.
 */
export function decidePoint(
  pair: Pick<Pair, 'market' | 'metric' | 'subs'>,
  at: Date,
  value: number | null,
  window: { sum: number; count: number },
  ctx: DecideContext,
  result: DetectResult,
  alerts: Outbox,
): void {
  for (const sub of pair.subs) {
    if (sub.kind === 'level') decideLevel(pair, sub, at, value, ctx, result, alerts);
    else if (sub.kind === 'move') decideMove(pair, sub, at, value, ctx, result, alerts);
    else decideSpike(pair, sub, at, value, window, ctx, result, alerts);
  }
}

function decideSpike(
  pair: Pick<Pair, 'market' | 'metric'>,
  sub: SubState,
  at: Date,
  value: number | null,
  window: { sum: number; count: number },
  ctx: DecideContext,
  result: DetectResult,
  alerts: Outbox,
): void {
  const ts = at.getTime();
  const verdict = judge(value, window, { factor: sub.factor, minPoints: ctx.minPoints });
  if (!verdict.spike) {
    result.skipped[verdict.reason] = (result.skipped[verdict.reason] ?? 0) + 1;
    if (verdict.reason !== 'below-threshold') {
      ctx.logger.debug(
        { market: pair.market, metric: pair.metric, ts: at, reason: verdict.reason, points: verdict.points },
        'no verdict for point',
      );
    }
    return;
  }
  result.spikes++;
  // This point was already handled for this subscription by an earlier, interrupted run.
  if (sub.lastAlertAt !== null && ts <= sub.lastAlertAt) return;
  if (heldBack(sub, ts, ctx, result) || cooledDown(sub, ts, result)) return;
  alerts.push({
    key: `${sub.id.toHexString()}|${pair.market}|${pair.metric}|${at.toISOString()}`,
    subscriptionId: sub.id,
    channel: sub.channel,
    market: pair.market,
    metric: pair.metric,
    ts: at,
    value: verdict.value,
    baseline: verdict.baseline,
    ratio: verdict.ratio,
    factor: sub.factor,
    points: verdict.points,
    more: sub.suppressed,
    ...outboxFields(ctx),
  });
  sub.lastAlertAt = ts;
  sub.suppressed = 0;
  sub.changed = true;
}

/**
 * A level walks its state with every observation (also while snoozed or muted: a crossing then is
 * used up, not posted later). Its alert's key names the observation that armed it, so a replica
 * that judged from an older copy of the state produces the same key and the outbox keeps one.
 */
function decideLevel(
  pair: Pick<Pair, 'market' | 'metric'>,
  sub: SubState,
  at: Date,
  value: number | null,
  ctx: DecideContext,
  result: DetectResult,
  alerts: Outbox,
): void {
  const state = sub.level!;
  const ts = at.getTime();
  // Judged already by an earlier, interrupted run (its state was written).
  if (state.stateAt !== null && ts <= state.stateAt) return;
  const armedAt = state.armedAt;
  const verdict = judgeLevel(value, state.armed, {
    direction: state.direction,
    level: state.level,
    hysteresis: ctx.hysteresis ?? 0.005,
  });
  if (verdict.changed) {
    state.armed = verdict.armed;
    if (verdict.armed) state.armedAt = ts;
    state.stateAt = ts;
    state.changed = true;
    sub.changed = true;
  }
  if (!verdict.fire || verdict.value === null) return;
  result.crossings++;
  if (heldBack(sub, ts, ctx, result)) return;
  alerts.push({
    key: `${sub.id.toHexString()}|level|${new Date(armedAt ?? ts).toISOString()}`,
    kind: 'level',
    subscriptionId: sub.id,
    channel: sub.channel,
    market: pair.market,
    metric: pair.metric,
    ts: at,
    value: verdict.value,
    baseline: state.level,
    ratio: verdict.value / state.level,
    factor: 1,
    points: 1,
    direction: state.direction,
    threshold: state.level,
    more: 0,
    ...outboxFields(ctx),
  });
  sub.lastAlertAt = ts;
}

function decideMove(
  pair: Pick<Pair, 'market' | 'metric'>,
  sub: SubState,
  at: Date,
  value: number | null,
  ctx: DecideContext,
  result: DetectResult,
  alerts: Outbox,
): void {
  const rule = sub.move!;
  const ts = at.getTime();
  if (sub.lastAlertAt !== null && ts <= sub.lastAlertAt) return;
  const reference = value === null ? null : (ctx.referenceOf?.(pair.market, ts, rule.windowMs) ?? null);
  const verdict = judgeMove(value, reference, rule);
  if (!verdict.fire) {
    result.skipped[verdict.reason] = (result.skipped[verdict.reason] ?? 0) + 1;
    return;
  }
  result.moves++;
  if (heldBack(sub, ts, ctx, result) || cooledDown(sub, ts, result)) return;
  const sign = verdict.direction === 'up' ? 1 : -1;
  alerts.push({
    key: `${sub.id.toHexString()}|move|${at.toISOString()}`,
    kind: 'move',
    subscriptionId: sub.id,
    channel: sub.channel,
    market: pair.market,
    metric: pair.metric,
    ts: at,
    value: verdict.value,
    baseline: verdict.reference,
    ratio: verdict.value / verdict.reference,
    factor: 1 + (sign * rule.percent) / 100,
    points: 1,
    direction: verdict.direction,
    threshold: rule.percent,
    change: verdict.change,
    windowMs: rule.windowMs,
    more: sub.suppressed,
    ...outboxFields(ctx),
  });
  sub.lastAlertAt = ts;
  sub.suppressed = 0;
  sub.changed = true;
}

export function emptyDetectResult(tick: Date): DetectResult {
  return {
    tick: tick.toISOString(),
    pairs: 0,
    bootstrapped: 0,
    alreadyDone: 0,
    points: 0,
    spikes: 0,
    crossings: 0,
    moves: 0,
    alerts: 0,
    duplicates: 0,
    suppressed: 0,
    snoozed: 0,
    muted: 0,
    skipped: {},
    alertsByPlatform: {},
    durationMs: 0,
  };
}

export async function detectSpikes(options: DetectOptions): Promise<DetectResult> {
  const started = performance.now();
  const logger = options.logger ?? log('detect', { tick: options.tick.toISOString(), source: options.source });
  const T = options.tick.getTime();
  const windowMs = options.windowMs ?? SPIKE_WINDOW_MS;
  const now = options.now ?? new Date();
  const result = emptyDetectResult(options.tick);

  // 1. Tracked pairs and their spike rules (levels and moves are judged by the tick pipeline).
  const { pairs, tracked } = await loadPairs({ ...options, kinds: ['spike'] }, logger);
  result.pairs = pairs.size;

  // 2. Baselines: restore each pair's hour; drop those of pairs no longer tracked anywhere.
  const stale: string[] = [];
  for (const b of await baselines().find({}).toArray()) {
    const id = String(b._id);
    const pair = pairs.get(id);
    if (!pair) {
      if (!tracked.has(id)) stale.push(id);
      continue;
    }
    pair.after = b.lastTs instanceof Date ? b.lastTs.getTime() : undefined;
    if (pair.after !== undefined) pair.window = decodeWindow(b.points, windowMs);
  }

  // 3. New samples, grouped by where each pair's last run stopped (usually one group: the last tick).
  const groups = new Map<number | 'new', Pair[]>();
  for (const pair of pairs.values()) {
    if (pair.after !== undefined && pair.after >= T) {
      result.alreadyDone++;
      continue;
    }
    const key = pair.after ?? 'new';
    let group = groups.get(key);
    if (!group) {
      group = [];
      groups.set(key, group);
    }
    group.push(pair);
  }
  const fields = new Set<string>();
  for (const pair of pairs.values()) fields.add(pair.field);
  const projection: Record<string, 1> = { market: 1, ts: 1 };
  for (const f of fields) projection[f] = 1;

  const work: Array<{ pair: Pair; samples: RawSample[] }> = [];
  for (const [after, group] of groups) {
    // The oldest point worth reading is the start of the tick's hour: anything older leaves the window unjudged.
    const from = after === 'new' || after < T - windowMs ? { $gte: new Date(T - windowMs) } : { $gt: new Date(after) };
    const range = { ...from, $lte: options.tick };
    const markets = [...new Set(group.map((p) => p.market))];
    const byMarket = new Map<string, RawSample[]>();
    const found: RawSample[] = [];
    if (markets.length <= PER_MARKET_QUERY_LIMIT) {
      for (const market of markets)
        found.push(
          ...((await Sample.collection
            .find({ market, ts: range }, { projection })
            .toArray()) as unknown as RawSample[]),
        );
    } else {
      const wanted = new Set(markets);
      for (const s of (await Sample.collection
        .find({ ts: range }, { projection })
        .toArray()) as unknown as RawSample[]) {
        if (wanted.has(s.market)) found.push(s);
      }
    }
    for (const s of found) {
      let list = byMarket.get(s.market);
      if (!list) {
        list = [];
        byMarket.set(s.market, list);
      }
      list.push(s);
    }
    for (const list of byMarket.values()) list.sort((a, b) => a.ts.getTime() - b.ts.getTime());
    for (const pair of group) work.push({ pair, samples: byMarket.get(pair.market) ?? [] });
  }

  // 4. Judge.
  const muted = await mutedChannels(new Date(T - windowMs));
  const alerts: Record<string, unknown>[] = [];
  const baselineWrites: mongoose.mongo.AnyBulkWriteOperation<BaselineRecord>[] = [];
  for (const { pair, samples } of work) {
    const isNew = pair.after === undefined;
    if (isNew) result.bootstrapped++;
    for (const sample of samples) {
      const ts = sample.ts.getTime();
      const raw = sample[pair.field];
      const value = typeof raw === 'number' && Number.isFinite(raw) ? raw : null;
      const last = pair.window.lastTs;
      if (last !== undefined && ts <= last) continue;
      // A pair seen for the first time takes the hour before the tick as its baseline without
      // judging it: those points predate the subscription.
      if (isNew && ts < T) {
        if (value !== null) pair.window.add(ts, value);
        continue;
      }
      result.points++;
      pair.window.evictBefore(ts);
      decidePoint(
        pair,
        sample.ts,
        value,
        pair.window,
        { minPoints: options.minPoints, now, muted, logger },
        result,
        alerts,
      );
      if (value !== null) pair.window.add(ts, value);
    }
    baselineWrites.push({
      replaceOne: {
        filter: { _id: pair.id },
        replacement: {
          market: pair.market,
          metric: pair.metric,
          lastTs: options.tick,
          points: encodeWindow(pair.window),
          sum: pair.window.sum,
          count: pair.window.count,
          updatedAt: now,
        },
        upsert: true,
      },
    });
  }

  // 5. Write: alerts first, then cooldown state, then baselines, so an interrupted run is redone.
  await writeDecisions(alerts, pairs.values(), result);
  if (baselineWrites.length) await baselines().bulkWrite(baselineWrites, { ordered: false });
  if (stale.length)
    await baselines().bulkWrite(
      stale.map((id) => ({ deleteOne: { filter: { _id: id } } })),
      { ordered: false },
    );

  result.durationMs = Math.round(performance.now() - started);
  const { skipped } = result;
  const level = result.alerts > 0 || skipped['zero-baseline'] || skipped['too-few-points'] ? 'info' : 'debug';
  const { tick: _tick, ...figures } = result;
  logger[level](figures, result.alerts ? `${result.alerts} spike alert(s) queued` : 'no spike alerts this tick');
  return result;
}

/** Writes the queued alerts (the outbox drops keys it holds), then the rules' cooldown and level state. */
export async function writeDecisions(
  alerts: Record<string, unknown>[],
  pairs: Iterable<Pick<Pair, 'subs'>>,
  result: DetectResult,
): Promise<void> {
  if (alerts.length) {
    const inserted = await insertAlerts(alerts);
    result.alerts = inserted.length;
    result.duplicates = alerts.length - inserted.length;
    for (const a of inserted) {
      const platform = platformOf(String(a.channel));
      result.alertsByPlatform[platform] = (result.alertsByPlatform[platform] ?? 0) + 1;
    }
  }
  const list = [...pairs];
  const updates: RuleStateUpdate[] = [];
  for (const pair of list) {
    for (const sub of pair.subs) {
      if (!sub.changed) continue;
      const level = sub.level?.changed && sub.level.stateAt !== null ? sub.level : undefined;
      updates.push({
        id: sub.id,
        lastAlertAt: sub.lastAlertAt,
        suppressed: sub.suppressed,
        ...(level ? { level: { armed: level.armed, armedAt: level.armedAt, stateAt: level.stateAt! } } : {}),
      });
    }
  }
  await saveRuleStates(updates);
  // Written: rules kept in memory between ticks (RuleCache) start the next run clean.
  for (const pair of list) {
    for (const sub of pair.subs) {
      sub.changed = false;
      if (sub.level) sub.level.changed = false;
    }
  }
}

/** Channels muted at some point after `since`: few documents, read whole. */
export async function mutedChannels(since: Date): Promise<Map<string, number>> {
  const docs = await Channel.collection
    .find({ mutedUntil: { $gt: since } }, { projection: { mutedUntil: 1 } })
    .toArray();
  return new Map(docs.map((d) => [String(d._id), (d.mutedUntil as Date).getTime()]));
}

/** Inserts alerts, dropping those whose key the outbox already holds; returns the ones inserted. */
async function insertAlerts(alerts: Record<string, unknown>[]): Promise<Record<string, unknown>[]> {
  const { duplicateIndexes } = await insertManyKeyed(Alert.collection, alerts);
  if (duplicateIndexes.length === 0) return alerts;
  const failed = new Set(duplicateIndexes);
  return alerts.filter((_, i) => !failed.has(i));
}
