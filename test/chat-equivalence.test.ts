import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { startChat, type RunningChat } from '../src/chat/index.js';
import { CHART_URL_LIMIT, DISCORD_EMBED_URL_LIMIT, SLACK_IMAGE_URL_LIMIT } from '../src/chat/chart.js';
import { CHART_LINK_HINT } from '../src/chat/render-console.js';
import { buildServer } from '../src/http/server.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { until } from './support/wait.js';
import { useTestDatabase } from './support/db.js';
import { FAKE_APP_ID, startFakeDiscord, type FakeDiscord } from './support/fake-discord.js';
import { signSlackRequest, slashCommandBody, startFakeSlack, type FakeSlack } from './support/fake-slack.js';

quietLogs();
useTestDatabase('chat_equivalence');

const SECRET = 'equivalence-signing-secret';

/** What a reply says, as a list of lines, whatever the platform drew it with. */
type Content = string[];

const unescapeHtml = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

function fromSlack(body: Record<string, unknown>): Content {
  const out: Content = [];
  for (const b of body.blocks as Array<Record<string, any>>) {
    if (b.type === 'header') out.push(`title ${b.text.text}`);
    if (b.type === 'section' && b.text) {
      const m = /^\*(.+?)\*\n([\s\S]*)$/.exec(unescapeHtml(b.text.text));
      out.push(m ? `field ${m[1]}: ${m[2]}` : `text ${unescapeHtml(b.text.text)}`);
    }
    if (b.type === 'section' && b.fields) {
      for (const f of b.fields) {
        const m = /^\*(.+?)\*\n([\s\S]*)$/.exec(unescapeHtml(f.text))!;
        out.push(`field ${m[1]}: ${m[2]}`);
      }
    }
    if (b.type === 'image') out.push(`chart ${b.image_url}`);
    if (b.type === 'actions') for (const e of b.elements) out.push(`button ${e.text.text} ${e.action_id} ${e.value}`);
    if (b.type === 'context') out.push(`footer ${unescapeHtml(b.elements[0].text)}`);
  }
  return out;
}

function fromDiscord(body: Record<string, any>): Content {
  const e = body.embeds[0];
  const out: Content = [`title ${e.title}`];
  if (e.description) out.push(`text ${e.description}`);
  for (const f of e.fields ?? []) out.push(`field ${f.name}: ${f.value}`);
  if (e.image) out.push(`chart ${e.image.url}`);
  for (const row of body.components ?? []) {
    for (const c of row.components) {
      const [action, ...value] = String(c.custom_id).split('|');
      out.push(`button ${c.label} ${action} ${value.join('|')}`);
    }
  }
  if (e.footer) out.push(`footer ${e.footer.text}`);
  return out;
}

/** The console prints the same pieces in the same order; each must be there verbatim. */
function consoleHas(text: string, content: Content): void {
  let at = 0;
  for (const line of content) {
    const [, kind, rest] = /^(\w+) ([\s\S]*)$/.exec(line)!;
    const pieces =
      kind === 'field'
        ? rest!.split(/: ([\s\S]*)/).slice(0, 2)
        : kind === 'button'
          ? [rest!.split(' ')[0]!]
          : kind === 'text'
            ? rest!.split('\n')
            : // The console draws the chart in text and prints its URL on `!chart` (checked below).
              kind === 'chart'
              ? [CHART_LINK_HINT]
              : [rest!];
    for (const piece of pieces) {
      for (const part of piece.split('\n')) {
        const found = text.indexOf(part.trim(), at);
        assert.ok(found >= 0, `console output lacks "${part}" (${kind}) after position ${at}:\n${text}`);
        at = found;
      }
    }
  }
}

const TABLE = [
  { line: 'metric btc-usd', discord: [{ name: 'market', type: 3, value: 'btc-usd' }], chart: true },
  {
    line: 'metric eth-eur volume 6h',
    discord: [
      { name: 'market', type: 3, value: 'eth-eur' },
      { name: 'metric', type: 3, value: 'volume' },
      { name: 'window', type: 3, value: '6h' },
    ],
    chart: true,
  },
  {
    line: 'rank price 24h rsd 2',
    discord: [
      { name: 'metric', type: 3, value: 'price' },
      { name: 'window', type: 3, value: '24h' },
      { name: 'by', type: 3, value: 'rsd' },
      { name: 'n', type: 4, value: 2 },
    ],
  },
  {
    line: 'track eth-eur price 2 2h',
    discord: [
      { name: 'market', type: 3, value: 'eth-eur' },
      { name: 'metric', type: 3, value: 'price' },
      { name: 'factor', type: 10, value: 2 },
      { name: 'cooldown', type: 3, value: '2h' },
    ],
  },
  { line: 'tracking', discord: [] },
  { line: 'untrack nowhere-usd', discord: [{ name: 'market', type: 3, value: 'nowhere-usd' }], ephemeral: true },
  { line: 'help track', discord: [{ name: 'command', type: 3, value: 'track' }], ephemeral: true },
];

