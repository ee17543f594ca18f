/**
 * The only reader of process.env. dotenv fills the environment from `.env`, zod turns it into one
 * frozen, typed object, and a bad value stops the boot with every bad key listed at once.
 */
import { config as loadDotenv } from 'dotenv';
import { z } from 'zod';

import { BUILT_IN_SOURCES, ccxtExchangeIds } from './market/sources/ccxt-exchanges.js';

export const SOURCE_NAMES = BUILT_IN_SOURCES;
/** A hand-written source, or any exchange id ccxt offers (`binance`, `coinbase`, `bitstamp`). */
export type SourceName = (typeof SOURCE_NAMES)[number] | (string & {});

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `15s`, `1m`, `2h`, `7d` (a bare number means seconds) into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = UNITS[(match[2] ?? 's').toLowerCase()];
  const ms = Number(match[1]) * (unit ?? 1_000);
  return Number.isFinite(ms) && ms > 0 ? Math.round(ms) : undefined;
}

const duration = (fallback: string, min: number, max: number) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined || ms < min || ms > max) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a duration such as 15s, 1m or 2h between ${min / 1000}s and ${max / 1000}s, got "${text}"`,
        });
        return z.NEVER;
      }
      return ms;
    });

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const url = (fallback?: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const text = v === undefined || v.trim() === '' ? fallback : v.trim();
      if (text === undefined) return undefined;
      try {
        const parsed = new URL(text);
        if (!/^https?:$/.test(parsed.protocol)) throw new Error('protocol');
        return text.replace(/\/+$/, '');
      } catch {
        ctx.addIssue({ code: 'custom', message: `expected an http(s) URL, got "${text}"` });
        return z.NEVER;
      }
    });

const integer = (fallback: number, min: number, max: number) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const n = Number(text);
      if (!/^\s*\d+\s*$/.test(text) || !Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected a whole number from ${min} to ${max}, got "${text}"` });
        return z.NEVER;
      }
      return n;
    });

const number = (fallback: number, min: number, max: number) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected a number from ${min} to ${max}, got "${text}"` });
        return z.NEVER;
      }
      return n;
    });

/** A percentage, `0.5%` or `0.5`, as a fraction (0.005). */
const percent = (fallback: string, min: number, max: number) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const match = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
      const n = match ? Number(match[1]) : Number.NaN;
      if (!Number.isFinite(n) || n < min || n > max) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a percentage from ${min}% to ${max}% such as 0.5%, got "${text}"`,
        });
        return z.NEVER;
      }
      return n / 100;
    });

/** `true`/`false` (also 1/0, yes/no, on/off); anything else is an error rather than a silent false. */
const flag = (fallback: boolean) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const v = text.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      ctx.addIssue({ code: 'custom', message: `expected true or false, got "${text}"` });
      return z.NEVER;
    });

const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

const WEBHOOK_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** `name=value,name=value` pairs (outgoing webhooks: URLs, secrets); names lower-case letters, digits, dashes. */
const pairs = (what: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const out: Record<string, string> = {};
      for (const item of (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const eq = item.indexOf('=');
        const name = eq > 0 ? item.slice(0, eq).trim().toLowerCase() : '';
        if (!WEBHOOK_NAME.test(name)) {
          ctx.addIssue({
            code: 'custom',
            message: `expected name=${what} pairs (names of a-z, 0-9, -), got "${item.slice(0, 40)}"`,
          });
          return z.NEVER;
        }
        out[name] = item.slice(eq + 1).trim();
      }
      return out;
    });

