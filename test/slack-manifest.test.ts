/**
 * slack-manifest.yml against Slack's built-in commands and against what the real Bolt adapter
 * answers, with and without SLACK_COMMAND_PREFIX, over HTTP against the local Slack fake.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { parse } from 'yaml';
import { commands } from '../commands/index.js';
import { alertReply } from '../src/alerts/reply.js';
import { usageText, loadRegistry } from '../src/chat/registry.js';
import { SLACK_BUILT_IN_COMMANDS, slackCommandTable, slackMentions } from '../src/chat/slack-commands.js';
import { startSlack, type SlackAdapter } from '../src/chat/slack.adapter.js';
import { buildServer } from '../src/http/server.js';
import { MANIFEST_PATH, slackManifest } from '../scripts/slack-manifest.js';
import { chatConfig, quietLogs } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';
import { signSlackRequest, slashCommandBody, startFakeSlack, type FakeSlack } from './support/fake-slack.js';

quietLogs();
useTestDatabase('slack_manifest');

const SECRET = 'slack-signing-secret-for-tests';
const manifestText = readFileSync(MANIFEST_PATH, 'utf8');

function manifestCommands(text: string): string[] {
  const doc = parse(text) as { features: { slash_commands: Array<{ command: string }> } };
  return doc.features.slash_commands.map((c) => c.command);
}

const builtIn = (slash: string) => SLACK_BUILT_IN_COMMANDS.includes(slash.replace(/^\//, ''));

describe('slack-manifest.yml', () => {
  it('names no command Slack keeps for itself', () => {
    const names = manifestCommands(manifestText);
    assert.ok(names.length >= 7, 'the manifest lists the commands');
    assert.deepEqual(names.filter(builtIn), []);
    assert.ok(builtIn('/mute') && builtIn('/remind') && builtIn('/status'), 'the list holds the known built-ins');
  });

  it('lists exactly the commands the Slack adapter answers', () => {
    const answered = [...slackCommandTable(commands.map((c) => c.name)).keys()];
    assert.deepEqual([...manifestCommands(manifestText)].sort(), [...answered].sort());
  });

  it('Slack usage texts name only commands Slack lets the app have', () => {
    const mentions = slackMentions(commands.map((c) => c.name));
    for (const def of commands) {
      const text = mentions(usageText(def));
      const slashes = [...text.matchAll(/(?:^|\s)(\/[a-z][a-z0-9-]*)/g)].map((m) => m[1]!);
      assert.ok(slashes.length > 0, def.name);
      assert.deepEqual(slashes.filter(builtIn), [], `${def.name}: ${text}`);
    }
    assert.match(mentions('/mute 1h quiets this channel'), /^\/quiet 1h/);
  });

  it('with a prefix, `npm run slack:manifest` prints every command prefixed and nothing else changed', () => {
    const prefixed = slackManifest('crypto-');
    const names = manifestCommands(prefixed);
    assert.deepEqual(names, [
      '/crypto-metric',
      '/crypto-rank',
      '/crypto-compare',
      '/crypto-track',
      '/crypto-alert',
      '/crypto-untrack',
      '/crypto-tracking',
      '/crypto-quiet',
      '/crypto-help',
    ]);
    assert.equal(prefixed.replace(/\/crypto-/g, '/'), manifestText, 'only the command names differ from the file');
    assert.equal(slackManifest(''), manifestText);
  });
});

for (const prefix of ['', 'crypto-']) {
  describe(`the Bolt adapter ${prefix ? `with SLACK_COMMAND_PREFIX=${prefix}` : 'without a prefix'}`, () => {
    let fake: FakeSlack;
    let http: FastifyInstance;
    let adapter: SlackAdapter;
    let base: string;
    let n = 0;

    const command = async (cmd: string, text = '') => {
      const id = `r${++n}`;
      const body = slashCommandBody({ command: cmd, text, responseUrl: fake.responseUrl(id) });
      const res = await fetch(`${base}/slack/events`, {
        method: 'POST',
        headers: signSlackRequest(SECRET, body),
        body,
      });
      assert.equal(res.status, 200, cmd);
      const answer = await fake.waitForResponse(id);
      const blocks = answer.blocks as Array<{ text?: { text: string }; fields?: Array<{ text: string }> }>;
      return blocks.flatMap((b) => [b.text?.text ?? '', ...(b.fields ?? []).map((f) => f.text)]).join('\n');
    };

    before(async () => {
      fake = await startFakeSlack();
      const config = chatConfig({
        SLACK_BOT_TOKEN: 'xoxb-test',
        SLACK_SIGNING_SECRET: SECRET,
        SLACK_API_URL: fake.apiUrl,
        SLACK_COMMAND_PREFIX: prefix,
      });
      http = await buildServer();
      adapter = await startSlack({ config, registry: await loadRegistry(config), http });
      await http.listen({ host: '127.0.0.1', port: 0 });
      const address = http.server.address();
      base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    });
    after(async () => {
      await adapter?.stop();
      await http?.close();
      await fake?.close();
    });

    it('answers every command of the manifest it prints, and only those', async () => {
      const manifest = manifestCommands(slackManifest(prefix));
      assert.deepEqual([...adapter.commands].sort(), [...manifest].sort());
      for (const slash of manifest) {
        const text = await command(slash);
        assert.doesNotMatch(text, /Unknown command/, slash);
      }
      assert.match(await command(`/${prefix}rnak`), /Unknown command "\/(crypto-)?rnak"/);
    });

    it('names the commands by their Slack names in help', async () => {
      const help = await command(`/${prefix}help`);
      assert.match(help, new RegExp(`/${prefix}quiet \\[duration\\]`));
      assert.match(help, new RegExp(`/${prefix}metric &lt;market&gt;`));
      assert.doesNotMatch(help, /\/mute/);
      const one = await command(`/${prefix}help`, 'quiet');
      assert.match(one, new RegExp(`Usage: /${prefix}quiet \\[duration\\]`));
    });

    it('gives the Slack name in an alert’s hint', async () => {
      const view = { subscriptionId: 'sub1', market: 'kraken:btc-usd', metric: 'volumeMinute', ts: new Date() };
      await adapter.post(
        'slack:T0FAKE:C0CHAN',
        alertReply({ ...view, value: 30, baseline: 10, ratio: 3, factor: 3, points: 60 }),
      );
      const post = await fake.waitForPost();
      const text = JSON.stringify(post.blocks);
      assert.match(text, new RegExp(`/${prefix}quiet 1h quiets this channel`));
      assert.doesNotMatch(text, /\/mute/);
    });

    it('points the old name to the new one', async () => {
      const text = await command(`/${prefix}mute`, '2h');
      assert.match(text, new RegExp(`On Slack, /mute is /${prefix}quiet`));
    });

    if (prefix) {
      it('does not run a command under its unprefixed name', async () => {
        const text = await command('/metric', 'btc-usd');
        assert.match(text, /Unknown command "\/metric"/);
        assert.match(text, /\/crypto-metric/);
      });
    }
  });
}
