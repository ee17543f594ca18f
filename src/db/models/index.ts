export { Sample, type SampleDoc } from './sample.model.js';
export { Market, type MarketDoc } from './market.model.js';
export {
  Subscription,
  type SubscriptionDoc,
  RULE_KINDS,
  type RuleKind,
  REPLACED_SUBSCRIPTION_INDEXES,
} from './subscription.model.js';
export { Counter, type CounterDoc } from './counter.model.js';
export { Channel, type ChannelDoc } from './channel.model.js';
export { Alert, type AlertDoc, ALERT_STATUSES } from './alert.model.js';
export { CollectorRun, type CollectorRunDoc, RUN_STATUSES } from './collector-run.model.js';
export { Lease, type LeaseDoc } from './lease.model.js';
export { SpikeBaseline, type SpikeBaselineDoc } from './spike-baseline.model.js';
export { CollectorState, type CollectorStateDoc } from './collector-state.model.js';
export { MarketStat, type MarketStatDoc } from './market-stat.model.js';
export { SampleBlock, type SampleBlockDoc } from './sample-block.model.js';
export { TickFrame, type TickFrameDoc, FrameList, type FrameListDoc } from './tick-frame.model.js';
