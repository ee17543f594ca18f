/**
 * Leases in MongoDB: one replica holds a named lease until it expires; the holder renews it each
 * time it works, and any replica takes it once it has lapsed. A holder that stops cleanly releases
 * it so a standby takes over at its next tick instead of waiting out the expiry.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { isDuplicateKey } from '../db/errors.js';
import { Lease } from '../db/models/index.js';

/** An id for this process, stable for its life: host, pid and a random part (containers reuse pids). */
export function replicaId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** Takes or renews the lease; false when another owner holds an unexpired one. */
export async function acquireLease(name: string, owner: string, ttlMs: number, now = new Date()): Promise<boolean> {
  try {
    // Matches a lease we hold or one that lapsed; when neither matches, the upsert's insert hits
    // the existing _id and fails with a duplicate key, which means someone else holds it.
    const doc = await Lease.findOneAndUpdate(
      { _id: name, $or: [{ owner }, { until: { $lte: now } }] },
      { $set: { owner, until: new Date(now.getTime() + ttlMs), acquiredAt: now } },
      { upsert: true, returnDocument: 'after', lean: true },
    );
    return doc?.owner === owner;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

export async function releaseLease(name: string, owner: string): Promise<void> {
  await Lease.deleteOne({ _id: name, owner });
}

export async function leaseHolder(name: string, now = new Date()): Promise<string | undefined> {
  const doc = await Lease.findOne({ _id: name, until: { $gt: now } }).lean();
  return doc?.owner;
}
