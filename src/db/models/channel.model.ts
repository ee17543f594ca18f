import { Schema, model, type InferSchemaType } from 'mongoose';

/** Per-channel settings and delivery state (mute, digests, undelivered warnings). */
const channelSchema = new Schema(
  {
    _id: { type: String, required: true },
    mutedUntil: { type: Date, default: null },
    /** Who last muted the channel (platform user id and display name). */
    mutedBy: { type: String },
    /** Alerts that failed for good and that the channel has not yet been told about. */
    undelivered: { type: Number, default: 0 },
    /** False: one post per alert, even when several come from one tick. */
    digest: { type: Boolean, default: true },
    updatedAt: { type: Date, default: () => new Date() },
  },
  { versionKey: false, collection: 'channels' },
);

export type ChannelDoc = InferSchemaType<typeof channelSchema>;
export const Channel = model('Channel', channelSchema);
