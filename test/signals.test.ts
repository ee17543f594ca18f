/**
 * A relayed SIGINT (npm and tsx each pass the same one on, about 60 ms apart) is one stop: the bot
 * shuts down in order and exits 0. A second signal well after the first still exits at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RELAY_WINDOW_MS, signalPolicy } from '../src/signals.js';
import { startAppProcess } from './support/app-process.js';
import { useTestDatabase } from './support/db.js';

describe('stop signals', () => {
  const db = useTestDatabase('signals');

  it('takes a repeat within a second as the same stop, and a later one as a request to exit now', () => {
    let now = 1_000;
    const policy = signalPolicy(() => now);
    assert.equal(policy('SIGINT'), 'shutdown');
    now += 60;
    assert.equal(policy('SIGINT'), 'ignore');
    now += RELAY_WINDOW_MS;
    assert.equal(policy('SIGINT'), 'exit');
  });

  it('shuts down in order when SIGINT arrives twice within 60 ms', async () => {
    const app = startAppProcess({
      MONGODB_URI: `${db.uri}/${db.dbName}`,
      HTTP_PORT: '0',
      MARKET_SOURCE: 'simulated',
      SIMULATED_MARKETS: '3',
      BACKFILL_MAX: '10m',
      LOG_LEVEL: 'info',
    });
    // The handlers are installed before the database opens, so the banner comes well after them.
    await app.waitFor((l) => l.msg === 'crypto-chatops is running', 60_000, 'the banner');
    // Two kill() calls in a row merge into one pending signal; a relay arrives tens of ms later.
    app.child.kill('SIGINT');
    await new Promise((done) => setTimeout(done, 60));
    app.child.kill('SIGINT');
    const code = await app.exited;
    assert.equal(code, 0, app.lines.map((l) => JSON.stringify(l)).join('\n'));
    assert.ok(
      app.lines.some((l) => l.msg === 'stopped'),
      'the orderly shutdown ran to its end',
    );
    assert.ok(!app.lines.some((l) => String(l.msg).startsWith('second signal')));
  });

  it('queues a stop that arrives while the app starts, then shuts down in order', async () => {
    const app = startAppProcess({
      MONGODB_URI: `${db.uri}/${db.dbName}`,
      HTTP_PORT: '0',
      MARKET_SOURCE: 'simulated',
      SIMULATED_MARKETS: '3',
      BACKFILL_MAX: '10m',
      LOG_LEVEL: 'info',
    });
    // The first thing the app says is which database it uses: chat, HTTP and the scheduler come after.
    await app.waitFor((l) => l.msg === 'using the MongoDB at MONGODB_URI', 60_000, 'the database line');
    app.child.kill('SIGTERM');
    const code = await app.exited;
    const said = app.lines.map((l) => JSON.stringify(l)).join('\n');
    assert.equal(code, 0, said);
    assert.ok(
      app.lines.some((l) => String(l.msg).startsWith('stop requested while starting')),
      said,
    );
    assert.ok(
      app.lines.some((l) => l.msg === 'stopped'),
      'the orderly shutdown ran to its end',
    );
  });
});
