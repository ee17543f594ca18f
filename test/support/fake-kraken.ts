/**
 * A local HTTP server that plays Kraken's public REST API (AssetPairs, Ticker, OHLC) in its
 * documented formats, and can be told to fail: time out, answer 5xx, 429 with Retry-After,
 * malformed JSON, leave pairs out, or answer HTTP 200 with an `error` array as Kraken does.
 * The fault machinery is shared with the Cryptowatch fake.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'timeout' }
  | { kind: 'status'; status: number; body?: string }
  | { kind: 'rate-limit'; retryAfter?: string }
  | { kind: 'malformed' }
  | { kind: 'api-error'; error: string }
  | { kind: 'partial'; drop: string[] };

interface QueuedFault {
  fault: Fault;
  path?: string;
  times: number;
}

/** Base of both fakes: request log, queued faults, held (timed-out) requests released on stop. */
export class FakeApi {
  server!: Server;
  url = '';
  /** Every request, with when it arrived (real clock). */
  readonly requests: Array<{ path: string; query: URLSearchParams; headers: IncomingMessage['headers']; at: number }> =
    [];
  private faults: QueuedFault[] = [];
  private held = new Set<ServerResponse>();

  /** The next `times` requests (to `path`, when given) fail this way. */
  failNext(fault: Fault, options: { path?: string; times?: number } = {}): void {
    this.faults.push({ fault, path: options.path, times: options.times ?? 1 });
  }

  clearFaults(): void {
    this.faults = [];
  }

  requestsTo(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  /** Most requests received within any `windowMs` (a second, ten minutes), for documented limits. */
  peakRequests(windowMs: number): number {
    let best = 0;
    let head = 0;
    for (let i = 0; i < this.requests.length; i++) {
      while (this.requests[i]!.at - this.requests[head]!.at >= windowMs) head++;
      best = Math.max(best, i - head + 1);
    }
    return best;
  }

  protected takeFault(path: string): Fault | undefined {
    const i = this.faults.findIndex((f) => !f.path || f.path === path);
    if (i < 0) return undefined;
    const q = this.faults[i]!;
    q.times -= 1;
    if (q.times <= 0) this.faults.splice(i, 1);
    return q.fault;
  }

  protected send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  }

