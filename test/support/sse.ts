/** A small server-sent-events client over node:http, for the tests and the dashboard benchmark. */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export interface SseClient {
  readonly events: SseEvent[];
  readonly response: IncomingMessage;
  /** Resolves with the first event (past or future) that matches. */
  next(match: (e: SseEvent) => boolean, timeoutMs?: number, what?: string): Promise<SseEvent>;
  /** Called for every event as it is parsed (the benchmark's clock). */
  onEvent?: (e: SseEvent) => void;
  readonly closed: Promise<void>;
  close(): void;
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req: ClientRequest = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`stream answered ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      const events: SseEvent[] = [];
      const waiters = new Set<{ match: (e: SseEvent) => boolean; done: (e: SseEvent) => void }>();
      let buffer = '';
      const closed = new Promise<void>((done) => {
        res.once('close', () => done());
        res.once('error', () => done());
      });
      const client: SseClient = {
        events,
        response: res,
        closed,
        next(match, timeoutMs = 10_000, what = 'event') {
          const seen = events.find(match);
          if (seen) return Promise.resolve(seen);
          return new Promise((ok, fail) => {
            const waiter = {
              match,
              done: (e: SseEvent) => {
                clearTimeout(timer);
                waiters.delete(waiter);
                ok(e);
              },
            };
            const timer = setTimeout(() => {
              waiters.delete(waiter);
              fail(
                new Error(`timed out waiting for ${what}; got ${events.map((e) => `${e.event}#${e.id}`).join(' ')}`),
              );
            }, timeoutMs);
            waiters.add(waiter);
          });
        },
        close() {
          req.destroy();
        },
      };
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
          const e: SseEvent = { event: 'message', data: '' };
          let hasData = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'id') e.id = value;
            else if (field === 'event') e.event = value;
            else if (field === 'data') {
              e.data = hasData ? `${e.data}\n${value}` : value;
              hasData = true;
            }
          }
          if (!hasData) continue;
          events.push(e);
          client.onEvent?.(e);
          for (const w of waiters) if (w.match(e)) w.done(e);
        }
      });
      resolve(client);
    });
    req.once('error', reject);
    req.end();
  });
}
