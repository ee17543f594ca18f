/**
 * /metric <market> [metric] [window]: a chart of the window, the statistics and the market's rank.
 */
import { buildChart } from '../src/chat/chart.js';
import { ago, num, pctOfFraction, signed, signedPct, utc } from '../src/chat/format.js';
import { defineCommand } from '../src/chat/registry.js';
import type { ReplyField } from '../src/chat/reply.js';
import { METRICS } from '../src/market/metrics.js';
import { getMarketReport } from '../src/market/queries.js';
import { marketOption, metricOption, windowOption } from './options.js';

/** The market's page on the web dashboard (the id's colon kept readable, as the dashboard writes it). */
export function dashboardUrl(publicUrl: string, market: string): string {
  return `${publicUrl}/market/${encodeURIComponent(market).replace(/%3A/gi, ':')}`;
}

export const metric = defineCommand({
  name: 'metric',
  description: 'Chart, statistics and std-dev rank of one market',
  options: [marketOption, metricOption('What to chart (default price)'), windowOption],
  examples: ['metric btc-usd', 'metric eth-eur volume 6h'],
  async run(ctx, options) {
    const now = ctx.now?.() ?? new Date();
    const report = await getMarketReport(options.market, {
      metric: options.metric ?? 'price',
      window: options.window ?? '24h',
      points: 90,
      // An explicit time bypasses the report cache; only tests pin it.
      now: ctx.now?.(),
    });
    const info = METRICS[report.metric];
    const id = report.market.id;
    const title = `${id} · ${info.label} · ${report.window}`;
    const s = report.stats;
    if (s.count === 0) {
      return {
        title,
        text:
          `${report.market.note ? `${report.market.note}\n` : ''}No samples for ${id} in the last ${report.window} yet. ` +
          'The collector records one a minute; try again shortly or pick a longer window.',
        tone: 'warning',
        footer: `latest sample ${utc(report.latestTs)}`,
      };
    }
    const base = report.market.base.toUpperCase();
    const quote = report.market.quote.toUpperCase();
    const unit =
      { quote: ` ${quote}`, base: ` ${base}`, 'base/min': ` ${base}/min`, '%': '%' }[info.unit as string] ??
      ` ${info.unit}`;
    const fields: ReplyField[] = [
      { name: 'Last', value: `${num(s.last)}${unit}`, inline: true },
      { name: `Change ${report.window}`, value: `${signed(s.change)} (${signedPct(s.changePct)})`, inline: true },
      { name: 'Min / Max', value: `${num(s.min)} / ${num(s.max)}`, inline: true },
      { name: 'Mean', value: num(s.mean), inline: true },
      { name: 'Std dev', value: num(s.std), inline: true },
      { name: 'Relative std dev', value: pctOfFraction(s.rsd), inline: true },
    ];
    const rank = report.rank
      ? `#${report.rank.position} of ${report.rank.of} by ${report.rank.method}${report.rank.tied ? ' (tied)' : ''}`
      : (report.rankNote ?? 'not ranked');
    fields.push({ name: 'Rank', value: rank, inline: false });
    const publicUrl = ctx.config.http.publicUrl;
    if (publicUrl) fields.push({ name: 'Dashboard', value: dashboardUrl(publicUrl, id), inline: false });
    const chart = buildChart({
      baseUrl: ctx.config.quickchartUrl,
      title,
      label: info.label,
      series: report.series,
      points: 90,
    });
    return {
      title,
      text: report.market.note,
      fields,
      chart,
      footer: `${s.count} samples · latest ${utc(report.latestTs)} (${ago(report.latestTs, now)})`,
      buttons: [{ action: 'track', label: 'Track volume spikes here', value: id }],
    };
  },
});
