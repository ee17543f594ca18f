/**
 * mongo-java-server, launched as a child JVM: the offline fallback MongoDB-wire server for the embedded
 * mode and for tests when no mongod can be had. Its jars come from Maven Central once, fetched by Node
 * (src/db/java-jars.ts) into .cache/mongo-java-server/jars/, so a Java 17 runtime is all it needs.
 * The small launcher (tools/mongo-server/EmbeddedMongo.java) is compiled once when javac is at hand
 * (a compiled start takes about a third of the time); with a JRE only it runs as a source file.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fetchJars, JAVA_SERVER_JARS, jarName, MAVEN_CENTRAL, missingJars } from './java-jars.js';

/** The repository root: the nearest folder above this file with a package.json (src/ or dist/src/). */
function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'tools'))) return dir;
    if (dirname(dir) === dir) return resolve(from, '..', '..');
  }
}
const ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
const SOURCE = join(ROOT, 'tools', 'mongo-server', 'EmbeddedMongo.java');
export const JAVA_CACHE_DIR = join(ROOT, '.cache', 'mongo-java-server');
const JAR_DIR = join(JAVA_CACHE_DIR, 'jars');
const CLASS_DIR = join(JAVA_CACHE_DIR, 'classes');

/** Minimal sink for the one-sentence steps (a pino logger fits). */
export interface StepLog {
  info(msg: string): void;
  info(obj: object, msg: string): void;
}
const silent: StepLog = { info: () => {} };

/**
 * Where `name` is on `searchPath` (a PATH string), as an absolute path; undefined when it is not there.
 * Without a searchPath, the bare name is returned and the OS searches the inherited PATH.
 */
export function findOnPath(name: string, searchPath: string | undefined): string | undefined {
  if (searchPath === undefined) return name;
  for (const dir of searchPath.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not there, or not executable
    }
  }
  return undefined;
}

export type JavaRuntime = { java: string; major: number } | { java?: undefined; reason: string };

