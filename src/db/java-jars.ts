/**
 * The jars of mongo-java-server, fetched from Maven Central over HTTPS without Maven. The list is the
 * dependency tree Maven resolves for mongo-java-server 1.47.0 with its H2 and memory backends
 * (core -> netty transport/codec/handler 4.2.2 -> their netty modules; h2-backend -> h2, slf4j-api),
 * written out so that a JRE and Node are all the Java fallback needs.
 *
 * Each file is checked against the checksum Central publishes beside it (.sha256, or .sha1 where no
 * .sha256 is served) before it is moved into place, so a broken or tampered download never lands.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const MAVEN_CENTRAL = 'https://repo1.maven.org/maven2';

export interface Artifact {
  group: string;
  name: string;
  version: string;
}

const NETTY = '4.2.2.Final';
const MJS = '1.47.0';

export const JAVA_SERVER_JARS: readonly Artifact[] = [
  { group: 'de.bwaldvogel', name: 'mongo-java-server-core', version: MJS },
  { group: 'de.bwaldvogel', name: 'mongo-java-server-memory-backend', version: MJS },
  { group: 'de.bwaldvogel', name: 'mongo-java-server-h2-backend', version: MJS },
  { group: 'com.h2database', name: 'h2', version: '2.3.232' },
  { group: 'org.slf4j', name: 'slf4j-api', version: '2.0.17' },
  ...[
    'netty-common',
    'netty-buffer',
    'netty-resolver',
    'netty-transport',
    'netty-transport-native-unix-common',
    'netty-codec',
    'netty-codec-base',
    'netty-codec-compression',
    'netty-codec-protobuf',
    'netty-codec-marshalling',
    'netty-handler',
  ].map((name) => ({ group: 'io.netty', name, version: NETTY })),
];

export function jarName(a: Artifact): string {
  return `${a.name}-${a.version}.jar`;
}

export function jarUrl(repository: string, a: Artifact): string {
  return `${repository.replace(/\/$/, '')}/${a.group.replaceAll('.', '/')}/${a.name}/${a.version}/${jarName(a)}`;
}

/** The jars of `artifacts` not yet in `dir`. */
export function missingJars(dir: string, artifacts: readonly Artifact[] = JAVA_SERVER_JARS): Artifact[] {
  return artifacts.filter((a) => !existsSync(join(dir, jarName(a))));
}

export class JarFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JarFetchError';
  }
}

export interface FetchJarsOptions {
  dir: string;
  repository?: string;
  artifacts?: readonly Artifact[];
  /** How long the first answer from the repository may take before it counts as unreachable. */
  connectTimeoutMs?: number;
  /** How long one jar may take in full. */
  jarTimeoutMs?: number;
  onJar?: (artifact: Artifact, bytes: number) => void;
}

async function get(url: string, timeoutMs: number): Promise<Response> {
  try {
    return await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why =
      (err as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs / 1000} s`
        : (cause?.code ?? cause?.message ?? (err as Error).message);
    throw new JarFetchError(`could not reach ${new URL(url).origin} (${why})`);
  }
}

/** The published checksum of one jar: SHA-256 where Central serves it, else SHA-1. */
async function publishedChecksum(url: string, timeoutMs: number): Promise<{ algorithm: string; hex: string }> {
  for (const algorithm of ['sha256', 'sha1']) {
    const response = await get(`${url}.${algorithm}`, timeoutMs);
    if (response.status === 404) {
      await response.body?.cancel();
      continue;
    }
    if (!response.ok) throw new JarFetchError(`${url}.${algorithm} answered ${response.status}`);
    const hex = (await response.text()).trim().split(/\s+/)[0]!.toLowerCase();
    if (!/^[0-9a-f]{40,128}$/.test(hex)) throw new JarFetchError(`${url}.${algorithm} is not a checksum`);
    return { algorithm, hex };
  }
  throw new JarFetchError(`${url} has no published checksum (.sha256 or .sha1)`);
}

/**
 * Downloads every missing jar into `dir`, each verified against its published checksum.
 * Returns the jars it fetched and their total size; throws JarFetchError (nothing half-written is left).
 */
export async function fetchJars(options: FetchJarsOptions): Promise<{ fetched: Artifact[]; bytes: number }> {
  const repository = options.repository ?? MAVEN_CENTRAL;
  const missing = missingJars(options.dir, options.artifacts);
  mkdirSync(options.dir, { recursive: true });
  // The checksums first, all at once with a short timeout: an unreachable repository shows here in seconds.
  const checksums = await Promise.all(
    missing.map((a) => publishedChecksum(jarUrl(repository, a), options.connectTimeoutMs ?? 5_000)),
  );
  let bytes = 0;
  for (const [i, artifact] of missing.entries()) {
    const url = jarUrl(repository, artifact);
    const response = await get(url, options.jarTimeoutMs ?? 120_000);
    if (!response.ok) throw new JarFetchError(`${url} answered ${response.status}`);
    const body = Buffer.from(await response.arrayBuffer());
    const { algorithm, hex } = checksums[i]!;
    const actual = createHash(algorithm).update(body).digest('hex');
    if (actual !== hex)
      throw new JarFetchError(`${jarName(artifact)} does not match its published ${algorithm} (${hex}, got ${actual})`);
    const target = join(options.dir, jarName(artifact));
    const partial = `${target}.part`;
    try {
      writeFileSync(partial, body);
      renameSync(partial, target);
    } finally {
      rmSync(partial, { force: true });
    }
    bytes += body.length;
    options.onJar?.(artifact, body.length);
  }
  return { fetched: missing, bytes };
}
