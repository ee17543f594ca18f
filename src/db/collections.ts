/**
 * Each model's collection for the driver's own calls (bulk writes, projections, updates that skip
 * mongoose's document construction), typed once with what is stored in it. Mongoose types
 * `Model.collection` as a collection of any document, which is how `_id: channel as never` crept in.
 */
import type mongoose from 'mongoose';
import {
  Alert,
  type AlertDoc,
  Channel,
  type ChannelDoc,
  CollectorRun,
  type CollectorRunDoc,
  CollectorState,
  type CollectorStateDoc,
  Lease,
  type LeaseDoc,
  Market,
  type MarketDoc,
  MarketStat,
  type MarketStatDoc,
  Sample,
  type SampleBlockDoc,
  SampleBlock,
  type SampleDoc,
  SpikeBaseline,
  type SpikeBaselineDoc,
  Subscription,
  type SubscriptionDoc,
} from './models/index.js';

interface HasCollection {
  readonly db: mongoose.Connection;
  readonly collection: { readonly collectionName: string };
}

/** The model's own collection object (the connection keeps one per name), typed with `T`. */
function typed<T extends mongoose.mongo.Document>(model: HasCollection): mongoose.mongo.Collection<T> {
  return model.db.collection<T>(model.collection.collectionName);
}

export const collections = {
  alerts: () => typed<AlertDoc>(Alert),
  channels: () => typed<ChannelDoc>(Channel),
  collectorRuns: () => typed<CollectorRunDoc>(CollectorRun),
  collectorStates: () => typed<CollectorStateDoc>(CollectorState),
  leases: () => typed<LeaseDoc>(Lease),
  markets: () => typed<MarketDoc>(Market),
  marketStats: () => typed<MarketStatDoc>(MarketStat),
  samples: () => typed<SampleDoc>(Sample),
  sampleBlocks: () => typed<SampleBlockDoc>(SampleBlock),
  spikeBaselines: () => typed<SpikeBaselineDoc>(SpikeBaseline),
  subscriptions: () => typed<SubscriptionDoc>(Subscription),
} as const;
