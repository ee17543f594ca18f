/**
 * First run, as a new user meets it: `npm run demo` offline, and `npm start` when the live source
 * cannot be reached.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CollectorRun, Sample } from '../src/db/models/index.js';
import { startAppProcess } from './support/app-process.js';
import { useTestDatabase } from './support/db.js';
import { until } from './support/wait.js';

const text = (l: { msg?: unknown }) => String(l.msg ?? '');

describe('first run', () => {
  const db = useTestDatabase('first_run');
  const dataDir = mkdtempSync(join(tmpdir(), 'chatops-demo-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('npm run demo: says what it started and where, and answers from a day of simulated history', async () => {
    const app = startAppProcess({ DATA_DIR: dataDir, HTTP_PORT: '0', MONGODB_URI: 'mongodb://ignored-by-the-demo:1' }, [
      '--demo',
    ]);
    try {
      await app.waitFor(
        (l) => text(l) === 'crypto-chatops demo is running (offline, no accounts needed)',
        90_000,
        'the banner',
      );
      const database = await app.waitFor((l) => text(l).includes('  database   '), 5_000, 'the database line');
      assert.match(text(database), /embedded mongo-java-server, data in .*demo/);
      const docs = await app.waitFor((l) => text(l).includes('  API docs   '), 5_000, 'the docs line');
      const docsUrl = text(docs).trim().split(/\s+/).pop()!;
      assert.match(docsUrl, /^http:\/\/127\.0\.0\.1:\d+\/docs$/);
      assert.equal((await fetch(docsUrl)).status, 200);
      const dashboard = await app.waitFor((l) => text(l).includes('  dashboard  '), 5_000, 'the dashboard line');
      const dashboardUrl = text(dashboard).trim().split(/\s+/).pop()!;
      assert.equal(dashboardUrl, docsUrl.replace('/docs', '/'));
      assert.match(await (await fetch(dashboardUrl)).text(), /<script type="module" src="\/assets\/app-/);

      await app.waitFor((l) => text(l) === 'collecting from simulated', 90_000, 'the first tick');
      // Statistics follow the tick (the pipeline's statistics step); ask until they are there. Between a
      // minute's boundary and its tick's statistics the 24h window has lost its oldest minute and
      // not yet gained the new one, so a full day reads 1,439 or 1,440.
      const fullDay = 24 * 60 - 1;
      let count = 0;
      await until(
        'a day of history',
        async () => {
          const report = await fetch(docsUrl.replace('/docs', '/api/v1/markets/sim:btc-usd'));
          assert.equal(report.status, 200);
          const body = (await report.json()) as { stats: { count: number }; rank: unknown };
          count = body.stats.count;
          // Ranked once the pipeline has stored the statistics it rebuilt from the history.
          return count >= fullDay && body.rank !== null;
        },
        90_000,
        250,
      ).catch(() => assert.fail(`a day of history, ranked (${count} samples)`));

      app.child.stdin!.write('/metric sim:btc-usd\n');
      await app.waitFor((l) => text(l).includes('# sim:btc-usd · price · 24h'), 30_000, 'the /metric answer');
      await app.waitFor((l) => /Rank\s+#\d+ of \d+ by 24h relative std dev/.test(text(l)), 5_000, 'the rank line');
      app.child.stdin!.write('/track sim:btc-usd\n');
      await app.waitFor(
        (l) => text(l).includes('Now tracking sim:btc-usd volume per minute'),
        30_000,
        'the /track answer',
      );
    } finally {
      const stopped = await app.stop('SIGINT');
      assert.equal(stopped.code, 0);
    }
  });

  it('npm start: says where the dashboard is (PUBLIC_URL when set) and clearly when the live source cannot be reached, keeps retrying, never simulates', async () => {
    const app = startAppProcess({
      MONGODB_URI: `${db.uri}/${db.dbName}`,
      HTTP_PORT: '0',
      MARKET_SOURCE: 'kraken',
      KRAKEN_API_URL: 'http://127.0.0.1:9',
      COLLECT_INTERVAL: '5s',
      SOURCE_TIMEOUT: '1s',
      PUBLIC_URL: 'https://bot.example.org/',
    });
    try {
      // The address people reach the dashboard at, whether the console's banner shows (no chat
      // configured) or only the log line does (Slack or Discord configured).
      const listening = await app.waitFor((l) => text(l) === 'REST API listening', 60_000, 'the listening line');
      assert.equal(listening.dashboard, 'https://bot.example.org/');
      assert.match(String(listening.url), /^http:\/\/127\.0\.0\.1:\d+$/);
      const banner = await app.waitFor((l) => text(l).includes('  dashboard  '), 30_000, 'the dashboard line');
      assert.equal(text(banner).trim().split(/\s+/).pop(), 'https://bot.example.org/');
      const said = await app.waitFor(
        (l) => text(l).startsWith('cannot collect from kraken'),
        60_000,
        'the unreachable message',
      );
      assert.equal(said.level, 'error');
      assert.match(text(said), /http:\/\/127\.0\.0\.1:9/);
      assert.match(text(said), /npm run demo/);
      await until(
        'keeps retrying every tick',
        async () => (await CollectorRun.countDocuments({ source: 'kraken', status: 'failed' })) >= 3,
        30_000,
        100,
      );
      assert.equal(
        app.lines.filter((l) => text(l).startsWith('cannot collect from kraken')).length,
        1,
        'said once, not every tick',
      );
      assert.equal(await Sample.countDocuments({}), 0, 'no data from anywhere else');
    } finally {
      const stopped = await app.stop('SIGTERM');
      assert.equal(stopped.code, 0);
    }
  });
});
