/**
 * Kraken's public REST API, the default live source.
 *   /0/public/AssetPairs  every pair: key `XXBTZUSD`, altname `XBTUSD`, wsname `XBT/USD`
 *   /0/public/Ticker      many pairs per call (all when no `pair`); arrays are [today, last 24h]
 *   /0/public/OHLC        one pair's one-minute candles, at most 720, the last one still open
 * Errors arrive as HTTP 200 with a non-empty `error` array. `v[0]` is the base volume since
 * 00:00 UTC, which the collector differences into a per-minute volume. Change is last against
 * today's open (`o`, 00:00 UTC), the only open the ticker gives.
 */
import type { Config } from '../../config.js';
import { aliasesFor, canonicalId, normaliseAsset, normaliseInput } from '../market-id.js';
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

export interface KrakenMarket extends SourceMarket {
  altname: string;
  wsname?: string;
}

/** Legacy four-letter asset codes; newer assets use their plain ticker. */
const LEGACY = /^[XZ](XBT|XDG|ETH|LTC|XRP|XLM|XMR|ZEC|ETC|MLN|REP|USD|EUR|GBP|JPY|CAD|AUD|CHF)$/;

function assetName(code: string): string {
  const m = LEGACY.exec(code.toUpperCase());
  return normaliseAsset(m ? m[1]! : code);
}

/** Turns Kraken's envelope into its result, or throws the SourceError its `error` array means. */
export function krakenResult(body: unknown, what: string): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw new SourceError('malformed', `${what}: not a Kraken answer`);
  const { error, result } = body as { error?: unknown; result?: unknown };
  if (Array.isArray(error) && error.length > 0) {
    const text = error.map(String).join('; ');
    if (/EAPI:Rate limit|too many requests/i.test(text)) throw new SourceError('rate_limited', `${what}: ${text}`);
    if (/EService:/i.test(text)) throw new SourceError('http_5xx', `${what}: ${text}`);
    throw new SourceError('api_error', `${what}: ${text}`);
  }
  if (!result || typeof result !== 'object' || Array.isArray(result))
    throw new SourceError('malformed', `${what}: answer has no result object`);
  return result as Record<string, unknown>;
}

export function parseAssetPairs(result: Record<string, unknown>): KrakenMarket[] {
  const markets: KrakenMarket[] = [];
  for (const [key, value] of Object.entries(result)) {
    if (!value || typeof value !== 'object' || key.endsWith('.d')) continue;
    const p = value as { altname?: unknown; wsname?: unknown; base?: unknown; quote?: unknown; status?: unknown };
    if (p.status !== undefined && p.status !== 'online') continue;
    let base: string | undefined;
    let quote: string | undefined;
    if (typeof p.wsname === 'string' && p.wsname.includes('/')) [base, quote] = p.wsname.split('/').map(assetName);
    else if (typeof p.base === 'string' && typeof p.quote === 'string')
      [base, quote] = [assetName(p.base), assetName(p.quote)];
    if (!base || !quote) continue;
    markets.push({
      id: canonicalId('kraken', base, quote),
      exchange: 'kraken',
      base,
      quote,
      symbol: key,
      altname: typeof p.altname === 'string' ? p.altname : key,
      wsname: typeof p.wsname === 'string' ? p.wsname : undefined,
      names: [typeof p.altname === 'string' ? p.altname : key, ...(typeof p.wsname === 'string' ? [p.wsname] : [])],
    });
  }
  return markets;
}

/**
 * A finite number from a number or numeric string (as types.ts' toNumber). Written out here for
 * the ticker's six figures per pair, thousands of pairs a tick: converting first and trimming
 * only when the answer is 0 (the one value a blank string converts to) keeps this off the profile.
 */
function figure(value: unknown): number | undefined {
  let n: number;
  if (typeof value === 'string') {
    n = Number(value);
    if (n === 0 && value.trim() === '') return undefined;
  } else if (typeof value === 'number') {
    n = value;
  } else {
    return undefined;
  }
  return Number.isFinite(n) ? n : undefined;
}

function item(list: unknown, i: number): number | undefined {
  return Array.isArray(list) ? figure(list[i]) : undefined;
}

/** One ticker entry as a quote, or undefined when a figure is missing or not finite. */
export function parseTicker(market: string, t: unknown): Quote | undefined {
  if (!t || typeof t !== 'object') return undefined;
  const e = t as Record<string, unknown>;
  const last = item(e.c, 0);
  const high = item(e.h, 1);
  const low = item(e.l, 1);
  const open = figure(e.o);
  const volumeToday = item(e.v, 0);
  const volume24h = item(e.v, 1);
  if (
    last === undefined ||
    high === undefined ||
    low === undefined ||
    open === undefined ||
    volumeToday === undefined ||
    volume24h === undefined
  ) {
    return undefined;
  }
  const vwap24h = item(e.p, 1);
  return {
    market,
    last,
    high,
    low,
    changePct: open > 0 ? ((last - open) / open) * 100 : 0,
    changeAbs: last - open,
    volume24h,
    quoteVolume24h: vwap24h !== undefined ? vwap24h * volume24h : undefined,
    volumeCum: volumeToday,
  };
}

