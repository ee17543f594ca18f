import { Schema, model, type InferSchemaType } from 'mongoose';

/** A named lease: whoever holds it (until it expires) does that job; other replicas stand by. */
const leaseSchema = new Schema(
  {
    _id: { type: String, required: true },
    owner: { type: String, required: true },
    until: { type: Date, required: true },
    acquiredAt: { type: Date, default: () => new Date() },
  },
  { versionKey: false, collection: 'leases' },
);

export type LeaseDoc = InferSchemaType<typeof leaseSchema>;
export const Lease = model('Lease', leaseSchema);
