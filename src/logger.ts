/**
 * The pino root logger. Everything else logs through `logger.child({ component: ... })`.
 *
 * Secrets are kept out twice over: fields with secret-looking names are redacted by path, and every
 * configured secret value (tokens, signing secret, API keys, the database password) plus any
 * `user:password@` in a URI and every webhook token in a URL path is scrubbed from the serialized
 * line before it is written, wherever it appears (messages, error stacks, nested objects).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from './config.js';

export type { Logger };

const REDACT_PATHS = [
  'token',
  '*.token',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'signingSecret',
  '*.signingSecret',
  'apiKey',
  '*.apiKey',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers["x-cw-api-key"]',
  '*.headers["x-cw-api-key"]',
  'headers["x-slack-signature"]',
  '*.headers["x-slack-signature"]',
];

const URI_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^/\s:@"]+):([^@\s"/]+)@/gi;
/**
 * Tokens that live in URL paths, whatever the host: Discord interaction webhooks and callbacks
 * (`/webhooks/<app>/<token>`, `/interactions/<id>/<token>/callback`) and Slack's incoming webhooks
 * and response_url (`hooks.slack.com/services|commands|actions/...`).
 */
const URL_TOKENS: ReadonlyArray<[RegExp, string]> = [
  [/(\/(?:webhooks|interactions)\/\d+\/)[^/\s"?#\\]+/g, '$1[REDACTED]'],
  [/(hooks\.slack\.com\/(?:services|commands|actions|workflows|triggers)\/)[^\s"?#\\]+/g, '$1[REDACTED]'],
];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Returns a function that removes every secret from a serialized log line. */
export function makeScrubber(secrets: readonly string[]): (line: string) => string {
  const values = [...new Set(secrets.filter((s) => s.length >= 4))].sort((a, b) => b.length - a.length);
  // JSON serialization escapes some characters; match both the raw and the JSON-escaped form.
  const variants = values.flatMap((v) => [v, JSON.stringify(v).slice(1, -1)]);
  const pattern = variants.length ? new RegExp([...new Set(variants)].map(escapeRegExp).join('|'), 'g') : undefined;
  return (line) => {
    let out = line.replace(URI_CREDENTIALS, '$1$2:[REDACTED]@');
    for (const [re, to] of URL_TOKENS) out = out.replace(re, to);
    if (pattern) out = out.replace(pattern, '[REDACTED]');
    return out;
  };
}

export interface LoggerSetup {
  level: string;
  format: 'auto' | 'json' | 'pretty';
  secrets: readonly string[];
  /** Where lines go; defaults to stdout (fd 1). */
  destination?: DestinationStream | number;
  /** Fields bound on every line. */
  base?: Record<string, unknown>;
  /**
   * Interactive console: every line goes to this file as JSON, and only warnings and errors reach
   * the terminal (stderr, pretty), so log lines do not break into the REPL.
   */
  file?: string;
}

export function createLogger(setup: LoggerSetup): Logger {
  const scrub = makeScrubber(setup.secrets);
  const fd = typeof setup.destination === 'number' ? setup.destination : 1;
  const usePretty =
    setup.format === 'pretty' ||
    (setup.format === 'auto' &&
      typeof setup.destination !== 'object' &&
      Boolean(fd === 2 ? process.stderr.isTTY : process.stdout.isTTY));
  const options: LoggerOptions = {
    level: setup.level,
    base: { ...setup.base },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    hooks: { streamWrite: scrub },
  };
  if (setup.file) {
    mkdirSync(dirname(setup.file), { recursive: true });
    const level = setup.level === 'silent' ? 'silent' : setup.level;
    return pino(
      options,
      pino.multistream([
        { level: level as pino.Level, stream: pino.destination({ dest: setup.file, sync: true, mkdir: true }) },
        {
          level: 'warn',
          stream: pretty({
            destination: 2,
            colorize: Boolean(process.stderr.isTTY),
            sync: true,
            ignore: 'pid,hostname',
          }),
        },
      ]),
    );
  }
  if (usePretty) {
    return pino(
      options,
      pino.transport({
        target: 'pino-pretty',
        options: { destination: fd, colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' },
      }),
    );
  }
  const destination =
    typeof setup.destination === 'object' ? setup.destination : pino.destination({ dest: fd, sync: true });
  return pino(options, destination);
}

/**
 * The process-wide root logger. It starts as a plain JSON logger at `info` and is replaced once by
 * `initLogger(config)` at boot, before anything else logs; modules take children lazily through
 * `log(component)` so they always bind to the configured root.
 */
let root: Logger = createLogger({ level: 'info', format: 'json', secrets: [] });

export function initLogger(
  config: Config,
  options: { destination?: LoggerSetup['destination']; file?: string } = {},
): Logger {
  root = createLogger({
    level: config.log.level,
    format: config.log.format,
    secrets: config.secrets,
    destination: options.destination,
    file: options.file,
  });
  return root;
}

export function rootLogger(): Logger {
  return root;
}

/** A child logger for one component; call it where the log happens, not at module load. */
export function log(component: string, bindings: Record<string, unknown> = {}): Logger {
  return root.child({ component, ...bindings });
}