export function krakenAliases(m: KrakenMarket): string[] {
  return aliasesFor('kraken', m.base, m.quote, [m.symbol, m.altname, ...(m.wsname ? [m.wsname] : [])]);
}

export function krakenSource(config: Config, options: SourceOptions = {}): MarketSource {
  const client = new JsonClient({
    baseUrl: config.market.krakenUrl,
    timeoutMs: config.market.timeoutMs,
    gapMs: config.market.requestGapMs,
    fetch: options.fetch,
  });
  const wanted = config.market.markets;

  async function pairs(signal?: AbortSignal): Promise<KrakenMarket[]> {
    const all = parseAssetPairs(krakenResult(await client.get('/0/public/AssetPairs', signal), 'AssetPairs'));
    if (wanted === 'all') return all;
    const keys = new Set(wanted.map(normaliseInput));
    return all.filter((m) => keys.has(m.id) || krakenAliases(m).some((a) => keys.has(a)));
  }

  function fromPairs(markets: KrakenMarket[], result: Record<string, unknown>, fetchedAt: Date): Snapshot {
    const bySymbol = new Map<string, KrakenMarket>();
    for (const m of markets) {
      bySymbol.set(m.symbol, m);
      bySymbol.set(m.altname, m);
    }
    const quotes: Quote[] = [];
    const seen = new Set<string>();
    for (const [key, entry] of Object.entries(result)) {
      const m = bySymbol.get(key);
      if (!m || seen.has(m.id)) continue;
      const quote = parseTicker(m.id, entry);
      if (quote) {
        quotes.push(quote);
        seen.add(m.id);
      }
    }
    const missing = markets.filter((m) => !seen.has(m.id)).map((m) => m.id);
    return { markets: markets.filter((m) => seen.has(m.id)), quotes, missing, fetchedAt };
  }

  return {
    name: 'kraken',
    historyReachMs: 720 * 60_000,

    async snapshot(ctx: FetchContext): Promise<Snapshot> {
      // With every pair tracked and the pairs known from the last tick, the ticker alone will do:
      // half the requests (Kraken limits them) and no 500 kB pair list to parse each minute. Any
      // pair it does not know, or a known one it leaves out, sends us back to AssetPairs.
      if (wanted === 'all' && ctx.known && ctx.known.size > 0 && !ctx.refresh) {
        const result = krakenResult(await client.get('/0/public/Ticker', ctx.signal), 'Ticker');
        const fetchedAt = new Date();
        const quotes: Quote[] = [];
        const markets: SourceMarket[] = [];
        let unknown = false;
        // for..in, not Object.entries: no [key, value] pair allocated per market.
        for (const key in result) {
          const m = ctx.known.get(key);
          if (!m) {
            unknown = true;
            break;
          }
          const quote = parseTicker(m.id, result[key]);
          if (quote) {
            quotes.push(quote);
            markets.push(m);
          }
        }
        if (!unknown && markets.length === ctx.known.size) return { markets, quotes, missing: [], fetchedAt };
        return fromPairs(await pairs(ctx.signal), result, fetchedAt);
      }
      const markets = await pairs(ctx.signal);
      if (markets.length === 0) return { markets, quotes: [], missing: [], fetchedAt: new Date() };
      // Without `pair` the ticker answers for every pair in one call; a list is sent only when asked.
      const query = wanted === 'all' ? '' : `?pair=${markets.map((m) => m.symbol).join(',')}`;
      const result = krakenResult(await client.get(`/0/public/Ticker${query}`, ctx.signal), 'Ticker');
      return fromPairs(markets, result, new Date());
    },

    async history(request: HistoryRequest): Promise<HistoryResult> {
      const rows = [];
      let covered = 0;
      for (const m of request.markets) {
        if (request.deadline !== undefined && Date.now() > request.deadline) break;
        const since = Math.floor((request.from.getTime() - 86_400_000) / 1000);
        const result = krakenResult(
          await client.get(
            `/0/public/OHLC?pair=${encodeURIComponent(m.symbol)}&interval=1&since=${since}`,
            request.signal,
          ),
          'OHLC',
        );
        const key = Object.keys(result).find((k) => k !== 'last');
        const raw = key ? result[key] : undefined;
        if (!Array.isArray(raw)) throw new SourceError('malformed', `OHLC for ${m.symbol}: no candle list`);
        const now = Date.now();
        const candles: Candle[] = [];
        // The last row is the minute still in progress.
        for (const row of raw.slice(0, -1)) {
          if (!Array.isArray(row)) continue;
          const [time, open, high, low, close, vwap, volume] = row.map(toNumber);
          if ([time, open, high, low, close, volume].some((v) => v === undefined)) continue;
          const start = time! * 1000;
          if (start + 60_000 > now) continue; // still open
          candles.push({
            start,
            open: open!,
            high: high!,
            low: low!,
            close: close!,
            volume: volume!,
            quoteVolume: (vwap ?? close!) * volume!,
          });
        }
        const built = quotesFromCandles(
          m.id,
          candles,
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
