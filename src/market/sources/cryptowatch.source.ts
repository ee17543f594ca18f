/**
 * A Cryptowatch-format API. Cryptowatch's own public API was shut down by Kraken in 2023; the
 * format is documented and stable, so this source reads any server that speaks it
 * (CRYPTOWATCH_API_URL).
 *   GET /markets/summaries                      every market, keyed "exchange:pair"
 *   GET /markets/:exchange/:pair/ohlc?periods=60&after=   rows [closeTime, o, h, l, c, volume, quoteVolume]
 * `price.change.percentage` is a fraction (x100 here). `volume` is a rolling 24h total, which cannot
 * be differenced into a per-minute figure, so per-minute volume comes from the last closed candle,
 * one request per market: done when MARKETS is a list, left null for MARKETS=all.
 */
import type { Config } from '../../config.js';
import { aliasesFor, canonicalId, normaliseInput } from '../market-id.js';
import { quotesFromCandles, type Candle } from './candles.js';
import { JsonClient } from './http.js';
import {
  SourceError,
  toNumber,
  type FetchContext,
  type HistoryRequest,
  type HistoryResult,
  type MarketSource,
  type Quote,
  type Snapshot,
  type SourceMarket,
  type SourceOptions,
} from './types.js';

/** Quote assets, longest first, to split Cryptowatch's unseparated pair names (`btcusd`). */
const QUOTES = [
  'usdt',
  'usdc',
  'busd',
  'tusd',
  'dai',
  'usd',
  'eur',
  'gbp',
  'jpy',
  'cad',
  'aud',
  'chf',
  'krw',
  'try',
  'btc',
  'xbt',
  'eth',
  'bnb',
];

export function splitPair(pair: string): { base: string; quote: string } | undefined {
  const p = pair.toLowerCase();
  for (const q of QUOTES) {
    if (p.endsWith(q) && p.length > q.length) return { base: p.slice(0, -q.length), quote: q };
  }
  return undefined;
}

export function cryptowatchMarket(key: string): SourceMarket | undefined {
  const [exchange, pair] = key.split(':');
  if (!exchange || !pair) return undefined;
  const split = splitPair(pair);
  if (!split) return undefined;
  return {
    id: canonicalId(exchange, split.base, split.quote),
    exchange: exchange.toLowerCase(),
    base: split.base,
    quote: split.quote,
    symbol: pair.toLowerCase(),
  };
}

export function parseSummary(market: string, value: unknown): Quote | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as {
    price?: { last?: unknown; high?: unknown; low?: unknown; change?: { percentage?: unknown; absolute?: unknown } };
    volume?: unknown;
    volumeQuote?: unknown;
  };
  const last = toNumber(v.price?.last);
  const high = toNumber(v.price?.high);
  const low = toNumber(v.price?.low);
  const fraction = toNumber(v.price?.change?.percentage);
  const volume24h = toNumber(v.volume);
  if (
    last === undefined ||
    high === undefined ||
    low === undefined ||
    fraction === undefined ||
    volume24h === undefined
  )
    return undefined;
  return {
    market,
    last,
    high,
    low,
    changePct: fraction * 100,
    changeAbs: toNumber(v.price?.change?.absolute),
    volume24h,
    quoteVolume24h: toNumber(v.volumeQuote),
  };
}

function resultOf(body: unknown, what: string): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw new SourceError('malformed', `${what}: not a Cryptowatch answer`);
  const b = body as { result?: unknown; error?: unknown };
  if (b.error !== undefined && b.error !== null && b.error !== '')
    throw new SourceError('api_error', `${what}: ${String(b.error)}`);
  if (!b.result || typeof b.result !== 'object') throw new SourceError('malformed', `${what}: answer has no result`);
  return b.result;
}

function parseCandles(result: unknown): Candle[] {
  const rows = (result as Record<string, unknown>)['60'];
  if (!Array.isArray(rows)) throw new SourceError('malformed', 'OHLC: no 60-second candles');
  const candles: Candle[] = [];
  for (const row of rows) {
    if (!Array.isArray(row)) continue;
    const [close, open, high, low, price, volume, quoteVolume] = row.map(toNumber);
    if ([close, open, high, low, price, volume].some((v) => v === undefined)) continue;
    candles.push({
      start: close! * 1000 - 60_000,
      open: open!,
      high: high!,
      low: low!,
      close: price!,
      volume: volume!,
      quoteVolume: quoteVolume ?? price! * volume!,
    });
  }
  return candles;
}

export function cryptowatchSource(config: Config, options: SourceOptions = {}): MarketSource {
  const client = new JsonClient({
    baseUrl: config.market.cryptowatchUrl,
    timeoutMs: config.market.timeoutMs,
    gapMs: config.market.requestGapMs,
    headers: config.market.cryptowatchKey ? { 'X-CW-API-Key': config.market.cryptowatchKey } : undefined,
    fetch: options.fetch,
  });
  const wanted = config.market.markets === 'all' ? 'all' : new Set(config.market.markets.map(normaliseInput));

  async function candles(m: SourceMarket, afterMs: number, signal?: AbortSignal): Promise<Candle[]> {
    const market = `${encodeURIComponent(m.exchange)}/${encodeURIComponent(m.symbol)}`;
    const path = `/markets/${market}/ohlc?periods=60&after=${Math.floor(afterMs / 1000)}`;
    return parseCandles(resultOf(await client.get(path, signal), 'OHLC'));
  }

  return {
    name: 'cryptowatch',

    async snapshot(ctx: FetchContext): Promise<Snapshot> {
      const result = resultOf(await client.get('/markets/summaries', ctx.signal), 'summaries') as Record<
        string,
        unknown
      >;
      const fetchedAt = new Date();
      const markets: SourceMarket[] = [];
      const quotes: Quote[] = [];
      const found = new Set<string>();
      for (const [key, value] of Object.entries(result)) {
        const m = cryptowatchMarket(key);
        if (!m) continue;
        if (
          wanted !== 'all' &&
          !wanted.has(m.id) &&
          !aliasesFor(m.exchange, m.base, m.quote, m.symbol).some((a) => wanted.has(a))
        )
          continue;
        const quote = parseSummary(m.id, value);
        if (!quote) continue;
        markets.push(m);
        quotes.push(quote);
        found.add(m.id);
        for (const a of aliasesFor(m.exchange, m.base, m.quote, m.symbol)) found.add(a);
      }
      const missing = wanted === 'all' ? [] : [...wanted].filter((w) => !found.has(w));
      if (wanted !== 'all') {
        // Per-minute volume from each tracked market's last closed candle.
        const tick = ctx.tick.getTime();
        for (let i = 0; i < markets.length; i++) {
          const interval = Math.max(60_000, config.market.intervalMs);
          const rows = quotesFromCandles(
            markets[i]!.id,
            await candles(markets[i]!, tick - interval - 60_000, ctx.signal),
            tick,
            tick,
            config.market.intervalMs,
          );
          quotes[i]!.volumeMinute = rows[0]?.volumeMinute ?? null;
        }
      }
      return { markets, quotes, missing, fetchedAt };
    },

    async history(request: HistoryRequest): Promise<HistoryResult> {
      const rows = [];
      let covered = 0;
      for (const m of request.markets) {
        if (request.deadline !== undefined && Date.now() > request.deadline) break;
        const built = quotesFromCandles(
          m.id,
          await candles(m, request.from.getTime() - 86_400_000, request.signal),
          request.from.getTime(),
          request.to.getTime(),
          request.intervalMs,
        );
        if (built.length) covered++;
        rows.push(...built);
      }
      return { rows, covered };
    },
  };
}
