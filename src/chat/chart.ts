/**
 * Charts as QuickChart URLs. A chart is a URL the platform fetches, so it must fit the stricter of
 * the platforms' limits (Discord embed URLs 2,048 characters, Slack image_url 3,000): a raw 24h
 * series is about 39,000 characters, so the series is bucketed (keeping each bucket's extreme so a
 * spike survives), and points and precision are shrunk until the URL fits.
 */
import QuickChartModule from 'quickchart-js';
import type { Logger } from '../logger.js';
import type { ChartRender, Reply, ReplyChart } from './reply.js';

/** quickchart-js types its default export as non-constructable under NodeNext; at run time it is the class. */
type QuickChartInstance = {
  setConfig(config: unknown): QuickChartInstance;
  setHost(host: string): QuickChartInstance;
  setScheme(scheme: string): QuickChartInstance;
  setWidth(width: number): QuickChartInstance;
  setHeight(height: number): QuickChartInstance;
  setBackgroundColor(color: string): QuickChartInstance;
  getUrl(): string;
  getPostData(): Record<string, unknown>;
};
// The typings are wrong (not constructable under NodeNext) while the run-time value is the class.
const QuickChart = QuickChartModule as unknown as new () => QuickChartInstance;

/** Discord's embed URL limit, the stricter of the two platforms; one URL serves every platform. */
export const CHART_URL_LIMIT = 2_048;
export const SLACK_IMAGE_URL_LIMIT = 3_000;
export const DISCORD_EMBED_URL_LIMIT = 2_048;

export interface SeriesPoint {
  ts: Date | string | number;
  min: number | null;
  max: number | null;
  last: number | null;
}

export interface ChartRequest {
  /** QuickChart base URL (QUICKCHART_URL), e.g. https://quickchart.io or http://charts.internal:3400. */
  baseUrl: string;
  title: string;
  /** Dataset label, e.g. "price (USD)". */
  label: string;
  series: readonly SeriesPoint[];
  /** Buckets to aim for before shrinking to fit. */
  points?: number;
  /**
   * Where the search for a URL that fits starts, when a similar chart already needed fewer points
   * (alerts are charted many times over in a burst): saves building the URLs that would not fit.
   */
  startPoints?: number;
  /** Largest URL accepted; defaults to CHART_URL_LIMIT. */
  maxLength?: number;
  /** Horizontal line drawn across the chart (an alert's threshold). */
  threshold?: { value: number; label: string };
  /** Index into the bucketed series of a point to mark (the spike); `last` marks the final point. */
  mark?: 'last';
  width?: number;
  height?: number;
}

interface Bucket {
  ts: number;
  value: number;
}

const tsOf = (p: SeriesPoint): number => (p.ts instanceof Date ? p.ts.getTime() : new Date(p.ts).getTime());

/**
 * Merges the series into at most `target` buckets of near-equal size. A bucket is drawn at the
 * median of its values unless one extreme stands out (at least twice as far from the median as the
 * other), so a one-minute spike in either direction survives downsampling while ordinary noise
 * does not turn into a zigzag.
 */
