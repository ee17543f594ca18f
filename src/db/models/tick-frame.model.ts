import { Schema, model, type InferSchemaType } from 'mongoose';

/**
 * One source's tick as a column block: every market's values of that tick in one document, so the
 * pipeline reads the values leaving a window (the tick one window ago) as one lookup by `_id`
 * instead of thousands. Schema: docs/scaling.md ("Storage").
 */
const tickFrameSchema = new Schema(
  {
    /** `<source>|<tick epoch ms>` */
    _id: { type: String, required: true },
    source: { type: String, required: true },
    tick: { type: Date, required: true },
    /** Id of the frame_lists document naming the markets, in column order. */
    list: { type: String, required: true },
    /** Float64 little-endian, markets x METRIC_ORDER values; NaN where a value is absent. */
    v: { type: Buffer, required: true },
  },
  { versionKey: false, collection: 'tick_frames' },
);
tickFrameSchema.index({ tick: 1 });

/** A market list shared by the frames (and window statistics) that use it; lists rarely change. */
const frameListSchema = new Schema(
  {
    /** A hash of the list. */
    _id: { type: String, required: true },
    markets: { type: [String], required: true },
    createdAt: { type: Date, required: true },
    /** Last time a writer confirmed the list in use (at least hourly while it is); the prune keeps those. */
    usedAt: { type: Date },
  },
  { versionKey: false, collection: 'frame_lists' },
);

export type TickFrameDoc = InferSchemaType<typeof tickFrameSchema>;
export const TickFrame = model('TickFrame', tickFrameSchema);
export type FrameListDoc = InferSchemaType<typeof frameListSchema>;
export const FrameList = model('FrameList', frameListSchema);
