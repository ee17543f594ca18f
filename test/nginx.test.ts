import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
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
const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
/** The bot's per-client limit in this test: low enough for a forged-header test to reach it. */
const LIMIT = 30;
/** The address OPS_NETWORK names in this test, as compose names the frontend gateway. */
const OPS_ADDRESS = '127.0.0.5';

/** A GET from a chosen local address (127.0.0.x), over HTTP or HTTPS (trusting `ca`). */
function get(
  url: string,
  opts: { from?: string; headers?: Record<string, string>; ca?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((done, fail) => {
    const u = new URL(url);
    const make = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = make(
      u,
      { method: 'GET', localAddress: opts.from, headers: opts.headers, ca: opts.ca, servername: 'localhost' },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', fail);
    req.end();
  });
}

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

const skip = !haveNginx ? 'nginx is not installed' : !haveOpenssl ? 'openssl is not installed' : false;

describe('deploy/nginx.conf in front of the API', { skip }, () => {
  useTestDatabase('nginx');
  let api: FastifyInstance;
  let chat: RunningChat;
  let slack: FakeSlack;
  let nginx: ChildProcess;
  let base: string;
  let tlsBase: string;
  let cert: string;
  let seeded: Seeded;
  const dir = mkdtempSync(join(tmpdir(), 'chatops-nginx-'));

  before(async () => {
    seeded = await seedMarkets(3, 20);
    slack = await startFakeSlack();
    const config = loadConfig({
      SLACK_BOT_TOKEN: 'xoxb-nginx',
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: slack.apiUrl,
      // A broad trust, as compose once had (every private range, client addresses included): the
      // header nginx sends must still name the real client, whatever the client sent.
      TRUST_PROXY: '127.0.0.0/8',
      RATE_LIMIT_PER_MINUTE: String(LIMIT),
    });
    api = await buildServer({ config, collecting: false, livePollMs: 50 });
    chat = await startChat(config, { http: api });
    await api.listen({ host: '127.0.0.1', port: 0 });
    const apiPort = (api.server.address() as { port: number }).port;
    const port = await freePort();
    const tlsPort = await freePort();
    // The files nginx.conf includes, from deploy/, as docker-compose.yml mounts them.
    copyFileSync(join(root, 'deploy', 'load-balancers.conf'), join(dir, 'load-balancers.conf'));
    copyFileSync(join(root, 'deploy', 'ops-networks.conf'), join(dir, 'ops-networks.conf'));
    mkdirSync(join(dir, 'conf.d'));
    const made = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'].concat([
        '-addext',
        'subjectAltName=DNS:localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ]),
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, made.stderr);
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    // What the nginx image's envsubst makes of each template, with the environment compose gives it;
    // 127.0.0.5 stands in for the frontend gateway in OPS_NETWORK.
    const env: Record<string, string> = {
      TLS_CERT: join(dir, 'cert.pem'),
      TLS_KEY: join(dir, 'key.pem'),
      OPS_NETWORK: OPS_ADDRESS,
    };
    for (const name of ['tls.conf', 'ops-network.conf']) {
      const template = readFileSync(join(root, 'deploy', 'templates', `${name}.template`), 'utf8');
      writeFileSync(
        join(dir, 'conf.d', name),
        template.replace(/\$\{(\w+)\}/g, (_, key: string) => env[key] ?? ''),
      );
    }
    const conf = readFileSync(join(root, 'deploy', 'nginx.conf'), 'utf8')
      .replace('server bot:3000;', `server 127.0.0.1:${apiPort};`)
      .replace('listen 80;', `listen 127.0.0.1:${port};`)
      .replace('listen 443 ssl;', `listen 127.0.0.1:${tlsPort} ssl;`)
      .replaceAll('/etc/nginx/', `${dir}/`)
      .replaceAll('/var/log/nginx/', `${dir}/`);
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
    await waitForPort(tlsPort, 10_000);
    tlsBase = `https://localhost:${tlsPort}`;
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

  it('serves HTTPS with HSTS, and nosniff on both ports', async () => {
    const tls = await get(`${tlsBase}/healthz`, { ca: cert });
    assert.equal(tls.status, 200);
    assert.match(String(tls.headers['strict-transport-security']), /max-age=\d{7,}/);
    assert.equal(tls.headers['x-content-type-options'], 'nosniff');
    const plain = await get(`${base}/healthz`);
    assert.equal(plain.headers['x-content-type-options'], 'nosniff');
    assert.equal(plain.headers['strict-transport-security'], undefined, 'HSTS only over HTTPS');
  });

  it('serves /metrics and /docs only to the configured networks: OPS_NETWORK and ops-networks.conf', async () => {
    // ops-networks.conf allows loopback 127.0.0.1; 127.0.0.2 is another local address, in neither.
    assert.equal((await get(`${base}/metrics`, { from: '127.0.0.2' })).status, 403);
    assert.equal((await get(`${base}/docs/json`, { from: '127.0.0.2' })).status, 403);
    assert.equal((await get(`${base}/docs`, { from: '127.0.0.2' })).status, 403);
    assert.equal((await get(`${base}/api/v1/markets`, { from: '127.0.0.2' })).status, 200);
    assert.equal((await get(`${base}/metrics`, { from: '127.0.0.1' })).status, 200);
    // OPS_NETWORK, where compose's Docker host arrives, is served as well.
    assert.equal((await get(`${base}/metrics`, { from: OPS_ADDRESS })).status, 200);
    assert.equal((await get(`${base}/docs/json`, { from: OPS_ADDRESS })).status, 200);
  });

  it('a forged X-Forwarded-For does not buy a fresh rate limit: the limit applies per real client', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 5; i++) {
      const res = await get(`${base}/api/v1/ping`, {
        from: '127.0.0.3',
        headers: { 'x-forwarded-for': `198.51.100.${i}`, 'x-real-ip': `198.51.100.${i}` },
      });
      statuses.push(res.status);
    }
    assert.ok(statuses.includes(429), `statuses: ${statuses.join(',')}`);
    // Another real client still has its own allowance.
    assert.equal((await get(`${base}/api/v1/ping`, { from: '127.0.0.4' })).status, 200);
  });
});
