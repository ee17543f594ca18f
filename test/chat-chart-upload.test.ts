/**
 * CHART_UPLOAD: the real Bolt and discord.js adapters render each chart to PNG through a local
 * QuickChart and upload it to the local Slack and Discord fakes, for command answers and for alerts
 * from the deliverer; when the render or the upload fails the answer still goes out with the URL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDeliverer } from '../src/alerts/deliver.js';
import { startDiscord } from '../src/chat/discord.adapter.js';
import { buildChart, renderChartPng } from '../src/chat/chart.js';
import { loadRegistry } from '../src/chat/registry.js';
import { startSlack } from '../src/chat/slack.adapter.js';
import type { Config } from '../src/config.js';
import { Alert, Subscription } from '../src/db/models/index.js';
import { buildServer } from '../src/http/server.js';
import { initLogger } from '../src/logger.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';
import {
  FAKE_APP_ID,
  FAKE_CHANNEL_ID,
  FAKE_GUILD_ID,
  discordFiles,
  discordPayload,
  startFakeDiscord,
  type FakeDiscord,
} from './support/fake-discord.js';
import { startFakeQuickChart, type FakeQuickChart } from './support/fake-quickchart.js';
import {
  FAKE_SLACK_TEAM,
  signSlackRequest,
  slashCommandBody,
  startFakeSlack,
  type FakeSlack,
} from './support/fake-slack.js';
import { until } from './support/wait.js';

useTestDatabase('chat_chart_upload');

const SECRET = 'slack-signing-secret-for-tests';
const STRING = 3;
const END = new Date();

/** Both adapters on one config, against fresh fakes; `base` is the Fastify server Slack posts to. */
async function startBoth(config: (fakes: { slack: FakeSlack; discord: FakeDiscord }) => Config) {
  const slackFake = await startFakeSlack();
  const discordFake = await startFakeDiscord();
  const cfg = config({ slack: slackFake, discord: discordFake });
  const http = await buildServer();
  const registry = await loadRegistry(cfg);
  const slack = await startSlack({ config: cfg, registry, http });
  const discord = await startDiscord({ config: cfg, registry });
  await http.listen({ host: '127.0.0.1', port: 0 });
  const address = http.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  let n = 0;
  const slashCommand = async (cmd: string, text: string) => {
    const id = `r${++n}`;
    const body = slashCommandBody({ command: cmd, text, responseUrl: slackFake.responseUrl(id) });
    const res = await fetch(`${base}/slack/events`, { method: 'POST', headers: signSlackRequest(SECRET, body), body });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '', 'acknowledged at once, before any render or upload');
    return id;
  };
  const stop = async () => {
    await slack.stop();
    await discord.stop();
    await http.close();
    await slackFake.close();
    await discordFake.close();
  };
  return { slackFake, discordFake, slack, discord, slashCommand, stop };
}

const env = (qc: FakeQuickChart, fakes: { slack: FakeSlack; discord: FakeDiscord }, upload: 'true' | 'false') => ({
  SLACK_BOT_TOKEN: 'xoxb-test',
  SLACK_SIGNING_SECRET: SECRET,
  SLACK_API_URL: fakes.slack.apiUrl,
  DISCORD_TOKEN: 'fake-discord-token',
  DISCORD_APPLICATION_ID: FAKE_APP_ID,
  DISCORD_API_URL: fakes.discord.apiUrl,
  QUICKCHART_URL: qc.url,
  CHART_UPLOAD: upload,
});

/** A pending volume alert on kraken:btc-usd at the last seeded minute, for `channel`. */
async function pendingAlert(channel: string) {
  const ts = new Date(Math.floor(END.getTime() / 60_000) * 60_000);
  const sub = await Subscription.create({ channel, market: 'kraken:btc-usd', metric: 'volume', factor: 3 });
  return Alert.create({
    key: `${String(sub._id)}|kraken:btc-usd|volume|${ts.toISOString()}`,
    subscriptionId: sub._id,
    channel,
    market: 'kraken:btc-usd',
    metric: 'volume',
    ts,
    value: 50,
    baseline: 3,
    ratio: 16.7,
    factor: 3,
    points: 60,
  });
}

