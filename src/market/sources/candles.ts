/**
 * Rebuilding missed ticks from one-minute candles. The per-minute volume is the candles' own; the
 * 24h figures (high, low, change, volumes) are taken over the candles the source returned within
 * the 24 hours before each tick, so where history reaches back less than a day (Kraken: 12 hours)
 * they cover what is there.
 */
import type { HistoricQuote } from './types.js';

export interface Candle {
  /** Open time of the one-minute candle, epoch ms. */
  start: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  quoteVolume: number;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/** One quote per tick from `from` to `to` (inclusive) that closed candles cover. */
export function quotesFromCandles(
  market: string,
  candles: readonly Candle[],
  from: number,
  to: number,
  intervalMs: number,
): HistoricQuote[] {
  const sorted = [...candles].sort((a, b) => a.start - b.start);
  const rows: HistoricQuote[] = [];
  // Sliding 24h window over candle end times, with monotonic deques for its max and min.
  let head = 0; // first candle inside the window
  let tail = 0; // first candle not yet added
  let vol = 0;
  let quoteVol = 0;
  const maxQ: number[] = [];
  const minQ: number[] = [];
  const step = Math.max(intervalMs, MINUTE);
  const first = Math.ceil(from / step) * step;
  for (let ts = first; ts <= to; ts += step) {
    while (tail < sorted.length && sorted[tail]!.start + MINUTE <= ts) {
      const c = sorted[tail]!;
      vol += c.volume;
      quoteVol += c.quoteVolume;
      while (maxQ.length && sorted[maxQ[maxQ.length - 1]!]!.high <= c.high) maxQ.pop();
      maxQ.push(tail);
      while (minQ.length && sorted[minQ[minQ.length - 1]!]!.low >= c.low) minQ.pop();
      minQ.push(tail);
      tail++;
    }
    while (head < tail && sorted[head]!.start + MINUTE <= ts - DAY) {
      vol -= sorted[head]!.volume;
      quoteVol -= sorted[head]!.quoteVolume;
      head++;
    }
    while (maxQ.length && maxQ[0]! < head) maxQ.shift();
    while (minQ.length && minQ[0]! < head) minQ.shift();
    if (head >= tail) continue;
    const lastCandle = sorted[tail - 1]!;
    // Only a tick whose own interval has a candle is rebuilt; older data would repeat a stale price.
    if (lastCandle.start + MINUTE <= ts - step) continue;
    let intervalVolume = 0;
    for (let i = tail - 1; i >= head && sorted[i]!.start + MINUTE > ts - step; i--) intervalVolume += sorted[i]!.volume;
    const open24 = sorted[head]!.open;
    const last = lastCandle.close;
    rows.push({
      market,
      ts: new Date(ts),
      last,
      high: sorted[maxQ[0]!]!.high,
      low: sorted[minQ[0]!]!.low,
      changePct: open24 > 0 ? ((last - open24) / open24) * 100 : 0,
      changeAbs: last - open24,
      volume24h: Math.max(0, vol),
      quoteVolume24h: Math.max(0, quoteVol),
      volumeMinute: intervalVolume / (step / MINUTE),
    });
  }
  return rows;
}
