/**
 * /rank [metric] [window] [by] [n]: the leaderboard by a scale-free spread, top and bottom, with
 * the method stated (raw std dev is not comparable across markets, so it is shown but not the default).
 */
import { num, pctOfFraction, utc } from '../src/chat/format.js';
import { defineCommand } from '../src/chat/registry.js';
import { editDistance } from '../src/market/market-id.js';
import { METRICS, METRIC_NAMES, parseMetric, type RankBy } from '../src/market/metrics.js';
import { getRanking, type RankingRow } from '../src/market/queries.js';
import { byOption, metricOption, windowOption } from './options.js';

const EXCHANGE_WORD = /^[A-Za-z][A-Za-z0-9.-]{1,31}$/;

function figure(row: RankingRow, by: RankBy): string {
  if (by === 'rsd') return `rsd ${pctOfFraction(row.rsd)} · std ${num(row.std, 4)}`;
  if (by === 'logret') return `logret σ ${pctOfFraction(row.logretStd)} · std ${num(row.std, 4)}`;
  return `std ${num(row.std, 4)} · rsd ${pctOfFraction(row.rsd)}`;
}

const lines = (rows: RankingRow[], by: RankBy) =>
  rows.map((r) => `${r.position}. ${r.market} — ${figure(r, by)}`).join('\n');

export const rank = defineCommand({
  name: 'rank',
  description: 'Leaderboard of markets by volatility (relative std dev by default)',
  options: [
    {
      ...metricOption('Metric to rank on (default price)'),
      // `/rank binance` names an exchange where the metric goes: any word that is not a metric.
      // A word a typo away from a metric is the metric misspelt, not an exchange.
      parse: (text: string) =>
        parseMetric(text) ??
        (EXCHANGE_WORD.test(text) && METRIC_NAMES.every((m) => editDistance(m.toLowerCase(), text.toLowerCase()) > 2)
          ? `@${text.toLowerCase()}`
          : undefined),
    },
    windowOption,
    byOption,
    {
      name: 'n',
      description: 'How many at the top and at the bottom (1-20, default 10)',
      kind: 'integer',
      min: 1,
      max: 20,
    },
    {
      name: 'exchange',
      description: 'Only this exchange’s markets, e.g. binance (default all)',
      kind: 'choice',
      parse: (text: string) => (EXCHANGE_WORD.test(text) ? text.toLowerCase() : undefined),
    },
  ],
  examples: ['rank', 'rank binance', 'rank price 7d logret 5', 'rank price 24h rsd 10 exchange=coinbase'],
  async run(ctx, options) {
    const shorthand = options.metric?.startsWith('@') ? options.metric.slice(1) : undefined;
    const ranking = await getRanking({
      exchange: shorthand ?? options.exchange,
      metric: shorthand ? 'price' : (parseMetric(options.metric ?? 'price') ?? 'price'),
      window: options.window ?? '24h',
      by: options.by ?? 'rsd',
      limit: options.n ?? 10,
      now: ctx.now?.(),
    });
    const scope = ranking.exchange ? ranking.exchange : 'all exchanges';
    const title = `Volatility ranking · ${METRICS[ranking.metric].label} · ${ranking.window} · ${scope}`;
    const over = ranking.exchange
      ? `${ranking.exchange}'s markets only`
      : `all exchanges${ranking.exchanges.length ? ` (${ranking.exchanges.join(', ')})` : ''}`;
    const left = ranking.excluded ? `, ${ranking.excluded} left out for too few samples` : '';
    const method = `Ranked by ${ranking.method} over ${over}; ${ranking.total} markets${left}.`;
    if (ranking.top.length === 0) {
      return { title, text: `${method}\nNo market has enough samples in this window yet.`, tone: 'warning' };
    }
    const fields = [{ name: 'Most volatile', value: lines(ranking.top, ranking.by) }];
    // With few markets the bottom list repeats the top; show it only when it adds markets.
    const topIds = new Set(ranking.top.map((r) => r.market));
    const bottom = ranking.bottom.filter((r) => !topIds.has(r.market));
    if (bottom.length) fields.push({ name: 'Least volatile', value: lines(bottom, ranking.by) });
    return { title, text: method, fields, footer: `data as of ${utc(ranking.asOf)}` };
  },
});
