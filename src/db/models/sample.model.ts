import { Schema, model, type InferSchemaType } from 'mongoose';

const finite = { validator: Number.isFinite, message: '{PATH} must be a finite number' };

/**
 * One market's summary at one tick. `ts` is the tick's time aligned to the collect interval, not
 * the moment of the fetch, so a retried tick writes the same key and the unique index keeps one.
 */
const sampleSchema = new Schema(
  {
    /** `<market>|<ts epoch ms>` (see sampleId in src/market/samples.ts): a series is read by `_id`. */
    _id: {
      type: String,
      default(this: { market?: string; ts?: Date }) {
        return `${this.market}|${this.ts?.getTime()}`;
      },
    },
    /** Canonical market id, `exchange:base-quote` (e.g. `kraken:btc-usd`). */
    market: { type: String, required: true },
    ts: { type: Date, required: true },
    source: { type: String, required: true },
    last: { type: Number, required: true, validate: finite },
    high: { type: Number, required: true, validate: finite },
    low: { type: Number, required: true, validate: finite },
    /** 24h change in percent (Cryptowatch's fraction x 100; Kraken's last vs 24h-ago open). */
    changePct: { type: Number, required: true, validate: finite },
    changeAbs: { type: Number, validate: finite },
    /** The source's 24h base volume: a rolling (or since-midnight) total, not per minute. */
    volume24h: { type: Number, required: true, validate: finite },
    quoteVolume24h: { type: Number, validate: finite },
    /** Base volume traded in the interval ending at `ts`; null where it could not be derived. */
    volumeMinute: { type: Number, default: null },
    /** The source's cumulative counter the per-minute volume was derived from (Kraken `v[0]`). */
    volumeCum: { type: Number },
  },
  { versionKey: false, collection: 'samples' },
);
sampleSchema.index({ market: 1, ts: 1 }, { unique: true });
sampleSchema.index({ ts: 1 });

export type SampleDoc = InferSchemaType<typeof sampleSchema>;
export const Sample = model('Sample', sampleSchema);
