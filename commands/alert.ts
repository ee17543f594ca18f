/**
 * /alert <market> above|below <price> | move [up|down|either] <percent> <window> [dm|webhook:<name>]:
 * a price level (fires once when crossed, re-armed past a margin) or a percent move over a window.
 * Semantics: docs/alerts.md. `/track` keeps the spike rules; both land in one list (/tracking).
 */
import { conditionText } from '../src/alerts/reply.js';
import { reached, rearmPrice } from '../src/alerts/rules/level.js';
import { addAlertRule, resolveTarget, type RuleParams } from '../src/alerts/subscriptions.js';
import { num } from '../src/chat/format.js';
import { defineCommand, formatDuration, quoteInput, type CommandContext } from '../src/chat/registry.js';
import type { Reply } from '../src/chat/reply.js';
import { UserError } from '../src/errors.js';
import { resolveMarket } from '../src/market/catalog.js';
import { latestPrice } from '../src/market/queries.js';
import { marketOption, toOption } from './options.js';

const DAY = 86_400_000;
const MAX_PERCENT = 1_000;

/** `100000`, `100,000`, `2500.5`, `5%`: the number, and whether it carried a percent sign. */
function readNumber(text: string): { value: number; percent: boolean } | undefined {
  const match = /^([+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+)(%?)$/.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]!.replace(/,/g, ''));
  return Number.isFinite(value) ? { value, percent: match[2] === '%' } : undefined;
}

const DIRECTIONS = ['up', 'down', 'either'] as const;
type Direction = (typeof DIRECTIONS)[number];
const parseDirection = (text: string): Direction | undefined => DIRECTIONS.find((d) => d === text.trim().toLowerCase());

interface AlertOptions {
  condition: 'above' | 'below' | 'move';
  value?: string;
  window?: number;
  direction?: Direction;
}

/** The rule the words describe, or a UserError saying what is wrong and what would be right. */
export function parseRule(market: string, o: AlertOptions, intervalMs: number): RuleParams {
  if (o.condition !== 'move') {
    const example = `/alert ${market} ${o.condition} 100000`;
    if (o.value === undefined) throw new UserError(`A price level needs a price, e.g. ${example}.`);
    if (o.window !== undefined || o.direction !== undefined)
      throw new UserError(`A price level takes a price only; a window and up/down belong to a move.`, example);
    const n = readNumber(o.value);
    if (!n || n.percent || !(n.value > 0))
      throw new UserError(`The level must be a price above zero, e.g. ${example}; got "${quoteInput(o.value)}".`);
    return { kind: 'level', direction: o.condition, level: n.value };
  }
  const example = `/alert ${market} move 5% 1h`;
  if (o.value === undefined) throw new UserError(`A move needs a percent and a window, e.g. ${example}.`);
  const n = readNumber(o.value);
  if (!n || !(n.value > 0) || n.value > MAX_PERCENT)
    throw new UserError(
      `The move must be a percent above 0 and at most ${MAX_PERCENT}, e.g. ${example}; got "${quoteInput(o.value)}".`,
      'For a fall, write move down 5% 1h.',
    );
  if (o.window === undefined) throw new UserError(`A move needs a window, e.g. ${example}.`);
  if (o.window < intervalMs)
    throw new UserError(
      `The window must be at least the collect interval (${formatDuration(intervalMs)}): prices are known only that often.`,
      example,
    );
  if (o.window > DAY) throw new UserError('The window may be at most 24h.', example);
  return { kind: 'move', direction: o.direction ?? 'either', percent: n.value, windowMs: o.window };
}

