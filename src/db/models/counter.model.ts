import { Schema, model, type InferSchemaType } from 'mongoose';

/**
 * Version counters: a reader keeps a copy of a collection in memory and reloads it only when the
 * counter moved (`subscriptions`: bumped by every write of src/alerts/subscriptions.ts).
 */
const counterSchema = new Schema(
  {
    _id: { type: String, required: true },
    value: { type: Number, required: true, default: 0 },
    updatedAt: { type: Date, default: () => new Date() },
  },
  { versionKey: false, collection: 'counters' },
);

export type CounterDoc = InferSchemaType<typeof counterSchema>;
export const Counter = model('Counter', counterSchema);
