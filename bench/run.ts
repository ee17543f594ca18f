/**
 * `npm run bench -- <name>` runs bench/<name>.ts, which prints one `key: value` line per figure,
 * the headline figure last. Benchmarks start their own database server (like the tests) unless
 * MONGODB_URI is set, and pass its URI on as BENCH_MONGODB_URI.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openDatabase } from '../src/db/embedded.js';

const dir = resolve(import.meta.dirname);
const name = process.argv[2];
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.replace(/\.ts$/, ''));
if (!name || !existsSync(join(dir, `${name}.ts`)) || name === 'run') {
  console.error(`usage: npm run bench -- <name>   (one of: ${available.join(', ')})`);
  process.exit(2);
}

const db = await openDatabase({
  uri: process.env.MONGODB_URI,
  embedded: (process.env.MONGO_EMBEDDED as 'auto' | 'mongod' | 'java' | undefined) ?? 'auto',
  mongodBinary: process.env.MONGOMS_SYSTEM_BINARY,
  searchPath: process.env.PATH,
  log: { info: () => {} },
});
console.log(`server: ${db.kind}`);
const child = spawn(process.execPath, ['--import', 'tsx', join(dir, `${name}.ts`), ...process.argv.slice(3)], {
  stdio: 'inherit',
  env: {
    ...process.env,
    BENCH_MONGODB_URI: db.uri,
    BENCH_DATABASE_KIND: db.kind,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  },
});
const code = await new Promise<number>((done) => child.once('exit', (c) => done(c ?? 1)));
await db.stop();
process.exit(code);
