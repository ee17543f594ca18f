/**
 * Runs the real entry point (src/main.ts) as a child process and reads its JSON log lines, so tests
 * can wait for what the app says it did instead of sleeping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');

export interface LogLine {
  level: string;
  msg?: string;
  component?: string;
  [key: string]: unknown;
}

export interface AppProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  readonly stderr: string[];
  /** Resolves with the first log line (past or future) that matches, or rejects after timeoutMs. */
  waitFor(match: (line: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
  /** Sends a signal and resolves with the exit code and how long the exit took. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; ms: number }>;
  readonly exited: Promise<number | null>;
}

export function startAppProcess(env: Record<string, string>, args: string[] = []): AppProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: root,
    // A clean environment: only what the test passes (plus PATH/HOME: java, mongod, the mongod cache).
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ENV_FILE: '/dev/null',
      LOG_FORMAT: 'json',
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const stderr: string[] = [];
  const waiters = new Set<{ match: (l: LogLine) => boolean; done: (l: LogLine) => void }>();
  createInterface({ input: child.stdout! }).on('line', (raw) => {
    // The console's prompt has no newline of its own, so the next log line starts after it.
    const text = raw.startsWith('> {') ? raw.slice(2) : raw;
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { level: 'raw', msg: text };
    }
    lines.push(line);
    for (const w of waiters) if (w.match(line)) w.done(line);
  });
  createInterface({ input: child.stderr! }).on('line', (text) => stderr.push(text));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return {
    child,
    lines,
    stderr,
    exited,
    waitFor(match, timeoutMs = 30_000, what = 'log line') {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolveLine, reject) => {
        const waiter = {
          match,
          done: (l: LogLine) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolveLine(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `timed out waiting for ${what}; last lines:\n${lines
                .slice(-10)
                .map((l) => JSON.stringify(l))
                .join('\n')}\n${stderr.slice(-10).join('\n')}`,
            ),
          );
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then(() => {
          if (waiters.has(waiter)) {
            clearTimeout(timer);
            waiters.delete(waiter);
            reject(
              new Error(
                `app exited (code ${child.exitCode}, signal ${child.signalCode}) before ${what}; last lines:\n${lines
                  .slice(-10)
                  .map((l) => JSON.stringify(l))
                  .join('\n')}\n${stderr.slice(-20).join('\n')}`,
              ),
            );
          }
        });
      });
    },
    async stop(signal = 'SIGINT', timeoutMs = 15_000) {
      const started = Date.now();
      if (child.exitCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return { code, ms: Date.now() - started };
    },
  };
}
