/**
 * Who may change alerting on Slack: by default (SLACK_ALERTING_PERMISSION=admins, no allow-list)
 * only workspace admins and owners, as users.info reports them; every change is logged at info with
 * who made it; anyone may read the mute status.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { loadRegistry } from '../src/chat/registry.js';
import { startSlack, type SlackAdapter } from '../src/chat/slack.adapter.js';
import { ALERT_ACTIONS } from '../src/alerts/reply.js';
import { utc } from '../src/chat/format.js';
import { Subscription } from '../src/db/models/index.js';
import { buildServer } from '../src/http/server.js';
import { initLogger } from '../src/logger.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';
import {
  blockActionBody,
  signSlackRequest,
  slashCommandBody,
  startFakeSlack,
  type FakeSlack,
} from './support/fake-slack.js';
import { until } from './support/wait.js';

useTestDatabase('alerting_permission');

const SECRET = 'slack-signing-secret-for-tests';

describe('slack: admins and owners only by default', () => {
  let fake: FakeSlack;
  let http: FastifyInstance;
  let adapter: SlackAdapter;
  let base: string;
  const logs: Array<Record<string, unknown>> = [];
  let n = 0;

  const command = async (cmd: string, text: string, user: string) => {
    const id = `r${++n}`;
    const body = slashCommandBody({ command: cmd, text, responseUrl: fake.responseUrl(id), user });
    const res = await fetch(`${base}/slack/events`, { method: 'POST', headers: signSlackRequest(SECRET, body), body });
    assert.equal(res.status, 200);
    return JSON.stringify(await fake.waitForResponse(id));
  };
  /** Presses a button under an alert, as Slack posts the click. */
  const press = async (actionId: string, value: string, user: string) => {
    const id = `r${++n}`;
    const body = blockActionBody({ actionId, value, responseUrl: fake.responseUrl(id), user });
    const res = await fetch(`${base}/slack/events`, { method: 'POST', headers: signSlackRequest(SECRET, body), body });
    assert.equal(res.status, 200);
    return JSON.stringify(await fake.waitForResponse(id));
  };

  before(async () => {
    await seedMarkets(new Date(), 30);
    fake = await startFakeSlack();
    const config = chatConfig({
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: fake.apiUrl,
      SLACK_ALERTING_PERMISSION: 'admins',
      LOG_LEVEL: 'info',
    });
    initLogger(config, {
      destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
    });
    http = await buildServer();
    adapter = await startSlack({ config, registry: await loadRegistry(config), http });
    await http.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(http.server.address() as { port: number }).port}`;
  });
  after(async () => {
    await adapter?.stop();
    await http?.close();
    await fake?.close();
    quietLogs();
  });

  it('the default is admins', () => {
    assert.equal(chatConfig({ SLACK_ALERTING_PERMISSION: '' }).slack.alertingPermission, 'admins');
  });

  it('a member may not track or mute (/quiet on Slack); an admin and an owner may, and each change is logged with the user', async () => {
    assert.match(await command('/track', 'btc-usd', 'U0MEMBER'), /You may not change what this channel tracks/);
    assert.match(await command('/quiet', '1h', 'U0MEMBER'), /You may not change/);
    assert.equal(await Subscription.countDocuments({}), 0);
    assert.match(await command('/track', 'btc-usd', 'U0ADMIN1'), /Now tracking kraken:btc-usd/);
    assert.match(await command('/quiet', '2h', 'U0OWNER1'), /Alerts muted in this channel for 2h/);
    const changes = await until('two change lines', () => {
      const found = logs.filter((l) => l.msg === 'alerting changed');
      return found.length >= 2 ? found : undefined;
    });
    assert.deepEqual(
      changes.map((l) => [l.level, l.cmd, l.user]),
      [
        ['info', 'track', 'slack:U0ADMIN1'],
        ['info', 'mute', 'slack:U0OWNER1'],
      ],
    );
    assert.ok(fake.http.find((r) => r.path === '/api/users.info').length > 0, 'admin status came from users.info');
  });

  it('/quiet alone (the Slack name of /mute) shows anyone the status, with who muted and until when; /tracking too', async () => {
    assert.match(await command('/quiet', '', 'U0MEMBER'), /muted in this channel until .* \(muted by .*slack:U0OWNER1/);
    assert.match(await command('/tracking', '', 'U0MEMBER'), /Muted until .* by .*slack:U0OWNER1/);
  });

  it("a member's Snooze and Untrack buttons are refused; an admin's snooze and an owner's /untrack are logged with the user, and /tracking shows who snoozed until when", async () => {
    const sub = await Subscription.findOne({}).lean();
    assert.ok(sub, 'the rule tracked above');
    const id = String(sub._id);
    const logged = logs.filter((l) => l.msg === 'alerting changed').length;

    assert.match(await press(ALERT_ACTIONS.snooze1h, id, 'U0MEMBER'), /You may not change/);
    assert.match(await press(ALERT_ACTIONS.untrack, id, 'U0MEMBER'), /You may not change/);
    const untouched = await Subscription.findById(id).lean();
    assert.ok(untouched && !untouched.snoozedUntil, 'neither button changed the rule');

    const pressed = Date.now();
    assert.match(await press(ALERT_ACTIONS.snooze1h, id, 'U0ADMIN1'), /Snoozed .* alerts for 1h/);
    const snoozed = await Subscription.findById(id).lean();
    const snoozedUntil = snoozed?.snoozedUntil?.getTime() ?? 0;
    assert.ok(snoozedUntil >= pressed + 3_599_000 && snoozedUntil <= Date.now() + 3_600_000, 'snoozed for an hour');
    assert.match(
      await command('/tracking', '', 'U0MEMBER'),
      new RegExp(`snoozed until ${utc(snoozedUntil)} by alice \\(slack:U0ADMIN1\\)`),
    );

    assert.match(await command('/untrack', 'btc-usd', 'U0OWNER1'), /Stopped tracking kraken:btc-usd/);
    assert.equal(await Subscription.countDocuments({}), 0);
    const changes = await until('the two change lines', () => {
      const found = logs.filter((l) => l.msg === 'alerting changed').slice(logged);
      return found.length >= 2 ? found : undefined;
    });
    assert.deepEqual(
      changes.map((l) => [l.level, l.action ?? l.cmd, l.user]),
      [
        ['info', ALERT_ACTIONS.snooze1h, 'slack:U0ADMIN1'],
        ['info', 'untrack', 'slack:U0OWNER1'],
      ],
      'the two changes, and nothing for the refused clicks',
    );
  });
});
