/**
 * A local HTTP server that plays Bitstamp's public REST API v2 in its documented formats, the
 * endpoints ccxt's bitstamp class calls:
 *   GET /api/v2/markets/                 every market: name `BTC/USD`, market_symbol `btcusd`,
 *                                        base_currency, counter_currency, trading, market_type
 *   GET /api/v2/trading-pairs-info/      the older listing of the same pairs (url_symbol, minimum_order)
 *   GET /api/v2/ticker/                  every pair's ticker: last, high, low, open, vwap, volume (24h),
 *                                        open_24, percent_change_24, pair `BTC/USD`
 *   GET /api/v2/ticker/{pair}/           one pair's ticker
 *   GET /api/v2/ohlc/{pair}/             `{data: {pair, ohlc: [{timestamp, open, high, low, close, volume}]}}`,
 *                                        `step` seconds, `start`/`end` epoch s, `limit` 1 to 1,000; the
 *                                        minute in progress is included
 * Errors are `{"status": "error", "reason": ..., "response_code": ...}`. The documented limit is
 * 400 requests per second and 10,000 per 10 minutes; past it the fake answers 429 with Retry-After.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FakeApi } from './fake-kraken.js';

export interface BitstampPair {
  base: string;
  quote: string;
  price: number;
  /** `Enabled` by default; `Disabled` pairs are listed but not traded. */
  trading?: 'Enabled' | 'Disabled';
  /** `SPOT` by default; a `PERPETUAL` is listed beside the spot pairs. */
  type?: 'SPOT' | 'PERPETUAL';
}

export const DEFAULT_BITSTAMP_PAIRS: BitstampPair[] = [
  { base: 'BTC', quote: 'USD', price: 60_030 },
  { base: 'ETH', quote: 'USD', price: 3_002 },
  { base: 'BTC', quote: 'EUR', price: 55_000 },
  { base: 'ETH', quote: 'BTC', price: 0.05 },
  { base: 'XRP', quote: 'USD', price: 0.6, trading: 'Disabled' },
  { base: 'BTC', quote: 'USD', price: 60_040, type: 'PERPETUAL' },
];

const MINUTE = 60_000;
/** Bitstamp's documented limits. */
export const BITSTAMP_PER_SECOND = 400;
export const BITSTAMP_PER_10_MINUTES = 10_000;

/** The exchange's market symbol: `btcusd`, `btcusd-perp`. */
export function bitstampSymbol(p: BitstampPair): string {
  return `${p.base}${p.quote}${p.type === 'PERPETUAL' ? '-perp' : ''}`.toLowerCase();
}

/** The fake's volume for the one-minute candle opening at `openMs`, different per pair and minute. */
export function bitstampCandleVolume(symbol: string, openMs: number): number {
  let h = 0;
  for (const ch of symbol) h = (h * 13 + ch.charCodeAt(0)) % 991;
  return (0.25 + (h % 9)) * (1 + ((openMs / MINUTE) % 6)) + 0.5;
}

export function bitstampCandlePrice(p: BitstampPair, openMs: number): number {
  return p.price * (1 + 0.002 * Math.cos(openMs / MINUTE));
}

export class FakeBitstamp extends FakeApi {
  pairs: BitstampPair[];
  /** The fake's clock: the minute in progress and the candles closed before it. */
  now = Date.now();

  constructor(pairs: BitstampPair[] = DEFAULT_BITSTAMP_PAIRS) {
    super();
    this.pairs = pairs.map((p) => ({ ...p }));
  }

  static async start(pairs?: BitstampPair[]): Promise<FakeBitstamp> {
    const fake = new FakeBitstamp(pairs);
    await fake.listen((req, res) => fake.handle(req, res));
    return fake;
  }

  private market(p: BitstampPair): Record<string, unknown> {
    const perp = p.type === 'PERPETUAL';
    return {
      name: `${p.base}/${p.quote}${perp ? '-PERP' : ''}`,
      market_symbol: bitstampSymbol(p),
      base_currency: p.base,
      base_decimals: 8,
      counter_currency: p.quote,
      counter_decimals: p.price < 1 ? 5 : 2,
      minimum_order_value: '10',
      trading: p.trading ?? 'Enabled',
      instant_order_counter_decimals: 2,
      instant_and_market_orders: p.trading ?? 'Enabled',
      description: `${p.base} / ${p.quote}${perp ? ' Perpetual' : ''}`,
      market_type: p.type ?? 'SPOT',
      ...(perp
        ? { underlying_asset: 'Kaiko BTC Benchmark Reference Rate', payoff_type: 'Linear', contract_size: '1.00000000' }
        : {}),
    };
  }

