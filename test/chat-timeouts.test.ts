/**
 * Every outbound chat request has a timeout and is aborted at it: a Slack post that never answers
 * fails well inside the deliverer's lease, and its connection is closed, not left open.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { loadRegistry } from '../src/chat/registry.js';
import { SLACK_API_TIMEOUT_MS, startSlack, type SlackAdapter } from '../src/chat/slack.adapter.js';
import { buildServer } from '../src/http/server.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';
import {
  FAKE_SLACK_TEAM,
  signSlackRequest,
  slashCommandBody,
  startFakeSlack,
  type FakeSlack,
} from './support/fake-slack.js';
import { until } from './support/wait.js';

quietLogs();
useTestDatabase('chat_timeouts');

const SECRET = 'slack-signing-secret-for-tests';
const TIMEOUT = 300;

describe('slack requests time out', () => {
  let fake: FakeSlack;
  let http: FastifyInstance;
  let adapter: SlackAdapter;
  let base: string;

  before(async () => {
    await seedMarkets(new Date(), 60);
    fake = await startFakeSlack();
    const config = chatConfig({
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: fake.apiUrl,
    });
    http = await buildServer();
    adapter = await startSlack({ config, registry: await loadRegistry(config), http, apiTimeoutMs: TIMEOUT });
    await http.listen({ host: '127.0.0.1', port: 0 });
    const address = http.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(async () => {
    await adapter?.stop();
    await http?.close();
    await fake?.close();
  });

  it('the default is well under the 60 s delivery lease', () => {
    assert.ok(SLACK_API_TIMEOUT_MS <= 15_000);
  });

  it('a chat.postMessage that never answers is aborted at the timeout', async () => {
    const before = fake.abortedByClient();
    fake.stallPosts();
    const started = Date.now();
    await assert.rejects(adapter.post(`slack:${FAKE_SLACK_TEAM}:C0ALERTS`, { title: 'alert', text: 'x' }));
    assert.ok(Date.now() - started < 5_000, `gave up after ${Date.now() - started} ms`);
    await until('the stalled post to be closed by the client', () => fake.abortedByClient() > before);
  });

  it('a response_url that never answers is aborted at the timeout', async () => {
    const before = fake.abortedByClient();
    fake.stallPosts();
    const body = slashCommandBody({ command: '/help', text: '', responseUrl: fake.responseUrl('stalled') });
    const res = await fetch(`${base}/slack/events`, { method: 'POST', headers: signSlackRequest(SECRET, body), body });
    assert.equal(res.status, 200);
    await until('the stalled response to be closed by the client', () => fake.abortedByClient() > before);
  });
});
