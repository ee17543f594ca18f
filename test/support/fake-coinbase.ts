/**
 * A local HTTP server that plays Coinbase's Advanced Trade public REST API in its documented formats:
 *   GET /api/v3/brokerage/market/products                     every product with price, 24h change and volume
 *   GET /api/v3/brokerage/market/products/:id/candles         `{candles: [{start, low, high, open, close, volume}]}`,
 *                                                             newest first, between `start` and `end` (epoch s)
 * Errors are `{"error": "NOT_FOUND", "message": ...}`; 429 carries `{"errors": [{"id": "rate_limit_exceeded"}]}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FakeApi } from './fake-kraken.js';

export interface CoinbaseProduct {
  id: string;
  base: string;
  quote: string;
  price: number;
  status?: string;
}

export const DEFAULT_COINBASE_PRODUCTS: CoinbaseProduct[] = [
  { id: 'BTC-USD', base: 'BTC', quote: 'USD', price: 60_020 },
  { id: 'ETH-USD', base: 'ETH', quote: 'USD', price: 3_001 },
  { id: 'BTC-USDT', base: 'BTC', quote: 'USDT', price: 60_010 },
];

const MINUTE = 60_000;

export function coinbaseCandleVolume(id: string, openMs: number): number {
  let h = 0;
  for (const ch of id) h = (h * 17 + ch.charCodeAt(0)) % 1009;
  return (0.5 + (h % 5)) * (1 + ((openMs / MINUTE) % 4));
}

export class FakeCoinbase extends FakeApi {
  products: CoinbaseProduct[];
  now = Date.now();

  constructor(products: CoinbaseProduct[] = DEFAULT_COINBASE_PRODUCTS) {
    super();
    this.products = products.map((p) => ({ ...p }));
  }

  static async start(products?: CoinbaseProduct[]): Promise<FakeCoinbase> {
    const fake = new FakeCoinbase(products);
    await fake.listen((req, res) => fake.handle(req, res));
    return fake;
  }

  private product(p: CoinbaseProduct): Record<string, unknown> {
    const last = p.price * (1 + 0.001 * Math.sin(Math.floor(this.now / MINUTE)));
    return {
      product_id: p.id,
      price: String(last),
      price_percentage_change_24h: '1.5',
      volume_24h: String(500 + p.price / 1000),
      volume_percentage_change_24h: '3.2',
      base_increment: '0.00000001',
      quote_increment: '0.01',
      quote_min_size: '1',
      quote_max_size: '150000000',
      base_min_size: '0.00000001',
      base_max_size: '3400',
      base_name: p.base,
      quote_name: p.quote,
      watched: false,
      is_disabled: false,
      new: false,
      status: p.status ?? 'online',
      cancel_only: false,
      limit_only: false,
      post_only: false,
      trading_disabled: false,
      auction_mode: false,
      product_type: 'SPOT',
      quote_currency_id: p.quote,
      base_currency_id: p.base,
      fcm_trading_session_details: null,
      mid_market_price: '',
      alias: '',
      alias_to: [],
      base_display_symbol: p.base,
      quote_display_symbol: p.quote,
      view_only: false,
      price_increment: '0.01',
      display_name: p.id,
      product_venue: 'CBE',
    };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const fault = this.takeFault(url.pathname);
    if (this.applyFault(fault, res, (message) => ({ errors: [{ id: 'rate_limit_exceeded', message }] }))) return;
    const listed = this.products.filter((p) => (p.status ?? 'online') === 'online');
    if (url.pathname === '/api/v3/brokerage/market/products') {
      if (url.searchParams.get('product_type') === 'FUTURE')
        return this.send(res, 200, { products: [], num_products: 0 });
      const ids = url.searchParams.getAll('product_ids');
      const answer = listed.filter((p) => ids.length === 0 || ids.includes(p.id));
      return this.send(res, 200, { products: answer.map((p) => this.product(p)), num_products: answer.length });
    }
    const candles = /^\/api\/v3\/brokerage\/market\/products\/([^/]+)\/candles$/.exec(url.pathname);
    if (candles) {
      const p = this.products.find((x) => x.id === decodeURIComponent(candles[1]!));
      if (!p) return this.send(res, 404, { error: 'NOT_FOUND', message: 'product not found' });
      if (url.searchParams.get('granularity') !== 'ONE_MINUTE')
        return this.send(res, 400, { error: 'INVALID_ARGUMENT', message: 'granularity' });
      const start = Number(url.searchParams.get('start')) * 1000;
      const end = Math.min(Number(url.searchParams.get('end')) * 1000, Math.floor(this.now / MINUTE) * MINUTE);
      if (!(end >= start) || (end - start) / MINUTE > 350)
        return this.send(res, 400, { error: 'INVALID_ARGUMENT', message: 'at most 350 candles' });
      const rows: unknown[] = [];
      for (let t = Math.ceil(start / MINUTE) * MINUTE; t <= end; t += MINUTE) {
        const close = p.price * (1 + 0.001 * Math.sin(t / MINUTE));
        rows.unshift({
          start: String(t / 1000),
          low: String(close * 0.999),
          high: String(close * 1.001),
          open: String(p.price),
          close: String(close),
          volume: String(coinbaseCandleVolume(p.id, t)),
        });
      }
      return this.send(res, 200, { candles: rows });
    }
    return this.send(res, 404, { error: 'NOT_FOUND', message: 'route not found' });
  }
}
