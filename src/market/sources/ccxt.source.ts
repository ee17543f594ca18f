/**
 * Any exchange ccxt offers (binance, coinbase, bitstamp, ...), one MARKET_SOURCE name each.
 *   markets     loadMarkets once per exchange for the life of the process, reloaded on the hourly
 *               catalog refresh; spot markets only, mapped onto our ids (`binance:btc-usdt`)
 *   tickers     the bulk call (fetchTickers) where the exchange has one, else one call per market
 *   volume      tickers carry rolling 24h volumes, so the exact per-minute volume is the last closed
 *               one-minute candle of each market (fetchOHLCV), fetched at most once per minute;
 *               where that does not fit in the exchange's limit (ccxt-exchanges.ts) the source
 *               collects prices only and says so (`perMinuteVolume: false`)
 *   history     one-minute candles (fetchOHLCV), paginated; without it, missed ticks stay gaps
 * ccxt is loaded on first use (a Kraken-only deployment never pays for it), and each exchange
 * instance lives in a module-level cache keyed by id and options, as ccxt's Manual asks: its
 * markets and its request throttle survive from one tick to the next.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as CcxtLib from 'ccxt';
import type { Config } from '../../config.js';
import { aliasesFor, canonicalId, normaliseAsset, normaliseInput } from '../market-id.js';
import { volumePlan, type VolumePlan } from './ccxt-exchanges.js';
import { quotesFromCandles, type Candle } from './candles.js';
import { parseRetryAfter } from './http.js';
import {
  SourceError,
  type FetchContext,
  type HistoryRequest,
  type HistoryResult,
  type MarketSource,
  type Quote,
  type Snapshot,
  type SourceMarket,
  type SourceOptions,
} from './types.js';

type Ccxt = typeof CcxtLib;
type Exchange = CcxtLib.Exchange;

const MINUTE = 60_000;
const DAY = 86_400_000;
/** Markets are listed again after this long, on the collector's catalog refresh. */
const MARKETS_MAX_AGE_MS = 3_600_000;

let lib: Ccxt | undefined;

/** ccxt's single-file CommonJS build: one copy, loaded on first use. */
export function ccxtLibrary(): Ccxt {
  lib ??= createRequire(import.meta.url)('ccxt') as Ccxt;
  return lib;
}

export interface CcxtMarket extends SourceMarket {
  /** The exchange's own id (`BTCUSDT`, `BTC-USD`); `symbol` is ccxt's unified `BTC/USDT`. */
  exchangeId: string;
}

interface Instance {
  exchange: Exchange;
  loadedAt: number;
  loading?: Promise<void>;
  /** Requests are refused before they are sent until then (418 ban, 429 Retry-After). */
  pausedUntil: number;
  /** Last closed minute's candles by market, so a 10 s interval pays for candles once a minute. */
  minuteVolumes: { minute: number; byMarket: Map<string, number | null> };
  /** Calls made through this instance, by ccxt method, for the request count checks. */
  calls: Map<string, number>;
}

const instances = new Map<string, Instance>();

/** Forgets every exchange instance (tests that start again from nothing). */
export function resetCcxtInstances(): void {
  instances.clear();
}

/** The cached ccxt instance for this exchange and config (benchmarks, diagnostics). */
export function ccxtExchange(id: string, config: Config): Exchange {
  return instanceFor(id, config).exchange;
}

/** Calls made by the cached instance of this exchange, by method. */
export function ccxtCalls(id: string): ReadonlyMap<string, number> {
  for (const [key, inst] of instances) if (key.startsWith(`${id}|`)) return inst.calls;
  return new Map();
}

/** Points every API URL of the exchange at another host, keeping each path. */
function rehost(api: unknown, base: string): unknown {
  if (typeof api === 'string') return api.replace(/^https?:\/\/[^/]+/, base);
  if (api && typeof api === 'object')
    return Object.fromEntries(Object.entries(api).map(([k, v]) => [k, rehost(v, base)]));
  return api;
}

