/**
 * The embedded database chain (src/db/embedded.ts), each branch without network access: mongod is
 * offered by local fakes (on the PATH, through MONGOMS_SYSTEM_BINARY, in the download cache, or
 * served as an archive by a local mirror), downloads are refused by a local server or a closed port,
 * Java is taken off the PATH, and the jars' checksums are checked against a local Maven repository.
 *
 * The fake mongod is a shell script that answers `--version` like a mongod and exits 3 when started:
 * it is honest about what it proves (that a mongod is found, reported, and that one that will not
 * start hands over to the next step), and claims nothing about running a real mongod.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import mongoose from 'mongoose';
import { NO_DATABASE_EXIT_CODE, NoDatabaseError, openDatabase } from '../src/db/embedded.js';
import { type Artifact, fetchJars, JarFetchError } from '../src/db/java-jars.js';
import { findOnPath, startJavaServer } from '../src/db/java-server.js';
import { startAppProcess } from './support/app-process.js';

const scratch = mkdtempSync(join(tmpdir(), 'chatops-embedded-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (label: string) => {
  const dir = join(scratch, `${label}-${++dirs}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

// The library reads its MONGOMS_* settings and HOME when it is called: point its cache at a scratch
// home and ask for a version nobody has cached, so a developer's own downloads cannot answer for it.
const VERSION = '7.0.99';
process.env.HOME = freshDir('home');
process.env.MONGOMS_VERSION = VERSION;
delete process.env.MONGOMS_SYSTEM_BINARY;
delete process.env.MONGOMS_DOWNLOAD_URL;

const FAKE_MONGOD = `#!/bin/sh
if [ "$1" = "--version" ]; then echo "db version v${VERSION}"; exit 0; fi
echo "fake mongod: not a database" >&2
exit 3
`;

function binWith(files: Record<string, string>): string {
  const dir = freshDir('bin');
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dir, name), text);
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

/** The folder of the real java (and javac beside it), or undefined on a machine without Java. */
const javaBin = (() => {
  const java = findOnPath('java', process.env.PATH ?? '');
  return java ? dirname(realpathSync(java)) : undefined;
})();

interface Local {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Local> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

const answering404 = () =>
  serve((_req, res) => {
    res.statusCode = 404;
    res.end();
  });

async function closedPortUrl(): Promise<string> {
  const local = await serve(() => {});
  await local.close();
  return local.url;
}

function collector() {
  const lines: string[] = [];
  return { lines, info: (a: object | string, b?: string) => void lines.push(typeof a === 'string' ? a : (b ?? '')) };
}

async function expectNoDatabase(promise: Promise<unknown>): Promise<NoDatabaseError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof NoDatabaseError, `expected NoDatabaseError, got ${String(err)}`);
    return err;
  }
  assert.fail('a database was started');
}