const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),

    MONGODB_URI: optionalText,
    MONGO_EMBEDDED: z.enum(['auto', 'mongod', 'java']).default('auto'),
    MONGOMS_SYSTEM_BINARY: optionalText,
    DATA_DIR: z.string().default('.data'),

    MARKET_SOURCE: z
      .string()
      .default('kraken')
      .transform((text, ctx) => {
        const names = text
          .split(',')
          .map((s) => s.trim().toLowerCase())
          .filter(Boolean);
        const bad = names.filter((n) => !(SOURCE_NAMES as readonly string[]).includes(n));
        const exchanges = bad.length ? ccxtExchangeIds() : [];
        const unknown = bad.filter((n) => !exchanges.includes(n));
        if (names.length === 0 || unknown.length > 0) {
          ctx.addIssue({
            code: 'custom',
            message:
              names.length === 0
                ? `expected a comma list of ${SOURCE_NAMES.join(', ')} or ccxt exchange ids, got "${text}"`
                : `${unknown.map((n) => `"${n}"`).join(', ')} is not ${SOURCE_NAMES.join(', ')} nor one of the ${exchanges.length || ccxtExchangeIds().length} exchange ids ccxt offers (such as binance, coinbase, bitstamp)`,
          });
          return z.NEVER;
        }
        return [...new Set(names)] as SourceName[];
      }),
    MARKETS: z
      .string()
      .default('all')
      .transform((text) => {
        const items = text
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        return items.length === 0 || items.some((s) => s.toLowerCase() === 'all') ? ('all' as const) : items;
      }),
    COLLECT_INTERVAL: duration('1m', 5_000, 3_600_000),
    RETENTION: duration('7d', 3_600_000, 365 * 86_400_000),
    KRAKEN_API_URL: url('https://api.kraken.com'),
    CRYPTOWATCH_API_URL: url('https://api.cryptowat.ch'),
    CRYPTOWATCH_API_KEY: optionalText,
    CCXT_API_URLS: z
      .string()
      .optional()
      .transform((text, ctx) => {
        const out: Record<string, string> = {};
        for (const item of (text ?? '').split(',').map((s) => s.trim())) {
          if (!item) continue;
          const eq = item.indexOf('=');
          const id = item.slice(0, eq).trim().toLowerCase();
          const base = item.slice(eq + 1).trim();
          let ok = eq > 0;
          try {
            ok &&= /^https?:$/.test(new URL(base).protocol);
          } catch {
            ok = false;
          }
          if (!ok) {
            ctx.addIssue({ code: 'custom', message: `expected exchange=http(s)://host pairs, got "${item}"` });
            return z.NEVER;
          }
          out[id] = base.replace(/\/+$/, '');
        }
        return out;
      }),
    SOURCE_TIMEOUT: duration('10s', 500, 120_000),
    SIMULATED_MARKETS: integer(24, 1, 20_000),
    SIMULATED_SEED: integer(42, 0, 2 ** 31 - 1),
    SIMULATED_SPIKE_EVERY: z
      .string()
      .default('30m')
      .transform((text, ctx) => {
        if (/^\s*(0|off)\s*$/i.test(text)) return 0;
        const ms = parseDuration(text);
        if (ms === undefined || ms < 300_000 || ms % 60_000 !== 0 || ms > 7 * 86_400_000) {
          ctx.addIssue({
            code: 'custom',
            message: `expected whole minutes from 5m, such as 5m or 30m (0 = off), got "${text}"`,
          });
          return z.NEVER;
        }
        return ms;
      }),
    BACKFILL_MAX: duration('12h', 60_000, 7 * 86_400_000),
    SOURCE_REQUEST_GAP: duration('1s', 1, 60_000),

    SLACK_BOT_TOKEN: optionalText,
    SLACK_SIGNING_SECRET: optionalText,
    SLACK_APP_TOKEN: optionalText,
    SLACK_API_URL: url(),
    SLACK_TRACK_ALLOWLIST: list,
    SLACK_TEAM_ALLOWLIST: list,
    SLACK_ALERTING_PERMISSION: z.enum(['admins', 'members']).default('admins'),
    SLACK_COMMAND_PREFIX: z
      .string()
      .default('')
      .transform((v) => v.trim().toLowerCase())
      .refine((v) => v === '' || /^[a-z0-9][a-z0-9_-]{0,19}$/.test(v), {
        message: 'expected up to 20 lowercase letters, digits, - or _ (e.g. crypto-), or empty',
      }),

    DISCORD_TOKEN: optionalText,
    DISCORD_APPLICATION_ID: optionalText,
    DISCORD_GUILD_ID: optionalText,
    DISCORD_API_URL: url(),
    DISCORD_GUILD_ALLOWLIST: list,
    DISCORD_TRACK_PERMISSION: z
      .string()
      .default('ManageChannels')
      .refine((v) => /^(everyone|[A-Z][A-Za-z]{2,40})$/.test(v.trim()), {
        message: 'expected a Discord permission name such as ManageChannels or ManageGuild, or "everyone"',
      })
      .transform((v) => v.trim()),

    QUICKCHART_URL: url('https://quickchart.io'),
    CHART_UPLOAD: flag(false),

    HTTP_HOST: z.string().default('127.0.0.1'),
    HTTP_PORT: integer(3000, 0, 65_535),
    RATE_LIMIT_PER_MINUTE: integer(300, 1, 1_000_000),
    CORS_ORIGINS: list,
    TRUST_PROXY: list,
    REPORT_CACHE_MB: integer(64, 1, 16_384),
    PUBLIC_URL: url(),
    DASHBOARD_SHOW_CHANNELS: flag(false),
    API_RULES_TOKEN: optionalText.refine((v) => v === undefined || v.length >= 16, {
      message: 'expected at least 16 characters (a long random string)',
    }),
    COMMAND_RATE_LIMIT_PER_MINUTE: integer(20, 1, 10_000),

    WEBHOOKS: pairs('url'),
    WEBHOOK_SECRETS: pairs('secret'),

    SPIKE_FACTOR: number(3, 1, 1_000),
    SPIKE_MIN_POINTS: integer(30, 1, 1_000),
    ALERT_COOLDOWN: duration('15m', 0 + 1, 7 * 86_400_000),
    ALERT_LEVEL_HYSTERESIS: percent('0.5%', 0, 50),
    MAX_SUBSCRIPTIONS_PER_CHANNEL: integer(50, 1, 10_000),
  })
  .superRefine((env, ctx) => {
    if (env.SLACK_BOT_TOKEN && !env.SLACK_APP_TOKEN && !env.SLACK_SIGNING_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['SLACK_SIGNING_SECRET'],
        message: 'required with SLACK_BOT_TOKEN unless SLACK_APP_TOKEN (Socket Mode) is set',
      });
    }
    if (env.DISCORD_TOKEN && !env.DISCORD_APPLICATION_ID) {
      ctx.addIssue({ code: 'custom', path: ['DISCORD_APPLICATION_ID'], message: 'required with DISCORD_TOKEN' });
    }
    for (const [name, target] of Object.entries(env.WEBHOOKS)) {
      try {
        if (!/^https?:$/.test(new URL(target).protocol)) throw new Error('protocol');
      } catch {
        ctx.addIssue({ code: 'custom', path: ['WEBHOOKS'], message: `${name}: expected an http(s) URL` });
      }
      const secret = env.WEBHOOK_SECRETS[name];
      if (!secret || secret.length < 16)
        ctx.addIssue({
          code: 'custom',
          path: ['WEBHOOK_SECRETS'],
          message: `${name}: every webhook needs a secret of at least 16 characters to sign its posts`,
        });
    }
    for (const name of Object.keys(env.WEBHOOK_SECRETS)) {
      if (!(name in env.WEBHOOKS))
        ctx.addIssue({ code: 'custom', path: ['WEBHOOK_SECRETS'], message: `${name}: no such webhook in WEBHOOKS` });
    }
  });

