/**
 * A Binance 24h ticker answer for `markets` spot markets, as a local fake serves it, and the work
 * of turning it into the product's quotes: JSON.parse, ccxt's parseTickers, our quoteFromTicker
 * over the markets the source maps. Shared by bench/collect.ts and bench/ccxt.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { ccxtExchange, ccxtSource, quoteFromTicker, toSourceMarket } from '../src/market/sources/ccxt.source.js';
import { FakeBinance } from '../test/support/fake-binance.js';

export interface BinanceAnswer {
  fake: FakeBinance;
  /** The raw answer of GET /api/v3/ticker/24hr for every market. */
  text: string;
  /** Parses and normalises `text`; returns how many quotes it made. */
  parseAndNormalise(): number;
  stop(): Promise<void>;
}

export function binanceMarkets(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const base = `A${i.toString(36).toUpperCase()}`;
    return { symbol: `${base}USDT`, base, quote: 'USDT', price: 1 + (i % 500) };
  });
}

export async function binanceAnswer(markets: number): Promise<BinanceAnswer> {
  const fake = await FakeBinance.start(binanceMarkets(markets));
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-binance-'));
  const config = loadConfig({
    MARKET_SOURCE: 'binance',
    CCXT_API_URLS: `binance=${fake.url}`,
    MARKETS: 'all',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
  });
  // One snapshot loads the markets into the shared instance, as the collector's first tick does.
  await ccxtSource('binance', config).snapshot({ tick: new Date(Math.floor(Date.now() / 60_000) * 60_000) });
  const exchange = ccxtExchange('binance', config);
  const bySymbol = new Map(
    Object.values(exchange.markets ?? {}).flatMap((m) => {
      const sm = m ? toSourceMarket('binance', m) : undefined;
      return sm ? [[sm.symbol, sm] as const] : [];
    }),
  );
  const text = await (await fetch(`${fake.url}/api/v3/ticker/24hr`)).text();
  return {
    fake,
    text,
    parseAndNormalise() {
      const raw = JSON.parse(text) as Parameters<typeof exchange.parseTickers>[0];
      const tickers = exchange.parseTickers(raw);
      let n = 0;
      for (const [symbol, t] of Object.entries(tickers)) {
        const m = bySymbol.get(symbol);
        if (m && quoteFromTicker(m.id, t)) n++;
      }
      return n;
    },
    async stop() {
      await fake.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