describe('embedded chain, mongod steps', () => {
  let refusing: Local;
  before(async () => {
    refusing = await answering404();
    process.env.MONGOMS_DOWNLOAD_MIRROR = refusing.url;
  });
  after(() => refusing.close());

  it('finds a mongod on the PATH, reports that it did not start, and goes on down the chain', async () => {
    const log = collector();
    const bin = binWith({ mongod: FAKE_MONGOD });
    const err = await expectNoDatabase(
      openDatabase({ embedded: 'auto', dataDir: freshDir('data'), searchPath: bin, log }),
    );
    const path = join(bin, 'mongod');
    assert.ok(log.lines.includes(`found mongod ${VERSION} on the PATH at ${path}`), log.lines.join('\n'));
    assert.ok(log.lines.some((l) => l.startsWith(`the mongod at ${path} did not start`)));
    assert.ok(log.lines.some((l) => /download .* is not possible: it answered 404/.test(l)));
    assert.ok(log.lines.some((l) => l.startsWith('no java on the PATH')));
    assert.match(err.message, /did not start/);
  });

  it('takes MONGOMS_SYSTEM_BINARY before the PATH, and says when it points at nothing', async () => {
    const log = collector();
    const own = join(binWith({ mongod: FAKE_MONGOD }), 'mongod');
    await expectNoDatabase(
      openDatabase({ embedded: 'mongod', mongodBinary: own, searchPath: binWith({}), log, dataDir: freshDir('d') }),
    );
    assert.equal(log.lines[1], `found mongod ${VERSION} at ${own} (MONGOMS_SYSTEM_BINARY)`);

    const missing = collector();
    const err = await expectNoDatabase(
      openDatabase({ embedded: 'mongod', mongodBinary: '/nowhere/mongod', searchPath: binWith({}), log: missing }),
    );
    assert.ok(missing.lines.includes('MONGOMS_SYSTEM_BINARY points at /nowhere/mongod, where there is no file'));
    assert.match(err.message, /MONGO_EMBEDDED=mongod rules out mongo-java-server/);
  });

  it('finds a mongod that mongodb-memory-server downloaded earlier', async () => {
    const { DryMongoBinary } = await import('mongodb-memory-server-core');
    const downloadDir = freshDir('cache');
    process.env.MONGOMS_DOWNLOAD_DIR = downloadDir;
    try {
      const options = { ...(await DryMongoBinary.generateOptions({ systemBinary: '' })), systemBinary: '' };
      const [, expected] = await DryMongoBinary.generateDownloadPath(options);
      assert.equal(dirname(expected), downloadDir);
      writeFileSync(expected, FAKE_MONGOD);
      chmodSync(expected, 0o755);
      const log = collector();
      await expectNoDatabase(openDatabase({ embedded: 'mongod', searchPath: binWith({}), log }));
      assert.ok(log.lines.includes(`found mongod ${VERSION} downloaded earlier, at ${expected}`), log.lines.join('\n'));
      assert.ok(existsSync(expected), 'the cached binary is left where it was');
    } finally {
      delete process.env.MONGOMS_DOWNLOAD_DIR;
    }
  });

  it('gives up on a download refused by a 404 within a few seconds, having asked the mirror', async () => {
    const log = collector();
    const started = Date.now();
    await expectNoDatabase(openDatabase({ embedded: 'mongod', searchPath: binWith({}), log }));
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
    assert.ok(
      refusing.requests.some((r) => r.startsWith(`HEAD /linux/`) && r.includes(VERSION)),
      refusing.requests.join(),
    );
    assert.ok(log.lines.some((l) => l.startsWith(`the one-time mongod download from ${refusing.url}/linux/`)));
  });

  it('gives up on a closed port at once, and on a silent server after the probe timeout', async () => {
    process.env.MONGOMS_DOWNLOAD_MIRROR = await closedPortUrl();
    const silentSockets = await serve(() => {}); // accepts, never answers
    try {
      const log = collector();
      let started = Date.now();
      await expectNoDatabase(openDatabase({ embedded: 'mongod', searchPath: binWith({}), log }));
      assert.ok(Date.now() - started < 3_000, `took ${Date.now() - started} ms`);
      assert.ok(
        log.lines.some((l) => l.endsWith('it could not be reached: ECONNREFUSED')),
        log.lines.join('\n'),
      );

      process.env.MONGOMS_DOWNLOAD_MIRROR = silentSockets.url;
      const quiet = collector();
      started = Date.now();
      await expectNoDatabase(
        openDatabase({ embedded: 'mongod', searchPath: binWith({}), log: quiet, probeTimeoutMs: 1_000 }),
      );
      const took = Date.now() - started;
      assert.ok(took >= 1_000 && took < 4_000, `took ${took} ms`);
      assert.ok(
        quiet.lines.some((l) => l.endsWith('no answer within 1 s')),
        quiet.lines.join('\n'),
      );
    } finally {
      await silentSockets.close();
      process.env.MONGOMS_DOWNLOAD_MIRROR = refusing.url;
    }
  });

  it('downloads once from a mirror, says what, how big and where, and draws progress on a terminal', async () => {
    // A mongodb-memory-server archive as the mirror would serve it, holding the fake mongod.
    const build = freshDir('archive');
    const top = `mongodb-linux-x86_64-debian12-${VERSION}`;
    mkdirSync(join(build, top, 'bin'), { recursive: true });
    writeFileSync(join(build, top, 'bin', 'mongod'), FAKE_MONGOD, { mode: 0o755 });
    writeFileSync(join(build, top, 'padding'), randomBytes(300_000));
    execFileSync('tar', ['-czf', join(build, 'a.tgz'), '-C', build, top]);
    const archive = readFileSync(join(build, 'a.tgz'));
    const md5 = createHash('md5').update(archive).digest('hex');
    const mirror = await serve((req, res) => {
      if (req.url?.endsWith('.md5')) return void res.end(`${md5}  archive.tgz\n`);
      res.setHeader('content-length', String(archive.length));
      res.end(req.method === 'HEAD' ? undefined : archive);
    });
    process.env.MONGOMS_DOWNLOAD_MIRROR = mirror.url;
    process.env.MONGOMS_USE_HTTP = 'true'; // the library downloads over https unless told otherwise
    const downloadDir = freshDir('downloads');
    process.env.MONGOMS_DOWNLOAD_DIR = downloadDir;
    const terminal = new PassThrough();
    let drawn = '';
    terminal.on('data', (chunk: Buffer) => {
      drawn += chunk.toString();
    });
    try {
      const log = collector();
      await expectNoDatabase(openDatabase({ embedded: 'mongod', searchPath: binWith({}), log, terminal }));
      const size = `${(archive.length / 1048576).toFixed(1)} MB`;
      const announce = log.lines.find((l) =>
        l.startsWith(`downloading MongoDB ${VERSION} once (${size}) from ${mirror.url}`),
      );
      assert.ok(announce?.endsWith(`into ${downloadDir}`), log.lines.join('\n'));
      assert.match(drawn, new RegExp(`downloading MongoDB ${VERSION}: .* of ${size} \\(100%\\)`));
      const downloaded = readdirSync(downloadDir).find((f) => f.startsWith('mongod-'));
      assert.ok(downloaded, `nothing in ${downloadDir}`);
      assert.ok(log.lines.includes(`downloaded mongod ${VERSION} to ${join(downloadDir, downloaded)}`));
      assert.ok(
        mirror.requests.some((r) => r.startsWith('GET /linux/') && r.endsWith('.md5')),
        'checked against the md5',
      );

      // The second start finds it in the cache and downloads nothing.
      const before = mirror.requests.length;
      const again = collector();
      await expectNoDatabase(openDatabase({ embedded: 'mongod', searchPath: binWith({}), log: again }));
      assert.ok(
        again.lines.some((l) => l.startsWith(`found mongod ${VERSION} downloaded earlier`)),
        again.lines.join('\n'),
      );
      assert.equal(mirror.requests.length, before, 'nothing more was asked of the mirror');
    } finally {
      delete process.env.MONGOMS_DOWNLOAD_DIR;
      delete process.env.MONGOMS_USE_HTTP;
      process.env.MONGOMS_DOWNLOAD_MIRROR = refusing.url;
      await mirror.close();
    }
  });
});

