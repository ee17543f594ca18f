/**
 * An outbox alert as a platform-neutral reply: what happened (market, metric, value, when), why it
 * counts as a spike (the 1h baseline and the ratio, "3.4x the 1h average of 812 BTC/min"), a small
 * chart of the last hours with the spike on its final point, and the buttons that quiet it.
 */
import { METRICS, type MetricName } from '../market/metrics.js';
import { spikeChart, type SeriesPoint } from '../chat/chart.js';
import { num, utc } from '../chat/format.js';
import type { Reply } from '../chat/reply.js';

export interface AlertView {
  subscriptionId: { toString(): string };
  market: string;
  metric: string;
  ts: Date;
  value: number;
  baseline: number;
  ratio: number;
  factor: number;
  points: number;
  more?: number | null;
}

export const ALERT_ACTIONS = { snooze1h: 'snooze:1h', snooze24h: 'snooze:24h', untrack: 'alert:untrack' } as const;

/** `kraken:btc-usd` -> { base: 'BTC', quote: 'USD' }; unknown shapes give empty strings. */
function currencies(market: string): { base: string; quote: string } {
  const pair = market.includes(':') ? market.slice(market.indexOf(':') + 1) : market;
  const [base = '', quote = ''] = pair.split('-');
  return { base: base.toUpperCase(), quote: quote.toUpperCase() };
}

/** The unit a metric's values are in for one market: `BTC/min`, `USD`, `%`. */
export function unitOf(market: string, metric: string): string {
  const def = METRICS[metric as MetricName];
  if (!def) return '';
  const { base, quote } = currencies(market);
  switch (def.unit) {
    case 'base/min':
      return base ? `${base}/min` : 'per min';
    case 'base':
      return base;
    case 'quote':
      return quote;
    default:
      return def.unit;
  }
}

const withUnit = (value: number, unit: string) =>
  unit === '%' ? `${num(value)}%` : unit ? `${num(value)} ${unit}` : num(value);

/** "3.4x": two significant figures read well up to 99x; beyond that whole numbers. */
export function ratioText(ratio: number): string {
  if (!Number.isFinite(ratio)) return 'n/a';
  return ratio >= 100 ? `${Math.round(ratio)}x` : `${Number(ratio.toPrecision(2))}x`;
}

export interface AlertReplyOptions {
  /** QuickChart base URL (QUICKCHART_URL). */
  quickchartUrl?: string;
  /** The metric's points over the last hours, ending at the alert's point. */
  history?: ReadonlyArray<{ ts: Date; value: number | null }>;
  /** Hours the chart covers (default 3). */
  chartHours?: number;
}

/** Where the next alert chart's URL search starts (see buildChart's startPoints). */
let chartPoints = 60;

