/**
 * /untrack <market> [metric]: stop alerts for a market in this channel (every metric when none is
 * given). Works for markets that left the catalog too, by the id shown in /tracking.
 */
import { defineCommand } from '../src/chat/registry.js';
import { UserError } from '../src/errors.js';
import { Subscription } from '../src/db/models/index.js';
import { findMarket } from '../src/market/catalog.js';
import { normaliseInput } from '../src/market/market-id.js';
import { marketOption, metricOption } from './options.js';

export const untrack = defineCommand({
  name: 'untrack',
  description: 'Stop spike alerts for a market in this channel',
  options: [marketOption, metricOption('Only this metric (default: every metric of the market)')],
  examples: ['untrack btc-usd', 'untrack eth-eur volume'],
  permission: 'manageChannel',
  async run(ctx, options) {
    const found = await findMarket(options.market);
    const id = found?.id ?? normaliseInput(options.market);
    const filter: Record<string, string> = { channel: ctx.channel, market: id };
    if (options.metric) filter.metric = options.metric;
    const result = await Subscription.deleteMany(filter);
    if (result.deletedCount === 0) {
      const tracked = await Subscription.find({ channel: ctx.channel }, { market: 1, metric: 1 }).lean();
      const list = tracked.map((s) => `${s.market} ${s.metric}`);
      throw new UserError(
        `This channel does not track ${id}${options.metric ? ` ${options.metric}` : ''}.`,
        list.length
          ? `Tracked here: ${list.slice(0, 10).join(', ')}${list.length > 10 ? ', …' : ''}`
          : 'Nothing is tracked here; /track <market> starts.',
        404,
      );
    }
    return {
      title: `Stopped tracking ${id}${options.metric ? ` ${options.metric}` : ''} in this channel`,
      text: result.deletedCount > 1 ? `${result.deletedCount} subscriptions removed.` : undefined,
      tone: 'success',
    };
  },
});
