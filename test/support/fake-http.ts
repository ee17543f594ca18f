/**
 * What both chat fakes share: a loopback HTTP server that records every request and can be told to
 * answer the next matching request with a failure (429 with Retry-After, 404/403 channel gone).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path without the query string, percent-encoding kept (`/messages/%40original`). */
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  raw: string;
  /** The body as received, for binary uploads. */
  bytes: Buffer;
  /**
   * JSON bodies parsed; form bodies as an object whose JSON-looking values are parsed too; multipart
   * bodies likewise, with each file part as an UploadedPart.
   */
  body: unknown;
  at: number;
}

export interface ScriptedFailure {
  status: number;
  /** Seconds, sent as Retry-After. */
  retryAfter?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface UploadedPart {
  filename: string;
  contentType: string;
  bytes: Buffer;
}

type Matcher = string | RegExp | ((r: RecordedRequest) => boolean);

const matches = (m: Matcher, r: RecordedRequest) =>
  typeof m === 'string'
    ? r.path.endsWith(m) || `${r.method} ${r.path}`.endsWith(m)
    : m instanceof RegExp
      ? m.test(`${r.method} ${r.path}`)
      : m(r);

const jsonish = (v: string): unknown => {
  if (!/^[[{]/.test(v)) return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
};

async function parseBody(bytes: Buffer, raw: string, type: string | undefined): Promise<unknown> {
  if (!raw) return undefined;
  try {
    if (type?.includes('application/json')) return JSON.parse(raw);
    if (type?.includes('application/x-www-form-urlencoded')) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of new URLSearchParams(raw)) out[k] = jsonish(v);
      return out;
    }
    if (type?.includes('multipart/form-data')) {
      // The platform's own parser (undici) reads the parts, so the fake sees what a server would.
      const form = await new Response(bytes, { headers: { 'content-type': type } }).formData();
      const out: Record<string, unknown> = {};
      for (const [k, v] of form) {
        out[k] =
          typeof v === 'string'
            ? jsonish(v)
            : ({
                filename: v.name,
                contentType: v.type,
                bytes: Buffer.from(await v.arrayBuffer()),
              } satisfies UploadedPart);
      }
      return out;
    }
  } catch {
    /* recorded raw */
  }
  return raw;
}

export type Handler = (r: RecordedRequest, res: ServerResponse) => void | Promise<void>;

export class FakeHttp {
  readonly requests: RecordedRequest[] = [];
  readonly server: Server;
  private failures: Array<{ match: Matcher; failure: ScriptedFailure; times: number }> = [];
  private waiters = new Set<() => void>();

  constructor(private readonly route: Handler) {
    this.server = createServer((req, res) => void this.onRequest(req, res));
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** The next `times` requests matching answer with this failure instead. */
  fail(match: Matcher, failure: ScriptedFailure, times = 1): void {
    this.failures.push({ match, failure, times });
  }

  find(match: Matcher): RecordedRequest[] {
    return this.requests.filter((r) => matches(match, r));
  }

  /** Resolves with the first (or nth) request matching, waiting for it up to `timeoutMs`. */
  async waitFor(match: Matcher, { count = 1, timeoutMs = 5_000 } = {}): Promise<RecordedRequest> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.find(match);
      if (found.length >= count) return found[count - 1]!;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no request matching ${String(match)} within ${timeoutMs} ms; ` +
            `saw: ${this.requests.map((r) => `${r.method} ${r.path}`).join(', ')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
  }

  reset(): void {
    this.requests.length = 0;
    this.failures = [];
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    const raw = bytes.toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const rawPath = (req.url ?? '/').split('?')[0]!;
    const r: RecordedRequest = {
      method: req.method ?? 'GET',
      path: rawPath,
      query: url.searchParams,
      headers: req.headers,
      raw,
      bytes,
      body: await parseBody(bytes, raw, req.headers['content-type']),
      at: Date.now(),
    };
    this.requests.push(r);
    try {
      const scripted = this.failures.find((f) => f.times > 0 && matches(f.match, r));
      if (scripted) {
        scripted.times -= 1;
        const f = scripted.failure;
        res.writeHead(f.status, {
          'content-type': 'application/json',
          ...(f.retryAfter !== undefined ? { 'retry-after': String(f.retryAfter) } : {}),
          ...f.headers,
        });
        res.end(JSON.stringify(f.body ?? {}));
      } else {
        await this.route(r, res);
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String(err) }));
    } finally {
      for (const w of [...this.waiters]) {
        this.waiters.delete(w);
        w();
      }
    }
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  // A 204 carries no body and no content type, as the real APIs answer it.
  res.writeHead(status, body === undefined ? headers : { 'content-type': 'application/json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}