type SlackBlock = { type: string; image_url?: string; text?: { text: string } };

describe('chart upload (CHART_UPLOAD=true)', () => {
  let qc: FakeQuickChart;
  let chat: Awaited<ReturnType<typeof startBoth>>;
  const logs: Array<Record<string, unknown>> = [];
  const warnings = (msg: RegExp) => logs.filter((l) => l.level === 'warn' && msg.test(String(l.msg)));

  before(async () => {
    await seedMarkets(END, 240);
    qc = await startFakeQuickChart();
    // Adapters bind their logger at start, so this capture sees their warnings.
    initLogger(chatConfig({ LOG_LEVEL: 'warn' }), {
      destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
    });
    chat = await startBoth((fakes) => chatConfig(env(qc, fakes, 'true')));
  });
  after(async () => {
    await chat?.stop();
    await qc?.close();
    quietLogs();
  });

  it('slack: /metric is one message shared with the rendered PNG, in the command channel', async () => {
    const renders = qc.renders().length;
    const id = await chat.slashCommand('/metric', 'btc-usd');
    const upload = await chat.slackFake.waitForUpload();
    assert.equal(qc.renders().length, renders + 1, 'rendered once through QUICKCHART_URL');
    const render = qc.renders().at(-1)!.body as { chart: unknown; width: number; height: number };
    assert.match(JSON.stringify(render.chart), /kraken:btc-usd · price · 24h/);
    assert.deepEqual([render.width, render.height], [600, 300]);
    assert.ok(upload.bytes.equals(qc.png), 'the uploaded bytes are the PNG QuickChart served');
    assert.equal(upload.length, qc.png.length);
    assert.equal(upload.filename, 'chart.png');
    assert.equal(upload.channel, 'C0CHAN');
    const blocks = upload.blocks as SlackBlock[];
    assert.match(
      blocks[0]!.text!.text,
      /kraken:btc-usd · price · 24h/,
      'the answer is the message the file is shared with',
    );
    assert.ok(!blocks.some((b) => b.type === 'image'), 'no URL image beside the uploaded one');
    assert.ok(
      blocks.some((b) => b.type === 'actions'),
      'buttons stay on the message',
    );
    assert.equal(chat.slackFake.responses(id).length, 0, 'nothing else posted: one message');
  });

  it('discord: the /metric edit carries chart.png and the embed shows attachment://chart.png', async () => {
    const { token } = chat.discordFake.slashCommand('metric', [{ name: 'market', type: STRING, value: 'btc-usd' }]);
    const edit = await chat.discordFake.waitForEdit(token);
    const [file, ...more] = discordFiles(edit);
    assert.equal(more.length, 0);
    assert.equal(file?.filename, 'chart.png');
    assert.ok(file.bytes.equals(qc.png));
    assert.equal(discordPayload(edit).embeds[0].image.url, 'attachment://chart.png');
  });

  it('alerts from the deliverer carry the uploaded PNG on both platforms', async () => {
    const slackAlert = await pendingAlert(`slack:${FAKE_SLACK_TEAM}:C0ALERTS`);
    const discordAlert = await pendingAlert(`discord:${FAKE_GUILD_ID}:${FAKE_CHANNEL_ID}`);
    const uploadsBefore = chat.slackFake.uploads().length;
    const postsBefore = chat.slackFake.posts().length;
    const d = startDeliverer({ platforms: [chat.slack, chat.discord], pollMs: 60_000, quickchartUrl: qc.url });
    try {
      // The deliverer also runs a round as it starts, so wait for the outbox rather than count one call.
      await d.deliverNow();
      await until(
        'both alerts sent',
        async () =>
          (await Alert.countDocuments({ _id: { $in: [slackAlert._id, discordAlert._id] }, status: 'sent' })) === 2,
      );
    } finally {
      await d.stop();
    }
    const upload = await chat.slackFake.waitForUpload(uploadsBefore + 1);
    assert.equal(upload.channel, 'C0ALERTS');
    assert.ok(upload.bytes.equals(qc.png));
    assert.match(JSON.stringify(upload.blocks), /kraken:btc-usd/);
    assert.equal(chat.slackFake.posts().length, postsBefore, 'no chat.postMessage beside the upload');
    const sent = await Alert.findById(slackAlert._id).lean();
    assert.equal(sent?.status, 'sent');
    assert.equal(sent?.messageRef, `C0ALERTS:${upload.fileId}`);

    const post = chat.discordFake.channelPosts(FAKE_CHANNEL_ID).at(-1)!;
    assert.equal(discordFiles(post)[0]?.filename, 'chart.png');
    assert.ok(discordFiles(post)[0]!.bytes.equals(qc.png));
    assert.equal(discordPayload(post).embeds[0].image.url, 'attachment://chart.png');
    assert.equal((await Alert.findById(discordAlert._id).lean())?.status, 'sent');
  });

  it('discord 50013 on the alert with its PNG: posted again without the file, and nothing switched off', async () => {
    await Subscription.deleteMany({});
    const alert = await pendingAlert(`discord:${FAKE_GUILD_ID}:${FAKE_CHANNEL_ID}`);
    const before = chat.discordFake.channelPosts(FAKE_CHANNEL_ID).length;
    // The invite without Attach Files: Discord refuses the upload with Missing Permissions.
    chat.discordFake.failChannelPost('missing-permissions');
    const d = startDeliverer({ platforms: [chat.discord], pollMs: 60_000, quickchartUrl: qc.url });
    try {
      await d.deliverNow();
      await until('the alert sent', async () => (await Alert.findById(alert._id).lean())?.status === 'sent');
    } finally {
      await d.stop();
    }
    const posts = chat.discordFake.channelPosts(FAKE_CHANNEL_ID).slice(before);
    assert.equal(posts.length, 2, 'the refused upload, then the post with the URL');
    assert.equal(discordFiles(posts[1]!).length, 0);
    assert.ok(String(discordPayload(posts[1]!).embeds[0].image.url).startsWith(`${qc.url}/chart?`));
    const sub = await Subscription.findById(alert.subscriptionId).lean();
    assert.equal(sub?.disabled, false, 'the subscription stays on');
  });

  it('QuickChart failing: both answers still arrive with the URL image, and a warning says why', async () => {
    const before = warnings(/chart PNG render failed/).length;
    qc.fail(503, 2);
    const uploads = chat.slackFake.uploads().length;
    const id = await chat.slashCommand('/metric', 'eth-eur');
    const answer = await chat.slackFake.waitForResponse(id);
    assert.equal(answer.response_type, 'in_channel');
    const image = (answer.blocks as SlackBlock[]).find((b) => b.type === 'image');
    assert.ok(image?.image_url?.startsWith(`${qc.url}/chart?`), 'the URL image instead');

    const { token } = chat.discordFake.slashCommand('metric', [{ name: 'market', type: STRING, value: 'eth-eur' }]);
    const edit = await chat.discordFake.waitForEdit(token);
    assert.equal(discordFiles(edit).length, 0);
    assert.ok(String(discordPayload(edit).embeds[0].image.url).startsWith(`${qc.url}/chart?`));

    const warned = await until('two render warnings', () =>
      warnings(/chart PNG render failed/).length >= before + 2 ? warnings(/chart PNG render failed/) : false,
    );
    assert.match(JSON.stringify(warned.at(-1)), /503/);
    assert.ok(
      warned.some((w) => w.command === 'metric'),
      'with the command as context',
    );
    assert.equal(chat.slackFake.uploads().length, uploads, 'nothing uploaded');
  });

  it('slack refusing the upload: the answer goes to response_url with the URL image', async () => {
    chat.slackFake.failUpload('not_in_channel');
    const id = await chat.slashCommand('/metric', 'sol-usd');
    const answer = await chat.slackFake.waitForResponse(id);
    assert.ok((answer.blocks as SlackBlock[]).some((b) => b.type === 'image' && b.image_url?.startsWith(qc.url)));
    const warned = await until('an upload warning', () => warnings(/slack chart upload failed/).at(-1));
    assert.match(JSON.stringify(warned), /not_in_channel/);
    assert.equal(warned.channel, 'C0CHAN');
  });

  it('ephemeral answers (errors, usage) render and upload nothing', async () => {
    const renders = qc.renders().length;
    const id = await chat.slashCommand('/metric', 'btc-usdx');
    const answer = await chat.slackFake.waitForResponse(id);
    assert.equal(answer.response_type, 'ephemeral');
    assert.equal(qc.renders().length, renders);
  });
});

