/**
 * The simulated source: a deterministic market generator for the offline demo and for tests that
 * need long histories fast. Every figure is a pure function of (SIMULATED_SEED, market, time), so any
 * past minute can be rebuilt exactly. How prices, volumes and spikes are made: docs/collector.md.
 */
import type { Config } from '../../config.js';
import { aliasesFor, canonicalId, normaliseInput } from '../market-id.js';
import type {
  FetchContext,
  HistoricQuote,
  HistoryRequest,
  HistoryResult,
  MarketSource,
  Quote,
  Snapshot,
  SourceMarket,
} from './types.js';

const MINUTE = 60_000;
const DAY_MINUTES = 1440;

/**
 * A spike minute's volume over the market's normal level. With spikes at most every 5 minutes and
 * noise bounded to 1.4x, the preceding hour's mean is at most 1.4*49/60 + 15*11/60 = 3.9 levels,
 * so a spike (15 levels) always exceeds 3x it.
 */
export const SIMULATED_SPIKE_MULTIPLIER = 15;

/** Base assets with a realistic price (USD) and daily turnover on one exchange (USD). */
const ASSETS: Array<[string, number, number]> = [
  ['btc', 60_000, 600e6],
  ['eth', 3_000, 300e6],
  ['sol', 150, 120e6],
  ['xrp', 0.6, 80e6],
  ['doge', 0.15, 60e6],
  ['ada', 0.45, 30e6],
  ['shib', 0.00002, 25e6],
  ['avax', 35, 20e6],
  ['dot', 7, 15e6],
  ['link', 15, 18e6],
  ['ltc', 80, 20e6],
  ['bnb', 550, 40e6],
  ['trx', 0.12, 10e6],
  ['uni', 8, 8e6],
  ['atom', 9, 7e6],
  ['xlm', 0.11, 6e6],
  ['etc', 25, 6e6],
  ['fil', 5, 5e6],
  ['near', 6, 6e6],
  ['apt', 9, 5e6],
  ['arb', 1.1, 7e6],
  ['op', 2.5, 6e6],
  ['pepe', 0.00001, 20e6],
  ['algo', 0.18, 3e6],
];

export interface SimulatedMarket extends SourceMarket {
  index: number;
  price0: number;
  /** Quote turnover per minute at the daily cycle's mean. */
  turnoverPerMinute: number;
  /** Std dev of one minute's log return. */
  sigmaMinute: number;
  cyclePhase: number;
}

type SimSettings = { market: Pick<Config['market'], 'simulatedSeed' | 'simulatedSpikeEveryMs'> };

/** 32-bit integer hash of a few integers (a murmur-style finaliser), uniform in [0, 1). */
function hash(a: number, b: number, c: number, d = 0): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
  h =
    Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) ^ Math.imul(c | 0, 0x297a2d39) ^ Math.imul((c / 4294967296) | 0, 0x61c88647);
  h = Math.imul(h ^ (h >>> 13), 0x27d4eb2d) ^ Math.imul(d + 0x165667b1, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return (h >>> 0) / 4294967296;
}

function stringHash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

