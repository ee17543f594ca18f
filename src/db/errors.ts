/**
 * Duplicate keys, the one write error this project expects: keyed writes ({market, ts}, an alert's
 * key, a lease's _id) make a retried or concurrent write fail with 11000 instead of writing twice.
 * Here is how to tell it from every other failure, once.
 */
import mongoose from 'mongoose';

export const DUPLICATE_KEY = 11000;

/** A single write refused because its unique key is taken. */
export function isDuplicateKey(err: unknown): boolean {
  return err instanceof mongoose.mongo.MongoServerError && err.code === DUPLICATE_KEY;
}

/** The unique index a duplicate-key error names (MongoDB and mongo-java-server: "... index: <name> dup key: ..."). */
function indexNamed(message: string | undefined): string | undefined {
  return /\bindex: (\S+) dup key/.exec(message ?? '')?.[1];
}

/**
 * The batch positions of the writes an unordered bulk write refused as duplicates. Rethrows `err`
 * when it is not a bulk write error or when any write failed for another reason. Given `keys`
 * (index names), only a refusal on one of them is a duplicate: a row refused by another unique
 * index is not a row written before, and is not stored.
 */
export function duplicatesOf(err: unknown, keys?: readonly string[]): number[] {
  if (!(err instanceof mongoose.mongo.MongoBulkWriteError)) throw err;
  const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  const elsewhere = (message: string | undefined) => {
    const index = indexNamed(message);
    return keys !== undefined && index !== undefined && !keys.includes(index);
  };
  if (errors.some((e) => e.code !== DUPLICATE_KEY || elsewhere(e.errmsg))) throw err;
  return errors.map((e) => e.index);
}

export interface KeyedWriteResult {
  inserted: number;
  duplicates: number;
  /** Batch positions of the duplicates, in the order the server reported them. */
  duplicateIndexes: number[];
}

/**
 * Inserts unordered, so one duplicate does not stop the rest; duplicates are counted, anything else
 * is thrown. Inserted is counted from the errors: mongo-java-server reports every row as inserted.
 */
export async function insertManyKeyed<T extends mongoose.mongo.Document>(
  collection: mongoose.mongo.Collection<T>,
  docs: readonly T[],
  /** The unique indexes whose refusals are duplicates (default: any). */
  keys?: readonly string[],
): Promise<KeyedWriteResult> {
  if (docs.length === 0) return { inserted: 0, duplicates: 0, duplicateIndexes: [] };
  try {
    await collection.insertMany(docs as mongoose.mongo.OptionalUnlessRequiredId<T>[], { ordered: false });
    return { inserted: docs.length, duplicates: 0, duplicateIndexes: [] };
  } catch (err) {
    const duplicateIndexes = duplicatesOf(err, keys);
    return { inserted: docs.length - duplicateIndexes.length, duplicates: duplicateIndexes.length, duplicateIndexes };
  }
}

/** An unordered bulkWrite where a write refused as a duplicate is counted, not thrown. */
export async function bulkWriteKeyed<T extends mongoose.mongo.Document>(
  collection: mongoose.mongo.Collection<T>,
  ops: readonly mongoose.mongo.AnyBulkWriteOperation<T>[],
): Promise<{ duplicates: number; duplicateIndexes: number[] }> {
  if (ops.length === 0) return { duplicates: 0, duplicateIndexes: [] };
  try {
    await collection.bulkWrite([...ops], { ordered: false });
    return { duplicates: 0, duplicateIndexes: [] };
  } catch (err) {
    const duplicateIndexes = duplicatesOf(err);
    return { duplicates: duplicateIndexes.length, duplicateIndexes };
  }
}
