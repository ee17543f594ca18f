import { Schema, model, type InferSchemaType } from 'mongoose';

/**
 * The last hour of one tracked (market, metric), kept by spike detection so a tick reads one small
 * document per pair instead of the hour of samples. `points` is a packed Float64Array of
 * [ts ms, value] pairs in time order: eviction needs the values that leave the hour, and one binary
 * field costs far less to read and write than an array of sixty subdocuments.
 */
const spikeBaselineSchema = new Schema(
  {
    /** `${market}|${metric}` */
    _id: { type: String, required: true },
    market: { type: String, required: true },
    metric: { type: String, required: true },
    /** The tick detection last processed for this pair; the next run reads samples after it. */
    lastTs: { type: Date, required: true },
    points: { type: Buffer, required: true },
    /** Running sum and count of the values in `points` (for inspection; rebuilt from them on read). */
    sum: { type: Number, required: true },
    count: { type: Number, required: true },
    updatedAt: { type: Date, default: () => new Date() },
  },
  { versionKey: false, collection: 'spike_baselines' },
);

export type SpikeBaselineDoc = InferSchemaType<typeof spikeBaselineSchema>;
export const SpikeBaseline = model('SpikeBaseline', spikeBaselineSchema);
