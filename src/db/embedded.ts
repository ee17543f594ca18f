/**
 * Chooses the database when none is configured. The one place that decides, in this order, each step
 * logged in one sentence:
 *   1. MONGODB_URI, when set: used as it is.
 *   2. a mongod already at hand: MONGOMS_SYSTEM_BINARY, a mongod on the PATH, or one that
 *      mongodb-memory-server downloaded earlier;
 *   3. a mongod downloaded once through mongodb-memory-server (what, how big, where; progress on a
 *      terminal). A short probe comes first, so an unreachable network costs seconds, not minutes;
 *   4. mongo-java-server when Java 17+ is on the PATH: the offline fallback (src/db/java-server.ts);
 *   5. otherwise NoDatabaseError, whose message names the three ways out (src/main.ts prints it and
 *      exits with NO_DATABASE_EXIT_CODE).
 * MONGO_EMBEDDED=mongod keeps to steps 2-3, MONGO_EMBEDDED=java to step 4.
 *
 * Each engine keeps its data in its own folder under DATA_DIR (mongod/, java/); switching engines never
 * deletes anything, and the start names the folder in use and any other engine's folder it leaves alone.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { findJava, findOnPath, startJavaServer, type StepLog } from './java-server.js';
import type { Config } from '../config.js';
import { log as componentLog } from '../logger.js';

export type DatabaseKind = 'external' | 'mongod' | 'java';
type EngineKind = Exclude<DatabaseKind, 'external'>;

export interface DatabaseHandle {
  readonly uri: string;
  readonly kind: DatabaseKind;
  /** Where the embedded data lives, or 'memory'. */
  readonly storage: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  uri?: string;
  embedded: 'auto' | 'mongod' | 'java';
  /** Directory for persistent data; omitted, the server keeps everything in memory. */
  dataDir?: string;
  /** MONGOMS_SYSTEM_BINARY, passed in by the caller (config is the only env reader). */
  mongodBinary?: string;
  /** The PATH on which mongod, java and javac are looked for (omitted: no mongod from the PATH, java from the OS's). */
  searchPath?: string;
  /** Where the steps are told; the `db` component logger by default. */
  log?: StepLog;
  /** A terminal for download progress; none, no progress is drawn. */
  terminal?: NodeJS.WritableStream;
  /** How long the download's first answer may take before the network counts as unreachable. */
  probeTimeoutMs?: number;
}

/** The exit code of a start that found no database (EX_UNAVAILABLE from sysexits.h). */
export const NO_DATABASE_EXIT_CODE = 69;

export class NoDatabaseError extends Error {
  readonly exitCode = NO_DATABASE_EXIT_CODE;
  constructor(readonly reasons: readonly string[]) {
    super(
      [
        'No database could be started:',
        ...reasons.map((r) => `  - ${r}`),
        'Any one of these fixes it:',
        '  - set MONGODB_URI to a MongoDB you run (e.g. mongodb://localhost:27017/crypto-chatops);',
        '  - allow the one-time download of mongod (about 100 MB from fastdl.mongodb.org, or set',
        '    MONGOMS_DOWNLOAD_MIRROR), or point MONGOMS_SYSTEM_BINARY at a mongod you have;',
        '  - install Java 17 or newer (a JRE is enough), so mongo-java-server runs offline.',
      ].join('\n'),
    );
    this.name = 'NoDatabaseError';
  }
}

/** The database the configuration asks for, progress drawn on stderr when it is a terminal. */
export function openConfiguredDatabase(config: Config): Promise<DatabaseHandle> {
  return openDatabase({
    uri: config.mongo.uri,
    embedded: config.mongo.embedded,
    dataDir: config.mongo.dataDir,
    mongodBinary: config.mongo.mongodBinary,
    searchPath: config.mongo.searchPath,
    terminal: process.stderr.isTTY ? process.stderr : undefined,
  });
}

