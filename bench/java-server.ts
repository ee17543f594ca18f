/**
 * How long mongo-java-server takes to start (spawn to "LISTENING"), with the launcher compiled once
 * by javac and run from its source file (a JRE without javac), memory backend, five starts each.
 *
 *   npm run bench -- java-server
 */
import { findOnPath, startJavaServer } from '../src/db/java-server.js';

const runs = Number(process.argv[2] ?? 5);
const searchPath = process.env.PATH;
if (!findOnPath('java', searchPath ?? '')) {
  console.log('skipped: no java on the PATH');
  process.exit(0);
}

async function startTimes(launcher: 'auto' | 'source'): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const server = await startJavaServer({ searchPath, launcher });
    times.push(performance.now() - started);
    await server.stop();
  }
  return times;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await startTimes('auto'); // compiles the launcher if needed, outside the measurement
const compiled = median(await startTimes('auto'));
const source = median(await startTimes('source'));
console.log(`runs: ${runs}`);
console.log(`start_compiled_ms: ${compiled.toFixed(0)}`);
console.log(`start_source_file_ms: ${source.toFixed(0)}`);
console.log(`source_over_compiled: ${(source / compiled).toFixed(2)}`);
