/**
 * The volume chart's past spikes, apart from the page so it can be checked without a browser.
 * Times are whole seconds, as the chart library has them.
 */
export const SPIKE_FACTOR = 3;
/** Fewer points than this in the hour before a point: no baseline to judge it against. */
const MIN_BASELINE_POINTS = 10;
const HOUR = 3_600_000;

/**
 * Past spikes: points above 3x the average of the hour before them (the point itself excluded,
 * as the alerting does), judged on the series as charted. Also the current line: 3x the last hour.
 */
export function spikesOf(data: Array<{ time: number; value: number }>): { spikes: number[]; threshold: number | null } {
  const spikes: number[] = [];
  let start = 0;
  let sum = 0;
  for (let i = 0; i < data.length; i++) {
    const t = data[i]!.time * 1000;
    while (start < i && data[start]!.time * 1000 < t - HOUR) sum -= data[start++]!.value;
    const n = i - start;
    if (n >= MIN_BASELINE_POINTS && sum > 0 && data[i]!.value > (SPIKE_FACTOR * sum) / n) spikes.push(data[i]!.time);
    sum += data[i]!.value;
  }
  const end = data.length ? data[data.length - 1]!.time * 1000 : 0;
  const lastHour = data.filter((d) => d.time * 1000 > end - HOUR);
  const mean = lastHour.length ? lastHour.reduce((a, d) => a + d.value, 0) / lastHour.length : 0;
  return { spikes, threshold: mean > 0 ? SPIKE_FACTOR * mean : null };
}