describe('npm start with no database to be had', () => {
  it('prints the three ways out without a stack and exits 69 within 10 s', async () => {
    const refusing = await answering404();
    try {
      const started = Date.now();
      const app = startAppProcess({
        PATH: binWith({}),
        HOME: freshDir('home'),
        MONGOMS_VERSION: VERSION,
        MONGOMS_DOWNLOAD_MIRROR: refusing.url,
        DATA_DIR: freshDir('data'),
        MARKET_SOURCE: 'simulated',
        HTTP_PORT: '0',
      });
      const code = await app.exited;
      const took = Date.now() - started;
      assert.equal(code, NO_DATABASE_EXIT_CODE);
      assert.equal(NO_DATABASE_EXIT_CODE, 69);
      assert.ok(took < 10_000, `took ${took} ms`);
      const message = app.stderr.join('\n');
      assert.match(message, /^No database could be started:/);
      assert.match(message, /set MONGODB_URI/);
      assert.match(message, /allow the one-time download of mongod/);
      assert.match(message, /install Java 17/);
      assert.match(message, /no java on the PATH/);
      assert.doesNotMatch(message, /\n\s+at |stack/i);
      assert.ok(app.stderr.length <= 12, `a short message, got ${app.stderr.length} lines`);
      const fatal = app.lines.find((l) => l.level === 'fatal');
      assert.equal(fatal?.msg, 'no database could be started');
      assert.equal(fatal?.err, undefined, 'no error object, so no stack, in the log line');
      assert.ok(refusing.requests.length > 0, 'the download was tried');
    } finally {
      await refusing.close();
    }
  });
});

