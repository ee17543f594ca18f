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
 * Claims up to `limit` due alerts in three round trips whatever the batch size: find the candidates,
 * lock those still free (each document's update is atomic, so of two racing replicas one wins each
 * alert), and read back what this claim holds.
 */
export async function claimBatch(o: ClaimOptions): Promise<OutboxAlert[]> {
  if (o.platforms.length === 0) return [];
  const at = new Date(o.now);
  const channel: Record<string, unknown> = { $regex: `^(${o.platforms.join('|')}):` };
  if (o.skipChannels?.length) channel.$nin = o.skipChannels;
  const filter = { status: 'pending', nextAttemptAt: { $lte: at }, channel, ...unlocked(at) };
  const candidates = await Alert.collection
    .find(filter, { projection: { _id: 1 }, sort: { nextAttemptAt: 1, _id: 1 }, limit: o.limit })
    .toArray();
  if (candidates.length === 0) return [];
  const ids = candidates.map((c) => c._id);
  const claim = `${o.owner}#${randomBytes(6).toString('hex')}`;
  await Alert.collection.updateMany(
    { _id: { $in: ids }, status: 'pending', ...unlocked(at) },
    { $set: { lockedBy: o.owner, lockedUntil: new Date(o.now + o.leaseMs), claim } },
  );
  const claimed = await Alert.collection.find({ _id: { $in: ids }, claim }).toArray();
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

/** Hands claimed alerts back to the outbox untouched (not counted as an attempt), due at `dueAt` if given. */
export async function release(alerts: readonly OutboxAlert[], dueAt?: Date): Promise<void> {
  const byClaim = new Map<string, mongoose.Types.ObjectId[]>();
  for (const a of alerts) byClaim.set(a.claim, [...(byClaim.get(a.claim) ?? []), a._id]);
  for (const [claim, ids] of byClaim) {
    await Alert.collection.updateMany(
      { _id: { $in: ids }, claim },
      { $set: { ...unlock, ...(dueAt ? { nextAttemptAt: dueAt } : {}) } },
    );
  }
}