export async function openDatabase(options: EmbeddedOptions): Promise<DatabaseHandle> {
  if (options.uri) return { uri: options.uri, kind: 'external', storage: 'external', stop: async () => {} };
  const log = options.log ?? componentLog('db');
  const reasons: string[] = [];
  log.info(
    { embedded: options.embedded },
    options.embedded === 'auto'
      ? 'MONGODB_URI is not set: looking for a database to start here (a mongod, else mongo-java-server)'
      : `MONGODB_URI is not set and MONGO_EMBEDDED=${options.embedded}: starting that embedded server`,
  );
  if (options.embedded !== 'java') {
    const found = await findMongod(options, log, reasons);
    if (found) {
      const handle = await tryMongod(found, options, log, reasons);
      if (handle) return handle;
    }
    const downloaded = await downloadMongod(options, log, reasons);
    if (downloaded) {
      const handle = await tryMongod(downloaded, options, log, reasons);
      if (handle) return handle;
    }
  }
  if (options.embedded !== 'mongod') {
    const handle = await tryJava(options, log, reasons);
    if (handle) return handle;
  } else {
    reasons.push('MONGO_EMBEDDED=mongod rules out mongo-java-server');
  }
  throw new NoDatabaseError(reasons);
}

// ---------------------------------------------------------------------------------------------------
// Data folders

/** Where each engine keeps its data under DATA_DIR. The java file's name is the one it always had. */
export function engineStorage(dataDir: string, kind: EngineKind): string {
  return kind === 'mongod' ? join(resolve(dataDir), 'mongod') : join(resolve(dataDir), 'java', 'embedded-mongo.mv');
}

/** Earlier versions kept mongo-java-server's store at the top of DATA_DIR. */
function legacyJavaFile(dataDir: string): string {
  return join(resolve(dataDir), 'embedded-mongo.mv');
}

function hasData(path: string): boolean {
  try {
    return statSync(path).isDirectory() ? readdirSync(path).length > 0 : statSync(path).size > 0;
  } catch {
    return false;
  }
}

function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

/**
 * Prepares the chosen engine's folder: copies a store left by an earlier version into it (the old file
 * stays), and names every other engine's data it finds and leaves alone.
 */
function prepareFolder(dataDir: string, kind: EngineKind, log: StepLog): string {
  const storage = engineStorage(dataDir, kind);
  const folder = kind === 'mongod' ? storage : dirname(storage);
  const legacy = legacyJavaFile(dataDir);
  if (kind === 'java' && !existsSync(storage) && hasData(legacy)) {
    mkdirSync(folder, { recursive: true });
    copyFileSync(legacy, storage);
    log.info(
      { from: legacy, to: storage },
      `copied the mongo-java-server data of an earlier version from ${shown(legacy)} to ${shown(storage)}; the old file is kept, delete it once you no longer need it`,
    );
  }
  mkdirSync(folder, { recursive: true });
  log.info({ engine: kind, folder }, `the ${engineName(kind)} data is in ${shown(folder)}`);
  const other: EngineKind = kind === 'mongod' ? 'java' : 'mongod';
  const otherFolder = kind === 'mongod' ? dirname(engineStorage(dataDir, 'java')) : engineStorage(dataDir, 'mongod');
  if (hasData(otherFolder))
    log.info(
      { engine: other, folder: otherFolder },
      `${shown(otherFolder)} holds data of ${engineName(other)} from an earlier start; it is kept and not used now`,
    );
  if (kind === 'mongod' && hasData(legacy))
    log.info(
      { engine: 'java', folder: legacy },
      `${shown(legacy)} holds mongo-java-server data of an earlier version; it is kept and not used now`,
    );
  return storage;
}

function engineName(kind: EngineKind): string {
  return kind === 'mongod' ? 'mongod' : 'mongo-java-server';
}

// ---------------------------------------------------------------------------------------------------
// mongod

interface MongodBinary {
  path: string;
  version: string;
}

function mongodVersion(path: string): string | undefined {
  const probe = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return /db version v?(\d+\.\d+\.\d+\S*)/.exec(`${probe.stdout ?? ''}`)?.[1];
}

const library = () => import('mongodb-memory-server-core');

/** The download options mongodb-memory-server would use here (version, platform, where it caches). */
async function downloadPlan() {
  const { DryMongoBinary } = await library();
  // systemBinary is cleared: this is about the library's own cache, whatever MONGOMS_SYSTEM_BINARY says.
  const base = { ...(await DryMongoBinary.generateOptions({ systemBinary: '' })), systemBinary: '' };
  const [cached, binaryPath] = await DryMongoBinary.generateDownloadPath(base);
  return { ...base, cached, binaryPath, downloadDir: dirname(binaryPath) };
}

