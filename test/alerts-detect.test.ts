/**
 * Detection against the real wire-protocol server: the outbox it writes, the cooldown, snooze and
 * mute, and that the running baselines agree with a full reread of the hour tick after tick.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { Alert, Channel, Market, SpikeBaseline, Subscription } from '../src/db/models/index.js';
import { detectSpikes } from '../src/alerts/detect.js';
import { saveSamples, type SampleInput } from '../src/market/samples.js';
import { detectSpikeAt, type SeriesPoint } from '../src/alerts/rules/spike.js';
import { clearDatabase, useTestDatabase } from './support/db.js';

useTestDatabase('alerts_detect');

const T0 = Date.UTC(2026, 2, 1, 10, 0);
const at = (minute: number) => new Date(T0 + minute * 60_000);

function sample(market: string, minute: number, volumeMinute: number | null, last = 100): SampleInput {
  return {
    market,
    ts: at(minute),
    source: 'simulated',
    last,
    high: last,
    low: last,
    changePct: 0,
    volume24h: 1_000,
    volumeMinute,
  };
}

/** Minutes [from, to] of a flat series of `value`, with overrides. */
function flat(
  market: string,
  from: number,
  to: number,
  value: number,
  overrides: Record<number, number | null> = {},
): SampleInput[] {
  const out: SampleInput[] = [];
  for (let m = from; m <= to; m++) out.push(sample(market, m, m in overrides ? overrides[m]! : value));
  return out;
}

const run = (minute: number, extra: { source?: string; minPoints?: number } = {}) =>
  detectSpikes({ tick: at(minute), minPoints: extra.minPoints ?? 30, source: extra.source });

async function track(channel: string, market: string, metric = 'volume', extra: Record<string, unknown> = {}) {
  return Subscription.create({ channel, market, metric, factor: 3, cooldownMs: 15 * 60_000, ...extra });
}

beforeEach(clearDatabase);

