/**
 * An outbox alert as a platform-neutral reply, per rule kind: what happened (market, value, when),
 * why it counts (a spike's 1h baseline and ratio, "3.4x the 1h average of 812 BTC/min"; a level
 * crossed, "crossed above 100,000 USD (now 100,240 USD)"; a move, "fell 5.3% in 1h (2,650 -> 2,510
 * USD)"), a small chart of the last hours ending at the alert's point, and the buttons that quiet
 * it. Also the words a rule's condition is listed with (/tracking, /alert, the REST API).
 */
import { METRICS, type MetricName } from '../market/metrics.js';
import { spikeChart, type SeriesPoint } from '../chat/chart.js';
import { num, utc } from '../chat/format.js';
import { formatDuration } from '../chat/registry.js';
import type { Reply } from '../chat/reply.js';

export interface AlertView {
  subscriptionId: { toString(): string };
  market: string;
  metric: string;
  ts: Date;
  /** Absent on alerts from before kinds: a spike. */
  kind?: string | null;
  value: number;
  baseline: number;
  ratio: number;
  factor: number;
  points: number;
  /** level: above | below; move: up | down. */
  direction?: string | null;
  /** level: the price; move: the rule's percent. */
  threshold?: number | null;
  /** move: signed change in percent, over windowMs. */
  change?: number | null;
  windowMs?: number | null;
  more?: number | null;
}

/** A rule as /tracking and the REST API describe it. */
export interface RuleView {
  kind?: string | null;
  market: string;
  metric: string;
  factor?: number | null;
  direction?: string | null;
  level?: number | null;
  percent?: number | null;
  windowMs?: number | null;
}

/** The command that makes (or re-enables) a rule: `/track btc-usd volume`, `/alert btc-usd above 100000`. */
export function ruleCommand(rule: RuleView): string {
  if (rule.kind === 'level') return `/alert ${rule.market} ${rule.direction} ${rule.level}`;
  if (rule.kind === 'move') {
    const direction = rule.direction && rule.direction !== 'either' ? ` ${rule.direction}` : '';
    return `/alert ${rule.market} move${direction} ${rule.percent}% ${formatDuration(rule.windowMs ?? 0).replace(' ', '')}`;
  }
  return `/track ${rule.market} ${rule.metric}`;
}

/** A rule in a title: `kraken:btc-usd volume per minute`, `kraken:btc-usd price above 100,000`. */
export function ruleLabel(rule: RuleView): string {
  if (rule.kind === 'level' || rule.kind === 'move') return `${rule.market} ${conditionText(rule)}`;
  return `${rule.market} ${METRICS[rule.metric as MetricName]?.label ?? rule.metric}`;
}

