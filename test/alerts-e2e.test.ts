/**
 * Spike alerts end to end: the scheduler's real Bree workers collect the simulated source and run
 * detect-spikes against the real wire-protocol database; the deliverer posts through the real Slack
 * and Discord adapters to the local fakes. The simulated source injects a volume spike at a minute
 * we can predict (isSimulatedSpike), so the test knows which tick must alert and where.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { startDeliverer, type Deliverer } from '../src/alerts/deliver.js';
import { startDiscord, type DiscordAdapter } from '../src/chat/discord.adapter.js';
import { loadRegistry } from '../src/chat/registry.js';
import { startSlack, type SlackAdapter } from '../src/chat/slack.adapter.js';
import { Alert, Sample, Subscription } from '../src/db/models/index.js';
import { buildServer } from '../src/http/server.js';
import { isSimulatedSpike, simulatedMarkets } from '../src/market/sources/index.js';
import { startScheduler, type Scheduler } from '../src/scheduler.js';
import { chatConfig } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';
import { FAKE_APP_ID, FAKE_GUILD_ID, startFakeDiscord, type FakeDiscord } from './support/fake-discord.js';
import { FAKE_SLACK_TEAM, startFakeSlack, type FakeSlack } from './support/fake-slack.js';

const db = useTestDatabase('alerts_e2e');

const MINUTE = 60_000;
const config = chatConfig({
  SIMULATED_MARKETS: '3',
  SIMULATED_SPIKE_EVERY: '30m',
  COLLECT_INTERVAL: '1m',
  BACKFILL_MAX: '90m',
  SPIKE_MIN_POINTS: '30',
});
const [spiky, other] = simulatedMarkets(config).map((m) => m.id) as [string, string];

/** A minute, a few hours back, where `spiky` spikes and nothing spikes the minute before or `other` at it. */
function findSpikeMinute(): Date {
  const start = Math.floor(Date.now() / MINUTE) * MINUTE - 5 * 3_600_000;
  for (let t = start; ; t += MINUTE) {
    const at = new Date(t);
    const before = new Date(t - MINUTE);
    if (!isSimulatedSpike(spiky, at, config)) continue;
    if (isSimulatedSpike(other, at, config)) continue;
    if (simulatedMarkets(config).some((m) => isSimulatedSpike(m.id, before, config))) continue;
    return at;
  }
}

const SLACK_A = `slack:${FAKE_SLACK_TEAM}:C0SPIKEA`;
const SLACK_OTHER = `slack:${FAKE_SLACK_TEAM}:C0OTHER`;
const DISCORD_CH = '300000000000000777';
const DISCORD_B = `discord:${FAKE_GUILD_ID}:${DISCORD_CH}`;

