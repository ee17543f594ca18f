/**
 * `npm test`: starts one real MongoDB-wire server for the whole run (unless MONGODB_URI is set),
 * then runs every test file with node's test runner. Each test file uses its own database on that
 * server (test/support/db.ts), so files can run in parallel.
 *
 *   npm test                      every file under test/
 *   npm test -- test/config.test.ts   just the named files
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { NoDatabaseError, openDatabase } from '../../src/db/embedded.js';

const root = resolve(import.meta.dirname, '..', '..');

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'support' ? [] : findTests(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

const requested = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const files = (requested.length ? requested.map((f) => resolve(f)) : findTests(join(root, 'test'))).sort();

const started = Date.now();
// The same chain as `npm start` (src/db/embedded.ts); its steps are printed after the engine line.
const steps: string[] = [];
const db = await openDatabase({
  uri: process.env.MONGODB_URI,
  embedded: (process.env.MONGO_EMBEDDED as 'auto' | 'mongod' | 'java' | undefined) ?? 'auto',
  mongodBinary: process.env.MONGOMS_SYSTEM_BINARY,
  searchPath: process.env.PATH,
  terminal: process.stderr.isTTY ? process.stderr : undefined,
  log: { info: (a: object | string, b?: string) => void steps.push(typeof a === 'string' ? a : (b ?? '')) },
}).catch((err: unknown) => {
  if (!(err instanceof NoDatabaseError)) throw err;
  process.stderr.write(`npm test needs a database.\n${err.message}\n`);
  process.exit(err.exitCode);
});
const engine = { external: 'MongoDB at MONGODB_URI', mongod: 'mongod', java: 'mongo-java-server' }[db.kind];
console.log(`# test database: ${engine} at ${db.uri} (ready in ${Date.now() - started} ms)`);
for (const step of steps) console.log(`#   ${step}`);

const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files.map((f) => relative(root, f))],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TEST_MONGODB_URI: db.uri, TEST_DATABASE_KIND: db.kind, NODE_ENV: 'test' },
  },
);
const code = await new Promise<number>((done) => child.once('exit', (c, signal) => done(c ?? (signal ? 1 : 0))));
await db.stop();
process.exit(code);
