import { Schema, model, type InferSchemaType } from 'mongoose';

export const RUN_STATUSES = ['running', 'ok', 'partial', 'failed', 'gap'] as const;

/** One record per source per tick: what was collected, how long it took, and what went wrong. */
const collectorRunSchema = new Schema(
  {
    source: { type: String, required: true },
    tick: { type: Date, required: true },
    status: { type: String, enum: RUN_STATUSES, required: true },
    startedAt: { type: Date, default: () => new Date() },
    finishedAt: { type: Date },
    durationMs: { type: Number },
    markets: { type: Number, default: 0 },
    inserted: { type: Number, default: 0 },
    duplicates: { type: Number, default: 0 },
    backfilled: { type: Number, default: 0 },
    attempts: { type: Number, default: 0 },
    /** Which replica ran it. */
    owner: { type: String },
    errorKind: { type: String },
    error: { type: String },
  },
  { versionKey: false, collection: 'collector_runs' },
);
collectorRunSchema.index({ source: 1, tick: 1 }, { unique: true });
collectorRunSchema.index({ status: 1, tick: -1 });

export type CollectorRunDoc = InferSchemaType<typeof collectorRunSchema>;
export const CollectorRun = model('CollectorRun', collectorRunSchema);
