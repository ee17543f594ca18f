/**
 * `npm run bench -- deliver`: how fast the deliverer empties the outbox, on the compiled build (tsc
 * into .cache/bench-deliver, the same options as `npm run build`).
 *
 * 1. Console: a backlog of BENCH_ALERTS alerts (default 10,000) for the console channel, digests
 *    off so every alert is its own post, over 100 subscriptions and 100 ticks (charts on: the chart
 *    of each alert is built from its market's samples). Alerts per second from the first claim to
 *    the last settle. The same backlog with digests on (one post per tick) is printed beside it.
 * 2. Slack: BENCH_SLACK_CHANNELS channels (default 100) with BENCH_SLACK_PER_CHANNEL alerts each
 *    (default 10), through the real Slack adapter to the local Slack fake, which records when each
 *    post arrives (the pace of one post a second per channel is the deliverer's to keep). The steady rate (posts after each channel's first, over the time between
 *    the first and the last post, as the fake received them) against the allowed rate (one a
 *    second per channel), in percent; the shortest and the median gap between the deliverer
 *    starting two posts to one channel (the shortest must stay >= 1 s), the longest (a lane that
 *    ran dry), and how far apart the channels' first posts started.
 *
 * The last line is `console alerts per s: <n>` (target >= 200); `slack share of allowed rate: <n>`
 * is in percent (target >= 90).
 *
 *   npm run bench -- deliver
 *   BENCH_ALERTS=20000 npm run bench -- deliver
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import mongoose from 'mongoose';
import { startFakeSlack } from '../test/support/fake-slack.js';

const uri = process.env.BENCH_MONGODB_URI;
if (!uri) throw new Error('run through `npm run bench -- deliver` (bench/run.ts starts the database)');
const ALERTS = Number(process.env.BENCH_ALERTS ?? 10_000);
const SLACK_CHANNELS = Number(process.env.BENCH_SLACK_CHANNELS ?? 100);
const SLACK_PER_CHANNEL = Number(process.env.BENCH_SLACK_PER_CHANNEL ?? 10);
const SUBS = 100;

const root = join(import.meta.dirname, '..');
const out = join(root, '.cache', 'bench-deliver');
execFileSync(
  process.execPath,
  [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', out],
  { stdio: 'inherit' },
);
const load = <T>(path: string): Promise<T> => import(pathToFileURL(join(out, path)).href) as Promise<T>;
const { startDeliverer } = await load<typeof import('../src/alerts/deliver.js')>('src/alerts/deliver.js');
const { startConsole } = await load<typeof import('../src/chat/console.adapter.js')>('src/chat/console.adapter.js');
const { startSlack } = await load<typeof import('../src/chat/slack.adapter.js')>('src/chat/slack.adapter.js');
const { loadRegistry } = await load<typeof import('../src/chat/registry.js')>('src/chat/registry.js');
const { loadConfig } = await load<typeof import('../src/config.js')>('src/config.js');
const { connectDatabase, disconnectDatabase } =
  await load<typeof import('../src/db/connection.js')>('src/db/connection.js');
const { Alert, Channel, Subscription, Sample } =
  await load<typeof import('../src/db/models/index.js')>('src/db/models/index.js');
const { buildServer } = await load<typeof import('../src/http/server.js')>('src/http/server.js');
const { initLogger } = await load<typeof import('../src/logger.js')>('src/logger.js');

const slackFake = await startFakeSlack();
const config = loadConfig({
  LOG_LEVEL: 'silent',
  MARKET_SOURCE: 'simulated',
  QUICKCHART_URL: 'https://quickchart.example.test',
  SLACK_BOT_TOKEN: 'xoxb-bench',
  SLACK_SIGNING_SECRET: 'bench-signing-secret',
  SLACK_API_URL: slackFake.apiUrl,
});
initLogger(config);
await connectDatabase(uri, { dbName: `bench_deliver_${Date.now()}` });
const registry = await loadRegistry(config);

const tick0 = Math.floor(Date.now() / 60_000) * 60_000 - 200 * 60_000;
const market = (i: number) => `bench:c${i}-usd`;

// Three hours of samples for each market, so every alert's chart has a history to draw.
const samples = [];
for (let i = 0; i < SUBS; i++) {
  for (let m = -180; m < 100; m++) {
    samples.push({
      market: market(i),
      ts: new Date(tick0 + m * 60_000),
      source: 'simulated',
      last: 100 + i,
      high: 101 + i,
      low: 99 + i,
      changePct: 0,
      volume24h: 1000,
      volumeMinute: 5 + ((m + i) % 7),
    });
  }
}
await Sample.collection.insertMany(samples, { ordered: false });

/** Subscriptions for `channel` (one per market) and `perSub` alerts each, one tick apart. */
async function backlog(channels: string[], subsPerChannel: number, perSub: number) {
  const subs = channels.flatMap((channel) =>
    Array.from({ length: subsPerChannel }, (_, i) => ({
      _id: new mongoose.Types.ObjectId(),
      channel,
      market: market(i),
      metric: 'volume',
      factor: 3,
      cooldownMs: 60_000,
      disabled: false,
      snoozedUntil: null,
      createdAt: new Date(),
    })),
  );
  await Subscription.collection.insertMany(subs, { ordered: false });
  const alerts = [];
  for (let t = 0; t < perSub; t++) {
    const ts = new Date(tick0 + t * 60_000);
    for (const sub of subs) {
      alerts.push({
        key: `${String(sub._id)}|${sub.market}|volume|${ts.toISOString()}`,
        subscriptionId: sub._id,
        channel: sub.channel,
        market: sub.market,
        metric: 'volume',
        ts,
        value: 40,
        baseline: 10,
        ratio: 4,
        factor: 3,
        points: 60,
        more: 0,
        status: 'pending',
        attempts: 0,
        nextAttemptAt: new Date(0),
        lockedBy: null,
        lockedUntil: null,
        claim: null,
        createdAt: ts,
      });
    }
  }
  for (let i = 0; i < alerts.length; i += 5_000)
    await Alert.collection.insertMany(alerts.slice(i, i + 5_000), { ordered: false });
  return alerts.length;
}

