import { Schema, model, type InferSchemaType } from 'mongoose';

/**
 * Per-market window statistics, kept current by the update-stats job after every tick; rankings
 * read these (one document per market) instead of the samples. `w[window][metric]` holds running
 * moments that slide with the window (see window-stats.ts) and are recomputed exactly from the
 * sample blocks in rotation, so rounding and late samples cannot drift for long.
 */
const marketStatSchema = new Schema(
  {
    /** The canonical market id. */
    _id: { type: String, required: true },
    source: { type: String, required: true },
    /** The tick these statistics are as of: each window is (asOf - window, asOf]. */
    asOf: { type: Date, required: true },
    /** When they were last recomputed exactly from the blocks. */
    exactAt: { type: Date, required: true },
    w: { type: Schema.Types.Mixed, default: {} },
  },
  { versionKey: false, collection: 'market_stats', minimize: false },
);
marketStatSchema.index({ source: 1, asOf: 1 });

export type MarketStatDoc = InferSchemaType<typeof marketStatSchema>;
export const MarketStat = model('MarketStat', marketStatSchema);
