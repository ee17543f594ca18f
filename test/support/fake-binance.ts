/**
 * A local HTTP server that plays Binance's public spot REST API in its documented formats:
 *   GET /api/v3/exchangeInfo            symbols with status, base/quote assets, filters
 *   GET /api/v3/ticker/24hr             every symbol's rolling 24h ticker (or `symbols=[...]`)
 *   GET /api/v3/klines                  1-minute candles [openTime, o, h, l, c, volume, closeTime, quoteVolume, ...]
 * Errors are `{"code": -1121, "msg": "Invalid symbol."}` with a 4xx; 429 and 418 carry Retry-After.
 * Every answer carries X-MBX-USED-WEIGHT-1M, and the fake keeps the documented request weight of
 * each call, so a test can check the 6,000-per-minute limit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FakeApi } from './fake-kraken.js';

export interface BinanceSymbol {
  symbol: string;
  base: string;
  quote: string;
  /** Price level the ticker and candles move around. */
  price: number;
  status?: string;
}

export const DEFAULT_BINANCE_SYMBOLS: BinanceSymbol[] = [
  { symbol: 'BTCUSDT', base: 'BTC', quote: 'USDT', price: 60_000 },
  { symbol: 'ETHUSDT', base: 'ETH', quote: 'USDT', price: 3_000 },
  { symbol: 'BTCUSDC', base: 'BTC', quote: 'USDC', price: 60_005 },
  { symbol: 'ETHBTC', base: 'ETH', quote: 'BTC', price: 0.05 },
  { symbol: 'SOLUSDT', base: 'SOL', quote: 'USDT', price: 150 },
];

const MINUTE = 60_000;

/** Binance's documented request weights (spot REST, 2024 onward). */
export function binanceWeight(path: string, query: URLSearchParams): number {
  if (path === '/api/v3/exchangeInfo') return 20;
  if (path === '/api/v3/klines') return 2;
  if (path === '/api/v3/ticker/24hr') {
    if (query.has('symbol')) return 2;
    const list = query.get('symbols');
    if (!list) return 80;
    const n = (JSON.parse(list) as unknown[]).length;
    return n <= 20 ? 2 : n <= 100 ? 40 : 80;
  }
  return 1;
}

/** The fake's volume for the one-minute candle opening at `openMs`, different per symbol and minute. */
export function binanceCandleVolume(symbol: string, openMs: number): number {
  let h = 0;
  for (const ch of symbol) h = (h * 31 + ch.charCodeAt(0)) % 997;
  return (1 + (h % 7)) * (1 + ((openMs / MINUTE) % 5)) + 0.125;
}

export function binanceCandlePrice(s: BinanceSymbol, openMs: number): number {
  return s.price * (1 + 0.001 * Math.sin(openMs / MINUTE));
}

export class FakeBinance extends FakeApi {
  symbols: BinanceSymbol[];
  /** The fake's clock: the minute in progress and the candles closed before it. */
  now = Date.now();
  /** Weight spent, by the minute (epoch minute) it was spent in by the fake's clock. */
  readonly weightByMinute = new Map<number, number>();
  /** Until this time (real clock) every request is answered 418, as Binance bans an IP that ignored 429. */
  bannedUntil = 0;

  constructor(symbols: BinanceSymbol[] = DEFAULT_BINANCE_SYMBOLS) {
    super();
    this.symbols = symbols.map((s) => ({ ...s }));
  }

  static async start(symbols?: BinanceSymbol[]): Promise<FakeBinance> {
    const fake = new FakeBinance(symbols);
    await fake.listen((req, res) => fake.handle(req, res));
    return fake;
  }

  private candle(s: BinanceSymbol, open: number): unknown[] {
    const close = binanceCandlePrice(s, open);
    const volume = binanceCandleVolume(s.symbol, open);
    return [
      open,
      String(s.price),
      String(close * 1.001),
      String(close * 0.999),
      String(close),
      String(volume),
      open + MINUTE - 1,
      String(volume * close),
      12,
      String(volume / 2),
      String((volume / 2) * close),
      '0',
    ];
  }