async function findMongod(
  options: EmbeddedOptions,
  log: StepLog,
  reasons: string[],
): Promise<MongodBinary | undefined> {
  if (options.mongodBinary) {
    const path = resolve(options.mongodBinary);
    const version = existsSync(path) ? mongodVersion(path) : undefined;
    if (version) {
      log.info({ mongod: path, version }, `found mongod ${version} at ${path} (MONGOMS_SYSTEM_BINARY)`);
      return { path, version };
    }
    const why = existsSync(path) ? 'which does not answer --version like a mongod' : 'where there is no file';
    log.info({ mongod: path }, `MONGOMS_SYSTEM_BINARY points at ${path}, ${why}`);
    reasons.push(`MONGOMS_SYSTEM_BINARY points at ${path}, ${why}`);
  }
  const onPath = options.searchPath === undefined ? undefined : findOnPath('mongod', options.searchPath);
  if (onPath) {
    const version = mongodVersion(onPath);
    if (version) {
      log.info({ mongod: onPath, version }, `found mongod ${version} on the PATH at ${onPath}`);
      return { path: onPath, version };
    }
    log.info({ mongod: onPath }, `${onPath} is on the PATH but does not answer --version like a mongod`);
  }
  try {
    const plan = await downloadPlan();
    if (plan.cached) {
      log.info(
        { mongod: plan.binaryPath, version: plan.version },
        `found mongod ${plan.version} downloaded earlier, at ${plan.binaryPath}`,
      );
      return { path: plan.binaryPath, version: plan.version };
    }
    log.info(`no mongod at hand: none on the PATH, none downloaded earlier into ${plan.downloadDir}`);
  } catch (err) {
    log.info(
      { detail: (err as Error).message },
      'no mongod at hand: none on the PATH, and no download cache to look in',
    );
  }
  return undefined;
}

async function tryMongod(
  binary: MongodBinary,
  options: EmbeddedOptions,
  log: StepLog,
  reasons: string[],
): Promise<DatabaseHandle | undefined> {
  const { MongoMemoryServer } = await library();
  const dbPath = options.dataDir ? prepareFolder(options.dataDir, 'mongod', log) : undefined;
  try {
    const server = await withoutConsoleWarnings(() =>
      MongoMemoryServer.create({
        binary: { systemBinary: binary.path, version: binary.version },
        instance: dbPath ? { dbPath, storageEngine: 'wiredTiger' } : {},
      }),
    );
    log.info({ mongod: binary.path }, `started mongod ${binary.version}`);
    return {
      uri: server.getUri(),
      kind: 'mongod',
      storage: dbPath ?? 'memory',
      stop: async () => {
        await server.stop({ doCleanup: !dbPath, force: false });
      },
    };
  } catch (err) {
    const why = firstLine(err);
    log.info({ mongod: binary.path, detail: why }, `the mongod at ${binary.path} did not start (${why})`);
    reasons.push(`the mongod at ${binary.path} did not start (${why})`);
    return undefined;
  }
}

/**
 * mongodb-memory-server prints a failed start with its stack through console.warn; here a failed start
 * is one step of the chain, told in one sentence, so those prints are held back while it starts.
 */