/** The java on the search path and its major version, or why there is none usable (17+ needed). */
export function findJava(searchPath: string | undefined): JavaRuntime {
  const java = findOnPath('java', searchPath);
  if (!java) return { reason: 'no java on the PATH' };
  const probe = spawnSync(java, ['-version'], { encoding: 'utf8', timeout: 15_000 });
  if (probe.error)
    return { reason: `java could not be run (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message})` };
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${probe.stderr}${probe.stdout}`);
  if (!match) return { reason: `${java} -version did not print a version` };
  const major = match[1] === '1' ? Number(match[2]) : Number(match[1]);
  if (major < 17) return { reason: `java ${major} is on the PATH, and mongo-java-server needs Java 17 or newer` };
  return { java, major };
}

export interface PrepareOptions {
  searchPath?: string;
  log?: StepLog;
  /** Maven repository base URL (tests point it at a local server). */
  repository?: string;
  /** 'source' runs the launcher from its source file even when it could be compiled (to measure both). */
  launcher?: 'auto' | 'source';
}

export interface JavaLaunch {
  /** java arguments that come before the launcher's own (classpath and main class or source file). */
  readonly args: string[];
  readonly mode: 'compiled' | 'source';
}

/** Fetches the missing jars and compiles the launcher when javac is there; says what it does. */
export async function prepareJavaServer(options: PrepareOptions = {}): Promise<JavaLaunch> {
  const log = options.log ?? silent;
  const missing = missingJars(JAR_DIR);
  if (missing.length) {
    const repository = options.repository ?? MAVEN_CENTRAL;
    log.info(
      { jars: missing.map(jarName), into: JAR_DIR },
      `fetching ${missing.length} mongo-java-server jars (about 6 MB, once) from ${repository} into ${JAR_DIR}`,
    );
    const { bytes } = await fetchJars({ dir: JAR_DIR, repository });
    log.info(
      `fetched ${missing.length} jars (${(bytes / 1048576).toFixed(1)} MB), each matching its published checksum`,
    );
  }
  const classpath = JAVA_SERVER_JARS.map((a) => join(JAR_DIR, jarName(a))).join(delimiter);
  if (options.launcher === 'source') return { args: ['-cp', classpath, SOURCE], mode: 'source' };
  const compiled = join(CLASS_DIR, 'EmbeddedMongo.class');
  const fresh = existsSync(compiled) && statSync(compiled).mtimeMs >= statSync(SOURCE).mtimeMs;
  if (!fresh) {
    const javac = findOnPath('javac', options.searchPath);
    if (javac) {
      mkdirSync(CLASS_DIR, { recursive: true });
      const result = spawnSync(javac, ['-nowarn', '-cp', classpath, '-d', CLASS_DIR, SOURCE], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
        log.info('no javac on the PATH: the mongo-java-server launcher runs from its source file (a slower start)');
        return { args: ['-cp', classpath, SOURCE], mode: 'source' };
      }
      if (result.error || result.status !== 0) {
        const detail = result.error?.message ?? `${result.stderr}${result.stdout}`.trim().slice(-500);
        log.info({ detail }, 'javac could not compile the launcher, so it runs from its source file');
        return { args: ['-cp', classpath, SOURCE], mode: 'source' };
      }
      log.info(`compiled the mongo-java-server launcher into ${CLASS_DIR}`);
    } else {
      log.info('no javac on the PATH: the mongo-java-server launcher runs from its source file (a slower start)');
      return { args: ['-cp', classpath, SOURCE], mode: 'source' };
    }
  }
  return { args: ['-cp', `${CLASS_DIR}${delimiter}${classpath}`, 'EmbeddedMongo'], mode: 'compiled' };
}

export interface JavaServer {
  readonly uri: string;
  readonly pid: number | undefined;
  readonly mode: JavaLaunch['mode'];
  stop(): Promise<void>;
}

export interface JavaServerOptions extends PrepareOptions {
  /** H2 file for a persistent store; omitted, the memory backend is used. */
  h2File?: string;
  host?: string;
  port?: number;
  startTimeoutMs?: number;
  /** The java to run; found on searchPath when omitted. */
  java?: string;
}

export async function startJavaServer(options: JavaServerOptions = {}): Promise<JavaServer> {
  const java = options.java ?? findOnPath('java', options.searchPath) ?? 'java';
  const launch = await prepareJavaServer(options);
  const args = ['-Xss512k', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', ...launch.args];
  args.push('--host', options.host ?? '127.0.0.1', '--port', String(options.port ?? 0));
  if (options.h2File) {
    mkdirSync(dirname(resolve(options.h2File)), { recursive: true });
    args.push('--h2', resolve(options.h2File));
  }
  const child: ChildProcess = spawn(java, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const address = await new Promise<string>((resolveAddress, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mongo-java-server did not start within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = /^LISTENING (\S+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolveAddress(match[1]!);
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not start java for mongo-java-server: ${err.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`mongo-java-server exited with code ${code}: ${stderr.trim()}`));
    });
  });
  const exited = new Promise<void>((done) => {
    if (child.exitCode !== null) done();
    else child.once('exit', () => done());
  });
  return {
    uri: `mongodb://${address}`,
    pid: child.pid,
    mode: launch.mode,
    async stop() {
      if (child.exitCode !== null) return;
      // Closing stdin asks the launcher to shut down cleanly (H2 flushes its store).
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// `npm run mongo:fetch`: warm the cache ahead of time (used by .ci/run).
if (
  process.argv[1] &&
  resolve(process.argv[1]) === fileURLToPath(import.meta.url) &&
  process.argv.includes('--fetch')
) {
  const say: StepLog = { info: (a: object | string, b?: string) => console.log(typeof a === 'string' ? a : b) };
  try {
    const launch = await prepareJavaServer({ log: say });
    console.log(`mongo-java-server ready in ${JAVA_CACHE_DIR} (launcher: ${launch.mode})`);
  } catch (err) {
    console.error(`npm run mongo:fetch: ${(err as Error).message}`);
    process.exit(1);
  }
}