  private ticker(s: BinanceSymbol): Record<string, unknown> {
    const last = binanceCandlePrice(s, Math.floor(this.now / MINUTE) * MINUTE);
    const open = s.price * 0.98;
    const volume = 1_000 + s.price / 100;
    return {
      symbol: s.symbol,
      priceChange: String(last - open),
      priceChangePercent: (((last - open) / open) * 100).toFixed(3),
      weightedAvgPrice: String(s.price),
      prevClosePrice: String(open),
      lastPrice: String(last),
      lastQty: '0.01',
      bidPrice: String(last * 0.9999),
      bidQty: '1',
      askPrice: String(last * 1.0001),
      askQty: '1',
      openPrice: String(open),
      highPrice: String(s.price * 1.02),
      lowPrice: String(s.price * 0.97),
      volume: String(volume),
      quoteVolume: String(volume * s.price),
      openTime: this.now - 86_400_000,
      closeTime: this.now,
      firstId: 1,
      lastId: 1000,
      count: 1000,
    };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const minute = Math.floor(this.now / MINUTE);
    const used = (this.weightByMinute.get(minute) ?? 0) + binanceWeight(url.pathname, url.searchParams);
    this.weightByMinute.set(minute, used);
    if (this.bannedUntil > Date.now()) {
      return this.send(
        res,
        418,
        { code: -1003, msg: 'Way too many requests; IP banned.' },
        { 'retry-after': String(Math.ceil((this.bannedUntil - Date.now()) / 1000)) },
      );
    }
    const fault = this.takeFault(url.pathname);
    if (this.applyFault(fault, res, (msg) => ({ code: -1000, msg }))) return;
    const headers = { 'x-mbx-used-weight-1m': String(used) };
    const listed = this.symbols.filter((s) => (s.status ?? 'TRADING') === 'TRADING');
    if (url.pathname === '/api/v3/exchangeInfo') {
      return this.send(
        res,
        200,
        {
          timezone: 'UTC',
          serverTime: this.now,
          rateLimits: [
            { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
            { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
          ],
          exchangeFilters: [],
          symbols: this.symbols.map((s) => ({
            symbol: s.symbol,
            status: s.status ?? 'TRADING',
            baseAsset: s.base,
            baseAssetPrecision: 8,
            quoteAsset: s.quote,
            quotePrecision: 8,
            quoteAssetPrecision: 8,
            baseCommissionPrecision: 8,
            quoteCommissionPrecision: 8,
            orderTypes: ['LIMIT', 'MARKET'],
            icebergAllowed: true,
            ocoAllowed: true,
            isSpotTradingAllowed: true,
            isMarginTradingAllowed: false,
            filters: [
              { filterType: 'PRICE_FILTER', minPrice: '0.00000100', maxPrice: '1000000.00', tickSize: '0.00000100' },
              { filterType: 'LOT_SIZE', minQty: '0.00001000', maxQty: '9000.00', stepSize: '0.00001000' },
            ],
            permissions: [],
            permissionSets: [['SPOT']],
            defaultSelfTradePreventionMode: 'EXPIRE_MAKER',
            allowedSelfTradePreventionModes: ['EXPIRE_MAKER'],
          })),
        },
        headers,
      );
    }
    if (url.pathname === '/api/v3/ticker/24hr') {
      const one = url.searchParams.get('symbol');
      const list = url.searchParams.get('symbols');
      const drop = new Set(fault?.kind === 'partial' ? fault.drop : []);
      if (one) {
        const s = listed.find((x) => x.symbol === one);
        return s ? this.send(res, 200, this.ticker(s), headers) : this.invalidSymbol(res);
      }
      const wanted = list ? new Set(JSON.parse(list) as string[]) : undefined;
      if (wanted && [...wanted].some((w) => !listed.some((s) => s.symbol === w))) return this.invalidSymbol(res);
      const answer = listed.filter((s) => (!wanted || wanted.has(s.symbol)) && !drop.has(s.symbol));
      return this.send(
        res,
        200,
        answer.map((s) => this.ticker(s)),
        headers,
      );
    }
    if (url.pathname === '/api/v3/klines') {
      const s = this.symbols.find((x) => x.symbol === url.searchParams.get('symbol'));
      if (!s) return this.invalidSymbol(res);
      if (url.searchParams.get('interval') !== '1m')
        return this.send(res, 400, { code: -1120, msg: 'Invalid interval.' });
      const limit = Math.min(1000, Number(url.searchParams.get('limit') ?? 500));
      const current = Math.floor(this.now / MINUTE) * MINUTE;
      const end = Math.min(Number(url.searchParams.get('endTime') ?? current), current);
      const startParam = url.searchParams.get('startTime');
      const rows: unknown[] = [];
      // The minute in progress is included, as Binance does: its figures are still moving.
      let first = startParam ? Math.ceil(Number(startParam) / MINUTE) * MINUTE : end - (limit - 1) * MINUTE;
      first = Math.max(first, end - 2 * 86_400_000);
      for (let t = first; t <= end && rows.length < limit; t += MINUTE) rows.push(this.candle(s, t));
      return this.send(res, 200, rows, headers);
    }
    return this.send(res, 404, { code: -1000, msg: 'Not found' });
  }

  private invalidSymbol(res: ServerResponse): void {
    this.send(res, 400, { code: -1121, msg: 'Invalid symbol.' });
  }

  /** Weight spent in the fake's busiest minute. */
  maxWeightPerMinute(): number {
    return Math.max(0, ...this.weightByMinute.values());
  }
}