async function withoutConsoleWarnings<T>(run: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = () => {};
  try {
    return await run();
  } finally {
    console.warn = warn;
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.slice(0, 300);
}

async function probe(url: string, timeoutMs: number): Promise<{ bytes?: number } | { refused: string }> {
  try {
    const response = await fetch(url, { method: 'HEAD', redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    if (!response.ok) return { refused: `it answered ${response.status}` };
    const bytes = Number(response.headers.get('content-length'));
    return Number.isFinite(bytes) && bytes > 0 ? { bytes } : {};
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') return { refused: `no answer within ${timeoutMs / 1000} s` };
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { refused: `it could not be reached: ${cause?.code ?? cause?.message ?? (err as Error).message}` };
  }
}

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

async function downloadMongod(
  options: EmbeddedOptions,
  log: StepLog,
  reasons: string[],
): Promise<MongodBinary | undefined> {
  let plan: Awaited<ReturnType<typeof downloadPlan>>;
  let url: string;
  try {
    plan = await downloadPlan();
    // Already in the cache: findMongod offered it, and downloading it again would change nothing.
    if (plan.cached) return undefined;
    const { MongoBinaryDownloadUrl } = await import('mongodb-memory-server-core/lib/util/MongoBinaryDownloadUrl.js');
    url = await new MongoBinaryDownloadUrl(plan).getDownloadUrl();
  } catch (err) {
    log.info({ detail: firstLine(err) }, `mongod cannot be downloaded for this system (${firstLine(err)})`);
    reasons.push(`mongod cannot be downloaded for this system (${firstLine(err)})`);
    return undefined;
  }
  const timeoutMs = options.probeTimeoutMs ?? 5_000;
  const reach = await probe(url, timeoutMs);
  if ('refused' in reach) {
    log.info(
      { url, detail: reach.refused },
      `the one-time mongod download from ${url} is not possible: ${reach.refused}`,
    );
    reasons.push(`the one-time mongod download from ${new URL(url).host} is not possible: ${reach.refused}`);
    return undefined;
  }
  const size = reach.bytes ? mb(reach.bytes) : 'size unknown';
  const announce = `downloading MongoDB ${plan.version} once (${size}) from ${url} into ${plan.downloadDir}`;
  log.info({ url, bytes: reach.bytes, into: plan.downloadDir }, announce);
  // With the console, log lines go to a file: the person at the terminal is told here too.
  options.terminal?.write(`${announce[0]!.toUpperCase()}${announce.slice(1)}\n`);
  const { MongoBinaryDownload } = await import('mongodb-memory-server-core/lib/util/MongoBinaryDownload.js');
  const terminal = options.terminal;
  let drawnAt = 0;
  // The library prints its own progress with console.log; this draws one line on the terminal instead.
  class Download extends MongoBinaryDownload {
    override printDownloadProgress(chunk: { length: number }, force = false): void {
      this.dlProgress.current += chunk.length;
      if (!terminal || (!force && Date.now() - drawnAt < 250)) return;
      drawnAt = Date.now();
      const { current, length } = this.dlProgress;
      const pct = length > 0 ? ` (${Math.floor((100 * current) / length)}%)` : '';
      terminal.write(`\rdownloading MongoDB ${plan.version}: ${mb(current)} of ${length ? mb(length) : size}${pct}  `);
    }
  }
  try {
    const started = Date.now();
    const path = await new Download({
      version: plan.version,
      downloadDir: plan.downloadDir,
      platform: plan.platform,
      arch: plan.arch,
      os: plan.os,
      systemBinary: '',
    }).getMongodPath();
    terminal?.write('\n');
    log.info({ mongod: path, ms: Date.now() - started }, `downloaded mongod ${plan.version} to ${path}`);
    return { path, version: plan.version };
  } catch (err) {
    terminal?.write('\n');
    log.info({ url, detail: firstLine(err) }, `the mongod download failed (${firstLine(err)})`);
    reasons.push(`the mongod download failed (${firstLine(err)})`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------
// mongo-java-server

async function tryJava(options: EmbeddedOptions, log: StepLog, reasons: string[]): Promise<DatabaseHandle | undefined> {
  const runtime = findJava(options.searchPath);
  if (!('major' in runtime)) {
    log.info(`${runtime.reason}, so mongo-java-server (the offline fallback) cannot run`);
    reasons.push(`${runtime.reason}, so mongo-java-server (the offline fallback) cannot run`);
    return undefined;
  }
  log.info({ java: runtime.java, major: runtime.major }, `found Java ${runtime.major}: starting mongo-java-server`);
  const h2File = options.dataDir ? prepareFolder(options.dataDir, 'java', log) : undefined;
  try {
    const server = await startJavaServer({ h2File, searchPath: options.searchPath, java: runtime.java, log });
    log.info(`started mongo-java-server (launcher ${server.mode === 'compiled' ? 'compiled' : 'run from source'})`);
    return { uri: server.uri, kind: 'java', storage: h2File ?? 'memory', stop: () => server.stop() };
  } catch (err) {
    log.info({ detail: firstLine(err) }, `mongo-java-server did not start (${firstLine(err)})`);
    reasons.push(`mongo-java-server did not start (${firstLine(err)})`);
    return undefined;
  }
}
