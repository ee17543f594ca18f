import { Schema, model, type InferSchemaType } from 'mongoose';

/**
 * Window statistics as the tick pipeline stores them (src/market/pipeline/stats-store.ts): per
 * source an index document (`<source>|index`: market list, asOf, exactAt per market) and one
 * document per window and metric (`<source>|<window>|<metric>`: ten Float64 numbers per market in
 * list order), plus the `~version` marker readers watch. Schema: docs/scaling.md ("Storage").
 */
const marketStatSchema = new Schema(
  {
    _id: { type: String, required: true },
    kind: { type: String, enum: ['index', 'acc'] },
    source: { type: String },
    window: { type: String },
    metric: { type: String },
    /** The frame_lists document naming the markets, in the order of the packed numbers. */
    list: { type: String },
    /** The tick the statistics are as of: each window is (asOf - window, asOf]. */
    asOf: { type: Date },
    /** Index document: when each market was last recomputed exactly (Float64 epoch ms). */
    exactAt: { type: Buffer },
    /** Index document: per market, a time no point of the longest window is older than (Float64 epoch ms). */
    since: { type: Buffer },
    /** Column document: n, mean, m2, last, lastTs, returns n, mean, m2, sum, compensation per market. */
    a: { type: Buffer },
    /** The `~version` marker: when the statistics last changed. */
    at: { type: Date },
  },
  { versionKey: false, collection: 'market_stats' },
);
marketStatSchema.index({ kind: 1, window: 1, metric: 1 });

export type MarketStatDoc = InferSchemaType<typeof marketStatSchema>;
export const MarketStat = model('MarketStat', marketStatSchema);
