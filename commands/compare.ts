/**
 * /compare <pair>: the pair's last price on every collected exchange, each one's deviation from
 * the median, and the spread between the cheapest and the dearest.
 */
import { num, signedPct, utc } from '../src/chat/format.js';
import { defineCommand } from '../src/chat/registry.js';
import { comparePair } from '../src/market/compare.js';
import { marketOption } from './options.js';

export const compare = defineCommand({
  name: 'compare',
  description: 'One pair’s last price on every exchange, against the median',
  options: [{ ...marketOption, description: 'Pair, e.g. btc-usd or eth-usdt (USD and USDT are different pairs)' }],
  examples: ['compare btc-usd', 'compare eth-usdt'],
  async run(ctx, options) {
    const c = await comparePair(options.market, ctx.now?.());
    const quote = c.quote.toUpperCase();
    const lines = c.rows.map(
      (r) =>
        `${r.exchange} — ${num(r.last)} ${quote} · ${signedPct(r.deviationPct)} vs median${r.market === c.cheapest && c.rows.length > 1 ? ' · cheapest' : ''}${r.market === c.dearest && c.rows.length > 1 ? ' · dearest' : ''}`,
    );
    const fields = [
      { name: 'Exchanges', value: lines.join('\n') },
      { name: 'Median', value: `${num(c.median)} ${quote}`, inline: true },
      { name: 'Spread', value: `${num(c.spreadAbs)} ${quote} (${signedPct(c.spreadPct)})`, inline: true },
    ];
    if (c.stale.length) fields.push({ name: 'No recent price', value: c.stale.join(', '), inline: false });
    const newest = new Date(Math.max(...c.rows.map((r) => r.ts.getTime())));
    return {
      title: `${c.pair} on ${c.rows.length} exchange${c.rows.length === 1 ? '' : 's'}`,
      text:
        c.rows.length > 1
          ? `Cheapest ${c.cheapest}, dearest ${c.dearest}: ${num(c.spreadAbs)} ${quote} apart.`
          : `Only ${c.rows[0]!.exchange} has a recent price for ${c.pair}.`,
      fields,
      footer: `last prices as of ${utc(newest)}; deviation from the median of the exchanges shown`,
    };
  },
});
