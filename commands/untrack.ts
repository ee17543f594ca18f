/**
 * /untrack <market> [metric]: stop alerts for a market in this channel (every metric when none is
 * given). Works for markets that left the catalog too, by the id shown in /tracking.
 */
import { untrackSubscriptions } from '../src/alerts/subscriptions.js';
import { defineCommand } from '../src/chat/registry.js';
import { marketOption, metricOption } from './options.js';

export const untrack = defineCommand({
  name: 'untrack',
  description: 'Stop spike alerts for a market in this channel',
  options: [marketOption, metricOption('Only this metric (default: every metric of the market)')],
  examples: ['untrack btc-usd', 'untrack eth-eur volume'],
  permission: 'manageChannel',
  async run(ctx, options) {
    const { market, removed } = await untrackSubscriptions({ channel: ctx.channel }, options.market, options.metric);
    return {
      title: `Stopped tracking ${market}${options.metric ? ` ${options.metric}` : ''} in this channel`,
      text: removed > 1 ? `${removed} subscriptions removed.` : undefined,
      tone: 'success',
    };
  },
});
