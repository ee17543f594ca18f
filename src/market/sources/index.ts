/**
 * MARKET_SOURCE names to source factories. A new exchange (Coinbase, Binance) is one file in this
 * folder and one line here (and its name in config.ts's SOURCE_NAMES, which validates the setting).
 */
import type { SOURCE_NAMES, SourceName } from '../../config.js';
import { ccxtSource } from './ccxt.source.js';
import { cryptowatchSource } from './cryptowatch.source.js';
import { krakenSource } from './kraken.source.js';
import { simulatedSource } from './simulated.source.js';
import type { MarketSource, SourceFactory } from './types.js';

export const SOURCES: Record<(typeof SOURCE_NAMES)[number], SourceFactory> = {
  kraken: krakenSource,
  cryptowatch: cryptowatchSource,
  simulated: simulatedSource,
};

/** A hand-written source by name; any other name is a ccxt exchange id (config.ts checked it). */
export function createSource(name: SourceName, ...args: Parameters<SourceFactory>): MarketSource {
  const builtIn = (SOURCES as Record<string, SourceFactory | undefined>)[name];
  return builtIn ? builtIn(...args) : ccxtSource(name, ...args);
}

export * from './types.js';
export { isSimulatedSpike, SIMULATED_SPIKE_MULTIPLIER, simulatedMarkets, simulatedQuote } from './simulated.source.js';
