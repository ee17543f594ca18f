/**
 * Option definitions several commands share, so `metric` means the same thing in /metric, /rank
 * and /track, on every platform.
 */
import {
  METRIC_NAMES,
  RANK_BY_NAMES,
  WINDOW_NAMES,
  parseMetric,
  parseRankBy,
  parseWindow,
} from '../src/market/metrics.js';
import type { OptionDefinition } from '../src/chat/registry.js';

export const marketOption = {
  name: 'market',
  description: 'Market, e.g. btc-usd, BTC/USD or kraken:eth-eur',
  kind: 'market',
  required: true,
} as const satisfies OptionDefinition;

export const metricOption = (description: string) =>
  ({
    name: 'metric',
    description,
    kind: 'choice',
    choices: METRIC_NAMES,
    parse: parseMetric,
  }) as const satisfies OptionDefinition;

export const windowOption = {
  name: 'window',
  description: 'Time window (default 24h)',
  kind: 'choice',
  choices: WINDOW_NAMES,
  parse: parseWindow,
} as const satisfies OptionDefinition;

export const byOption = {
  name: 'by',
  description: 'Ranking figure: rsd (std/mean, default), std (raw), logret (std of log returns)',
  kind: 'choice',
  choices: RANK_BY_NAMES,
  parse: parseRankBy,
} as const satisfies OptionDefinition;

/** `here` (default), `dm` (the caller's direct messages) or `webhook:<name>` (a configured webhook). */
export function parseTarget(text: string): string | undefined {
  const key = text.trim().toLowerCase();
  if (key === 'here' || key === 'dm') return key;
  return /^webhook:[a-z0-9][a-z0-9-]{0,31}$/.test(key) ? key : undefined;
}

export const toOption = {
  name: 'to',
  description: 'Where alerts go: here (default), dm (your direct messages) or webhook:<name>',
  kind: 'choice',
  choices: ['here', 'dm'],
  parse: parseTarget,
  flag: true,
} as const satisfies OptionDefinition;
