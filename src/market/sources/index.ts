/**
 * MARKET_SOURCE names to source factories. A new exchange (Coinbase, Binance) is one file in this
 * folder and one line here (and its name in config.ts's SOURCE_NAMES, which validates the setting).
 */
import type { SourceName } from '../../config.js';
import { cryptowatchSource } from './cryptowatch.source.js';
import { krakenSource } from './kraken.source.js';
import { simulatedSource } from './simulated.source.js';
import type { SourceFactory } from './types.js';

export const SOURCES: Record<SourceName, SourceFactory> = {
  kraken: krakenSource,
  cryptowatch: cryptowatchSource,
  simulated: simulatedSource,
};

export function createSource(name: SourceName, ...args: Parameters<SourceFactory>) {
  return SOURCES[name](...args);
}

export * from './types.js';
export { isSimulatedSpike, SIMULATED_SPIKE_MULTIPLIER, simulatedMarkets, simulatedQuote } from './simulated.source.js';
