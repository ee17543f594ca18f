/**
 * /untrack <market> [metric] [spike|level|move]: stop alerts for a market in this channel (every
 * metric and kind when none is given). Works for markets that left the catalog too, by the id shown
 * in /tracking. One rule among several goes with the Untrack button under its alert.
 */
import { resolveTarget, untrackSubscriptions } from '../src/alerts/subscriptions.js';
import { defineCommand } from '../src/chat/registry.js';
import { RULE_KINDS, type RuleKind } from '../src/db/models/index.js';
import { marketOption, metricOption, toOption } from './options.js';

/** `level`, `levels`, `move`, `moves`, `spike`, `spikes`. */
const parseKind = (text: string): RuleKind | undefined =>
  RULE_KINDS.find((k) => k === text.trim().toLowerCase().replace(/s$/, ''));

export const untrack = defineCommand({
  name: 'untrack',
  description: 'Stop alerts for a market in this channel (every kind, or one)',
  options: [
    marketOption,
    metricOption('Only this metric (default: every metric of the market)'),
    {
      name: 'kind',
      description: 'Only this kind of rule: spike (/track), level or move (/alert)',
      kind: 'choice',
      choices: RULE_KINDS,
      parse: parseKind,
      flag: true,
    },
    toOption,
  ],
  examples: ['untrack btc-usd', 'untrack eth-eur volume', 'untrack btc-usd level', 'untrack btc-usd dm'],
  permission: 'manageChannel',
  async run(ctx, options) {
    const target = await resolveTarget(ctx, options.to, { open: false });
    const { market, removed } = await untrackSubscriptions(target, options.market, options.metric, options.kind);
    const what = [options.metric, options.kind && `${options.kind} alerts`].filter(Boolean).join(' ');
    return {
      title: `Stopped tracking ${market}${what ? ` ${what}` : ''} ${target.where}`,
      text: removed > 1 ? `${removed} subscriptions removed.` : undefined,
      tone: 'success',
    };
  },
});