describe('mongo-java-server, the offline fallback', { skip: javaBin ? false : 'no Java on this machine' }, () => {
  it('starts when the download is refused, uses DATA_DIR/java, keeps and reports the data of the other engine and of an earlier version', async () => {
    const refusing = await answering404();
    const dataDir = freshDir('data');
    // mongod's folder from an earlier start, and mongo-java-server's store where earlier versions kept it.
    mkdirSync(join(dataDir, 'mongod'));
    writeFileSync(join(dataDir, 'mongod', 'WiredTiger'), 'kept');
    const legacy = join(dataDir, 'embedded-mongo.mv');
    const old = await startJavaServer({ h2File: legacy, searchPath: javaBin });
    const oldClient = await mongoose.createConnection(old.uri, { dbName: 'crypto-chatops' }).asPromise();
    await oldClient.collection('notes').insertOne({ _id: 'from-before' as never });
    await oldClient.close();
    await old.stop();

    const app = startAppProcess({
      PATH: javaBin!,
      HOME: freshDir('home'),
      MONGOMS_VERSION: VERSION,
      MONGOMS_DOWNLOAD_MIRROR: refusing.url,
      DATA_DIR: dataDir,
      MARKET_SOURCE: 'simulated',
      HTTP_PORT: '0',
    });
    try {
      const dbLine = await app.waitFor((l) => l.database === 'java', 60_000, 'the database line');
      await app.waitFor((l) => l.msg === 'REST API listening', 30_000, 'REST API listening');
      const said = app.lines.map((l) => String(l.msg));
      assert.ok(
        said.some((m) => /download .* is not possible: it answered 404/.test(m)),
        said.join('\n'),
      );
      assert.ok(said.some((m) => /^found Java \d+: starting mongo-java-server$/.test(m)));
      const storage = join(dataDir, 'java', 'embedded-mongo.mv');
      assert.equal(dbLine.storage, storage);
      assert.ok(said.some((m) => m.startsWith('copied the mongo-java-server data of an earlier version')));
      assert.ok(said.some((m) => m.startsWith('the mongo-java-server data is in ')));
      assert.ok(
        said.some((m) => m.endsWith('holds data of mongod from an earlier start; it is kept and not used now')),
      );

      const client = await mongoose.createConnection(String(dbLine.uri), { dbName: 'crypto-chatops' }).asPromise();
      const doc = await client.collection('notes').findOne({ _id: 'from-before' as never });
      await client.close();
      assert.ok(doc, 'the data of the earlier version is there');
    } finally {
      const stopped = await app.stop('SIGTERM');
      const problems = app.lines.filter((l) => l.level === 'error' || l.level === 'fatal' || l.level === 'warn');
      assert.equal(stopped.code, 0, `${JSON.stringify(problems)}\n${app.stderr.join('\n')}`);
      await refusing.close();
    }
    assert.equal(readFileSync(join(dataDir, 'mongod', 'WiredTiger'), 'utf8'), 'kept');
    assert.ok(existsSync(legacy), 'the old file stays');
  });

  it('says there is no Java when the PATH has none, and names it among the reasons', async () => {
    const log = collector();
    const err = await expectNoDatabase(openDatabase({ embedded: 'java', searchPath: binWith({}), log }));
    assert.ok(log.lines.includes('no java on the PATH, so mongo-java-server (the offline fallback) cannot run'));
    assert.equal(err.reasons.length, 1);
  });

  it('reports a Java older than 17 as not enough', async () => {
    const bin = binWith({ java: '#!/bin/sh\necho \'openjdk version "11.0.2" 2019-01-15\' >&2\n' });
    const err = await expectNoDatabase(openDatabase({ embedded: 'java', searchPath: bin, log: collector() }));
    assert.match(err.message, /java 11 is on the PATH, and mongo-java-server needs Java 17 or newer/);
  });
});

describe('jars from a Maven repository, checked against its published checksums', () => {
  const jar = (name: string): Artifact => ({ group: 'org.example', name, version: '1.0' });
  const good = Buffer.from('a jar');
  const sha1Only = Buffer.from('an older jar');
  const tampered = Buffer.from('a jar, changed on the way');
  const digest = (algorithm: string, bytes: Buffer) => createHash(algorithm).update(bytes).digest('hex');
  const files: Record<string, Buffer | string> = {
    '/org/example/good/1.0/good-1.0.jar': good,
    '/org/example/good/1.0/good-1.0.jar.sha256': digest('sha256', good),
    '/org/example/old/1.0/old-1.0.jar': sha1Only,
    '/org/example/old/1.0/old-1.0.jar.sha1': `${digest('sha1', sha1Only)}  old-1.0.jar`,
    '/org/example/bad/1.0/bad-1.0.jar': tampered,
    '/org/example/bad/1.0/bad-1.0.jar.sha256': digest('sha256', good),
  };
  let repo: Local;
  before(async () => {
    repo = await serve((req, res) => {
      const body = files[req.url ?? ''];
      res.statusCode = body === undefined ? 404 : 200;
      res.end(body);
    });
  });
  after(() => repo.close());

  it('fetches each jar verified by SHA-256, or SHA-1 where that is all there is', async () => {
    const dir = freshDir('jars');
    const result = await fetchJars({ dir, repository: repo.url, artifacts: [jar('good'), jar('old')] });
    assert.equal(result.bytes, good.length + sha1Only.length);
    assert.deepEqual(readdirSync(dir).sort(), ['good-1.0.jar', 'old-1.0.jar']);
    const again = await fetchJars({ dir, repository: repo.url, artifacts: [jar('good'), jar('old')] });
    assert.deepEqual(again.fetched, [], 'jars already there are not fetched again');
  });

  it('refuses a jar that does not match its checksum, and leaves nothing of it', async () => {
    const dir = freshDir('jars');
    await assert.rejects(
      fetchJars({ dir, repository: repo.url, artifacts: [jar('bad')] }),
      (err: Error) =>
        err instanceof JarFetchError && /bad-1\.0\.jar does not match its published sha256/.test(err.message),
    );
    assert.deepEqual(readdirSync(dir), []);
  });

  it('gives up at once on an unreachable repository', async () => {
    const started = Date.now();
    await assert.rejects(
      fetchJars({ dir: freshDir('jars'), repository: await closedPortUrl(), artifacts: [jar('good')] }),
      /could not reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    );
    assert.ok(Date.now() - started < 3_000);
  });
});
