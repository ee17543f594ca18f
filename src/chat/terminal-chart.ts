/**
 * A chart drawn in text for the console: the same series the QuickChart URL carries, as a small
 * line chart (asciichart), with the threshold of an alert as a second, flat line. A person at a
 * terminal sees the shape at once instead of a 2 kB URL; the URL stays one command away (`!chart`).
 */
import asciichart from 'asciichart';
import type { ReplyChart } from './reply.js';

export const TERMINAL_CHART_WIDTH = 60;
export const TERMINAL_CHART_HEIGHT = 8;

interface LineConfig {
  data?: { labels?: unknown[]; datasets?: Array<{ data?: unknown[] }> };
  options?: {
    title?: { text?: unknown };
    annotation?: { annotations?: Array<{ value?: unknown }> };
  };
}

/** Evenly spaced picks, keeping the extremes of each stretch so a spike survives. */
function fit(values: number[], width: number): number[] {
  if (values.length <= width) return values;
  const out: number[] = [];
  for (let c = 0; c < width; c++) {
    const group = values.slice(Math.floor((c * values.length) / width), Math.floor(((c + 1) * values.length) / width));
    const mean = group.reduce((a, v) => a + v, 0) / group.length;
    const hi = Math.max(...group);
    const lo = Math.min(...group);
    out.push(hi - mean > mean - lo ? hi : lo);
  }
  return out;
}

function label(value: number): string {
  const abs = Math.abs(value);
  const text =
    abs !== 0 && (abs >= 1e9 || abs < 1e-3) ? value.toExponential(2) : Number(value.toPrecision(6)).toString();
  return text.padStart(11);
}

/** The time labels under the columns they belong to, as many as fit without touching. */
function timeAxis(labels: readonly unknown[], points: number, columns: number): string {
  const row: string[] = Array.from({ length: columns + 12 }, () => ' ');
  let free = 0;
  let placed = 0;
  for (let i = 0; i < labels.length; i++) {
    const text = labels[i];
    if (typeof text !== 'string' || text === '') continue;
    const column = Math.round((i / Math.max(1, points - 1)) * (columns - 1));
    if (column < free || column + text.length > row.length) continue;
    for (let k = 0; k < text.length; k++) row[column + k] = text[k]!;
    free = column + text.length + 2;
    placed += 1;
  }
  return placed ? `${' '.repeat(13)}${row.join('')}`.trimEnd() : '';
}

/** The chart as text lines, or undefined when the reply's chart carries no series to draw. */
export function terminalChart(chart: ReplyChart): string | undefined {
  const config = chart.render?.config as LineConfig | undefined;
  const raw = config?.data?.datasets?.[0]?.data;
  if (!Array.isArray(raw)) return undefined;
  const values = raw.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (values.length < 2) return undefined;
  const series = fit(values, TERMINAL_CHART_WIDTH);
  const threshold = config?.options?.annotation?.annotations?.[0]?.value;
  const lines = [series];
  if (typeof threshold === 'number' && Number.isFinite(threshold)) lines.push(series.map(() => threshold));
  const plot = asciichart.plot(lines, { height: TERMINAL_CHART_HEIGHT, format: label });
  const axis = timeAxis(config?.data?.labels ?? [], raw.length, series.length);
  const title = typeof config?.options?.title?.text === 'string' ? config.options.title.text : chart.alt;
  return [title, plot, ...(axis ? [axis] : []), ...(lines.length > 1 ? ['(flat line: the alert threshold)'] : [])].join(
    '\n',
  );
}
