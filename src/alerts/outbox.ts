/**
 * The outbox's claim and settle. Detection inserts pending alerts under a unique key; a deliverer
 * claims a batch of due alerts with a lease (lockedBy, lockedUntil and a claim id unique to that
 * batch) and settles each one it holds. Every write after the claim matches the claim id, so a
 * replica whose lease ran out (a hung post, a paused process) can no longer change an alert that
 * another replica has claimed since: a late "failed" never overwrites "sent".
 */
import { randomBytes } from 'node:crypto';
import type mongoose from 'mongoose';
import { Alert } from '../db/models/index.js';
import type { AlertView } from './reply.js';

export type OutboxAlert = AlertView & {
  _id: mongoose.Types.ObjectId;
  key: string;
  channel: string;
  attempts?: number;
  createdAt: Date;
  claim: string;
  /** When this claim's lease runs out; the deliverer moves it forward (extendLease). */
  lockedUntil: Date;
};

const unlocked = (at: Date) => ({ $or: [{ lockedUntil: null }, { lockedUntil: { $lte: at } }] });

export interface ClaimOptions {
  owner: string;
  leaseMs: number;
  now: number;
  limit: number;
  /** Platforms this replica posts to and that are not waiting out a 429. */
  platforms: readonly string[];
  /** Channels waiting out a 429 or their posting pace. */
  skipChannels?: readonly string[];
}

/**
 * Claims up to `limit` due alerts in three round trips whatever the batch size: find the oldest
 * candidates, lock every alert still due and free up to the last of them (each document's update is
 * atomic, so of two racing replicas one wins each alert), and read back what this claim holds.
 *
 * No step matches a list of ids: the embedded mongo-java-server compares each document with every
 * id of an `$in` that comes with other conditions (about a second for 500 ids over 10,000 alerts),
 * where a bound on `_id` costs one comparison. The candidates are taken in `_id` order so that the
 * bound locks exactly them, plus any alert that fell due in between.
 */
export async function claimBatch(o: ClaimOptions): Promise<OutboxAlert[]> {
  if (o.platforms.length === 0) return [];
  const at = new Date(o.now);
  // One condition per clause: that server drops a `$nin` given beside a `$regex` on the same field.
  const channel: Record<string, unknown>[] = [{ channel: { $regex: `^(${o.platforms.join('|')}):` } }];
  if (o.skipChannels?.length) channel.push({ channel: { $nin: o.skipChannels } });
  const due = { status: 'pending', nextAttemptAt: { $lte: at }, $and: channel, ...unlocked(at) };
  const candidates = await Alert.collection
    .find(due, { projection: { _id: 1 }, sort: { _id: 1 }, limit: o.limit })
    .toArray();
  const last = candidates.at(-1)?._id;
  if (!last) return [];
  const claim = `${o.owner}#${randomBytes(6).toString('hex')}`;
  await Alert.collection.updateMany(
    { ...due, _id: { $lte: last } },
    { $set: { lockedBy: o.owner, lockedUntil: new Date(o.now + o.leaseMs), claim } },
  );
  const claimed = await Alert.collection.find({ status: 'pending', claim }).toArray();
  return (claimed as unknown as OutboxAlert[]).sort(
    (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || String(a._id).localeCompare(String(b._id)),
  );
}

const unlock = { lockedBy: null, lockedUntil: null, claim: null };

/** One settle: the alert's new fields, written only while this claim still holds it. */
export interface Settlement {
  alert: OutboxAlert;
  set: Record<string, unknown>;
}

/**
 * Writes settlements in one round trip; returns how many this claim still held. A `sent` that lost
 * its lease is still recorded on an alert nobody has settled since, so a post that did go out is
 * not posted again; any other outcome of a lost lease is dropped.
 */
export async function settleMany(settlements: readonly Settlement[]): Promise<number> {
  if (settlements.length === 0) return 0;
  const result = await Alert.collection.bulkWrite(
    settlements.map(({ alert, set }) => ({
      updateOne: { filter: { _id: alert._id, claim: alert.claim }, update: { $set: { ...unlock, ...set } } },
    })),
    { ordered: false },
  );
  const held = result.matchedCount;
  if (held < settlements.length) {
    const sent = settlements.filter((s) => s.set.status === 'sent');
    if (sent.length) {
      await Alert.collection.bulkWrite(
        sent.map(({ alert, set }) => ({
          updateOne: {
            filter: { _id: alert._id, status: 'pending' },
            update: { $set: { status: 'sent', messageRef: set.messageRef, sentAt: set.sentAt } },
          },
        })),
        { ordered: false },
      );
    }
  }
  return held;
}

/**
 * Moves the lease of alerts this claim still holds to `until`, in one round trip; returns how many
 * it still held. Matching the claim id makes it safe whenever it runs: an alert another replica
 * has claimed since (its lease having run out) is left to that replica.
 */
export async function extendLease(alerts: readonly OutboxAlert[], until: Date): Promise<number> {
  if (alerts.length === 0) return 0;
  const result = await Alert.collection.bulkWrite(
    alerts.map((a) => ({
      updateOne: { filter: { _id: a._id, claim: a.claim }, update: { $set: { lockedUntil: until } } },
    })),
    { ordered: false },
  );
  return result.matchedCount;
}

/** Hands claimed alerts back to the outbox untouched (not counted as an attempt), due at `dueAt` if given. */
export async function release(alerts: readonly OutboxAlert[], dueAt?: Date): Promise<void> {
  if (alerts.length === 0) return;
  const set = { ...unlock, ...(dueAt ? { nextAttemptAt: dueAt } : {}) };
  await Alert.collection.bulkWrite(
    alerts.map((a) => ({ updateOne: { filter: { _id: a._id, claim: a.claim }, update: { $set: set } } })),
    { ordered: false },
  );
}
