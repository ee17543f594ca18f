/**
 * A local HTTP server that plays the Cryptowatch REST API in its documented format
 * (`/markets/summaries` keyed "exchange:pair", per-market OHLC, `X-CW-API-Key`, `{"error": ...}`
 * with 4xx/5xx, 429 when the allowance is spent), with the same faults as the Kraken fake.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FakeApi } from './fake-kraken.js';

export interface CwMarket {
  key: string;
  last: number;
  high: number;
  low: number;
  /** A fraction, as Cryptowatch sends it. */
  changeFraction: number;
  volume: number;
}

export const DEFAULT_CW_MARKETS: CwMarket[] = [
  { key: 'kraken:btcusd', last: 60_000, high: 61_000, low: 59_000, changeFraction: 0.0123, volume: 2_000 },
  { key: 'kraken:ethusd', last: 3_000, high: 3_100, low: 2_900, changeFraction: -0.02, volume: 20_000 },
  { key: 'coinbase-pro:btcusd', last: 60_010, high: 61_010, low: 59_010, changeFraction: 0.012, volume: 5_000 },
  { key: 'binance:solusdt', last: 150, high: 155, low: 140, changeFraction: 0.05, volume: 900_000 },
];

/** The fake's one-minute candle volume for the candle closing at `closeTime` (epoch seconds). */
export function cwCandleVolume(closeTime: number): number {
  return 2 + ((closeTime / 60) % 5);
}

export class FakeCryptowatch extends FakeApi {
  markets: CwMarket[];
  /** When set, requests without this X-CW-API-Key are refused with 401. */
  apiKey?: string;
  now = Date.now();

  constructor(markets: CwMarket[] = DEFAULT_CW_MARKETS) {
    super();
    this.markets = markets.map((m) => ({ ...m }));
  }

  static async start(markets?: CwMarket[]): Promise<FakeCryptowatch> {
    const fake = new FakeCryptowatch(markets);
    await fake.listen((req, res) => fake.handle(req, res));
    return fake;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (this.apiKey && req.headers['x-cw-api-key'] !== this.apiKey)
      return this.send(res, 401, { error: 'Unauthorized' });
    const fault = this.takeFault(url.pathname);
    if (this.applyFault(fault, res, (message) => ({ error: message }))) return;
    if (fault?.kind === 'api-error') return this.send(res, 400, { error: fault.error });
    const drop = new Set(fault?.kind === 'partial' ? fault.drop : []);
    const allowance = { cost: 0.005, remaining: 9.9, upgrade: 'For unlimited API access, create an account' };
    if (url.pathname === '/markets/summaries') {
      const result: Record<string, unknown> = {};
      for (const m of this.markets) {
        if (drop.has(m.key)) continue;
        result[m.key] = {
          price: {
            last: m.last,
            high: m.high,
            low: m.low,
            change: { percentage: m.changeFraction, absolute: m.last * m.changeFraction },
          },
          volume: m.volume,
          volumeQuote: m.volume * m.last,
        };
      }
      return this.send(res, 200, { result, allowance });
    }
    const ohlc = /^\/markets\/([^/]+)\/([^/]+)\/ohlc$/.exec(url.pathname);
    if (ohlc) {
      const m = this.markets.find((x) => x.key === `${ohlc[1]}:${ohlc[2]}`);
      if (!m) return this.send(res, 404, { error: 'Instrument not found' });
      const after = Number(url.searchParams.get('after') ?? 0);
      const lastClosed = Math.floor(this.now / 60_000) * 60;
      const rows: number[][] = [];
      for (let t = Math.max(after, lastClosed - 1439 * 60); t <= lastClosed; t += 60) {
        if (t % 60 !== 0) continue;
        const close = m.last * (1 + 0.001 * Math.sin(t / 60));
        const volume = cwCandleVolume(t);
        rows.push([t, m.last, close * 1.001, close * 0.999, close, volume, volume * close]);
      }
      return this.send(res, 200, { result: { '60': rows }, allowance });
    }
    return this.send(res, 404, { error: 'Route not found' });
  }
}
