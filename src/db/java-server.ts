/**
 * mongo-java-server, launched as a child JVM: the fallback MongoDB-wire server for the embedded
 * mode and for tests when no real mongod is at hand. Its jars come from Maven Central once, into
 * .cache/mongo-java-server/, and the small launcher (tools/mongo-server/EmbeddedMongo.java) is
 * compiled there once, which starts about three times faster than running it as a source file.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this file with a package.json (src/ or dist/src/). */
function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'tools'))) return dir;
    if (dirname(dir) === dir) return resolve(from, '..', '..');
  }
}
const ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
const TOOL_DIR = join(ROOT, 'tools', 'mongo-server');
const CACHE_DIR = join(ROOT, '.cache', 'mongo-java-server');
const JAR_DIR = join(CACHE_DIR, 'jars');
const CLASS_DIR = join(CACHE_DIR, 'classes');
const SOURCE = join(TOOL_DIR, 'EmbeddedMongo.java');

export interface JavaServer {
  readonly uri: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

function run(cmd: string, args: string[], what: string): void {
  const result = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    const detail = result.error?.message ?? `${result.stderr ?? ''}${result.stdout ?? ''}`.trim().slice(-2000);
    throw new Error(`${what} failed (${cmd} ${args.join(' ')}): ${detail}`);
  }
}

/** Fetches the jars (Maven) and compiles the launcher (javac) unless both are already cached. */
export function ensureJavaServer(): { classpath: string } {
  const haveJars = existsSync(JAR_DIR) && readdirSync(JAR_DIR).some((f) => f.startsWith('mongo-java-server-core'));
  if (!haveJars) {
    mkdirSync(JAR_DIR, { recursive: true });
    run(
      'mvn',
      ['-q', '-B', '-f', join(TOOL_DIR, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${JAR_DIR}`],
      'Fetching mongo-java-server from Maven Central',
    );
  }
  const classpath = `${JAR_DIR}/*`;
  const compiled = join(CLASS_DIR, 'EmbeddedMongo.class');
  if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(SOURCE).mtimeMs) {
    mkdirSync(CLASS_DIR, { recursive: true });
    run('javac', ['-nowarn', '-cp', classpath, '-d', CLASS_DIR, SOURCE], 'Compiling the embedded MongoDB launcher');
  }
  return { classpath: `${CLASS_DIR}:${classpath}` };
}

export interface JavaServerOptions {
  /** H2 file for a persistent store; omitted, the memory backend is used. */
  h2File?: string;
  host?: string;
  port?: number;
  startTimeoutMs?: number;
}

export async function startJavaServer(options: JavaServerOptions = {}): Promise<JavaServer> {
  const { classpath } = ensureJavaServer();
  const args = ['-Xss512k', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-cp', classpath, 'EmbeddedMongo'];
  args.push('--host', options.host ?? '127.0.0.1', '--port', String(options.port ?? 0));
  if (options.h2File) {
    mkdirSync(dirname(resolve(options.h2File)), { recursive: true });
    args.push('--h2', resolve(options.h2File));
  }
  const child: ChildProcess = spawn('java', args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const address = await new Promise<string>((resolveAddress, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mongo-java-server did not start within ${options.startTimeoutMs ?? 30_000} ms: ${stderr}`));
    }, options.startTimeoutMs ?? 30_000);
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
      reject(new Error(`Could not start java for mongo-java-server: ${err.message}`));
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

// `npm run mongo:fetch`: warm the cache (used by .ci/run and the Dockerfile's build stage).
if (
  process.argv[1] &&
  resolve(process.argv[1]) === fileURLToPath(import.meta.url) &&
  process.argv.includes('--fetch')
) {
  ensureJavaServer();
  console.log(`mongo-java-server ready in ${CACHE_DIR}`);
}