  /** Applies a transport-level fault; true when the request was answered (or held) by it. */
  protected applyFault(
    fault: Fault | undefined,
    res: ServerResponse,
    errorBody: (message: string) => unknown,
  ): boolean {
    if (!fault) return false;
    switch (fault.kind) {
      case 'timeout':
        this.held.add(res);
        res.on('close', () => this.held.delete(res));
        return true;
      case 'status':
        this.send(res, fault.status, fault.body ?? errorBody(`fake failure ${fault.status}`));
        return true;
      case 'rate-limit':
        this.send(
          res,
          429,
          errorBody('rate limited'),
          fault.retryAfter !== undefined ? { 'retry-after': fault.retryAfter } : {},
        );
        return true;
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"error":[],"result":{"XXBTZUSD":{"a":["1"');
        return true;
      default:
        return false;
    }
  }

  protected async listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      this.requests.push({ path: url.pathname, query: url.searchParams, headers: req.headers, at: Date.now() });
      handler(req, res);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface KrakenPair {
  key: string;
  altname: string;
  wsname: string;
  base: string;
  quote: string;
  /** Price level the ticker and candles move around. */
  price: number;
}

export interface TickerFigures {
  last: number;
  high24: number;
  low24: number;
  open: number;
  volumeToday: number;
  volume24: number;
  vwap24: number;
}

export const DEFAULT_PAIRS: KrakenPair[] = [
  { key: 'XXBTZUSD', altname: 'XBTUSD', wsname: 'XBT/USD', base: 'XXBT', quote: 'ZUSD', price: 60_000 },
  { key: 'XETHZUSD', altname: 'ETHUSD', wsname: 'ETH/USD', base: 'XETH', quote: 'ZUSD', price: 3_000 },
  { key: 'SOLUSD', altname: 'SOLUSD', wsname: 'SOL/USD', base: 'SOL', quote: 'ZUSD', price: 150 },
  { key: 'XXBTZEUR', altname: 'XBTEUR', wsname: 'XBT/EUR', base: 'XXBT', quote: 'ZEUR', price: 55_000 },
];

/** The fake's candle for minute `start` (epoch seconds): predictable, so tests can check backfill. */
export function fakeCandle(
  pair: KrakenPair,
  start: number,
): { open: number; high: number; low: number; close: number; vwap: number; volume: number } {
  const m = start / 60;
  const close = pair.price * (1 + 0.001 * Math.sin(m));
  const open = pair.price * (1 + 0.001 * Math.sin(m - 1));
  return {
    open,
    high: Math.max(open, close) * 1.0005,
    low: Math.min(open, close) * 0.9995,
    close,
    vwap: (open + close) / 2,
    volume: 1 + (m % 7),
  };
}

export class FakeKraken extends FakeApi {
  pairs: KrakenPair[];
  tickers = new Map<string, TickerFigures>();
  /** The fake's clock for OHLC (epoch ms): candles run up to the minute containing it. */
  now = Date.now();

  constructor(pairs: KrakenPair[] = DEFAULT_PAIRS) {
    super();
    this.pairs = pairs;
    for (const p of pairs) this.setTicker(p.key, {});
  }

  setTicker(key: string, figures: Partial<TickerFigures>): void {
    const pair = this.pairs.find((p) => p.key === key);
    const base = pair?.price ?? 1;
    const current = this.tickers.get(key) ?? {
      last: base,
      high24: base * 1.02,
      low24: base * 0.97,
      open: base * 0.99,
      volumeToday: 100,
      volume24: 2_000,
      vwap24: base,
    };
    this.tickers.set(key, { ...current, ...figures });
  }

  private tickerEntry(t: TickerFigures): unknown {
    const s = (n: number) => String(n);
    return {
      a: [s(t.last * 1.0001), '1', '1.000'],
      b: [s(t.last * 0.9999), '2', '2.000'],
      c: [s(t.last), '0.01000000'],
      v: [s(t.volumeToday), s(t.volume24)],
      p: [s(t.vwap24), s(t.vwap24)],
      t: [1000, 20000],
      l: [s(t.low24), s(t.low24)],
      h: [s(t.high24), s(t.high24)],
      o: s(t.open),
    };
  }

  static async start(pairs?: KrakenPair[]): Promise<FakeKraken> {
    const fake = new FakeKraken(pairs);
    await fake.listen((req, res) => fake.handle(req, res));
    return fake;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const fault = this.takeFault(url.pathname);
    if (this.applyFault(fault, res, (message) => ({ error: [`EGeneral:${message}`] }))) return;
    if (fault?.kind === 'api-error') return this.send(res, 200, { error: [fault.error] });
    const drop = new Set(fault?.kind === 'partial' ? fault.drop : []);
    switch (url.pathname) {
      case '/0/public/AssetPairs': {
        const result: Record<string, unknown> = {};
        for (const p of this.pairs) {
          result[p.key] = {
            altname: p.altname,
            wsname: p.wsname,
            aclass_base: 'currency',
            base: p.base,
            aclass_quote: 'currency',
            quote: p.quote,
            pair_decimals: 1,
            status: 'online',
          };
          // Dark-pool twins exist in the real list and must be ignored.
          result[`${p.key}.d`] = { altname: `${p.altname}.d`, base: p.base, quote: p.quote, pair_decimals: 1 };
        }
        return this.send(res, 200, { error: [], result });
      }
      case '/0/public/Ticker': {
        const asked = url.searchParams.get('pair');
        const wanted = asked ? asked.split(',') : this.pairs.map((p) => p.key);
        const result: Record<string, unknown> = {};
        for (const name of wanted) {
          const pair = this.pairs.find((p) => p.key === name || p.altname === name);
          if (!pair) return this.send(res, 200, { error: [`EQuery:Unknown asset pair`] });
          if (drop.has(pair.key)) continue;
          result[pair.key] = this.tickerEntry(this.tickers.get(pair.key)!);
        }
        return this.send(res, 200, { error: [], result });
      }
      case '/0/public/OHLC': {
        const name = url.searchParams.get('pair') ?? '';
        const pair = this.pairs.find((p) => p.key === name || p.altname === name);
        if (!pair) return this.send(res, 200, { error: ['EQuery:Unknown asset pair'] });
        const since = Number(url.searchParams.get('since') ?? 0);
        const current = Math.floor(this.now / 60_000) * 60;
        const first = Math.max(current - 719 * 60, Math.floor(since / 60) * 60 + 60);
        const rows: unknown[] = [];
        for (let t = first; t <= current; t += 60) {
          const c = fakeCandle(pair, t);
          rows.push([
            t,
            String(c.open),
            String(c.high),
            String(c.low),
            String(c.close),
            String(c.vwap),
            String(c.volume),
            5,
          ]);
        }
        return this.send(res, 200, { error: [], result: { [pair.key]: rows, last: current } });
      }
      default:
        return this.send(res, 404, { error: ['EGeneral:Unknown method'] });
    }
  }
}