function syntheticName(i: number): string {
  let n = i;
  let s = '';
  do {
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return `s${s}`;
}

/** The simulated markets for a config, in a fixed order. */
export function simulatedMarkets(config: {
  market: Pick<Config['market'], 'simulatedSeed' | 'simulatedMarkets'>;
}): SimulatedMarket[] {
  const seed = config.market.simulatedSeed;
  const out: SimulatedMarket[] = [];
  for (let i = 0; i < config.market.simulatedMarkets; i++) {
    const known = ASSETS[i];
    const base = known ? known[0] : syntheticName(i - ASSETS.length);
    // Synthetic markets spread log-uniformly over the real range of price levels and turnovers.
    const price0 = known ? known[1] : Math.exp(Math.log(2e-5) + hash(seed, i, 1) * (Math.log(6e4) - Math.log(2e-5)));
    const daily = known ? known[2] : Math.exp(Math.log(5e4) + hash(seed, i, 2) * (Math.log(5e7) - Math.log(5e4)));
    const sigmaDaily = 0.015 + hash(seed, i, 3) * 0.065;
    out.push({
      id: canonicalId('sim', base, 'usd'),
      exchange: 'sim',
      base,
      quote: 'usd',
      symbol: `${base.toUpperCase()}/USD`,
      index: i,
      price0: price0 * (0.85 + 0.3 * hash(seed, i, 4)),
      turnoverPerMinute: daily / DAY_MINUTES,
      sigmaMinute: sigmaDaily / Math.sqrt(DAY_MINUTES),
      cyclePhase: hash(seed, i, 5) * 2 * Math.PI,
    });
  }
  return out;
}

const OCTAVES = [5, 30, 120, 480, 1440, 5760];
/** Minutes between the points the 24h volume and high/low are summed over. */
const GRID_24H = 30;

/** Seeded value noise in [-1, 1], smoothly interpolated between integer knots. */
function valueNoise(seed: number, market: number, octave: number, x: number): number {
  const k = Math.floor(x);
  const t = x - k;
  const a = hash(seed, market, 100 + octave, k) * 2 - 1;
  const b = hash(seed, market, 100 + octave, k + 1) * 2 - 1;
  const s = t * t * (3 - 2 * t);
  return a + (b - a) * s;
}

/** The market's price at a (possibly fractional) minute since the epoch. */
export function simulatedPrice(seed: number, m: SimulatedMarket, minute: number): number {
  // sqrt(3) turns the noise's std (1/sqrt(3)) into one, so sigmaMinute * sqrt(period) is the octave's std.
  let logDelta = m.sigmaMinute * Math.sqrt(3) * (hash(seed, m.index, 99, Math.floor(minute)) * 2 - 1) * 0.5;
  for (let o = 0; o < OCTAVES.length; o++) {
    const period = OCTAVES[o]!;
    logDelta += m.sigmaMinute * Math.sqrt(period) * Math.sqrt(3) * 0.5 * valueNoise(seed, m.index, o, minute / period);
  }
  return m.price0 * Math.exp(logDelta);
}

function spikePhase(seed: number, market: string, everyMinutes: number): number {
  return Math.floor(hash(seed, stringHash(market), 7) * everyMinutes);
}

/** Whether the sample of `market` at `ts` (the minute ending at ts) carries an injected volume spike. */
export function isSimulatedSpike(market: string, ts: Date, config: SimSettings): boolean {
  const every = Math.round(config.market.simulatedSpikeEveryMs / MINUTE);
  if (every <= 0) return false;
  const minute = Math.ceil(ts.getTime() / MINUTE);
  return (minute + spikePhase(config.market.simulatedSeed, market, every)) % every === 0;
}

/** Normal base volume of the minute ending at `minute` (no noise, no spike). */
function volumeLevel(seed: number, m: SimulatedMarket, minute: number): number {
  const cycle = 1 + 0.35 * Math.sin((2 * Math.PI * (minute % DAY_MINUTES)) / DAY_MINUTES + m.cyclePhase);
  return (m.turnoverPerMinute * cycle) / simulatedPrice(seed, m, minute);
}

/** Base volume traded in the minute ending at `minute` (integer minutes since the epoch). */
export function simulatedMinuteVolume(config: SimSettings, m: SimulatedMarket, minute: number): number {
  const seed = config.market.simulatedSeed;
  const level = volumeLevel(seed, m, minute);
  if (isSimulatedSpike(m.id, new Date(minute * MINUTE), config)) return level * SIMULATED_SPIKE_MULTIPLIER;
  const noise = 0.7 + 0.35 * (hash(seed, m.index, 50, minute) + hash(seed, m.index, 51, minute));
  return level * noise;
}

/** The part of a quote fixed by the minute a tick falls in: at a sub-minute interval, ticks share it. */
interface MinuteFigures {
  end: number;
  minutes: number;
  high: number;
  low: number;
  volume24h: number;
  quoteVolume24h: number;
  volumeMinute: number;
}

function minuteFigures(config: SimSettings, m: SimulatedMarket, end: number, minutes: number): MinuteFigures {
  const seed = config.market.simulatedSeed;
  // 24h figures from a 30-minute grid plus every minute of the last ten: cheap (the generator is the
  // "exchange" of the pipeline benchmark, 5,000 markets a tick), and still exact for the freshest
  // (most looked at) part of the window.
  let high = Number.NEGATIVE_INFINITY;
  let low = Number.POSITIVE_INFINITY;
  let volume24h = 0;
  let quoteVolume24h = 0;
  for (let k = 0; k < 10; k++) {
    const p = simulatedPrice(seed, m, end - k);
    if (p > high) high = p;
    if (p < low) low = p;
  }
  for (let k = 0; k < DAY_MINUTES; k += GRID_24H) {
    const minute = end - k;
    const p = simulatedPrice(seed, m, minute);
    if (p > high) high = p;
    if (p < low) low = p;
    const v = volumeLevel(seed, m, minute) * 1.05 * GRID_24H;
    volume24h += v;
    quoteVolume24h += v * p;
  }
  let volume = 0;
  for (let k = 0; k < minutes; k++) volume += simulatedMinuteVolume(config, m, end - k);
  return { end, minutes, high, low, volume24h, quoteVolume24h, volumeMinute: volume / minutes };
}

/**
 * The full quote of a market at tick `ts`, the same whenever it is asked. `memo` (one entry per
 * market) keeps the minute's figures between ticks: at 10 s, five ticks in six only price the moment.
 */
export function simulatedQuote(
  config: Config,
  m: SimulatedMarket,
  ts: Date,
  intervalMs = config.market.intervalMs,
  memo?: Map<number, MinuteFigures>,
): HistoricQuote {
  const seed = config.market.simulatedSeed;
  const now = ts.getTime() / MINUTE;
  const last = simulatedPrice(seed, m, now);
  const dayAgo = simulatedPrice(seed, m, now - DAY_MINUTES);
  const end = Math.ceil(now);
  const minutes = Math.max(1, Math.min(60, Math.round(intervalMs / MINUTE)));
  let fixed = memo?.get(m.index);
  if (!fixed || fixed.end !== end || fixed.minutes !== minutes) {
    fixed = minuteFigures(config, m, end, minutes);
    memo?.set(m.index, fixed);
  }
  return {
    market: m.id,
    ts,
    last,
    high: Math.max(fixed.high, last),
    low: Math.min(fixed.low, last),
    changePct: ((last - dayAgo) / dayAgo) * 100,
    changeAbs: last - dayAgo,
    volume24h: fixed.volume24h,
    quoteVolume24h: fixed.quoteVolume24h,
    volumeMinute: fixed.volumeMinute,
  };
}

export function simulatedSource(config: Config): MarketSource {
  const all = simulatedMarkets(config);
  const wanted = config.market.markets;
  const keys = wanted === 'all' ? undefined : new Set(wanted.map(normaliseInput));
  const markets = keys
    ? all.filter((m) => keys.has(m.id) || aliasesFor(m.exchange, m.base, m.quote, m.symbol).some((a) => keys.has(a)))
    : all;
  const strip = ({ ts: _ts, ...quote }: HistoricQuote): Quote => quote;
  const memo = new Map<number, MinuteFigures>();
  return {
    name: 'simulated',
    historyReachMs: Number.POSITIVE_INFINITY,
    async snapshot(ctx: FetchContext): Promise<Snapshot> {
      const quotes = markets.map((m) => strip(simulatedQuote(config, m, ctx.tick, config.market.intervalMs, memo)));
      return { markets, quotes, missing: [], fetchedAt: new Date() };
    },
    async history(request: HistoryRequest): Promise<HistoryResult> {
      const byId = new Map(markets.map((m) => [m.id, m]));
      const rows: HistoricQuote[] = [];
      let covered = 0;
      for (const wantedMarket of request.markets) {
        const m = byId.get(wantedMarket.id);
        if (!m) continue;
        covered++;
        for (let t = request.from.getTime(); t <= request.to.getTime(); t += request.intervalMs) {
          rows.push(simulatedQuote(config, m, new Date(t), request.intervalMs));
        }
      }
      return { rows, covered };
    },
  };
}
