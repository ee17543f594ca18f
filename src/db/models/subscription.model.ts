import { Schema, model, type InferSchemaType } from 'mongoose';

/** The alert rule kinds: docs/alerts.md. */
export const RULE_KINDS = ['spike', 'level', 'move'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

/**
 * One alert rule of a channel: a spike of one metric of one market (the kind every document had
 * before kinds existed, hence the default), a price level, or a percent move over a window.
 */
const subscriptionSchema = new Schema(
  {
    /** Platform-qualified channel id: `slack:T123:C456`, `discord:G789:C012`, `console:local`. */
    channel: { type: String, required: true },
    market: { type: String, required: true },
    metric: { type: String, required: true, default: 'volume' },
    kind: { type: String, enum: RULE_KINDS, default: 'spike' },
    /**
     * What tells rules of one channel, market and metric apart: absent for the spike (one per
     * metric, as before kinds), `above:100000` for a level, `move:either:5:3600000` for a move.
     */
    rule: { type: String },
    factor: { type: Number, required: true, default: 3 },
    cooldownMs: { type: Number, required: true, default: 15 * 60_000 },
    /** level: above | below; move: up | down | either. */
    direction: { type: String },
    /** level: the price. */
    level: { type: Number },
    /** move: the threshold in percent. */
    percent: { type: Number },
    /** move: the window the move is measured over. */
    windowMs: { type: Number },
    /** level: null before any observation, true while waiting for a crossing, false after one (until re-armed). */
    armed: { type: Boolean, default: null },
    /** level: the observation that armed it; a crossing's alert key names it, so it is posted once. */
    armedAt: { type: Date, default: null },
    /** level: the last observation that changed the state; older state never overwrites newer. */
    stateAt: { type: Date, default: null },
    createdBy: { type: String },
    createdAt: { type: Date, default: () => new Date() },
    snoozedUntil: { type: Date, default: null },
    /** Who snoozed it (display name or platform user id). */
    snoozedBy: { type: String },
    lastAlertAt: { type: Date, default: null },
    /** Alerts held back by the cooldown since the last post, reported as "+N more" next time. */
    suppressed: { type: Number, default: 0 },
    disabled: { type: Boolean, default: false },
    disabledReason: { type: String },
    /** Alerts go to the direct-message channel of `createdBy` (`channel` is that DM channel). */
    direct: { type: Boolean },
    /** Where the subscription was made, when its alerts go elsewhere (a DM or a webhook). */
    requestedIn: { type: String },
  },
  { versionKey: false, collection: 'subscriptions' },
);
subscriptionSchema.index({ channel: 1, market: 1, metric: 1, rule: 1 }, { unique: true });
subscriptionSchema.index({ market: 1, metric: 1, disabled: 1 });
subscriptionSchema.index({ requestedIn: 1 });
subscriptionSchema.index({ createdBy: 1, direct: 1 });

/** Indexes an earlier schema declared and this one replaced (createIndexes never drops one by itself). */
export const REPLACED_SUBSCRIPTION_INDEXES = ['channel_1_market_1_metric_1'];

export type SubscriptionDoc = InferSchemaType<typeof subscriptionSchema>;
export const Subscription = model('Subscription', subscriptionSchema);