describe('chart upload off (CHART_UPLOAD unset)', () => {
  let qc: FakeQuickChart;
  let chat: Awaited<ReturnType<typeof startBoth>>;

  before(async () => {
    quietLogs();
    await seedMarkets(END, 240);
    qc = await startFakeQuickChart();
    chat = await startBoth((fakes) => {
      const { CHART_UPLOAD: _off, ...rest } = env(qc, fakes, 'false');
      return chatConfig(rest);
    });
  });
  after(async () => {
    await chat?.stop();
    await qc?.close();
  });

  it('answers with the chart URL on both platforms and never renders or uploads', async () => {
    const id = await chat.slashCommand('/metric', 'btc-usd');
    const answer = await chat.slackFake.waitForResponse(id);
    assert.ok(
      (answer.blocks as SlackBlock[]).some((b) => b.type === 'image' && b.image_url?.startsWith(`${qc.url}/chart?`)),
    );
    const { token } = chat.discordFake.slashCommand('metric', [{ name: 'market', type: STRING, value: 'btc-usd' }]);
    const edit = await chat.discordFake.waitForEdit(token);
    assert.equal(discordFiles(edit).length, 0);
    assert.ok(String(discordPayload(edit).embeds[0].image.url).startsWith(`${qc.url}/chart?`));
    assert.equal(qc.renders().length, 0);
    assert.equal(chat.slackFake.uploads().length, 0);
    assert.equal(chat.slackFake.http.find('/api/files.getUploadURLExternal').length, 0);
  });
});