describe('one command, the same answer on Slack, Discord and the console', () => {
  let slack: FakeSlack;
  let discord: FakeDiscord;
  let http: FastifyInstance;
  let chat: RunningChat;
  let base = '';
  const input = new PassThrough();
  const output = new PassThrough();
  let consoleText = '';
  output.on('data', (c: Buffer) => (consoleText += c.toString('utf8')));

  before(async () => {
    await seedMarkets(new Date(), 24 * 60);
    slack = await startFakeSlack();
    discord = await startFakeDiscord();
    const config = chatConfig({
      SLACK_BOT_TOKEN: 'xoxb-eq',
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: slack.apiUrl,
      DISCORD_TOKEN: 'discord-eq',
      DISCORD_APPLICATION_ID: FAKE_APP_ID,
      DISCORD_API_URL: discord.apiUrl,
    });
    http = await buildServer();
    chat = await startChat(config, { http, input, output, console: true });
    await http.listen({ host: '127.0.0.1', port: 0 });
    const address = http.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(async () => {
    await chat?.stop();
    await http?.close();
    await slack?.close();
    await discord?.close();
  });

  it('starts every platform asked for', () => {
    assert.deepEqual(
      chat.platforms.map((p) => p.name),
      ['slack', 'discord', 'console'],
    );
  });

  for (const [i, row] of TABLE.entries()) {
    it(`/${row.line}`, async () => {
      const [name] = row.line.split(' ');
      const body = slashCommandBody({
        command: `/${name}`,
        text: row.line.split(' ').slice(1).join(' '),
        responseUrl: slack.responseUrl(`eq${i}`),
      });
      const res = await fetch(`${base}/slack/events`, {
        method: 'POST',
        headers: signSlackRequest(SECRET, body),
        body,
      });
      assert.equal(res.status, 200);
      const slackAnswer = await slack.waitForResponse(`eq${i}`);

      const { token } = discord.slashCommand(name!, row.discord);
      const discordAnswer =
        row.ephemeral && name !== 'help' ? await discord.waitForFollowUp(token) : await discord.waitForEdit(token);

      const start = consoleText.length;
      input.write(`/${row.line}\n`);
      const consoleAnswer = await until(
        'the console answer',
        () => consoleText.slice(start).endsWith('> ') && consoleText.slice(start),
      );

      // "latest ... (12 s ago)" is read at each platform's own moment; the rest must match exactly.
      const settle = (c: Content) => c.map((l) => l.replace(/\(\d+ (s|min|h|d) ago\)/, '(… ago)'));
      const fromS = settle(fromSlack(slackAnswer));
      const fromD = settle(fromDiscord(discordAnswer.body as Record<string, unknown>));
      assert.deepEqual(fromS, fromD);
      consoleHas(consoleAnswer.replace(/\(\d+ (s|min|h|d) ago\)/g, '(… ago)'), fromD);
      assert.equal(slackAnswer.response_type, row.ephemeral ? 'ephemeral' : 'in_channel');

      if (row.chart) {
        const chart = fromD.find((l) => l.startsWith('chart '));
        assert.ok(chart, 'a chart');
        const url = chart.slice('chart '.length);
        assert.ok(url.startsWith('https://quickchart.example.test/chart?'), url.slice(0, 80));
        assert.ok(
          url.length <= CHART_URL_LIMIT && url.length <= DISCORD_EMBED_URL_LIMIT && url.length <= SLACK_IMAGE_URL_LIMIT,
          `url of ${url.length}`,
        );
        // The console drew it in text; the same URL is one command away.
        assert.match(consoleAnswer, /┤/);
        const at = consoleText.length;
        input.write('!chart\n');
        const link = await until('the console chart link', () =>
          consoleText.slice(at).endsWith('> ') ? consoleText.slice(at) : undefined,
        );
        assert.equal(link, `Chart: ${url}\n> `);
      }
    });
  }
});
