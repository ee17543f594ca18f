import { Schema, model, type InferSchemaType } from 'mongoose';

/** A channel's request to hear about spikes of one metric of one market. */
const subscriptionSchema = new Schema(
  {
    /** Platform-qualified channel id: `slack:T123:C456`, `discord:G789:C012`, `console:local`. */
    channel: { type: String, required: true },
    market: { type: String, required: true },
    metric: { type: String, required: true, default: 'volume' },
    factor: { type: Number, required: true, default: 3 },
    cooldownMs: { type: Number, required: true, default: 15 * 60_000 },
    createdBy: { type: String },
    createdAt: { type: Date, default: () => new Date() },
    snoozedUntil: { type: Date, default: null },
    /** Who snoozed it (display name or platform user id). */
    snoozedBy: { type: String },
    lastAlertAt: { type: Date, default: null },
    /** Spikes seen during the cooldown since the last post, reported as "+N more" next time. */
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
subscriptionSchema.index({ channel: 1, market: 1, metric: 1 }, { unique: true });
subscriptionSchema.index({ market: 1, metric: 1, disabled: 1 });
subscriptionSchema.index({ requestedIn: 1 });
subscriptionSchema.index({ createdBy: 1, direct: 1 });

export type SubscriptionDoc = InferSchemaType<typeof subscriptionSchema>;
export const Subscription = model('Subscription', subscriptionSchema);
