/**
 * One market: the price with volume bars, the per-minute volume with past spikes marked and the
 * line at 3x the last hour's average, the window's statistics and the market's rank. Drawn with
 * lightweight-charts (canvas, made for financial series: histogram volume, markers, price lines).
 */
import {
  ColorType,
  createChart,
  createSeriesMarkers,
  HistogramSeries,
  LineSeries,
  LineStyle,
  type IChartApi,
  type SeriesMarker,
  type Time,
  type UTCTimestamp,
} from 'lightweight-charts';
import type { LiveState, Page } from './app.js';
import { SPIKE_FACTOR, spikesOf } from './spikes.js';
import { cssVar, getJson, h, num, pctOfFraction, signedPct, utcTime } from './util.js';

interface Point {
  ts: string;
  min: number;
  max: number;
  last: number;
}
interface Report {
  market: { id: string; base: string; quote: string; exchange: string };
  metric: string;
  window: string;
  stats: {
    count: number;
    first: number | null;
    last: number | null;
    min: number | null;
    max: number | null;
    mean: number | null;
    std: number | null;
    rsd: number | null;
    change: number | null;
    changePct: number | null;
    logretStd: number | null;
  };
  rank: { position: number; of: number; method: string; tied: boolean } | null;
  rankNote?: string;
  series: Point[];
  latestTs: string | null;
}

const WINDOWS = ['1h', '6h', '24h', '7d'] as const;
/** Points per window: one a minute up to 6h, then the most the API gives. */
const POINTS: Record<string, number> = { '1h': 60, '6h': 360, '24h': 500, '7d': 500 };

/** Strictly increasing whole seconds, as the chart library requires. */
function toData(series: Point[], pick: (p: Point) => number): Array<{ time: UTCTimestamp; value: number }> {
  const out: Array<{ time: UTCTimestamp; value: number }> = [];
  for (const p of series) {
    const time = Math.floor(Date.parse(p.ts) / 1000) as UTCTimestamp;
    if (out.length && time <= out[out.length - 1]!.time) continue;
    out.push({ time, value: pick(p) });
  }
  return out;
}

function baseChart(el: HTMLElement): IChartApi {
  return createChart(el, {
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: cssVar('--bg') },
      textColor: cssVar('--text'),
      fontFamily: getComputedStyle(document.body).fontFamily,
      attributionLogo: true,
    },
    grid: { vertLines: { color: cssVar('--border') }, horzLines: { color: cssVar('--border') } },
    rightPriceScale: { borderColor: cssVar('--border') },
    timeScale: { borderColor: cssVar('--border'), timeVisible: true, secondsVisible: false },
    handleScroll: { vertTouchDrag: false },
  });
}

