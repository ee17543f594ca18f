/**
 * The fetch of one tick: the source's snapshot, retried with backoff (Retry-After honoured) while a
 * retry can still end before the tick's deadline. The best partial answer is kept.
 */
import { abortableDelay } from '../sources/http.js';
import { SourceError, type FetchContext, type Snapshot, type SourceErrorKind } from '../sources/types.js';
import type { RunContext } from './context.js';

/** What the fetch gives the tick: the snapshot (if any) and what it took to get it. */
export interface FetchOutcome {
  snapshot?: Snapshot;
  attempts: number;
  /** Every failed request, for the error counters. */
  sourceErrors: SourceErrorKind[];
  errorKind?: SourceErrorKind | 'cancelled';
  error?: string;
}

export async function fetchWithRetries(
  ctx: RunContext,
  hint: Pick<FetchContext, 'known' | 'refresh'> = {},
): Promise<FetchOutcome> {
  const { source, tick, options, deadline, logger } = ctx;
  const result: FetchOutcome = { attempts: 0, sourceErrors: [] };
  const done = (snapshot: Snapshot | undefined): FetchOutcome => ({ ...result, snapshot });
  let wait = options.backoffMs ?? 1_000;
  const maxWait = options.maxBackoffMs ?? 15_000;
  let best: Snapshot | undefined;
  for (;;) {
    result.attempts++;
    let retryAfter: number | undefined;
    try {
      const snapshot = await source.snapshot({ tick, signal: options.signal, ...hint });
      if (!best || snapshot.quotes.length >= best.quotes.length) best = snapshot;
      if (snapshot.missing.length === 0) return done(snapshot);
      result.sourceErrors.push('partial');
      logger.debug({ missing: snapshot.missing.length, attempt: result.attempts }, 'partial answer, retrying');
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      if (err.kind === 'cancelled') {
        result.errorKind = 'cancelled';
        result.error = 'stopped while fetching';
        return done(undefined);
      }
      result.sourceErrors.push(err.kind);
      result.errorKind = err.kind;
      result.error = err.message;
      logger.debug({ kind: err.kind, err: err.message, attempt: result.attempts }, 'source request failed');
      if (!err.retryable) return done(best);
      retryAfter = err.retryAfterMs;
    }
    const pause = retryAfter ?? wait;
    wait = Math.min(wait * 2, maxWait);
    // Retry only if the pause plus a request could still end inside the tick's time.
    if (Date.now() + pause >= deadline) {
      if (best) return done(best);
      if (retryAfter !== undefined)
        result.error = `${result.error} (Retry-After ${Math.round(retryAfter / 1000)} s is past this tick's time)`;
      return done(undefined);
    }
    try {
      await abortableDelay(pause, options.signal);
    } catch {
      result.errorKind = 'cancelled';
      result.error = 'stopped while waiting to retry';
      return done(undefined);
    }
  }
}
