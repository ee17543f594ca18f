/**
 * What the collector knows about exchanges reached through ccxt, without loading ccxt itself (a
 * 60 MB module the main thread never needs): the ids ccxt offers, each exchange's documented rate
 * limit and what our calls cost against it, and from those whether an exact per-minute volume fits
 * within the limit. docs/collector.md states the same figures.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The sources written by hand; every other MARKET_SOURCE name is a ccxt exchange id. */
export const BUILT_IN_SOURCES = ['kraken', 'cryptowatch', 'simulated'] as const;

let ids: readonly string[] | undefined;

/**
 * ccxt's exchange ids: one module per exchange in its `js/src` folder, listed without loading any.
 * Empty when ccxt is not installed.
 */
export function ccxtExchangeIds(): readonly string[] {
  if (ids) return ids;
  try {
    const entry = createRequire(import.meta.url).resolve('ccxt');
    const src = join(dirname(entry), '..', 'js', 'src');
    ids = readdirSync(src, { withFileTypes: true })
      .filter((f) => f.isFile() && f.name.endsWith('.js'))
      .map((f) => f.name.slice(0, -3))
      .sort();
  } catch {
    ids = [];
  }
  return ids;
}

export interface ExchangeLimits {
  /** The documented public limit, in `unit`s per minute, per IP. */
  perMinute: number;
  unit: 'weight' | 'requests';
  /** Where the figure comes from, for docs/collector.md. */
  documented: string;
  /** Cost of one tick's tickers for `markets` markets (`all` when every market is collected). */
  tickers(markets: number, all: boolean): number;
  /** Cost of one market's one-minute candles (one request). */
  candles: number;
  /** Cost of loading the market list (once, then hourly). */
  markets: number;
  /**
   * What ccxt's throttle waits between two candle calls (the exchange's `rateLimit` x the call's
   * cost in ccxt): a tick that asks N markets' candles takes at least N times this.
   */
  candleSpacingMs: number;
}

const LIMITS: Record<string, ExchangeLimits> = {
  binance: {
    perMinute: 6_000,
    unit: 'weight',
    documented: 'REQUEST_WEIGHT 6,000 per minute per IP; 429 then 418 (ban) with Retry-After',
    // GET /api/v3/ticker/24hr: 80 without symbols; with a list, 2 up to 20 symbols, 40 up to 100.
    tickers: (n, all) => (all || n > 100 ? 80 : n > 20 ? 40 : 2),
    candles: 2,
    markets: 20,
    // klines with limit < 100 cost 1 in ccxt, at rateLimit 50 ms.
    candleSpacingMs: 50,
  },
  coinbase: {
    perMinute: 600,
    unit: 'requests',
    documented: 'Advanced Trade public endpoints: 10 requests per second per IP; 429 beyond',
    tickers: () => 1,
    candles: 1,
    // Spot products, then the two futures listings ccxt asks for.
    markets: 3,
    // candles cost 3 in ccxt, at rateLimit 34 ms.
    candleSpacingMs: 102,
  },
  bitstamp: {
    perMinute: 1_000,
    unit: 'requests',
    documented: '400 requests per second, at most 10,000 per 10 minutes',
    tickers: () => 1,
    candles: 1,
    markets: 1,
    candleSpacingMs: 75,
  },
  kraken: {
    perMinute: 60,
    unit: 'requests',
    documented: 'public endpoints: about 1 request per second per IP',
    tickers: () => 1,
    candles: 1,
    markets: 1,
    candleSpacingMs: 1_000,
  },
};

/** An exchange without a documented figure here is held to one request a second. */
const CAUTIOUS: ExchangeLimits = {
  perMinute: 60,
  unit: 'requests',
  documented: 'not stated here; held to 1 request per second',
  tickers: () => 1,
  candles: 1,
  markets: 1,
  candleSpacingMs: 1_000,
};

export function limitsOf(exchange: string): ExchangeLimits {
  return LIMITS[exchange] ?? CAUTIOUS;
}

/**
 * Share of an exchange's limit the collector plans to use (the rest is for retries and backfill),
 * and of an interval its candle calls may take (the rest is for the tickers, the write, statistics).
 */
export const BUDGET_SHARE = 0.5;

export interface VolumePlan {
  /** Whether per-minute volume is taken from one-minute candles for every collected market. */
  perMinuteVolume: boolean;
  /** Planned cost per minute, in the exchange's unit, with and without candles. */
  costPerMinute: number;
  tickerCostPerMinute: number;
  budget: number;
  reason: string;
}

/**
 * Tickers are rolling 24h figures, so the exact per-minute volume comes from each market's last
 * closed one-minute candle: one request per market, paid at most once a minute whatever the
 * interval (a 10 s interval reuses the minute's candle). Those calls go out in one tick, spaced by
 * ccxt's throttle, so they must also fit in half an interval. When either does not fit, the
 * exchange collects prices only and says so.
 */
export function volumePlan(exchange: string, markets: number, all: boolean, intervalMs: number): VolumePlan {
  const l = limitsOf(exchange);
  const ticksPerMinute = 60_000 / intervalMs;
  const tickerCostPerMinute = ticksPerMinute * l.tickers(markets, all);
  const candleCostPerMinute = markets * l.candles * Math.min(1, ticksPerMinute);
  const budget = l.perMinute * BUDGET_SHARE;
  const costPerMinute = tickerCostPerMinute + candleCostPerMinute;
  const candleMs = markets * l.candleSpacingMs;
  const fitsLimit = costPerMinute <= budget;
  const fitsInterval = candleMs <= intervalMs * BUDGET_SHARE;
  const perMinuteVolume = fitsLimit && fitsInterval;
  const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  return {
    perMinuteVolume,
    costPerMinute: perMinuteVolume ? costPerMinute : tickerCostPerMinute,
    tickerCostPerMinute,
    budget,
    reason: perMinuteVolume
      ? `one-minute candles for ${markets} markets: ${Math.round(costPerMinute)} ${l.unit}/min of ${l.perMinute}, ${seconds(candleMs)} a tick`
      : !fitsLimit
        ? `one-minute candles for ${markets} markets would cost ${Math.round(costPerMinute)} ${l.unit}/min, over half of ${exchange}'s ${l.perMinute} ${l.unit}/min; list fewer markets in MARKETS`
        : `one-minute candles for ${markets} markets would take ${seconds(candleMs)} a tick at ${exchange}'s request spacing, over half the ${seconds(intervalMs)} interval; list fewer markets in MARKETS or collect less often`,
  };
}

export interface VolumeSupport {
  perMinuteVolume: boolean;
  /** Why not, in words a user can act on. */
  reason?: string;
}

/**
 * Whether a source gives an exact per-minute volume for its markets, from the configuration and
 * the number of markets it collects (the catalog's count): what /track checks before it accepts a
 * volume alert, without asking the exchange.
 */
export function volumeSupport(
  source: string,
  settings: { markets: 'all' | readonly string[]; intervalMs: number },
  marketCount: number,
): VolumeSupport {
  if (source === 'kraken' || source === 'simulated') return { perMinuteVolume: true };
  if (source === 'cryptowatch') {
    return settings.markets === 'all'
      ? {
          perMinuteVolume: false,
          reason:
            'the Cryptowatch-format source reads per-minute volume from candles only when MARKETS lists the markets',
        }
      : { perMinuteVolume: true };
  }
  const plan = volumePlan(source, marketCount, settings.markets === 'all', settings.intervalMs);
  return plan.perMinuteVolume ? { perMinuteVolume: true } : { perMinuteVolume: false, reason: plan.reason };
}
