/**
 * The command and action registry. A command is data (name, description, typed options, examples)
 * plus `run(ctx, options)` returning a Reply; the same option definitions produce the zod
 * validation, Discord's option schema (discord.adapter.ts) and Slack's usage text (here), so the
 * three can never disagree.
 *
 * Every run goes through one funnel: rate limit, option validation, permission, then the command.
 * A UserError becomes an ephemeral reply with the usage; anything else is logged with its context
 * and a reference id, and the user sees only the apology.
 */
import { z } from 'zod';
import type { Config } from '../config.js';
import { parseDuration } from '../config.js';
import { UserError, apology, errorReference, isUserError } from '../errors.js';
import { log } from '../logger.js';
import { commandLatency } from '../observability/metrics.js';
import type { PlatformName } from './platform.js';
import type { Reply } from './reply.js';

export type OptionKind = 'market' | 'choice' | 'number' | 'integer' | 'duration';

export interface OptionDefinition {
  readonly name: string;
  readonly description: string;
  readonly kind: OptionKind;
  readonly required?: boolean;
  /** For `choice`: the canonical values (Discord shows them as choices). */
  readonly choices?: readonly string[];
  /** For `choice`: maps what users type (aliases, case) to a canonical value, or undefined. */
  readonly parse?: (text: string) => string | undefined;
  /** Bounds for number, integer (the value) and duration (milliseconds). */
  readonly min?: number;
  readonly max?: number;
  /**
   * For `choice`: a positional word its parse accepts is taken for this option wherever it stands
   * (`/track btc-usd dm`), so it needs no `name=`. Only for values no other option could take.
   */
  readonly flag?: boolean;
}

/**
 * What an option's run() sees: a number for number, integer and duration; for a choice, what its
 * parser returns (a MetricName from parseMetric), else one of its listed choices; otherwise text.
 */
type ValueOf<D extends OptionDefinition> = D['kind'] extends 'number' | 'integer' | 'duration'
  ? number
  : D extends { readonly parse: (text: string) => infer R }
    ? Exclude<R, undefined>
    : D extends { readonly choices: readonly (infer C extends string)[] }
      ? C
      : string;

/** The validated options a command's run() receives, typed from its definitions. */
export type ParsedOptions<O extends readonly OptionDefinition[]> = {
  [D in O[number] as D['name']]: D['required'] extends true ? ValueOf<D> : ValueOf<D> | undefined;
};

export interface CommandContext {
  platform: PlatformName;
  /** Platform-qualified: `slack:T:C`, `discord:G:C`, `console:local`. */
  channel: string;
  /** Platform-qualified user id: `slack:U123`, `discord:456`, `console:local`. */
  user: string;
  userName?: string;
  /** Discord: Manage Channels; Slack: on SLACK_TRACK_ALLOWLIST, or anyone when the list is empty. */
  mayManageChannel: boolean;
  /**
   * False when the workspace or server is not on SLACK_TEAM_ALLOWLIST / DISCORD_GUILD_ALLOWLIST:
   * every command and click then gets a refusal. Absent means allowed.
   */
  tenantAllowed?: boolean;
  config: Config;
  now?: () => Date;
  /**
   * Opens the direct-message channel between the bot and this user and returns its channel id;
   * rejects with a UserError that says why when the user cannot be messaged. Absent where the
   * platform has no direct messages (the console).
   */
  openDirect?: () => Promise<string>;
}

export interface CommandDefinition<O extends readonly OptionDefinition[] = readonly OptionDefinition[]> {
  readonly name: string;
  readonly description: string;
  readonly options: O;
  /** Full invocations without the slash, e.g. `metric btc-usd volume 6h`. */
  readonly examples: readonly string[];
  /** `manageChannel`: changes what the channel receives (/track, /untrack). */
  readonly permission?: 'manageChannel';
  /** When the permission applies, if not always (e.g. `/mute` alone only reads the status). */
  readonly needsPermission?: (options: ParsedOptions<O>) => boolean;
  /** Answer only to the caller (help). */
  readonly ephemeral?: boolean;
  run(ctx: CommandContext, options: ParsedOptions<O>): Promise<Reply>;
}

