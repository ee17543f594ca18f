/**
 * /untrack <market> [metric]: stop alerts for a market in this channel (every metric when none is
 * given). Works for markets that left the catalog too, by the id shown in /tracking.
 */
import { resolveTarget, untrackSubscriptions } from '../src/alerts/subscriptions.js';
import { defineCommand } from '../src/chat/registry.js';
import { marketOption, metricOption, toOption } from './options.js';

export const untrack = defineCommand({
  name: 'untrack',
  description: 'Stop spike alerts for a market in this channel',
  options: [marketOption, metricOption('Only this metric (default: every metric of the market)'), toOption],
  examples: ['untrack btc-usd', 'untrack eth-eur volume', 'untrack btc-usd dm'],
  permission: 'manageChannel',
  async run(ctx, options) {
    const target = await resolveTarget(ctx, options.to, { open: false });
    const { market, removed } = await untrackSubscriptions(target, options.market, options.metric);
    return {
      title: `Stopped tracking ${market}${options.metric ? ` ${options.metric}` : ''} ${target.where}`,
      text: removed > 1 ? `${removed} subscriptions removed.` : undefined,
      tone: 'success',
    };
  },
});
