import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHART_URL_LIMIT, buildChart, downsample, spikeChart, type SeriesPoint } from '../src/chat/chart.js';

const day = (spikeAt?: number, base = 64_123.456): SeriesPoint[] =>
  Array.from({ length: 1440 }, (_, i) => {
    const v = base * (1 + 0.01 * Math.sin(i / 40)) + (i === spikeAt ? base * 0.2 : 0);
    return { ts: new Date(Date.UTC(2026, 0, 1) + i * 60_000), min: v * 0.999, max: v * 1.001, last: v };
  });

const dataOf = (url: string): number[] => {
  const c = new URL(url).searchParams.get('c')!;
  return JSON.parse(/data:\[([^\]]*)\]/.exec(c)![0].slice(5)) as number[];
};

describe('chart URLs', () => {
  it('fits a 1,440-point day into the platforms’ limit with about 90 buckets', () => {
    const chart = buildChart({
      baseUrl: 'https://quickchart.io',
      title: 'kraken:btc-usd · price · 24h',
      label: 'price',
      series: day(),
    })!;
    assert.ok(chart.url.length <= CHART_URL_LIMIT, String(chart.url.length));
    assert.ok(chart.points >= 60 && chart.points <= 90, String(chart.points));
    assert.ok(chart.url.startsWith('https://quickchart.io/chart?c='));
  });

  it('keeps a one-minute spike after downsampling', () => {
    const series = day(700);
    const chart = buildChart({ baseUrl: 'https://quickchart.io', title: 't', label: 'price', series })!;
    const data = dataOf(chart.url);
    const peak = Math.max(...series.map((p) => p.max!));
    assert.ok(Math.max(...data) >= peak * 0.999, `max drawn ${Math.max(...data)} vs ${peak}`);
  });

  it('shrinks precision and then points for a long self-hosted base URL, and gives up cleanly', () => {
    const base = `http://charts.internal.example:3400/${'very-long-path/'.repeat(20)}`;
    const chart = buildChart({ baseUrl: base, title: 't', label: 'p', series: day() })!;
    assert.ok(chart.url.startsWith('http://charts.internal.example:3400/very-long-path/'));
    assert.ok(chart.url.length <= CHART_URL_LIMIT);
    assert.equal(
      buildChart({ baseUrl: `http://x/${'y'.repeat(2100)}`, title: 't', label: 'p', series: day() }),
      undefined,
    );
    assert.equal(buildChart({ baseUrl: 'https://quickchart.io', title: 't', label: 'p', series: [] }), undefined);
  });

  it('draws the alert chart: recent hours, last point marked, threshold line', () => {
    const series = day(1439, 10);
    const chart = spikeChart({
      baseUrl: 'https://quickchart.io',
      market: 'kraken:btc-usd',
      metric: 'volume',
      series,
      threshold: 30,
      factor: 3,
    })!;
    const config = new URL(chart.url).searchParams.get('c')!;
    assert.match(config, /last 3h/);
    assert.match(config, /value:30/);
    assert.match(config, /3x 1h average/);
    assert.ok(chart.url.length <= CHART_URL_LIMIT);
    const data = dataOf(chart.url);
    assert.equal(data.at(-1), Math.max(...data), 'the spike is the last point drawn');
  });

  it('downsample keeps nulls out and buckets in time order', () => {
    const buckets = downsample(
      [
        { ts: 1, min: null, max: null, last: null },
        { ts: 2, min: 1, max: 3, last: 2 },
        { ts: 3, min: 2, max: 2, last: 2 },
      ],
      10,
    );
    assert.deepEqual(
      buckets.map((b) => b.ts),
      [2, 3],
    );
  });
});
