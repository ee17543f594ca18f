import { Schema, model, type InferSchemaType } from 'mongoose';

/** The market catalog: one document per market any source has reported. */
const marketSchema = new Schema(
  {
    /** Canonical id, `exchange:base-quote`, lower case, XBT written BTC. */
    _id: { type: String, required: true },
    exchange: { type: String, required: true },
    base: { type: String, required: true },
    quote: { type: String, required: true },
    source: { type: String, required: true },
    /** The source's own name for the pair (Kraken `XXBTZUSD`, Cryptowatch `btcusd`). */
    symbol: { type: String, required: true },
    /** Normalised forms users type: `btc-usd`, `btcusd`, `xbt-usd`, `kraken:btcusd`, ... */
    aliases: { type: [String], default: [] },
    active: { type: Boolean, default: true },
    firstSeen: { type: Date, default: () => new Date() },
    lastSeen: { type: Date, default: () => new Date() },
  },
  { versionKey: false, collection: 'markets' },
);
marketSchema.index({ aliases: 1 });
marketSchema.index({ source: 1, active: 1 });

export type MarketDoc = InferSchemaType<typeof marketSchema>;
export const Market = model('Market', marketSchema);