describe('chart PNG render', () => {
  let qc: FakeQuickChart;
  before(async () => {
    qc = await startFakeQuickChart();
  });
  after(() => qc?.close());

  const chart = () =>
    buildChart({
      baseUrl: qc.url,
      title: 't',
      label: 'p',
      series: Array.from({ length: 30 }, (_, i) => ({ ts: i * 60_000, min: i, max: i, last: i })),
    })!;

  it('POSTs the same config the URL carries to QUICKCHART_URL and returns the PNG', async () => {
    const c = chart();
    const png = await renderChartPng(c);
    assert.ok(png.equals(qc.png));
    const sent = qc.renders().at(-1)!.body as { chart: string; backgroundColor: string };
    // quickchart-js sends the config as the same JavaScript-object text the URL's `c` carries.
    assert.equal(sent.chart, new URL(c.url).searchParams.get('c'));
    assert.equal(sent.backgroundColor, 'white');
  });

  it('gives up on a QuickChart that never answers after its timeout', async () => {
    qc.stall();
    const started = Date.now();
    await assert.rejects(renderChartPng(chart(), 200), /timed out after 200 ms/);
    assert.ok(Date.now() - started < 2_000);
  });

  it('aborts the timed-out request, closing its socket, instead of leaving it open', async () => {
    const before = qc.abandonedByClient();
    qc.stall();
    await assert.rejects(renderChartPng(chart(), 200), /timed out after 200 ms/);
    await until('the stalled render to be closed by the client', () => qc.abandonedByClient() > before);
  });
});
