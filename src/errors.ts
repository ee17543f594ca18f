/**
 * The two kinds of error. A UserError is the user's to fix and is shown to them as it is; anything
 * else is ours: logged with its stack and context, and the user sees a short apology with a
 * reference id (never a stack trace, in chat or in an API response).
 */
import { randomBytes } from 'node:crypto';

export class UserError extends Error {
  override name = 'UserError';
  constructor(
    message: string,
    /** Extra help shown under the message (usage, suggestions). */
    readonly hint?: string,
    /** HTTP status for the REST API. */
    readonly status: 400 | 403 | 404 | 409 | 429 = 400,
  ) {
    super(message);
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** A short id to quote to the operator; the log line carries the same id. */
export function errorReference(): string {
  return randomBytes(4).toString('hex').toUpperCase();
}

export function apology(ref: string): string {
  return `Sorry, something went wrong on our side. The operator can find it in the logs under reference ${ref}.`;
}
