import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../src/config.js';
import { startChat, type RunningChat } from '../src/chat/index.js';
import { buildServer } from '../src/http/server.js';
import { nextTick, seedMarkets, type Seeded } from './support/dashboard-data.js';
import { useTestDatabase } from './support/db.js';
import { until } from './support/wait.js';
import { signSlackRequest, slashCommandBody, startFakeSlack, type FakeSlack } from './support/fake-slack.js';
import { openSse } from './support/sse.js';

const SECRET = 'nginx-test-signing-secret';

const root = resolve(import.meta.dirname, '..');
const haveNginx = spawnSync('nginx', ['-v']).status === 0;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as { port: number }).port;
  await new Promise((done) => server.close(done));
  return port;
}

async function waitForPort(port: number, deadlineMs: number): Promise<void> {
  const listening = () =>
    new Promise<boolean>((done) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
  await until(`something listening on ${port}`, listening, deadlineMs, 50);
}

describe('deploy/nginx.conf in front of the API', { skip: haveNginx ? false : 'nginx is not installed' }, () => {
  useTestDatabase('nginx');
  let api: FastifyInstance;
  let chat: RunningChat;
  let slack: FakeSlack;
  let nginx: ChildProcess;
  let base: string;
  let seeded: Seeded;
  const dir = mkdtempSync(join(tmpdir(), 'chatops-nginx-'));

  before(async () => {
    seeded = await seedMarkets(3, 20);
    slack = await startFakeSlack();
    const config = loadConfig({
      SLACK_BOT_TOKEN: 'xoxb-nginx',
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: slack.apiUrl,
    });
    api = await buildServer({ config, collecting: false, livePollMs: 50 });
    chat = await startChat(config, { http: api });
    await api.listen({ host: '127.0.0.1', port: 0 });
    const apiPort = (api.server.address() as { port: number }).port;
    const port = await freePort();
    const conf = readFileSync(join(root, 'deploy', 'nginx.conf'), 'utf8')
      .replace('server bot:3000;', `server 127.0.0.1:${apiPort};`)
      .replace('listen 80;', `listen 127.0.0.1:${port};`);
    assert.notEqual(conf, readFileSync(join(root, 'deploy', 'nginx.conf'), 'utf8'));
    writeFileSync(join(dir, 'nginx.conf'), conf);
    const check = spawnSync('nginx', ['-t', '-c', join(dir, 'nginx.conf'), '-g', `pid ${dir}/nginx.pid;`], {
      encoding: 'utf8',
    });
    assert.equal(check.status, 0, check.stderr);
    nginx = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${dir}/nginx.pid;`], {
      stdio: 'ignore',
    });
    await waitForPort(port, 10_000);
    base = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    nginx?.kill('SIGQUIT');
    if (nginx && nginx.exitCode === null) await new Promise((done) => nginx.once('exit', done));
    await chat?.stop();
    await api?.close();
    await slack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes health and metrics through with forwarding headers', async () => {
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { database: boolean }).database, true);
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /chatops_ticks_total/);
  });

  it('passes the API and its docs through', async () => {
    const markets = await fetch(`${base}/api/v1/markets`);
    assert.equal(markets.status, 200);
    assert.ok(Array.isArray(((await markets.json()) as { items?: unknown[] }).items));
    const unknown = await fetch(`${base}/api/v1/markets/nope-nope`);
    assert.equal(unknown.status, 404);
    const docs = await fetch(`${base}/docs/json`);
    assert.equal(docs.status, 200);
    assert.ok(((await docs.json()) as { paths: Record<string, unknown> }).paths['/api/v1/rankings']);
  });

  it('passes a signed Slack command through, body intact, and the answer reaches Slack', async () => {
    const body = slashCommandBody({ command: '/help', text: '', responseUrl: slack.responseUrl('via-nginx') });
    const res = await fetch(`${base}/slack/events`, { method: 'POST', headers: signSlackRequest(SECRET, body), body });
    assert.equal(res.status, 200);
    const answer = await slack.waitForResponse('via-nginx');
    assert.match(JSON.stringify(answer.blocks), /metric/);
    const forged = await fetch(`${base}/slack/events`, {
      method: 'POST',
      headers: { ...signSlackRequest(SECRET, body), 'x-slack-signature': `v0=${'0'.repeat(64)}` },
      body,
    });
    assert.equal(forged.status, 401);
  });

  it('passes the dashboard page and its compressed, immutable assets through', async () => {
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(await page.text())?.[1];
    assert.ok(js, 'the page names its script');
    const asset = await fetch(`${base}${js}`, { headers: { 'accept-encoding': 'br' } });
    assert.equal(asset.status, 200);
    assert.equal(asset.headers.get('content-encoding'), 'br');
    assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.ok((await asset.arrayBuffer()).byteLength > 1_000);
  });

  it('passes the live stream through unbuffered: a tick arrives while the stream stays open', async () => {
    const stream = await openSse(`${base}/api/v1/stream`);
    try {
      assert.match(String(stream.response.headers['content-type']), /text\/event-stream/);
      const snapshot = await stream.next((e) => e.event === 'snapshot', 10_000, 'the snapshot through nginx');
      assert.equal((JSON.parse(snapshot.data) as { rows: unknown[] }).rows.length, 3);
      const tick = await nextTick(seeded, 50);
      const event = await stream.next((e) => e.event === 'tick', 10_000, 'the tick through nginx');
      assert.equal(event.id, String(tick));
    } finally {
      stream.close();
    }
  });

  it('refuses an oversized body before it reaches the bot', async () => {
    const res = await fetch(`${base}/slack/events`, {
      method: 'POST',
      body: 'x'.repeat(300 * 1024),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(res.status, 413);
  });
});