  private ticker(p: BitstampPair): Record<string, unknown> {
    const last = bitstampCandlePrice(p, Math.floor(this.now / MINUTE) * MINUTE);
    const open24 = p.price * 0.99;
    const vwap = p.price * 1.001;
    return {
      timestamp: String(Math.floor(this.now / 1000)),
      open: String(p.price * 0.995),
      high: String(p.price * 1.03),
      low: String(p.price * 0.96),
      last: String(last),
      volume: String(800 + p.price / 500),
      vwap: String(vwap),
      bid: String(last * 0.9999),
      ask: String(last * 1.0001),
      side: '0',
      open_24: String(open24),
      percent_change_24: (((last - open24) / open24) * 100).toFixed(2),
      pair: `${p.base}/${p.quote}${p.type === 'PERPETUAL' ? '-PERP' : ''}`,
      market_type: p.type ?? 'SPOT',
    };
  }

  private error(
    res: ServerResponse,
    status: number,
    reason: string,
    code: string,
    headers: Record<string, string> = {},
  ) {
    this.send(res, status, { status: 'error', reason, response_code: code }, headers);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const { perSecond, per10Minutes } = this.recent(Date.now());
    if (perSecond > BITSTAMP_PER_SECOND || per10Minutes > BITSTAMP_PER_10_MINUTES)
      return this.error(res, 429, 'Request rejected due to exceeded rate limit.', '400.002', { 'retry-after': '60' });
    const fault = this.takeFault(url.pathname);
    if (
      this.applyFault(fault, res, (reason) => ({
        status: 'error',
        reason: fault?.kind === 'rate-limit' ? 'Request rejected due to exceeded rate limit.' : reason,
        response_code: fault?.kind === 'rate-limit' ? '400.002' : '500.000',
      }))
    )
      return;
    const traded = this.pairs.filter((p) => (p.trading ?? 'Enabled') === 'Enabled');
    const path = url.pathname;
    if (path === '/api/v2/markets/')
      return this.send(
        res,
        200,
        this.pairs.map((p) => this.market(p)),
      );
    if (path === '/api/v2/trading-pairs-info/') {
      return this.send(
        res,
        200,
        this.pairs.map((p) => {
          const { market_symbol, minimum_order_value, ...rest } = this.market(p);
          return { ...rest, url_symbol: market_symbol, minimum_order: `${minimum_order_value}.0 ${p.quote}` };
        }),
      );
    }
    if (path === '/api/v2/ticker/')
      return this.send(
        res,
        200,
        traded.map((p) => this.ticker(p)),
      );
    const one = /^\/api\/v2\/ticker\/([a-z0-9-]+)\/$/.exec(path);
    if (one) {
      const p = traded.find((x) => bitstampSymbol(x) === one[1]);
      return p ? this.send(res, 200, this.ticker(p)) : this.error(res, 404, 'Not found.', '404.002');
    }
    const ohlc = /^\/api\/v2\/ohlc\/([a-z0-9-]+)\/$/.exec(path);
    if (ohlc) {
      const p = this.pairs.find((x) => bitstampSymbol(x) === ohlc[1]);
      if (!p) return this.error(res, 404, 'Not found.', '404.002');
      const step = Number(url.searchParams.get('step'));
      const limit = Number(url.searchParams.get('limit'));
      if (step !== 60) return this.error(res, 400, 'Invalid step.', '400.001');
      if (!(limit >= 1 && limit <= 1000)) return this.error(res, 400, 'Invalid limit: 1 to 1000.', '400.011');
      const current = Math.floor(this.now / MINUTE) * MINUTE;
      const startParam = url.searchParams.get('start');
      const endParam = url.searchParams.get('end');
      const end = Math.min(endParam ? Number(endParam) * 1000 : current, current);
      const first = startParam ? Math.ceil((Number(startParam) * 1000) / MINUTE) * MINUTE : end - (limit - 1) * MINUTE;
      const rows: unknown[] = [];
      for (let t = first; t <= end && rows.length < limit; t += MINUTE) {
        const close = bitstampCandlePrice(p, t);
        rows.push({
          timestamp: String(t / 1000),
          open: String(p.price),
          high: String(close * 1.001),
          low: String(close * 0.999),
          close: String(close),
          volume: String(bitstampCandleVolume(bitstampSymbol(p), t)),
        });
      }
      return this.send(res, 200, { data: { pair: `${p.base}/${p.quote}`, ohlc: rows } });
    }
    return this.error(res, 404, 'Not found.', '404.001');
  }

  /** Requests within the last second and the last ten minutes, this one included. */
  private recent(at: number): { perSecond: number; per10Minutes: number } {
    let perSecond = 0;
    let per10Minutes = 0;
    for (let i = this.requests.length - 1; i >= 0; i--) {
      const age = at - this.requests[i]!.at;
      if (age >= 600_000) break;
      per10Minutes++;
      if (age < 1_000) perSecond++;
    }
    return { perSecond, per10Minutes };
  }
}
