import { Schema, model, type InferSchemaType } from 'mongoose';
import { RULE_KINDS } from './subscription.model.js';

/** `skipped`: dropped when claimed, because its subscription or channel changed after detection. */
export const ALERT_STATUSES = ['pending', 'sent', 'failed', 'skipped'] as const;

/**
 * The alert outbox. Detection inserts one document per (subscription, market, metric, tick) under a
 * unique `key` (a level's names the observation that armed it instead of the tick: one alert per
 * crossing), so a re-run of detection cannot create a second one; the deliverer claims a pending
 * alert with a lease (`lockedBy`/`lockedUntil`/`claim`), posts it and marks it sent with the message ref
 * (src/alerts/outbox.ts).
 */
const alertSchema = new Schema(
  {
    key: { type: String, required: true },
    subscriptionId: { type: Schema.Types.ObjectId, required: true },
    channel: { type: String, required: true },
    market: { type: String, required: true },
    metric: { type: String, required: true },
    ts: { type: Date, required: true },
    kind: { type: String, enum: RULE_KINDS, default: 'spike' },
    value: { type: Number, required: true },
    /**
     * What the value is compared with, so that every kind reads as "ratio crossed factor": a
     * spike's 1h average; a level's price (factor 1); a move's reference price (factor 1 +/- percent).
     */
    baseline: { type: Number, required: true },
    ratio: { type: Number, required: true },
    factor: { type: Number, required: true },
    /** Points in the baseline hour (spike); 1 for a level or a move. */
    points: { type: Number, required: true },
    /** level: above | below; move: up | down (the way it moved). */
    direction: { type: String },
    /** level: the price; move: the rule's percent. */
    threshold: { type: Number },
    /** move: the signed change in percent, and the window it was measured over. */
    change: { type: Number },
    windowMs: { type: Number },
    /** Alerts swallowed by the cooldown before this one ("+N more"). */
    more: { type: Number, default: 0 },
    status: { type: String, enum: ALERT_STATUSES, default: 'pending' },
    attempts: { type: Number, default: 0 },
    nextAttemptAt: { type: Date, default: () => new Date() },
    lockedBy: { type: String, default: null },
    lockedUntil: { type: Date, default: null },
    /** The claim (one deliverer's batch) holding the lease; every settle matches it. */
    claim: { type: String, default: null },
    messageRef: { type: String },
    lastError: { type: String },
    createdAt: { type: Date, default: () => new Date() },
    sentAt: { type: Date },
  },
  { versionKey: false, collection: 'alerts' },
);
alertSchema.index({ key: 1 }, { unique: true });
alertSchema.index({ status: 1, nextAttemptAt: 1 });
alertSchema.index({ channel: 1, createdAt: -1 });
// Every settle matches { _id, claim }. MongoDB serves that from the _id index alone, but the
// embedded mongo-java-server uses an index only when its keys are exactly the query's keys, and
// scans every alert per settle without this one (unique because _id is).
alertSchema.index({ _id: 1, claim: 1 }, { unique: true });

export type AlertDoc = InferSchemaType<typeof alertSchema>;
export const Alert = model('Alert', alertSchema);