export type RawEnv = z.input<typeof schema>;

/** Every configuration key, for the checks that keep .env.example and the README in step. */
export const CONFIG_KEYS: readonly string[] = Object.keys(schema.shape);
type Parsed = z.output<typeof schema>;

export interface Config {
  readonly env: Parsed['NODE_ENV'];
  readonly log: { readonly level: Parsed['LOG_LEVEL']; readonly format: Parsed['LOG_FORMAT'] };
  readonly mongo: {
    readonly uri?: string;
    readonly embedded: Parsed['MONGO_EMBEDDED'];
    readonly dataDir: string;
    readonly mongodBinary?: string;
    /** The OS's PATH (not a setting): where the embedded mode looks for mongod, java and javac. */
    readonly searchPath?: string;
  };
  readonly market: {
    readonly sources: readonly SourceName[];
    readonly markets: 'all' | readonly string[];
    readonly intervalMs: number;
    readonly retentionMs: number;
    readonly timeoutMs: number;
    readonly krakenUrl: string;
    readonly cryptowatchUrl: string;
    readonly cryptowatchKey?: string;
    /** Replacement hosts for ccxt exchanges' API URLs, by exchange id (proxies, tests). */
    readonly ccxtUrls: Readonly<Record<string, string>>;
    readonly simulatedMarkets: number;
    readonly simulatedSeed: number;
    /** Every how many ms each simulated market has one volume spike (0 = never). */
    readonly simulatedSpikeEveryMs: number;
    /** How far back missed minutes are backfilled (the first tick of an empty database too). */
    readonly backfillMaxMs: number;
    /** Least time between two requests to one source, so exchanges do not ban us. */
    readonly requestGapMs: number;
  };
  readonly slack: {
    readonly botToken?: string;
    readonly signingSecret?: string;
    readonly appToken?: string;
    readonly apiUrl?: string;
    readonly trackAllowlist: readonly string[];
    /** Workspaces (team ids) the bot answers; empty answers every workspace it is in. */
    readonly teamAllowlist: readonly string[];
    /** Who may change alerting when SLACK_TRACK_ALLOWLIST is empty: workspace admins and owners, or every member. */
    readonly alertingPermission: 'admins' | 'members';
    /** Put before every Slack command name (`crypto-` gives /crypto-metric); empty for none. */
    readonly commandPrefix: string;
  };
  readonly discord: {
    readonly token?: string;
    readonly applicationId?: string;
    readonly guildId?: string;
    readonly apiUrl?: string;
    /** Permission needed for /track and /untrack (a PermissionFlagsBits name), or 'everyone'. */
    readonly trackPermission: string;
    /** Servers (guild ids) the bot answers; empty answers every server it is in. */
    readonly guildAllowlist: readonly string[];
  };
  readonly quickchartUrl: string;
  /** Render charts to PNG on this server and upload them, instead of sending the QuickChart URL. */
  readonly chartUpload: boolean;
  readonly http: {
    readonly host: string;
    readonly port: number;
    readonly rateLimitPerMinute: number;
    readonly corsOrigins: readonly string[];
    /** Proxy addresses/CIDRs whose X-Forwarded-For names the client (rate limits per client behind nginx). */
    readonly trustProxy: readonly string[];
    /** Bound of the market report cache, in (estimated) bytes. */
    readonly reportCacheBytes: number;
    /** The address people reach this server at (behind a proxy); chat replies link to the dashboard with it. */
    readonly publicUrl?: string;
    /** Show alert channel ids on the dashboard's alerts page. */
    readonly dashboardShowChannels: boolean;
    /** Bearer token of GET /api/v1/channels/:channel/rules; the route does not exist without it. */
    readonly rulesToken?: string;
  };
  readonly commands: { readonly rateLimitPerMinute: number };
  readonly alerts: {
    readonly factor: number;
    readonly minPoints: number;
    readonly cooldownMs: number;
    readonly maxPerChannel: number;
    /** Re-arm margin of price levels, as a fraction of the level (0.005 = 0.5%). */
    readonly levelHysteresis: number;
  };
  /** Outgoing webhooks by name: alerts to `webhook:<name>` are POSTed there, signed with the secret. */
  readonly webhooks: Readonly<Record<string, { readonly url: string; readonly secret: string }>>;
  /** Every secret value present, so the logger can scrub it wherever it appears. */
  readonly secrets: readonly string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Builds the config from an environment (process.env by default, after reading `.env`).
 * `overrides` win over the environment; an empty string unsets a key (the demo uses this).
 */
export function loadConfig(env?: Record<string, string | undefined>, overrides: Record<string, string> = {}): Config {
  if (env === undefined) {
    // ENV_FILE picks another file (tests point it at /dev/null so a developer's .env cannot leak in).
    loadDotenv({ quiet: true, path: process.env.ENV_FILE ?? '.env' });
    env = process.env;
  }
  // Treat empty strings as unset, as .env templates leave many keys blank.
  const cleaned: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...env, ...overrides }))
    if (value !== undefined && value !== '') cleaned[key] = value;
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new ConfigError(problems);
  }
  const e = result.data;
  const secrets = [
    e.SLACK_BOT_TOKEN,
    e.SLACK_SIGNING_SECRET,
    e.SLACK_APP_TOKEN,
    e.DISCORD_TOKEN,
    e.CRYPTOWATCH_API_KEY,
    e.API_RULES_TOKEN,
  ]
    .concat(passwordOf(e.MONGODB_URI))
    .concat(Object.values(e.WEBHOOK_SECRETS))
    .filter((s): s is string => typeof s === 'string' && s.length >= 4);
  return deepFreeze<Config>({
    env: e.NODE_ENV,
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT },
    mongo: {
      uri: e.MONGODB_URI,
      embedded: e.MONGO_EMBEDDED,
      dataDir: e.DATA_DIR,
      mongodBinary: e.MONGOMS_SYSTEM_BINARY,
      searchPath: env.PATH,
    },
    market: {
      sources: e.MARKET_SOURCE,
      markets: e.MARKETS,
      intervalMs: e.COLLECT_INTERVAL,
      retentionMs: e.RETENTION,
      timeoutMs: e.SOURCE_TIMEOUT,
      krakenUrl: e.KRAKEN_API_URL!,
      cryptowatchUrl: e.CRYPTOWATCH_API_URL!,
      cryptowatchKey: e.CRYPTOWATCH_API_KEY,
      ccxtUrls: e.CCXT_API_URLS,
      simulatedMarkets: e.SIMULATED_MARKETS,
      simulatedSeed: e.SIMULATED_SEED,
      simulatedSpikeEveryMs: e.SIMULATED_SPIKE_EVERY,
      backfillMaxMs: e.BACKFILL_MAX,
      requestGapMs: e.SOURCE_REQUEST_GAP,
    },
    slack: {
      botToken: e.SLACK_BOT_TOKEN,
      signingSecret: e.SLACK_SIGNING_SECRET,
      appToken: e.SLACK_APP_TOKEN,
      apiUrl: e.SLACK_API_URL,
      trackAllowlist: e.SLACK_TRACK_ALLOWLIST,
      teamAllowlist: e.SLACK_TEAM_ALLOWLIST,
      alertingPermission: e.SLACK_ALERTING_PERMISSION,
      commandPrefix: e.SLACK_COMMAND_PREFIX,
    },
    discord: {
      token: e.DISCORD_TOKEN,
      applicationId: e.DISCORD_APPLICATION_ID,
      guildId: e.DISCORD_GUILD_ID,
      apiUrl: e.DISCORD_API_URL,
      trackPermission: e.DISCORD_TRACK_PERMISSION,
      guildAllowlist: e.DISCORD_GUILD_ALLOWLIST,
    },
    quickchartUrl: e.QUICKCHART_URL!,
    chartUpload: e.CHART_UPLOAD,
    http: {
      host: e.HTTP_HOST,
      port: e.HTTP_PORT,
      rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
      corsOrigins: e.CORS_ORIGINS,
      trustProxy: e.TRUST_PROXY,
      reportCacheBytes: e.REPORT_CACHE_MB * 1024 * 1024,
      publicUrl: e.PUBLIC_URL,
      dashboardShowChannels: e.DASHBOARD_SHOW_CHANNELS,
      rulesToken: e.API_RULES_TOKEN,
    },
    commands: { rateLimitPerMinute: e.COMMAND_RATE_LIMIT_PER_MINUTE },
    alerts: {
      factor: e.SPIKE_FACTOR,
      minPoints: e.SPIKE_MIN_POINTS,
      cooldownMs: e.ALERT_COOLDOWN,
      maxPerChannel: e.MAX_SUBSCRIPTIONS_PER_CHANNEL,
      levelHysteresis: e.ALERT_LEVEL_HYSTERESIS,
    },
    webhooks: Object.fromEntries(
      Object.entries(e.WEBHOOKS).map(([name, url]) => [name, { url, secret: e.WEBHOOK_SECRETS[name]! }]),
    ),
    secrets,
  });
}

function passwordOf(uri: string | undefined): string[] {
  if (!uri) return [];
  try {
    const password = decodeURIComponent(new URL(uri).password);
    return password ? [password] : [];
  } catch {
    return [];
  }
}