export function alertReply(alert: AlertView, options: AlertReplyOptions = {}): Reply {
  const label = METRICS[alert.metric as MetricName]?.label ?? alert.metric;
  const unit = unitOf(alert.market, alert.metric);
  const more = alert.more ?? 0;
  const lines = [
    `${withUnit(alert.value, unit)} at ${utc(alert.ts)}: ` +
      `${ratioText(alert.ratio)} the 1h average of ${withUnit(alert.baseline, unit)}` +
      ` (alerts above ${alert.factor}x).`,
  ];
  if (more > 0)
    lines.push(`+${more} more spike${more === 1 ? '' : 's'} since the last alert, held back by the cooldown.`);

  const reply: Reply = {
    title: `Spike: ${alert.market} ${label}`,
    text: lines.join('\n'),
    fields: [
      { name: 'Value', value: withUnit(alert.value, unit), inline: true },
      { name: '1h average', value: withUnit(alert.baseline, unit), inline: true },
      { name: 'Ratio', value: ratioText(alert.ratio), inline: true },
      { name: 'Time', value: utc(alert.ts), inline: true },
    ],
    buttons: [
      { action: ALERT_ACTIONS.snooze1h, label: 'Snooze 1h', value: alert.subscriptionId.toString() },
      { action: ALERT_ACTIONS.snooze24h, label: 'Snooze 24h', value: alert.subscriptionId.toString() },
      { action: ALERT_ACTIONS.untrack, label: 'Untrack', value: alert.subscriptionId.toString(), style: 'danger' },
    ],
    footer: `1h average of ${alert.points} points, the spike itself excluded · /mute 1h quiets this channel`,
    tone: 'warning',
  };
  if (more > 0) reply.fields!.push({ name: 'Held back', value: `+${more} more`, inline: true });

  if (options.quickchartUrl && options.history && options.history.length > 1) {
    const series: SeriesPoint[] = options.history.map((p) => ({ ts: p.ts, min: p.value, max: p.value, last: p.value }));
    const chart = spikeChart({
      startPoints: chartPoints,
      baseUrl: options.quickchartUrl,
      market: alert.market,
      metric: label,
      series,
      threshold: alert.factor * alert.baseline,
      factor: alert.factor,
      hours: options.chartHours ?? 3,
    });
    if (chart) {
      reply.chart = { url: chart.url, alt: chart.alt, render: chart.render };
      // The next alert chart starts its search a few points above where this one fitted.
      chartPoints = Math.min(60, chart.points + 4);
    }
  }
  return reply;
}

/** Posted once a channel is reachable again after alerts to it failed for good. */
export function undeliveredReply(count: number): Reply {
  return {
    title: `Could not deliver ${count} alert${count === 1 ? '' : 's'} to this channel`,
    text:
      'The chat platform refused or timed out on every retry. ' +
      'Alerts are flowing again; /tracking lists what this channel follows.',
    tone: 'warning',
  };
}

/** Alerts a digest shows one by one; the rest are counted. Three buttons each: 5 rows fit Discord. */
export const DIGEST_SHOWN = 5;

/** How strong an alert is, for ordering a digest: the spike's ratio to its threshold. */
export const strengthOf = (alert: AlertView) => (Number.isFinite(alert.ratio) ? alert.ratio / (alert.factor || 1) : 0);

/**
 * Several alerts of one tick for one channel as one post: the strongest few, each with its value
 * and ratio and its own buttons (one row per rule), then "and N more".
 */
export function digestReply(alerts: readonly AlertView[], shown = DIGEST_SHOWN): Reply {
  const sorted = [...alerts].sort((a, b) => strengthOf(b) - strengthOf(a));
  const top = sorted.slice(0, shown);
  const rest = sorted.length - top.length;
  const markets = new Set(alerts.map((a) => a.market));
  const at = utc(new Date(Math.max(...alerts.map((a) => a.ts.getTime()))));
  const lines = top.map((a) => {
    const label = METRICS[a.metric as MetricName]?.label ?? a.metric;
    const unit = unitOf(a.market, a.metric);
    return `• ${a.market} ${label}: ${withUnit(a.value, unit)}, ${ratioText(a.ratio)} the 1h average of ${withUnit(a.baseline, unit)}`;
  });
  if (rest > 0) lines.push(`…and ${rest} more.`);
  const buttons = top.flatMap((a, row) => {
    const id = a.subscriptionId.toString();
    return [
      { action: ALERT_ACTIONS.snooze1h, label: `${a.market}: snooze 1h`, value: id, row },
      { action: ALERT_ACTIONS.snooze24h, label: 'Snooze 24h', value: id, row },
      { action: ALERT_ACTIONS.untrack, label: 'Untrack', value: id, style: 'danger' as const, row },
    ];
  });
  return {
    title: `${alerts.length} spikes at ${at} in ${markets.size} market${markets.size === 1 ? '' : 's'}`,
    text: lines.join('\n'),
    buttons,
    footer: `strongest first · /tracking digest off posts each alert on its own · /mute 1h quiets this channel`,
    tone: 'warning',
  };
}
