export { Sample, type SampleDoc } from './sample.model.js';
export { Market, type MarketDoc } from './market.model.js';
export { Subscription, type SubscriptionDoc } from './subscription.model.js';
export { Channel, type ChannelDoc } from './channel.model.js';
export { Alert, type AlertDoc, ALERT_STATUSES } from './alert.model.js';
export { CollectorRun, type CollectorRunDoc, RUN_STATUSES } from './collector-run.model.js';
export { Lease, type LeaseDoc } from './lease.model.js';
export { SpikeBaseline, type SpikeBaselineDoc } from './spike-baseline.model.js';
export { CollectorState, type CollectorStateDoc } from './collector-state.model.js';