async function addAlert(ctx: CommandContext, marketText: string, o: AlertOptions, to?: string): Promise<Reply> {
  const now = ctx.now?.() ?? new Date();
  const resolved = await resolveMarket(marketText);
  const rule = parseRule(resolved.id, o, ctx.config.market.intervalMs);
  const target = await resolveTarget(ctx, to);
  const last = await latestPrice(resolved.id, now.getTime()).catch(() => undefined);
  const level = rule.kind === 'level' ? { ...rule, hysteresis: ctx.config.alerts.levelHysteresis } : undefined;
  const initial = level && last ? { armed: !reached(level, last.value), at: last.ts } : undefined;
  const { before } = await addAlertRule(
    { ...target, user: ctx.user, market: resolved.id, rule, initial },
    { maxPerChannel: ctx.config.alerts.maxPerChannel },
  );
  const condition = conditionText({ ...rule, market: resolved.id, metric: 'price' });
  const lines: string[] = [];
  if (resolved.note) lines.push(resolved.note);
  if (level) {
    const back = `${level.direction === 'above' ? 'below' : 'above'} ${num(rearmPrice(level))}`;
    if (initial && !initial.armed && !before)
      lines.push(
        `${resolved.id} is already ${level.direction} ${num(level.level)} (now ${num(last?.value)}): ` +
          `the alert fires once it has gone back ${back} and reaches ${num(level.level)} again.`,
      );
    else
      lines.push(
        `Fires once when the price reaches ${num(level.level)}, then again only after it has gone back ${back} ` +
          `(${num(ctx.config.alerts.levelHysteresis * 100)}% re-arm margin).` +
          (last ? ` Now ${num(last.value)}.` : ''),
      );
  } else if (rule.kind === 'move') {
    lines.push(
      `Each new price is compared with the price ${formatDuration(rule.windowMs)} earlier; while a move lasts, ` +
        `at most one alert every ${formatDuration(rule.windowMs)}.`,
    );
  }
  const untrack = `/untrack ${resolved.id} ${rule.kind}${to && to !== 'here' ? ` ${to}` : ''}`;
  if (!before)
    return {
      title: `Now alerting ${target.where}: ${resolved.id} ${condition}`,
      text: lines.join('\n'),
      tone: 'success',
      footer: `${untrack} to stop`,
    };
  const changes: string[] = [];
  if (before.disabled) changes.push('re-enabled (it had been switched off)');
  if (before.snoozedUntil && before.snoozedUntil.getTime() > now.getTime()) changes.push('snooze lifted');
  return {
    title: changes.length
      ? `Alert on ${resolved.id} ${condition}: ${changes.join('; ')}`
      : `Already alerting on ${resolved.id} ${condition} ${target.where}`,
    text: lines.join('\n'),
    tone: changes.length ? 'success' : 'info',
    footer: `${untrack} to stop`,
  };
}

export const alert = defineCommand({
  name: 'alert',
  description: 'Alert when a market’s price crosses a level or moves by a percent within a window',
  options: [
    marketOption,
    {
      name: 'condition',
      description: 'above or below a price level, or move by a percent',
      kind: 'choice',
      choices: ['above', 'below', 'move'],
      required: true,
    },
    {
      name: 'value',
      description: 'The price level (100000), or the move in percent (5%)',
      kind: 'choice',
      // Read by parseRule, which says what is wrong with it in the words of the rule.
      parse: (text: string) => text.trim() || undefined,
    },
    {
      name: 'window',
      description: 'For a move: the window it happens within, e.g. 15m or 1h (at most 24h)',
      kind: 'duration',
    },
    {
      name: 'direction',
      description: 'For a move: up, down or either (default)',
      kind: 'choice',
      choices: DIRECTIONS,
      // A flag's word is recognised by its parser, wherever it stands (`move up 3% 15m`).
      parse: parseDirection,
      flag: true,
    },
    toOption,
  ],
  examples: [
    'alert btc-usd above 100000',
    'alert eth-usd below 2500',
    'alert eth-usd move 5% 1h',
    'alert btc-usd move up 3% 15m',
    'alert sol-usd move down 10% 24h dm',
  ],
  permission: 'manageChannel',
  run: (ctx, o) =>
    addAlert(ctx, o.market, { condition: o.condition, value: o.value, window: o.window, direction: o.direction }, o.to),
});
