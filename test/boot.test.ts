import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import mongoose from 'mongoose';
import { startAppProcess, type AppProcess } from './support/app-process.js';

const root = resolve(import.meta.dirname, '..');

describe('npm start on embedded defaults', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'chatops-boot-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = {
    DATA_DIR: dataDir,
    HTTP_PORT: '0',
    MARKET_SOURCE: 'simulated',
    CRYPTOWATCH_API_KEY: 'cw-secret-key-that-must-not-leak',
    LOG_LEVEL: 'debug',
  };

  async function boot(): Promise<{ app: AppProcess; uri: string }> {
    const app = startAppProcess(env);
    const dbLine = await app.waitFor(
      (l) => typeof l.database === 'string' && typeof l.uri === 'string',
      60_000,
      'database line',
    );
    await app.waitFor((l) => l.msg === 'REST API listening', 30_000, 'REST API listening');
    return { app, uri: String(dbLine.uri) };
  }

  it('boots, says which database it uses, stops on SIGINT within 5 s, and keeps its data', async () => {
    const first = await boot();
    const dbLine = first.app.lines.find((l) => l.database)!;
    // The engine is whichever the chain finds first here (mongo-java-server on a machine without mongod).
    assert.ok(dbLine.database === 'java' || dbLine.database === 'mongod', String(dbLine.database));
    assert.match(String(dbLine.msg), /embedded/);
    assert.ok(String(dbLine.storage).startsWith(join(dataDir, String(dbLine.database))), String(dbLine.storage));

    const client = await mongoose.createConnection(first.uri, { dbName: 'crypto-chatops-boot-check' }).asPromise();
    await client.collection<{ _id: string; at: Date }>('notes').insertOne({ _id: 'kept', at: new Date() });
    await client.close();

    const stopped = await first.app.stop('SIGINT');
    assert.equal(stopped.code, 0, first.app.stderr.join('\n'));
    assert.ok(stopped.ms < 5_000, `took ${stopped.ms} ms`);
    const bad = first.app.lines.filter((l) => l.level === 'error' || l.level === 'fatal');
    assert.deepEqual(bad, []);

    const second = await boot();
    try {
      const again = await mongoose.createConnection(second.uri, { dbName: 'crypto-chatops-boot-check' }).asPromise();
      const doc = await again.collection<{ _id: string; at: Date }>('notes').findOne({ _id: 'kept' });
      await again.close();
      assert.ok(doc, 'the document written before the stop is there after a restart');
    } finally {
      const s = await second.app.stop('SIGTERM');
      assert.equal(s.code, 0);
    }
    const everything = JSON.stringify([...first.app.lines, ...second.app.lines]) + first.app.stderr.join('\n');
    assert.ok(!everything.includes(env.CRYPTOWATCH_API_KEY), 'a secret reached the log');
  });

  it('refuses a bad config value with a message naming the key, not a stack trace', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ENV_FILE: '/dev/null', COLLECT_INTERVAL: 'abc', HTTP_PORT: 'eighty' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 78);
    assert.match(result.stderr, /COLLECT_INTERVAL: expected a duration/);
    assert.match(result.stderr, /HTTP_PORT: expected a whole number/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
});