/** "price above 100,000", "moves 5% either way within 1h", "volume spikes over 3x the 1h average". */
export function conditionText(rule: RuleView): string {
  if (rule.kind === 'level') return `price ${rule.direction} ${num(rule.level)}`;
  if (rule.kind === 'move') {
    const within = `within ${formatDuration(rule.windowMs ?? 0)}`;
    const pct = `${num(rule.percent)}%`;
    if (rule.direction === 'up') return `rises ${pct} ${within}`;
    if (rule.direction === 'down') return `falls ${pct} ${within}`;
    return `moves ${pct} either way ${within}`;
  }
  return `${rule.metric} spikes over ${num(rule.factor ?? 3)}x the 1h average`;
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

const buttonsFor = (alert: AlertView): NonNullable<Reply['buttons']> => [
  { action: ALERT_ACTIONS.snooze1h, label: 'Snooze 1h', value: alert.subscriptionId.toString() },
  { action: ALERT_ACTIONS.snooze24h, label: 'Snooze 24h', value: alert.subscriptionId.toString() },
  { action: ALERT_ACTIONS.untrack, label: 'Untrack', value: alert.subscriptionId.toString(), style: 'danger' },
];

/** "kraken:btc-usd crossed above 100,000 USD (now 100,240 USD)". */
function levelLine(alert: AlertView): string {
  const unit = unitOf(alert.market, alert.metric);
  const level = alert.threshold ?? alert.baseline;
  return `${alert.market} crossed ${alert.direction ?? 'above'} ${withUnit(level, unit)} (now ${withUnit(alert.value, unit)})`;
}

/** "kraken:eth-usd fell 5.3% in 1h (2,650 -> 2,510 USD)". */
function moveLine(alert: AlertView): string {
  const unit = unitOf(alert.market, alert.metric);
  const change = alert.change ?? (alert.ratio - 1) * 100;
  const verb = change >= 0 ? 'rose' : 'fell';
  return (
    `${alert.market} ${verb} ${num(Math.abs(change), 2)}% in ${formatDuration(alert.windowMs ?? 0)} ` +
    `(${num(alert.baseline)} -> ${withUnit(alert.value, unit)})`
  );
}

function chartOf(alert: AlertView, options: AlertReplyOptions, threshold: number | undefined, factor?: number) {
  if (!options.quickchartUrl || !options.history || options.history.length <= 1) return undefined;
  const series: SeriesPoint[] = options.history.map((p) => ({ ts: p.ts, min: p.value, max: p.value, last: p.value }));
  const chart = spikeChart({
    startPoints: chartPoints,
    baseUrl: options.quickchartUrl,
    market: alert.market,
    metric: METRICS[alert.metric as MetricName]?.label ?? alert.metric,
    series,
    threshold,
    factor,
    hours: options.chartHours ?? 3,
  });
  if (!chart) return undefined;
  // The next alert chart starts its search a few points above where this one fitted.
  chartPoints = Math.min(60, chart.points + 4);
  return { url: chart.url, alt: chart.alt, render: chart.render };
}

function levelReply(alert: AlertView, options: AlertReplyOptions): Reply {
  const unit = unitOf(alert.market, alert.metric);
  const level = alert.threshold ?? alert.baseline;
  const reply: Reply = {
    title: `Price level: ${alert.market} ${alert.direction ?? 'above'} ${num(level)}`,
    text: `${levelLine(alert)} at ${utc(alert.ts)}.`,
    fields: [
      { name: 'Price', value: withUnit(alert.value, unit), inline: true },
      { name: 'Level', value: withUnit(level, unit), inline: true },
      { name: 'Past it by', value: `${num(Math.abs(alert.ratio - 1) * 100, 2)}%`, inline: true },
      { name: 'Time', value: utc(alert.ts), inline: true },
    ],
    buttons: buttonsFor(alert),
    footer:
      'Fires again once the price has gone back past the level by the re-arm margin · /mute 1h quiets this channel',
    tone: 'warning',
  };
  const chart = chartOf(alert, options, level);
  if (chart) reply.chart = chart;
  return reply;
}

function moveReply(alert: AlertView, options: AlertReplyOptions): Reply {
  const unit = unitOf(alert.market, alert.metric);
  const window = formatDuration(alert.windowMs ?? 0);
  const more = alert.more ?? 0;
  const lines = [`${moveLine(alert)} at ${utc(alert.ts)}.`];
  if (more > 0) lines.push(`+${more} more since the last alert, held back by the cooldown.`);
  const reply: Reply = {
    title: `Move: ${alert.market} ${(alert.change ?? 0) >= 0 ? 'up' : 'down'} ${num(Math.abs(alert.change ?? 0), 2)}% in ${window}`,
    text: lines.join('\n'),
    fields: [
      { name: 'Price', value: withUnit(alert.value, unit), inline: true },
      { name: `${window} ago`, value: withUnit(alert.baseline, unit), inline: true },
      { name: 'Change', value: `${(alert.change ?? 0) >= 0 ? '+' : ''}${num(alert.change, 3)}%`, inline: true },
      { name: 'Time', value: utc(alert.ts), inline: true },
    ],
    buttons: buttonsFor(alert),
    footer: `Alerts on moves of ${num(alert.threshold)}% or more against the price ${window} earlier · /mute 1h quiets this channel`,
    tone: 'warning',
  };
  if (more > 0) reply.fields!.push({ name: 'Held back', value: `+${more} more`, inline: true });
  const chart = chartOf(alert, options, alert.baseline);
  if (chart) reply.chart = chart;
  return reply;
}

export function alertReply(alert: AlertView, options: AlertReplyOptions = {}): Reply {
  if (alert.kind === 'level') return levelReply(alert, options);
  if (alert.kind === 'move') return moveReply(alert, options);
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
    buttons: buttonsFor(alert),
    footer: `1h average of ${alert.points} points, the spike itself excluded · /mute 1h quiets this channel`,
    tone: 'warning',
  };
  if (more > 0) reply.fields!.push({ name: 'Held back', value: `+${more} more`, inline: true });
  const chart = chartOf(alert, options, alert.factor * alert.baseline, alert.factor);
  if (chart) reply.chart = chart;
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

/**
 * How strong an alert is, for ordering a digest: a spike's ratio to its threshold; a move's change
 * to its threshold; a level 1 + how far past it the price is, in percent.
 */
export function strengthOf(alert: AlertView): number {
  if (alert.kind === 'move') {
    const change = alert.change ?? (alert.ratio - 1) * 100;
    return Number.isFinite(change) && alert.threshold ? Math.abs(change) / alert.threshold : 0;
  }
  if (alert.kind === 'level') return Number.isFinite(alert.ratio) ? 1 + Math.abs(alert.ratio - 1) * 100 : 0;
  return Number.isFinite(alert.ratio) ? alert.ratio / (alert.factor || 1) : 0;
}

/** One line of a digest. */
function digestLine(a: AlertView): string {
  if (a.kind === 'level') return `• ${levelLine(a)}`;
  if (a.kind === 'move') return `• ${moveLine(a)}`;
  const label = METRICS[a.metric as MetricName]?.label ?? a.metric;
  const unit = unitOf(a.market, a.metric);
  return `• ${a.market} ${label}: ${withUnit(a.value, unit)}, ${ratioText(a.ratio)} the 1h average of ${withUnit(a.baseline, unit)}`;
}

/** "spikes" when every alert of a digest is one, else "alerts". */
function nounOf(alerts: readonly AlertView[]): string {
  const kinds = new Set(alerts.map((a) => a.kind ?? 'spike'));
  if (kinds.size > 1) return 'alerts';
  const [kind] = kinds;
  return kind === 'level' ? 'price levels crossed' : kind === 'move' ? 'moves' : 'spikes';
}

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
  const lines = top.map(digestLine);
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
    title: `${alerts.length} ${nounOf(alerts)} at ${at} in ${markets.size} market${markets.size === 1 ? '' : 's'}`,
    text: lines.join('\n'),
    buttons,
    footer: `strongest first · /tracking digest off posts each alert on its own · /mute 1h quiets this channel`,
    tone: 'warning',
  };
}