export function downsample(series: readonly SeriesPoint[], target: number): Bucket[] {
  const clean = series.filter((p) => p.last !== null || p.max !== null || p.min !== null);
  if (clean.length === 0) return [];
  const count = Math.max(1, Math.min(clean.length, Math.floor(target)));
  const out: Bucket[] = [];
  for (let b = 0; b < count; b++) {
    const group = clean.slice(Math.floor((b * clean.length) / count), Math.floor(((b + 1) * clean.length) / count));
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of group) {
      for (const v of [p.min, p.max, p.last]) {
        if (v === null || !Number.isFinite(v)) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    if (lo === Infinity) continue;
    const lasts = group
      .map((p) => p.last)
      .filter((v): v is number => v !== null && Number.isFinite(v))
      .sort((a, b) => a - b);
    const middle = lasts.length ? lasts[Math.floor((lasts.length - 1) / 2)]! : (lo + hi) / 2;
    const up = hi - middle;
    const down = middle - lo;
    const value = up > 2 * down ? hi : down > 2 * up ? lo : middle;
    out.push({ ts: tsOf(group[group.length - 1]!), value });
  }
  return out;
}

/** Rounds to `digits` significant digits (64089.4 -> 64090 at 4). */
function round(value: number, digits: number): number {
  if (value === 0 || !Number.isFinite(value)) return 0;
  return Number(value.toPrecision(digits));
}

const hhmm = (ts: number, spanMs: number): string => {
  const d = new Date(ts);
  const time = d.toISOString().slice(11, 16);
  return spanMs > 2 * 86_400_000 ? `${d.toISOString().slice(5, 10)} ${time}` : time;
};

function configFor(req: ChartRequest, buckets: Bucket[], digits: number): unknown {
  const span = buckets.length > 1 ? buckets[buckets.length - 1]!.ts - buckets[0]!.ts : 0;
  // Six labelled ticks are enough to read the time axis; the rest are empty to keep the URL short.
  const every = Math.max(1, Math.floor(buckets.length / 6));
  const labels = buckets.map((b, i) => (i % every === 0 ? hhmm(b.ts, span) : ''));
  const data = buckets.map((b) => round(b.value, digits));
  const dataset: Record<string, unknown> = {
    label: req.label,
    data,
    fill: false,
    borderColor: '#2f80ed',
    borderWidth: 2,
    pointRadius: 0,
    lineTension: 0,
  };
  if (req.mark === 'last' && data.length > 0) {
    // A radius per point would cost a character pair each; zeros compress to "0," so only the
    // last point is drawn large.
    dataset.pointRadius = data.map((_, i) => (i === data.length - 1 ? 5 : 0));
    dataset.pointBackgroundColor = '#eb5757';
  }
  const options: Record<string, unknown> = {
    title: { display: true, text: req.title },
    legend: { display: false },
    scales: { xAxes: [{ ticks: { autoSkip: false, maxRotation: 0 } }] },
  };
  if (req.threshold) {
    options.annotation = {
      annotations: [
        {
          type: 'line',
          mode: 'horizontal',
          scaleID: 'y-axis-0',
          value: round(req.threshold.value, digits),
          borderColor: '#eb5757',
          borderDash: [4, 4],
          label: { enabled: true, content: req.threshold.label },
        },
      ],
    };
  }
  return { type: 'line', data: { labels, datasets: [dataset] }, options };
}

function quickChart(render: ChartRender): QuickChartInstance {
  const base = new URL(render.baseUrl);
  return new QuickChart()
    .setScheme(base.protocol.replace(':', ''))
    .setHost(`${base.host}${base.pathname.replace(/\/+$/, '')}`)
    .setWidth(render.width)
    .setHeight(render.height)
    .setBackgroundColor('white')
    .setConfig(render.config);
}

function renderFor(req: ChartRequest, buckets: Bucket[], digits: number): ChartRender {
  return {
    baseUrl: req.baseUrl,
    config: configFor(req, buckets, digits),
    width: req.width ?? 600,
    height: req.height ?? 300,
  };
}

export interface BuiltChart extends ReplyChart {
  points: number;
  digits: number;
}

/**
 * Builds a chart URL no longer than `maxLength`: first fewer significant digits (down to 4), then
 * fewer buckets (down to 8, where 3 digits are allowed). Returns undefined when there is nothing to
 * draw or nothing fits (a very long QuickChart base URL).
 */
export function buildChart(req: ChartRequest): BuiltChart | undefined {
  const maxLength = req.maxLength ?? CHART_URL_LIMIT;
  let points = Math.max(2, Math.min(req.points ?? 90, req.startPoints ?? Infinity));
  while (points >= 8) {
    const buckets = downsample(req.series, points);
    if (buckets.length === 0) return undefined;
    for (const digits of points <= 24 ? [6, 5, 4, 3] : [6, 5, 4]) {
      const render = renderFor(req, buckets, digits);
      const url = quickChart(render).getUrl();
      if (url.length <= maxLength) {
        return { url, alt: `${req.title}: ${buckets.length} points`, render, points: buckets.length, digits };
      }
    }
    points = Math.min(buckets.length - 1, Math.floor(points * 0.9));
  }
  return undefined;
}

/**
 * The small chart an alert carries: the last hours of a metric with the spike marked on the final
 * point and the alert's threshold (factor x baseline) drawn across.
 */
export function spikeChart(input: {
  baseUrl: string;
  market: string;
  metric: string;
  series: readonly SeriesPoint[];
  threshold?: number;
  factor?: number;
  hours?: number;
  startPoints?: number;
}): BuiltChart | undefined {
  const hours = input.hours ?? 3;
  const end = input.series.length ? tsOf(input.series[input.series.length - 1]!) : 0;
  const recent = input.series.filter((p) => tsOf(p) > end - hours * 3_600_000);
  return buildChart({
    baseUrl: input.baseUrl,
    title: `${input.market} ${input.metric}, last ${hours}h`,
    label: input.metric,
    series: recent,
    points: 60,
    startPoints: input.startPoints,
    mark: 'last',
    threshold:
      input.threshold !== undefined
        ? { value: input.threshold, label: input.factor ? `${input.factor}x 1h average` : 'threshold' }
        : undefined,
    width: 500,
    height: 220,
  });
}

/** Longest wait for QuickChart to render a PNG before the answer goes out with the URL instead. */
export const CHART_PNG_TIMEOUT_MS = 5_000;

/**
 * Renders the chart to PNG by POSTing its config (quickchart-js's own request body) to the
 * QuickChart host it was built for (QUICKCHART_URL), for platforms that upload the image
 * (CHART_UPLOAD). The request is aborted after `timeoutMs`, socket and all, rather than abandoned:
 * quickchart-js's toBinary() cannot be aborted, so slow renders would pile up open sockets.
 */
export async function renderChartPng(chart: ReplyChart, timeoutMs = CHART_PNG_TIMEOUT_MS): Promise<Buffer> {
  if (!chart.render) throw new Error('chart has no render spec');
  const url = `${chart.render.baseUrl.replace(/\/+$/, '')}/chart`;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(quickChart(chart.render).getPostData()),
      signal,
    });
    if (!res.ok) {
      await res.body?.cancel();
      const detail = res.headers.get('x-quickchart-error');
      throw new Error(`Chart creation failed with status code ${res.status}${detail ? `: ${detail}` : ''}`);
    }
    return Buffer.from(await res.arrayBuffer());
  } catch (err) {
    if (signal.aborted) throw new Error(`chart render timed out after ${timeoutMs} ms`);
    throw err;
  }
}

/** The name an uploaded chart carries on every platform (Discord embeds refer to attachment://chart.png). */
export const CHART_FILE = 'chart.png';

/**
 * The PNG to upload with `reply` when CHART_UPLOAD is on: undefined when it is off, the reply has no
 * chart or is ephemeral, or the render failed (logged as a warning; the caller sends the URL).
 */
export async function chartPngFor(
  reply: Reply,
  enabled: boolean,
  logger: Logger,
  context: Record<string, unknown>,
): Promise<Buffer | undefined> {
  if (!enabled || !reply.chart?.render || reply.ephemeral) return undefined;
  try {
    return await renderChartPng(reply.chart);
  } catch (err) {
    logger.warn(
      { err, ...context, quickchart: reply.chart.render.baseUrl },
      'chart PNG render failed; sending the chart URL instead',
    );
    return undefined;
  }
}