export function renderMarket(main: HTMLElement, id: string, state: LiveState): Page {
  let window_ = new URLSearchParams(location.search).get('window') ?? '24h';
  if (!WINDOWS.includes(window_ as (typeof WINDOWS)[number])) window_ = '24h';
  let charts: IChartApi[] = [];
  let controller: AbortController | undefined;
  let drawnAsOf = state.asOf;

  const title = h('h1', {}, id);
  const buttons = WINDOWS.map((w) =>
    h(
      'button',
      {
        type: 'button',
        'data-window': w,
        'aria-pressed': String(w === window_),
        onclick: () => {
          window_ = w;
          for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.window === w));
          const url = new URL(location.href);
          url.searchParams.set('window', w);
          history.replaceState(null, '', url);
          void load();
        },
      },
      w,
    ),
  );
  const cards = h('dl', { class: 'cards', id: 'window-stats' });
  const rank = h('p', { id: 'market-rank' });
  const priceEl = h('div', { class: 'chart', id: 'price-chart', role: 'img' });
  const volumeEl = h('div', { class: 'chart small', id: 'volume-chart', role: 'img' });
  const note = h('p', { class: 'muted', id: 'spike-note' });
  const error = h('p', { class: 'error', role: 'alert' });
  main.append(
    h('p', {}, h('a', { href: '/' }, '← All markets')),
    title,
    h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Window' }, h('span', {}, 'Window:'), ...buttons),
    error,
    rank,
    cards,
    h('h2', {}, 'Price and volume'),
    priceEl,
    h('h2', {}, 'Volume per minute'),
    volumeEl,
    note,
  );

  const card = (name: string, value: string) => h('div', { class: 'card' }, h('dt', {}, name), h('dd', {}, value));

  const load = async () => {
    controller?.abort();
    controller = new AbortController();
    const q = `window=${window_}&points=${POINTS[window_]}`;
    const base = `/api/v1/markets/${encodeURIComponent(id)}`;
    try {
      const [price, volume] = await Promise.all([
        getJson<Report>(`${base}?metric=price&${q}`, controller.signal),
        getJson<Report>(`${base}?metric=volume&${q}`, controller.signal),
      ]);
      error.textContent = '';
      draw(price, volume);
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      error.textContent = `Could not load ${id}: ${(err as Error).message}`;
    }
  };

  const draw = (price: Report, volume: Report) => {
    const m = price.market;
    title.textContent = `${m.id} (${m.base.toUpperCase()}/${m.quote.toUpperCase()})`;
    document.title = `${m.id} · crypto-chatops`;
    const s = price.stats;
    cards.replaceChildren(
      card('Last', `${num(s.last)} ${m.quote.toUpperCase()}`),
      card(`Change ${price.window}`, `${num(s.change)} (${signedPct(s.changePct)})`),
      card('Min / Max', `${num(s.min)} / ${num(s.max)}`),
      card('Mean', num(s.mean)),
      card('Std dev', num(s.std)),
      card('Relative std dev', pctOfFraction(s.rsd)),
      card('Log-return std dev', pctOfFraction(s.logretStd)),
      card('Samples', `${s.count} · latest ${utcTime(price.latestTs)}`),
      card('Volume mean / min', num(volume.stats.mean)),
    );
    rank.textContent = price.rank
      ? `Rank #${price.rank.position} of ${price.rank.of} by ${price.rank.method}${price.rank.tied ? ' (tied)' : ''}.`
      : (price.rankNote ?? 'Not ranked.');

    for (const c of charts) c.remove();
    charts = [];
    const line = toData(price.series, (p) => p.last);
    const vol = toData(volume.series, (p) => p.max);
    const { spikes, threshold } = spikesOf(vol);

    const priceChart = baseChart(priceEl);
    const priceSeries = priceChart.addSeries(LineSeries, { color: cssVar('--chart-line'), lineWidth: 2 });
    priceSeries.setData(line);
    const bars = priceChart.addSeries(HistogramSeries, {
      priceScaleId: '',
      priceFormat: { type: 'volume' },
      color: cssVar('--chart-volume'),
      lastValueVisible: false,
      priceLineVisible: false,
    });
    bars.priceScale().applyOptions({ scaleMargins: { top: 0.75, bottom: 0 } });
    bars.setData(vol);
    priceChart.timeScale().fitContent();
    priceEl.setAttribute(
      'aria-label',
      `${m.id} price over ${price.window}: from ${num(s.first)} to ${num(s.last)}, min ${num(s.min)}, max ${num(s.max)}, with volume bars.`,
    );

    const volumeChart = baseChart(volumeEl);
    const spikeSet = new Set(spikes);
    const volumeSeries = volumeChart.addSeries(HistogramSeries, {
      color: cssVar('--chart-volume'),
      priceFormat: { type: 'volume' },
      priceLineVisible: false,
    });
    volumeSeries.setData(vol.map((d) => (spikeSet.has(d.time) ? { ...d, color: cssVar('--chart-spike') } : d)));
    const markers: SeriesMarker<Time>[] = spikes.map((time) => ({
      time: time as UTCTimestamp,
      position: 'aboveBar',
      color: cssVar('--chart-spike'),
      shape: 'arrowDown',
      // Labels overlap when spikes are dense; the arrows and the note below say it.
      text: spikes.length <= 12 ? 'spike' : undefined,
    }));
    createSeriesMarkers(volumeSeries, markers);
    if (threshold !== null) {
      volumeSeries.createPriceLine({
        price: threshold,
        color: cssVar('--chart-spike'),
        lineWidth: 1,
        lineStyle: LineStyle.Dashed,
        axisLabelVisible: true,
        title: `${SPIKE_FACTOR}x 1h avg`,
      });
    }
    volumeChart.timeScale().fitContent();
    const marked = `${spikes.length} past spike${spikes.length === 1 ? '' : 's'} marked`;
    volumeEl.setAttribute(
      'aria-label',
      `${m.id} volume per minute over ${volume.window}, ${marked}, line at ${SPIKE_FACTOR}x the last hour's average.`,
    );
    note.textContent =
      `${marked} in this window (a point above ${SPIKE_FACTOR}x the average of the hour before it). ` +
      (threshold !== null
        ? `Dashed line: ${SPIKE_FACTOR}x the last hour's average, ${num(threshold)} ${m.base.toUpperCase()}/min.`
        : 'No per-minute volume in the last hour.');
    charts = [priceChart, volumeChart];
  };

  void load();
  return {
    update(s) {
      // A new tick moved the window's end: draw it again.
      if (s.asOf !== drawnAsOf) {
        drawnAsOf = s.asOf;
        void load();
      }
    },
    dispose() {
      controller?.abort();
      for (const c of charts) c.remove();
      charts = [];
    },
  };
}