const sink = new Writable({
  write(_chunk, _enc, done) {
    done();
  },
});
const consoleOut = startConsole({
  config,
  registry,
  input: new (await import('node:stream')).PassThrough(),
  output: sink,
  prompt: '',
});

async function consoleRun(digest: boolean): Promise<{ alerts: number; perS: number }> {
  await Alert.deleteMany({});
  await Subscription.deleteMany({});
  await Channel.updateOne({ _id: 'console:local' }, { $set: { digest } }, { upsert: true });
  const total = await backlog(['console:local'], SUBS, Math.ceil(ALERTS / SUBS));
  const started = performance.now();
  const d = startDeliverer({ platforms: [consoleOut], pollMs: 3_600_000, quickchartUrl: config.quickchartUrl });
  await d.deliverNow();
  const seconds = (performance.now() - started) / 1000;
  await d.stop();
  const sent = await Alert.countDocuments({ status: 'sent' });
  if (sent !== total) throw new Error(`console: ${sent} of ${total} alerts sent`);
  return { alerts: total, perS: total / seconds };
}

// Warm-up on a small backlog (JIT, the server's first queries), then the measured runs.
await Alert.deleteMany({});
await backlog(['console:local'], 10, 10);
{
  const d = startDeliverer({ platforms: [consoleOut], pollMs: 3_600_000, quickchartUrl: config.quickchartUrl });
  await d.deliverNow();
  await d.stop();
}
const perPost = await consoleRun(false);
const digests = await consoleRun(true);

// Slack: the real adapter (Bolt's WebClient) against the local fake.
await Alert.deleteMany({});
await Subscription.deleteMany({});
const http = await buildServer();
const slack = await startSlack({ config, registry, http });
const channels = Array.from({ length: SLACK_CHANNELS }, (_, i) => `slack:T0BENCH:C${String(i).padStart(4, '0')}`);
for (const c of channels) await Channel.updateOne({ _id: c }, { $set: { digest: false } }, { upsert: true });
const slackTotal = await backlog(channels, 1, SLACK_PER_CHANNEL);
const before = slackFake.http.find((r) => r.path === '/api/chat.postMessage').length;
const slackStarted = performance.now();
// When the deliverer starts each post, per channel: its pacing, apart from the fake's own jitter.
const started = new Map<string, number[]>();
const paced = {
  ...slack,
  post: (channel: string, ...rest: Parameters<typeof slack.post> extends [string, ...infer R] ? R : never) => {
    started.set(channel, [...(started.get(channel) ?? []), performance.now()]);
    return slack.post(channel, ...rest);
  },
};
const d = startDeliverer({ platforms: [paced], pollMs: 3_600_000, quickchartUrl: config.quickchartUrl });
while ((await Alert.countDocuments({ status: 'sent' })) < slackTotal) {
  await d.deliverNow();
  if (performance.now() - slackStarted > 10 * 60_000) throw new Error('slack: backlog not delivered in 10 min');
}
await d.stop();
const posts = slackFake.http.find((r) => r.path === '/api/chat.postMessage').slice(before);
const times = posts.map((p) => p.at);
const first = Math.min(...times);
const last = Math.max(...times);
const steady = (posts.length - SLACK_CHANNELS) / ((last - first) / 1000);
const gaps: number[] = [];
for (const list of started.values()) for (let i = 1; i < list.length; i++) gaps.push(list[i]! - list[i - 1]!);
gaps.sort((a, b) => a - b);
const firsts = [...started.values()].map((list) => list[0]!);
await slack.stop();
await slackFake.close();
await consoleOut.stop();
await disconnectDatabase();

const r = (x: number) => Math.round(x * 10) / 10;
console.log(`build: compiled (tsc -> .cache/bench-deliver)`);
console.log(`console backlog: ${perPost.alerts}`);
console.log(`console digest alerts per s: ${r(digests.perS)}`);
console.log(`slack channels: ${SLACK_CHANNELS}`);
console.log(`slack alerts: ${slackTotal}`);
console.log(`slack allowed per s: ${SLACK_CHANNELS}`);
console.log(`slack steady alerts per s: ${r(steady)}`);
console.log(`slack share of allowed rate: ${r((100 * steady) / SLACK_CHANNELS)}`);
console.log(`slack least gap between posts to one channel ms: ${Math.round(gaps[0] ?? 0)}`);
console.log(`slack median gap between posts to one channel ms: ${Math.round(gaps[gaps.length >> 1] ?? 0)}`);
console.log(`slack longest gap between posts to one channel ms: ${Math.round(gaps.at(-1) ?? 0)}`);
console.log(`slack spread of the channels' first posts ms: ${Math.round(Math.max(...firsts) - Math.min(...firsts))}`);
console.log(`console alerts per s: ${r(perPost.perS)}`);
process.exit(0);
