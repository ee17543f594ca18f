import { Schema, model, type InferSchemaType } from 'mongoose';

/**
 * One market's samples of one hour, as a compact copy of `samples` keyed by `_id`
 * (`<market>|<hour number>`). Reports and window statistics read a day of one market as 25 of
 * these by `_id`, which every MongoDB-wire server answers from its primary index, instead of
 * 1,440 range-scanned sample documents (mongo-java-server scans the whole collection for a range).
 * No longer written: series are read from `samples` by `_id` and windows slide on tick frames.
 * The prune job deletes what an earlier version left.
 */
const sampleBlockSchema = new Schema(
  {
    _id: { type: String, required: true },
    market: { type: String, required: true },
    source: { type: String, required: true },
    hour: { type: Date, required: true },
    /**
     * Seconds since the hour -> the values in METRIC order of window-stats.ts
     * ([last, high, low, changePct, volumeMinute, volume24h, quoteVolume24h], null where absent).
     */
    v: { type: Schema.Types.Mixed, default: {} },
  },
  { versionKey: false, collection: 'sample_blocks', minimize: false },
);
sampleBlockSchema.index({ hour: 1 });

export type SampleBlockDoc = InferSchemaType<typeof sampleBlockSchema>;
export const SampleBlock = model('SampleBlock', sampleBlockSchema);