/** A button click handler: `Reply.buttons[].action` routes here with the button's value. */
export interface ActionDefinition {
  readonly action: string;
  /** Clicks that change the channel's settings need the same permission as /track. */
  readonly permission?: 'manageChannel';
  run(ctx: CommandContext, value: string): Promise<Reply>;
}

// Loosely typed view used by the registry, which only knows options by name at run time.
// biome-ignore lint/suspicious/noExplicitAny: commands differ in their option tuples; the registry only needs the shape
export type AnyCommand = CommandDefinition<any>;

/** Keeps the literal option names, so run() sees typed options. */
export function defineCommand<const O extends readonly OptionDefinition[]>(
  def: CommandDefinition<O>,
): CommandDefinition<O> {
  return def;
}

export function defineAction(def: ActionDefinition): ActionDefinition {
  return def;
}

/** What an adapter hands over: positional words (Slack, console) and/or named values (Discord). */
export interface RawOptions {
  positional?: readonly string[];
  named?: Readonly<Record<string, unknown>>;
}

const MARKET_TEXT = /^[A-Za-z0-9][A-Za-z0-9:/._@-]{0,63}$/;
const MAX_RAW = 200;

/** A user's text shown back to them: one line, bounded, no markup characters. */
export function quoteInput(text: string, max = 40): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this strips
  const flat = text.replace(/[\u0000-\u001f\u007f`*_~<>|]/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

function optionSchema(def: OptionDefinition): z.ZodType<unknown> {
  const text = z
    .union([z.string(), z.number(), z.boolean()], {
      error: (issue) =>
        issue.input === undefined ? `${def.name}: required` : `${def.name}: expected text or a number`,
    })
    .transform((v) => String(v).trim())
    .refine((v) => v.length <= MAX_RAW, { message: `${def.name}: too long` });
  const bounds = (lo?: number, hi?: number) =>
    lo !== undefined && hi !== undefined ? ` from ${lo} to ${hi}` : lo !== undefined ? ` of at least ${lo}` : '';
  switch (def.kind) {
    case 'market':
      return text.refine((v) => MARKET_TEXT.test(v), {
        error: (issue) =>
          `${def.name}: "${quoteInput(String(issue.input))}" is not a market name ` +
          '(letters, digits and - / : such as btc-usd or kraken:eth-eur)',
      });
    case 'choice':
      return text.transform((v, ctx) => {
        const parsed = def.parse ? def.parse(v) : def.choices?.find((c) => c.toLowerCase() === v.toLowerCase());
        // A parser backed by a plain object answers `__proto__` with Object.prototype: only a
        // string gets through. (A custom parser may accept more than the listed choices.)
        const found = typeof parsed === 'string' ? parsed : undefined;
        if (found === undefined) {
          ctx.addIssue({
            code: 'custom',
            message: `${def.name}: "${quoteInput(v)}" is not one of ${(def.choices ?? []).join(', ')}`,
          });
          return z.NEVER;
        }
        return found;
      });
    case 'number':
    case 'integer':
      return text.transform((v, ctx) => {
        const n = Number(v.replace(/x$/i, ''));
        const ok =
          v !== '' &&
          Number.isFinite(n) &&
          (def.kind === 'number' || Number.isInteger(n)) &&
          (def.min === undefined || n >= def.min) &&
          (def.max === undefined || n <= def.max);
        if (!ok) {
          ctx.addIssue({
            code: 'custom',
            message:
              `${def.name}: expected ${def.kind === 'integer' ? 'a whole number' : 'a number'}` +
              `${bounds(def.min, def.max)}, got "${quoteInput(v)}"`,
          });
          return z.NEVER;
        }
        return n;
      });
    case 'duration':
      return text.transform((v, ctx) => {
        const ms = parseDuration(v);
        const ok =
          ms !== undefined && (def.min === undefined || ms >= def.min) && (def.max === undefined || ms <= def.max);
        if (!ok) {
          const range =
            def.min !== undefined && def.max !== undefined
              ? ` from ${formatDuration(def.min)} to ${formatDuration(def.max)}`
              : '';
          ctx.addIssue({
            code: 'custom',
            message: `${def.name}: expected a duration such as 30m, 2h or 1d${range}, got "${quoteInput(v)}"`,
          });
          return z.NEVER;
        }
        return ms;
      });
  }
}

/** `900000` -> `15m`, `5400000` -> `1h 30m`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1_000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.slice(0, 2).join(' ');
}

/** `/metric <market> [metric] [window]` with choices spelled out below. */
export function usageOf(def: AnyCommand): string {
  const opts = (def.options as readonly OptionDefinition[]).map((o) => (o.required ? `<${o.name}>` : `[${o.name}]`));
  return [`/${def.name}`, ...opts].join(' ');
}

/** Slack's usage text (and the console's): syntax, each option, an example. */
export function usageText(def: AnyCommand): string {
  const lines = [`Usage: ${usageOf(def)}`];
  for (const o of def.options as readonly OptionDefinition[]) {
    const choices = o.choices?.length ? ` (${o.choices.join(', ')})` : '';
    lines.push(`  ${o.name}: ${o.description}${choices}`);
  }
  if (def.examples[0]) lines.push(`Example: /${def.examples[0]}`);
  return lines.join('\n');
}

interface Compiled {
  def: AnyCommand;
  schema: z.ZodType<Record<string, unknown>>;
}

export interface RegistryOptions {
  rateLimitPerMinute: number;
  now?: () => number;
}

export type Outcome = 'ok' | 'user_error' | 'error' | 'rate_limited';

/** Commands and actions by name, and the one path every invocation takes. */
export class CommandRegistry {
  private readonly commands = new Map<string, Compiled>();
  private readonly actions = new Map<string, ActionDefinition>();
  private readonly recent = new Map<string, number[]>();
  private readonly now: () => number;

  constructor(
    commands: readonly AnyCommand[],
    actions: readonly ActionDefinition[],
    private readonly options: RegistryOptions,
  ) {
    this.now = options.now ?? Date.now;
    for (const def of commands) {
      if (!/^[a-z][a-z0-9-]{0,31}$/.test(def.name)) throw new Error(`bad command name: ${def.name}`);
      if (this.commands.has(def.name)) throw new Error(`command defined twice: ${def.name}`);
      const shape: Record<string, z.ZodType<unknown>> = {};
      let optionalSeen = false;
      for (const o of def.options as readonly OptionDefinition[]) {
        // Positional parsing fills options in order, so a required one may not follow an optional one.
        if (o.required && optionalSeen)
          throw new Error(`/${def.name}: required option ${o.name} after an optional one`);
        if (!o.required) optionalSeen = true;
        shape[o.name] = o.required ? optionSchema(o) : optionSchema(o).optional();
      }
      const schema = z.strictObject(shape, {
        error: (issue) =>
          issue.code === 'unrecognized_keys'
            ? `unknown option ${issue.keys.map((k) => `"${quoteInput(k, 20)}"`).join(', ')}`
            : undefined,
      });
      this.commands.set(def.name, { def, schema });
    }
    for (const a of actions) {
      if (this.actions.has(a.action)) throw new Error(`action defined twice: ${a.action}`);
      this.actions.set(a.action, a);
    }
  }

  list(): AnyCommand[] {
    return [...this.commands.values()].map((c) => c.def);
  }

  get(name: string): AnyCommand | undefined {
    return this.commands.get(name)?.def;
  }

  hasAction(action: string): boolean {
    return this.actions.has(action);
  }

  /** Splits `/metric btc-usd window=7d` into a command name and raw options (console, Slack text). */
  static parseLine(line: string): { name: string; raw: RawOptions } | undefined {
    const words = line.trim().split(/\s+/).filter(Boolean);
    const first = words.shift();
    if (!first) return undefined;
    return { name: first.replace(/^\//, '').toLowerCase(), raw: CommandRegistry.parseWords(words) };
  }

  /** `btc-usd volume factor=5` -> positional [btc-usd, volume], named {factor: 5}. */
  static parseWords(words: readonly string[]): RawOptions {
    const positional: string[] = [];
    const named: Record<string, unknown> = {};
    for (const word of words) {
      const eq = /^([A-Za-z][A-Za-z0-9]{0,31})=(.*)$/.exec(word);
      if (eq) named[eq[1]!.toLowerCase()] = eq[2]!;
      else positional.push(word);
    }
    return { positional, named };
  }

  /** Validates raw options against a command's definitions; throws UserError with every problem. */
  validate(def: AnyCommand, raw: RawOptions): Record<string, unknown> {
    const compiled = this.commands.get(def.name)!;
    const input: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    const defs = def.options as readonly OptionDefinition[];
    const named = raw.named ?? {};
    for (const key of Object.keys(named)) {
      const value = named[key];
      if (value === undefined || value === null || value === '') continue;
      input[key] = value;
    }
    // `digest off` reads as digest=off, and a flag option's word is taken wherever it stands.
    const positional: string[] = [];
    const words = raw.positional ?? [];
    for (let i = 0; i < words.length; i++) {
      const word = words[i]!;
      const named = defs.find((o) => o.name === word.toLowerCase() && !(o.name in input));
      if (named && i + 1 < words.length && named.kind !== 'market') {
        input[named.name] = words[++i];
        continue;
      }
      const flag = defs.find((o) => o.flag && !(o.name in input) && o.parse?.(word) !== undefined);
      if (flag) input[flag.name] = word;
      else positional.push(word);
    }
    const free = defs.filter((o) => !(o.name in input));
    if (positional.length > free.length) {
      const extra = positional.slice(free.length).map((w) => `"${quoteInput(w, 20)}"`);
      throw new UserError(`Too many options for /${def.name}: ${extra.join(' ')} not understood.`, usageText(def));
    }
    positional.forEach((word, i) => {
      input[free[i]!.name] = word;
    });
    // Plain-object copy: a key such as __proto__ arriving from a platform must stay a plain key.
    const result = compiled.schema.safeParse({ ...input });
    if (!result.success) {
      const problems = result.error.issues.map((i) => i.message);
      throw new UserError(`/${def.name}: ${[...new Set(problems)].join('; ')}.`, usageText(def));
    }
    return result.data;
  }

  /** Runs a command by name. Never throws: every failure becomes a reply. */
  async run(name: string, raw: RawOptions, ctx: CommandContext): Promise<Reply> {
    const started = process.hrtime.bigint();
    const key = typeof name === 'string' && this.commands.has(name) ? name : 'unknown';
    const { reply, outcome } = await this.guard(ctx, { cmd: key }, async () => {
      const compiled = this.commands.get(name);
      if (!compiled) {
        const known = this.list().map((c) => `/${c.name}`);
        throw new UserError(
          `Unknown command "/${quoteInput(String(name), 20)}".`,
          `Commands: ${known.join(', ')}. Try /help.`,
        );
      }
      const def = compiled.def;
      this.checkTenant(ctx);
      this.checkRate(ctx);
      try {
        const options = this.validate(def, raw);
        const changes = Boolean(def.permission) && (def.needsPermission?.(options) ?? true);
        if (changes) this.checkPermission(def.permission, ctx);
        const reply = await def.run(ctx, options);
        if (changes) this.logChange(ctx, { cmd: def.name, args: raw }, reply);
        return def.ephemeral ? { ...reply, ephemeral: true } : reply;
      } catch (err) {
        if (isUserError(err) && !err.hint && err.status !== 429) {
          throw new UserError(err.message, usageText(def), err.status);
        }
        throw err;
      }
    });
    commandLatency.observe(
      { command: key, platform: ctx.platform, outcome },
      Number(process.hrtime.bigint() - started) / 1e9,
    );
    return reply;
  }

  /** Routes a button click. Never throws. */
  async runAction(action: string, value: string, ctx: CommandContext): Promise<Reply> {
    const started = process.hrtime.bigint();
    const def = this.actions.get(action);
    const label = def ? `action:${action}` : 'action:unknown';
    const { reply, outcome } = await this.guard(ctx, { action: label }, async () => {
      if (!def)
        throw new UserError('That button is no longer supported.', 'Run the command again for a fresh message.');
      this.checkTenant(ctx);
      this.checkRate(ctx);
      this.checkPermission(def.permission, ctx);
      if (typeof value !== 'string' || value.length > 500) throw new UserError('That button carries no usable value.');
      const reply = await def.run(ctx, value);
      if (def.permission) this.logChange(ctx, { action, value }, reply);
      return reply;
    });
    commandLatency.observe(
      { command: label, platform: ctx.platform, outcome },
      Number(process.hrtime.bigint() - started) / 1e9,
    );
    return reply;
  }

  private async guard(
    ctx: CommandContext,
    what: Record<string, string>,
    body: () => Promise<Reply>,
  ): Promise<{ reply: Reply; outcome: Outcome }> {
    const logger = () => log('chat', { ...what, platform: ctx.platform, channel: ctx.channel, user: ctx.user });
    try {
      const reply = await body();
      logger().debug({ outcome: 'ok' }, 'command answered');
      return { reply, outcome: 'ok' };
    } catch (err) {
      if (isUserError(err)) {
        logger().debug({ outcome: 'user_error', reason: err.message }, 'command refused');
        return {
          reply: { title: err.message, text: err.hint, ephemeral: true, tone: 'error' },
          outcome: err.status === 429 ? 'rate_limited' : 'user_error',
        };
      }
      const ref = errorReference();
      logger().error({ err, ref }, 'command failed');
      return {
        reply: { title: apology(ref), ephemeral: true, tone: 'error', footer: `reference ${ref}` },
        outcome: 'error',
      };
    }
  }

  /** Every change of alerting state (track, untrack, mute, snooze) is logged with who made it. */
  private logChange(ctx: CommandContext, what: Record<string, unknown>, reply: Reply): void {
    log('alerting', { platform: ctx.platform, channel: ctx.channel }).info(
      { ...what, user: ctx.user, userName: ctx.userName, result: reply.title },
      'alerting changed',
    );
  }

  private checkTenant(ctx: CommandContext): void {
    if (ctx.tenantAllowed === false) {
      const where = ctx.platform === 'discord' ? 'server' : 'workspace';
      throw new UserError(
        `This bot is not enabled for this ${where}.`,
        `Its operator answers only the ${where}s on its allow-list; ask them to add this one.`,
        403,
      );
    }
  }

  private checkPermission(permission: 'manageChannel' | undefined, ctx: CommandContext): void {
    if (permission === 'manageChannel' && !ctx.mayManageChannel) {
      const how =
        ctx.platform === 'discord'
          ? 'On Discord this needs the Manage Channels permission.'
          : ctx.platform === 'slack'
            ? 'On this Slack workspace only its admins and owners, or the users on the bot’s allow-list, may change alerting.'
            : '';
      throw new UserError('You may not change what this channel tracks.', how || undefined, 403);
    }
  }

  /** Sliding one-minute window per user; rejected attempts do not extend the wait. */
  private checkRate(ctx: CommandContext): void {
    const now = this.now();
    const since = now - 60_000;
    const times = (this.recent.get(ctx.user) ?? []).filter((t) => t > since);
    if (times.length >= this.options.rateLimitPerMinute) {
      this.recent.set(ctx.user, times);
      const wait = Math.max(1, Math.ceil((times[0]! + 60_000 - now) / 1_000));
      throw new UserError(`You are sending commands too fast. Try again in ${wait}s.`, undefined, 429);
    }
    times.push(now);
    this.recent.set(ctx.user, times);
    if (this.recent.size > 10_000) {
      for (const [user, list] of this.recent) if (list.every((t) => t <= since)) this.recent.delete(user);
    }
  }
}

/** Builds the registry from the definitions in commands/index.ts with the configured rate limit. */
export async function loadRegistry(config: Config, options: Partial<RegistryOptions> = {}): Promise<CommandRegistry> {
  const index = await import('../../commands/index.js');
  return new CommandRegistry(index.commands, index.actions, {
    rateLimitPerMinute: config.commands.rateLimitPerMinute,
    ...options,
  });
}
