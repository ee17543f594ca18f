/**
 * JSON over HTTP for the sources: a timeout per request, classification of every failure into a
 * SourceError kind, Retry-After parsed, and a least gap between two requests to one API, because
 * exchanges ban clients that poll too hard.
 */
import { SourceError } from './types.js';

export interface JsonClientOptions {
  baseUrl: string;
  timeoutMs: number;
  /** Least time between the starts of two requests. */
  gapMs: number;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

/** Seconds or an HTTP date, as RFC 9110 allows; capped so a hostile value cannot park us for hours. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 3_600_000);
  const date = Date.parse(header);
  if (Number.isFinite(date)) return Math.min(Math.max(0, date - now), 3_600_000);
  return undefined;
}

export class JsonClient {
  private nextSlot = 0;
  constructor(private readonly options: JsonClientOptions) {}

  private async pace(signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    const wait = this.nextSlot - now;
    this.nextSlot = Math.max(now, this.nextSlot) + this.options.gapMs;
    if (wait > 0) await abortableDelay(wait, signal);
  }

  /** GETs `path` and returns the parsed body; every failure is a SourceError. */
  async get(path: string, signal?: AbortSignal): Promise<unknown> {
    await this.pace(signal);
    const url = `${this.options.baseUrl}${path}`;
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await (this.options.fetch ?? fetch)(url, {
        headers: { accept: 'application/json', 'user-agent': 'crypto-chatops collector', ...this.options.headers },
        signal: combined,
      });
      text = await response.text();
    } catch (err) {
      if (signal?.aborted) throw new SourceError('cancelled', 'request cancelled');
      if (timeout.aborted)
        throw new SourceError('timeout', `no answer from ${path} within ${this.options.timeoutMs} ms`);
      throw new SourceError(
        'network',
        `cannot reach ${this.options.baseUrl}: ${
          (err as Error).cause ? String((err as Error & { cause: unknown }).cause) : (err as Error).message
        }`,
      );
    }
    if (response.status === 429) {
      throw new SourceError('rate_limited', `${path} answered 429 (rate limited)`, {
        status: 429,
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
      });
    }
    if (response.status >= 500) {
      throw new SourceError('http_5xx', `${path} answered ${response.status}`, {
        status: response.status,
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
      });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new SourceError('malformed', `${path} answered ${response.status} with a body that is not JSON`, {
        status: response.status,
      });
    }
    if (response.status >= 400) {
      const detail =
        body && typeof body === 'object' && 'error' in body ? String((body as { error: unknown }).error) : '';
      throw new SourceError('http_4xx', `${path} answered ${response.status}${detail ? `: ${detail}` : ''}`, {
        status: response.status,
      });
    }
    return body;
  }
}

/** Resolves after `ms`, or rejects with a cancelled SourceError when the signal fires. */
export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new SourceError('cancelled', 'cancelled'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new SourceError('cancelled', 'cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