function instanceFor(id: string, config: Config): Instance {
  const url = config.market.ccxtUrls[id];
  const key = `${id}|${url ?? ''}|${config.market.timeoutMs}`;
  const cached = instances.get(key);
  if (cached) return cached;
  const ccxt = ccxtLibrary();
  const Klass = (ccxt as unknown as Record<string, new (options: object) => Exchange>)[id];
  const offered = ccxt.exchanges as unknown;
  const known = Array.isArray(offered) ? (offered as string[]) : Object.keys(offered as object);
  if (!known.includes(id) || typeof Klass !== 'function')
    throw new SourceError('api_error', `"${id}" is not an exchange ccxt ${ccxt.version} offers`);
  const exchange = new Klass({
    enableRateLimit: true,
    // The last answer's text is otherwise kept until the next one (about 1 MB for Binance's tickers).
    enableLastHttpResponse: false,
    timeout: config.market.timeoutMs,
    // Spot markets only: no futures, margin or options listings asked at load.
    options: { defaultType: 'spot', fetchMarkets: { types: ['spot'] }, fetchMargins: false },
  });
  // Currency metadata is not needed and costs several requests on some exchanges (coinbase).
  exchange.has = { ...exchange.has, fetchCurrencies: false };
  if (url) exchange.urls = { ...exchange.urls, api: rehost(exchange.urls.api, url) as typeof exchange.urls.api };
  const inst: Instance = {
    exchange,
    loadedAt: 0,
    pausedUntil: 0,
    minuteVolumes: { minute: -1, byMarket: new Map() },
    calls: new Map(),
  };
  instances.set(key, inst);
  return inst;
}

/**
 * The markets as loaded, on disk beside the database files. A process (or a worker thread started
 * per tick) that finds a copy younger than the hourly refresh starts from it instead of asking the
 * exchange again: the market listing is the costliest call on most exchanges (Binance: weight 20).
 */
function marketsFile(id: string, config: Config): string {
  const url = config.market.ccxtUrls[id];
  const tag = url ? `-${createHash('sha1').update(url).digest('hex').slice(0, 8)}` : '';
  return join(config.mongo.dataDir, 'ccxt-markets', `${id}${tag}.json`);
}

async function restoreMarkets(inst: Instance, id: string, config: Config): Promise<void> {
  try {
    const file = marketsFile(id, config);
    const { mtimeMs } = await stat(file);
    if (Date.now() - mtimeMs > MARKETS_MAX_AGE_MS) return;
    const saved = JSON.parse(await readFile(file, 'utf8')) as { markets: CcxtLib.Dictionary<CcxtLib.MarketInterface> };
    inst.exchange.setMarkets(saved.markets);
    inst.loadedAt = mtimeMs;
    inst.calls.set('restoreMarkets', (inst.calls.get('restoreMarkets') ?? 0) + 1);
  } catch {
    // No copy, or an unreadable one: the exchange is asked.
  }
}

async function keepMarkets(inst: Instance, id: string, config: Config): Promise<void> {
  try {
    const file = marketsFile(id, config);
    await mkdir(dirname(file), { recursive: true });
    // Written whole then renamed: a reader never sees half a file.
    const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temp, JSON.stringify({ markets: inst.exchange.markets }));
    await rename(temp, file);
  } catch {
    // A read-only data folder costs a market listing per process, nothing more.
  }
}

function header(headers: unknown, name: string): string | null {
  if (!headers || typeof headers !== 'object') return null;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return String(v);
  return null;
}

