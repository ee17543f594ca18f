import { Schema, model, type InferSchemaType } from 'mongoose';

/**
 * What one source's next tick needs from its last one, in one document so a tick of thousands of
 * markets reads and writes it in one round trip each: the cumulative volume counters that
 * per-minute volume is differenced from, and which markets the catalog already has.
 * Parallel arrays, not a map keyed by market id: ids may contain dots.
 */
const collectorStateSchema = new Schema(
  {
    /** The source name. */
    _id: { type: String, required: true },
    tick: { type: Date, required: true },
    markets: { type: [String], default: [] },
    /** The source's symbol per entry of `markets`, so the next tick can map its answer without a listing. */
    symbols: { type: [String], default: [] },
    /** `volumeCum` per entry of `markets`, null where the source gave none. */
    cums: { type: [Number], default: [] },
    /** A backfill stopped short (shutdown): the next tick looks for missed ticks even if it follows on. */
    backfillPending: { type: Boolean, default: false },
    /** Last time every market's catalog entry was refreshed (lastSeen). */
    catalogAt: { type: Date },
    /**
     * Random per write: a process that finds the stamp it wrote last reuses the lists it holds in
     * memory instead of reading them back (thousands of entries), and rereads them otherwise.
     */
    stamp: { type: String },
  },
  { versionKey: false, collection: 'collector_state' },
);

export type CollectorStateDoc = InferSchemaType<typeof collectorStateSchema>;
export const CollectorState = model('CollectorState', collectorStateSchema);
