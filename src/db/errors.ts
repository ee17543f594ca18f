/** How the database reports what the product expects to happen: a key that is already stored. */
import mongoose from 'mongoose';

/** A write refused by a unique index (code 11000). */
export function isDuplicateKey(err: unknown): boolean {
  return err instanceof mongoose.mongo.MongoServerError && err.code === 11000;
}