describe('spike detection job', () => {
  it('writes exactly one alert per tracking channel whose factor is exceeded, with the numbers', async () => {
    await saveSamples([...flat('sim:aaa-usd', 0, 60, 10, { 60: 45 }), ...flat('sim:bbb-usd', 0, 60, 10)]);
    const a = await track('slack:T1:CA', 'sim:aaa-usd');
    const b = await track('discord:G1:CB', 'sim:aaa-usd', 'volume', { factor: 5 });
    await track('slack:T1:CC', 'sim:bbb-usd');
    const c = await track('console:local', 'sim:aaa-usd');

    const result = await run(60);
    assert.equal(result.pairs, 2);
    assert.equal(result.bootstrapped, 2);
    assert.equal(result.alerts, 2);
    assert.deepEqual(result.alertsByPlatform, { slack: 1, console: 1 });

    const alerts = await Alert.find().sort({ channel: 1 }).lean();
    assert.deepEqual(
      alerts.map((x) => x.channel),
      ['console:local', 'slack:T1:CA'],
    );
    const alert = alerts.find((x) => x.channel === 'slack:T1:CA')!;
    assert.equal(String(alert.subscriptionId), String(a._id));
    assert.equal(alert.market, 'sim:aaa-usd');
    assert.equal(alert.metric, 'volume');
    assert.equal(alert.ts.getTime(), at(60).getTime());
    assert.equal(alert.value, 45);
    assert.equal(alert.baseline, 10);
    assert.equal(alert.ratio, 4.5);
    assert.equal(alert.factor, 3);
    assert.equal(alert.points, 60);
    assert.equal(alert.more, 0);
    assert.equal(alert.status, 'pending');
    assert.notEqual(String(alert.subscriptionId), String(b._id));
    assert.ok(alerts.some((x) => String(x.subscriptionId) === String(c._id)));
  });

  it('writes nothing new when the same tick runs again, even with its baseline state lost', async () => {
    await saveSamples(flat('sim:aaa-usd', 0, 60, 10, { 60: 45 }));
    await track('slack:T1:CA', 'sim:aaa-usd');
    assert.equal((await run(60)).alerts, 1);
    const again = await run(60);
    assert.equal(again.alerts, 0);
    assert.equal(again.alreadyDone, 1);
    // As if the run had died before saving baselines: the alert key and lastAlertAt hold the line.
    await SpikeBaseline.deleteMany({});
    const redo = await run(60);
    assert.equal(redo.alerts, 0);
    assert.equal(await Alert.countDocuments(), 1);
  });

  it('keeps running baselines that match a full reread of the hour, tick after tick', async () => {
    let seed = 11;
    const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const values: Record<number, number | null> = {};
    for (let m = 0; m <= 150; m++)
      values[m] = rand() < 0.12 ? 150 + rand() * 100 : rand() < 0.03 ? null : 10 + rand() * 10;
    const all = flat('sim:aaa-usd', 0, 150, 0, values);
    // A gap the collector never filled: minutes 100-104 are missing.
    const stored = all.filter((s) => !(s.ts >= at(100) && s.ts <= at(104)));
    await saveSamples(stored.filter((s) => s.ts <= at(60)));
    await track('slack:T1:CA', 'sim:aaa-usd', 'volume', { cooldownMs: 1 });
    const series: SeriesPoint[] = stored.map((s) => ({ ts: s.ts, value: s.volumeMinute }));

    await run(60);
    for (let m = 61; m <= 150; m++) {
      const s = stored.find((x) => x.ts.getTime() === at(m).getTime());
      if (s) await saveSamples([s]);
      // Every fourth tick is skipped, as when a detection job failed: the next run catches up.
      if (m % 4 === 0) continue;
      await run(m);
    }
    const expected = series
      .map((p, i) => ({ p, v: detectSpikeAt(series, i, { factor: 3, minPoints: 30 }) }))
      .filter(({ p, v }) => v.spike && (p.ts as Date) >= at(60));
    assert.ok(expected.length >= 3, `the crafted series should spike a few times, got ${expected.length}`);
    const alerts = await Alert.find().sort({ ts: 1 }).lean();
    assert.deepEqual(
      alerts.map((a) => a.ts.toISOString()),
      expected.map(({ p }) => (p.ts as Date).toISOString()),
    );
    for (const [i, a] of alerts.entries()) {
      const v = expected[i]!.v;
      assert.equal(a.points, v.points, `points at ${a.ts.toISOString()}`);
      assert.ok(Math.abs(a.baseline - v.baseline!) < 1e-9 * v.baseline!, `baseline at ${a.ts.toISOString()}`);
    }
    const doc = await SpikeBaseline.findById('sim:aaa-usd|volume').lean();
    assert.ok(doc);
    assert.equal(doc.lastTs.getTime(), at(150).getTime());
  });

  it('repeats at most once per cooldown and reports the swallowed spikes as "+N more"', async () => {
    // Spikes at 60, 62, 64 (inside the 15 min cooldown) and 80 (after it).
    await saveSamples(flat('sim:aaa-usd', 0, 60, 10, { 60: 100 }));
    await track('slack:T1:CA', 'sim:aaa-usd');
    await run(60);
    for (let m = 61; m <= 80; m++) {
      await saveSamples([sample('sim:aaa-usd', m, m === 62 || m === 64 || m === 80 ? 200 : 10)]);
      await run(m);
    }
    const alerts = await Alert.find().sort({ ts: 1 }).lean();
    assert.deepEqual(
      alerts.map((a) => [a.ts.toISOString(), a.more]),
      [
        [at(60).toISOString(), 0],
        [at(80).toISOString(), 2],
      ],
    );
    const sub = await Subscription.findOne().lean();
    assert.equal(sub!.suppressed, 0);
    assert.equal(sub!.lastAlertAt!.getTime(), at(80).getTime());
  });

  it('stays silent while a subscription is snoozed and speaks again when the snooze ends', async () => {
    await saveSamples(flat('sim:aaa-usd', 0, 60, 10));
    await track('slack:T1:CA', 'sim:aaa-usd', 'volume', { snoozedUntil: at(70), cooldownMs: 60_000 });
    await track('slack:T1:CB', 'sim:aaa-usd', 'volume', { cooldownMs: 60_000 });
    await run(60);
    for (const m of [61, 69, 70]) {
      await saveSamples([sample('sim:aaa-usd', m, 500)]);
      await run(m);
    }
    const heard = async (channel: string) =>
      (await Alert.find({ channel }).sort({ ts: 1 }).lean()).map((a) => a.ts.getTime());
    assert.deepEqual(await heard('slack:T1:CA'), [at(70).getTime()]);
    assert.deepEqual(await heard('slack:T1:CB'), [at(61).getTime(), at(69).getTime(), at(70).getTime()]);
  });

  it('stays silent in a muted channel until the mute ends, and not in other channels', async () => {
    await saveSamples(flat('sim:aaa-usd', 0, 60, 10));
    await Channel.create({ _id: 'discord:G1:CM', mutedUntil: at(65) });
    await track('discord:G1:CM', 'sim:aaa-usd', 'volume', { cooldownMs: 60_000 });
    await track('discord:G1:CX', 'sim:aaa-usd', 'volume', { cooldownMs: 60_000 });
    await run(60);
    for (const m of [61, 64, 65]) {
      await saveSamples([sample('sim:aaa-usd', m, 500)]);
      const r = await run(m);
      if (m < 65) assert.equal(r.muted, 1);
    }
    const heard = async (channel: string) =>
      (await Alert.find({ channel }).sort({ ts: 1 }).lean()).map((a) => a.ts.getTime());
    assert.deepEqual(await heard('discord:G1:CM'), [at(65).getTime()]);
    assert.deepEqual(await heard('discord:G1:CX'), [at(61).getTime(), at(64).getTime(), at(65).getTime()]);
  });

  it('gives no alert, and counts the reason, with too few points or a zero baseline', async () => {
    await saveSamples([
      ...flat('sim:few-usd', 31, 60, 10, { 60: 1_000 }),
      ...flat('sim:zero-usd', 0, 60, 0, { 60: 1_000 }),
    ]);
    await track('slack:T1:CA', 'sim:few-usd');
    await track('slack:T1:CA', 'sim:zero-usd');
    const r = await run(60);
    assert.equal(r.alerts, 0);
    assert.equal(r.skipped['too-few-points'], 1);
    assert.equal(r.skipped['zero-baseline'], 1);
    const more = await run(60, { minPoints: 20 });
    assert.equal(more.alreadyDone, 2, 'a tick is judged once, whatever the settings of a later run');
  });

  it('skips minutes whose per-minute volume could not be derived, and judges price on the same samples', async () => {
    const samples = flat('sim:aaa-usd', 0, 61, 10, { 30: null, 60: null, 61: 45 });
    samples[61]!.last = 1_000; // price 10x its hour
    await saveSamples(samples);
    await track('slack:T1:CA', 'sim:aaa-usd');
    await track('slack:T1:CP', 'sim:aaa-usd', 'price');
    await run(59);
    const r60 = await run(60);
    assert.equal(r60.skipped['no-value'], 1);
    await run(61);
    const alerts = await Alert.find().sort({ channel: 1 }).lean();
    assert.deepEqual(
      alerts.map((a) => [a.channel, a.metric, a.value, a.baseline, a.points]),
      [
        ['slack:T1:CA', 'volume', 45, 10, 58],
        ['slack:T1:CP', 'price', 1_000, 100, 60],
      ],
    );
  });

  it('with a source named, judges only the markets that source reports', async () => {
    await Market.create([
      { _id: 'sim:aaa-usd', exchange: 'sim', base: 'aaa', quote: 'usd', source: 'simulated', symbol: 'AAAUSD' },
      { _id: 'kraken:btc-usd', exchange: 'kraken', base: 'btc', quote: 'usd', source: 'kraken', symbol: 'XXBTZUSD' },
    ]);
    await saveSamples([
      ...flat('sim:aaa-usd', 0, 60, 10, { 60: 45 }),
      ...flat('kraken:btc-usd', 0, 60, 10, { 60: 45 }),
    ]);
    await track('slack:T1:CA', 'sim:aaa-usd');
    await track('slack:T1:CA', 'kraken:btc-usd');
    const sim = await run(60, { source: 'simulated' });
    assert.equal(sim.pairs, 1);
    assert.deepEqual(
      (await Alert.find().lean()).map((a) => a.market),
      ['sim:aaa-usd'],
    );
    const kraken = await run(60, { source: 'kraken' });
    assert.equal(kraken.alerts, 1);
    assert.equal(await Alert.countDocuments(), 2);
  });

  it('forgets the baseline of a pair nobody tracks any more', async () => {
    await saveSamples(flat('sim:aaa-usd', 0, 61, 10));
    const sub = await track('slack:T1:CA', 'sim:aaa-usd');
    await run(60);
    assert.equal(await SpikeBaseline.countDocuments(), 1);
    await Subscription.deleteOne({ _id: sub._id });
    await run(61);
    assert.equal(await SpikeBaseline.countDocuments(), 0);
  });
});