/** ccxt's error classes onto the collector's kinds; a rate limit also pauses the instance. */
function classify(err: unknown, inst: Instance, what: string): SourceError {
  if (err instanceof SourceError) return err;
  const ccxt = ccxtLibrary();
  const message = `${what}: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500);
  // Some exchanges' 429 bodies reach ccxt as a plain ExchangeError: the status still says it.
  const limited = err instanceof Error && /\b429\b|rate.?limit/i.test(err.message);
  if (err instanceof ccxt.DDoSProtection || limited) {
    // 429 and 418 (Binance's ban for ignoring 429) both carry Retry-After: nothing is sent before it.
    const retryAfterMs = parseRetryAfter(header(inst.exchange.last_response_headers, 'retry-after')) ?? 60_000;
    inst.pausedUntil = Math.max(inst.pausedUntil, Date.now() + retryAfterMs);
    return new SourceError('rate_limited', message, { retryAfterMs });
  }
  if (err instanceof ccxt.RequestTimeout) return new SourceError('timeout', message);
  if (err instanceof ccxt.ExchangeNotAvailable) return new SourceError('http_5xx', message);
  if (err instanceof ccxt.NetworkError) return new SourceError('network', message);
  if (err instanceof ccxt.BadRequest) return new SourceError('http_4xx', message);
  if (err instanceof ccxt.ExchangeError) return new SourceError('api_error', message);
  return new SourceError('malformed', message);
}

/** One figure of a ticker or candle, finite or undefined. */
function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** An asset as our ids write it: lower case, letters and digits only, XBT as BTC. */
function asset(code: string): string {
  return normaliseAsset(code).replace(/[^a-z0-9]/g, '');
}

export function toSourceMarket(exchange: string, m: NonNullable<CcxtLib.Market>): CcxtMarket | undefined {
  if (!m.spot || m.active === false || !m.base || !m.quote || !m.symbol || !m.id) return undefined;
  const base = asset(m.base);
  const quote = asset(m.quote);
  if (!base || !quote) return undefined;
  return {
    id: canonicalId(exchange, base, quote),
    exchange,
    base,
    quote,
    symbol: m.symbol,
    exchangeId: m.id,
    names: [m.id],
  };
}

/**
 * A ccxt ticker as a quote. Where an exchange's bulk ticker gives no 24h high or low (coinbase's
 * product list), the last price stands for both; a ticker without a last price or a 24h volume is
 * left out.
 */
export function quoteFromTicker(market: string, t: CcxtLib.Ticker | undefined): Quote | undefined {
  if (!t) return undefined;
  const last = finite(t.last) ?? finite(t.close);
  if (last === undefined) return undefined;
  const quoteVolume = finite(t.quoteVolume);
  const volume24h = finite(t.baseVolume) ?? (quoteVolume !== undefined && last > 0 ? quoteVolume / last : undefined);
  if (volume24h === undefined) return undefined;
  const open = finite(t.open);
  const changePct = finite(t.percentage) ?? (open ? ((last - open) / open) * 100 : 0);
  const changeAbs = finite(t.change) ?? (open !== undefined ? last - open : undefined);
  return {
    market,
    last,
    high: finite(t.high) ?? last,
    low: finite(t.low) ?? last,
    changePct,
    ...(changeAbs !== undefined ? { changeAbs } : {}),
    volume24h,
    ...(quoteVolume !== undefined ? { quoteVolume24h: quoteVolume } : {}),
  };
}

export interface CcxtSource extends MarketSource {
  /** Known once the markets are loaded: false when per-minute volume does not fit the exchange's limit. */
  perMinuteVolume: boolean | undefined;
  /** The plan behind it (cost per minute against the documented limit). */
  plan: VolumePlan | undefined;
}

export function ccxtSource(id: string, config: Config, _options: SourceOptions = {}): CcxtSource {
  const inst = instanceFor(id, config);
  const ex = inst.exchange;
  const wanted = config.market.markets === 'all' ? 'all' : new Set(config.market.markets.map(normaliseInput));
  const intervalMs = config.market.intervalMs;

  async function call<T>(method: string, run: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw new SourceError('cancelled', 'cancelled');
    const wait = inst.pausedUntil - Date.now();
    if (wait > 0)
      throw new SourceError('rate_limited', `${id} asked us to wait ${Math.ceil(wait / 1000)} s more (Retry-After)`, {
        retryAfterMs: wait,
      });
    inst.calls.set(method, (inst.calls.get(method) ?? 0) + 1);
    try {
      return await run();
    } catch (err) {
      throw classify(err, inst, `${id} ${method}`);
    }
  }

  async function markets(refresh: boolean, signal?: AbortSignal): Promise<CcxtMarket[]> {
    if (inst.loadedAt === 0) await restoreMarkets(inst, id, config);
    const stale = Date.now() - inst.loadedAt > MARKETS_MAX_AGE_MS;
    if (inst.loadedAt === 0 || (refresh && stale)) {
      inst.loading ??= call('loadMarkets', () => ex.loadMarkets(inst.loadedAt !== 0), signal)
        .then(async () => {
          inst.loadedAt = Date.now();
          await keepMarkets(inst, id, config);
        })
        .finally(() => {
          inst.loading = undefined;
        });
      await inst.loading;
    }
    const out: CcxtMarket[] = [];
    for (const m of Object.values(ex.markets ?? {})) {
      const sm = m ? toSourceMarket(id, m) : undefined;
      if (!sm) continue;
      if (
        wanted !== 'all' &&
        !wanted.has(sm.id) &&
        !aliasesFor(id, sm.base, sm.quote, sm.names).some((a) => wanted.has(a))
      )
        continue;
      out.push(sm);
    }
    return out;
  }

  async function tickers(list: CcxtMarket[], signal?: AbortSignal): Promise<Map<string, CcxtLib.Ticker>> {
    const bySymbol = new Map<string, CcxtLib.Ticker>();
    if (ex.has.fetchTickers) {
      // Without a list the bulk call answers for every market at its flat cost.
      const symbols = wanted === 'all' ? undefined : list.map((m) => m.symbol);
      const answer = await call('fetchTickers', () => ex.fetchTickers(symbols), signal);
      for (const [symbol, t] of Object.entries(answer)) bySymbol.set(symbol, t);
      return bySymbol;
    }
    for (const m of list) {
      try {
        bySymbol.set(m.symbol, await call('fetchTicker', () => ex.fetchTicker(m.symbol), signal));
      } catch (err) {
        // One market's bad answer is a missing market; a limit or an outage fails the tick.
        if (!(err instanceof SourceError) || err.kind !== 'http_4xx') throw err;
      }
    }
    return bySymbol;
  }

  async function candles(m: CcxtMarket, since: number, limit: number, signal?: AbortSignal): Promise<Candle[]> {
    const rows = await call('fetchOHLCV', () => ex.fetchOHLCV(m.symbol, '1m', since, limit), signal);
    const now = Date.now();
    const out: Candle[] = [];
    for (const row of rows) {
      const [start, open, high, low, close, volume] = row.map(finite);
      if ([start, open, high, low, close, volume].some((v) => v === undefined)) continue;
      if (start! + MINUTE > now) continue; // the minute still in progress
      out.push({
        start: start!,
        open: open!,
        high: high!,
        low: low!,
        close: close!,
        volume: volume!,
        quoteVolume: close! * volume!,
      });
    }
    return out;
  }

  /** Per-minute volume of each market for the interval ending at `tick`, from its closed candles. */
  async function minuteVolumes(
    list: CcxtMarket[],
    tick: number,
    signal?: AbortSignal,
  ): Promise<Map<string, number | null>> {
    const step = Math.max(intervalMs, MINUTE);
    // The last minute closed by this tick: a 10 s interval asks once per minute and reuses it.
    const minute = Math.floor(tick / MINUTE) * MINUTE;
    const cache = inst.minuteVolumes;
    if (cache.minute !== minute) {
      cache.minute = minute;
      cache.byMarket = new Map();
    }
    const out = new Map<string, number | null>();
    const perCandle = step / MINUTE;
    for (const m of list) {
      const known = cache.byMarket.get(m.id);
      if (known !== undefined) {
        out.set(m.id, known);
        continue;
      }
      const since = minute - step;
      const built = quotesFromCandles(m.id, await candles(m, since, perCandle + 1, signal), minute, minute, step);
      const volume = built[0]?.volumeMinute ?? null;
      cache.byMarket.set(m.id, volume);
      out.set(m.id, volume);
    }
    return out;
  }

  const source: CcxtSource = {
    name: id,
    perMinuteVolume: undefined,
    plan: undefined,

    async snapshot(ctx: FetchContext): Promise<Snapshot> {
      const list = await markets(ctx.refresh === true, ctx.signal);
      const plan = volumePlan(id, list.length, wanted === 'all', intervalMs);
      source.plan = plan;
      source.perMinuteVolume = plan.perMinuteVolume && ex.has.fetchOHLCV === true;
      if (list.length === 0) return { markets: [], quotes: [], missing: [], fetchedAt: new Date() };
      const answer = await tickers(list, ctx.signal);
      const fetchedAt = new Date();
      const quotes: Quote[] = [];
      const seen: CcxtMarket[] = [];
      const missing: string[] = [];
      for (const m of list) {
        const q = quoteFromTicker(m.id, answer.get(m.symbol));
        if (q) {
          quotes.push(q);
          seen.push(m);
        } else missing.push(m.id);
      }
      if (source.perMinuteVolume) {
        const volumes = await minuteVolumes(seen, ctx.tick.getTime(), ctx.signal);
        for (const q of quotes) q.volumeMinute = volumes.get(q.market) ?? null;
      } else {
        for (const q of quotes) q.volumeMinute = null;
      }
      return { markets: seen, quotes, missing, fetchedAt };
    },
  };

  if (ex.has.fetchOHLCV) {
    Object.assign(source, { historyReachMs: 7 * DAY, history });
  }
  return source;

  async function history(request: HistoryRequest): Promise<HistoryResult> {
    // Pages of the exchange's largest candle answer: Binance 1,000, Coinbase 300, others 500.
    const page = id === 'binance' ? 1000 : id.startsWith('coinbase') ? 300 : 500;
    {
      const rows = [];
      let covered = 0;
      const all = await markets(false, request.signal);
      const byId = new Map(all.map((m) => [m.id, m]));
      for (const wantedMarket of request.markets) {
        if (request.deadline !== undefined && Date.now() > request.deadline) break;
        const m = byId.get(wantedMarket.id);
        if (!m) continue; // delisted since: its ticks stay gaps
        // A day before the first missed tick, so the rebuilt 24h figures cover a whole day.
        const collected: Candle[] = [];
        let since = request.from.getTime() - DAY;
        const end = request.to.getTime();
        while (since < end) {
          if (request.deadline !== undefined && Date.now() > request.deadline) break;
          const got = await candles(m, since, page, request.signal);
          if (got.length === 0) break;
          collected.push(...got);
          const next = got[got.length - 1]!.start + MINUTE;
          if (next <= since) break;
          since = next;
          if (got.length < page - 1) break;
        }
        const built = quotesFromCandles(m.id, collected, request.from.getTime(), end, request.intervalMs);
        if (built.length) covered++;
        rows.push(...built);
      }
      return { rows, covered };
    }
  }
}