describe('spike alerts end to end', () => {
  let slackFake: FakeSlack;
  let discordFake: FakeDiscord;
  let http: FastifyInstance;
  let slack: SlackAdapter;
  let discord: DiscordAdapter;
  let scheduler: Scheduler;
  const deliverers: Deliverer[] = [];
  const S = findSpikeMinute();
  const tick = (offsetMinutes: number) => new Date(S.getTime() + offsetMinutes * MINUTE);

  const slackPosts = (channel: string) =>
    slackFake.posts().filter((p) => `slack:${FAKE_SLACK_TEAM}:${String(p.channel)}` === channel);
  const discordPosts = () => discordFake.channelPosts(DISCORD_CH);

  /** One scheduled tick of the simulated source, after-tick detection included. */
  const runTick = (at: Date) => scheduler.runJob('collect-simulated', { tick: at.toISOString() });

  const deliverer = (owner: string) => {
    const d = startDeliverer({
      platforms: [slack, discord],
      owner,
      pollMs: 60_000,
      quickchartUrl: config.quickchartUrl,
    });
    deliverers.push(d);
    return d;
  };

  before(async () => {
    slackFake = await startFakeSlack();
    discordFake = await startFakeDiscord();
    const cfg = chatConfig({
      SLACK_API_URL: slackFake.apiUrl,
      DISCORD_API_URL: discordFake.apiUrl,
      SLACK_BOT_TOKEN: 'xoxb-e2e',
      SLACK_SIGNING_SECRET: 'e2e-signing-secret',
      DISCORD_TOKEN: 'fake-discord-token',
      DISCORD_APPLICATION_ID: FAKE_APP_ID,
    });
    const registry = await loadRegistry(cfg);
    http = await buildServer();
    slack = await startSlack({ config: cfg, registry, http });
    discord = await startDiscord({ config: cfg, registry });
    await discordFake.ready();
    scheduler = await startScheduler(config, {
      dbUri: db.uri,
      dbName: db.dbName,
      owner: 'e2e',
      autoStart: false,
      afterTick: ['detect-spikes'],
    });
    await Subscription.create([
      { channel: SLACK_A, market: spiky, metric: 'volume' },
      { channel: DISCORD_B, market: spiky, metric: 'volume' },
      { channel: SLACK_OTHER, market: other, metric: 'volume' },
      { channel: SLACK_OTHER, market: spiky, metric: 'price' },
    ]);
  });

  after(async () => {
    await Promise.all(deliverers.map((d) => d.stop()));
    await scheduler?.stop();
    await slack?.stop();
    await discord?.stop();
    await http?.close();
    await slackFake?.close();
    await discordFake?.close();
  });

  it('posts exactly one alert to each channel tracking the spiking market, within the tick, with the right numbers', async () => {
    const d = deliverer('replica-1');
    const delivered: Promise<number>[] = [];
    scheduler.events.on('job-done', (e: { name: string }) => {
      if (e.name === 'detect-spikes') delivered.push(d.deliverNow());
    });
    await runTick(tick(-1)); // first tick: backfills 90 minutes, detection builds its baselines
    assert.equal(await Alert.countDocuments(), 0, 'no spike at the first tick');
    await runTick(tick(0));
    await Promise.all(delivered);

    assert.equal(slackPosts(SLACK_A).length, 1);
    assert.equal(discordPosts().length, 1);
    assert.equal(slackPosts(SLACK_OTHER).length, 0, 'a channel tracking other markets or metrics hears nothing');

    const hour = await Sample.find({ market: spiky, ts: { $gte: new Date(S.getTime() - 3_600_000), $lt: S } }).lean();
    const values = hour.map((s) => s.volumeMinute).filter((v): v is number => typeof v === 'number');
    const baseline = values.reduce((a, v) => a + v, 0) / values.length;
    const point = (await Sample.findOne({ market: spiky, ts: S }).lean())!.volumeMinute!;
    const alerts = await Alert.find().lean();
    assert.equal(alerts.length, 2);
    for (const a of alerts) {
      assert.equal(a.ts.getTime(), S.getTime());
      assert.equal(a.value, point);
      assert.ok(Math.abs(a.baseline - baseline) < 1e-9 * baseline, `baseline ${a.baseline} vs ${baseline}`);
      assert.equal(a.points, values.length);
      assert.ok(a.ratio > 3);
      assert.equal(a.status, 'sent');
    }

    const slackPost = slackPosts(SLACK_A)[0]!;
    const text = JSON.stringify(slackPost.blocks);
    const base = spiky.split(':')[1]!.split('-')[0]!.toUpperCase();
    assert.match(text, new RegExp(`the 1h average of [0-9.,]+ ${base}/min`));
    assert.match(text, /snooze:1h/);
    const embed = (discordPosts()[0]!.body as { embeds: Array<{ title: string; image?: { url: string } }> }).embeds[0]!;
    assert.match(embed.title, new RegExp(`Spike: ${spiky}`));
    assert.ok(embed.image?.url.startsWith(config.quickchartUrl), 'the alert carries its small chart');
    assert.ok(embed.image!.url.length <= 2_048);
  });

  it('delivers once across a restart between detection and delivery, and a rerun of detection adds nothing', async () => {
    const before = { slack: slackPosts(SLACK_A).length, discord: discordPosts().length };
    // No deliverer listens to this tick: the process "went down" after detection.
    scheduler.events.removeAllListeners('job-done');
    await Promise.all(deliverers.splice(0).map((x) => x.stop()));
    await runTick(tick(30));
    assert.equal(await Alert.countDocuments({ status: 'pending', market: spiky, metric: 'volume' }), 2);

    const restarted = deliverer('replica-after-restart');
    await restarted.deliverNow();
    await scheduler.runJob('detect-spikes', { tick: tick(30).toISOString(), source: 'simulated' });
    await restarted.deliverNow();
    assert.equal(slackPosts(SLACK_A).length, before.slack + 1);
    assert.equal(discordPosts().length, before.discord + 1);
    assert.equal(await Alert.countDocuments({ status: 'pending' }), 0);
    await restarted.stop();
  });

  it('posts each alert once when two deliverers race for the outbox', async () => {
    await Promise.all(deliverers.splice(0).map((x) => x.stop()));
    const slackBefore = slackFake.posts().length;
    const discordBefore = discordPosts().length;
    await runTick(tick(60));
    const slackPending = await Alert.countDocuments({ status: 'pending', channel: /^slack:/ });
    assert.equal(await Alert.countDocuments({ status: 'pending', channel: { $in: [SLACK_A, DISCORD_B] } }), 2);
    const one = deliverer('replica-a');
    const two = deliverer('replica-b');
    await Promise.all([one.deliverNow(), two.deliverNow()]);
    assert.equal(await Alert.countDocuments({ status: 'pending' }), 0);
    assert.equal(slackFake.posts().length, slackBefore + slackPending, 'each Slack alert posted once');
    assert.equal(
      slackFake
        .posts()
        .slice(slackBefore)
        .filter((p) => p.channel === 'C0SPIKEA').length,
      1,
    );
    assert.equal(discordPosts().length, discordBefore + 1, 'the Discord alert posted once');
    await Promise.all(deliverers.splice(0).map((x) => x.stop()));
  });

  it('waits out a Slack 429 Retry-After before posting to that channel again, while Discord goes on', async () => {
    const slackBefore = slackFake.posts().length;
    const discordBefore = discordPosts().length;
    await runTick(tick(90));
    const slackPending = await Alert.countDocuments({ status: 'pending', channel: /^slack:/ });
    slackFake.rateLimitPost(1);
    const d = deliverer('replica-429');
    await d.deliverNow();
    assert.equal(discordPosts().length, discordBefore + 1, 'Discord is not held back by Slack');
    const deadline = Date.now() + 10_000;
    while ((await Alert.countDocuments({ status: 'pending' })) > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await Alert.countDocuments({ status: 'pending' }), 0);
    const tries = slackFake.http.find((r) => r.path === '/api/chat.postMessage').slice(slackBefore);
    assert.equal(tries.length, slackPending + 1, 'one 429, then each Slack alert posted once');
    // The limit holds back the channel that got it; the other Slack channel is not held back.
    const limited = (tries[0]!.body as { channel: string }).channel;
    const retry = tries.slice(1).find((r) => (r.body as { channel: string }).channel === limited)!;
    const waited = retry.at - tries[0]!.at;
    assert.ok(waited >= 990, `waited ${waited} ms after a Retry-After of 1 s`);
    assert.ok(waited < 1_000 + 2_500, `waited ${waited} ms: no longer than needed`);
    assert.equal(await Alert.countDocuments({ channel: { $in: [SLACK_A, DISCORD_B] }, status: 'sent' }), 8);
  });

  it('the Snooze 1h button on a Discord alert silences that subscription; the other channel still hears', async () => {
    const posted = discordPosts().at(-1)!.body as {
      components: Array<{ components: Array<{ custom_id: string; label: string }> }>;
    };
    const snooze = posted.components.flatMap((row) => row.components).find((b) => b.label === 'Snooze 1h')!;
    assert.ok(snooze, 'the alert has a Snooze 1h button');
    const clicked = Date.now();
    const { token } = discordFake.button(snooze.custom_id, { channelId: DISCORD_CH, guildId: FAKE_GUILD_ID });
    const edit = await discordFake.waitForEdit(token);
    assert.match(JSON.stringify(edit.body), /Snoozed .* alerts for 1h/);
    const sub = await Subscription.findOne({ channel: DISCORD_B }).lean();
    assert.ok(Math.abs(sub!.snoozedUntil!.getTime() - (clicked + 3_600_000)) < 30_000);

    const before = { slack: slackPosts(SLACK_A).length, discord: discordPosts().length };
    await Promise.all(deliverers.splice(0).map((x) => x.stop()));
    const d = deliverer('replica-c');
    await runTick(tick(120));
    await d.deliverNow();
    assert.equal(slackPosts(SLACK_A).length, before.slack + 1);
    assert.equal(discordPosts().length, before.discord, 'snoozed: nothing posted');
  });
});
