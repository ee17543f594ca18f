/**
 * Each model's collection for the driver's own calls (bulk writes, projections, updates that skip
 * mongoose's document construction), typed once with what is stored in it. Mongoose types
 * `Model.collection` as a collection of any document, which is how casts of `_id` to never crept in.
 * The pipeline's collections (frames, statistics, samples, the collector state) are typed with the
 * records it writes, since their `_id`s are strings and their numbers packed buffers.
 */
import type mongoose from 'mongoose';
import {
  Alert,
  type AlertDoc,
  Channel,
  type ChannelDoc,
  CollectorRun,
  Counter,
  type CounterDoc,
  type CollectorRunDoc,
  CollectorState,
  type CollectorStateDoc,
  FrameList,
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
  TickFrame,
  type SubscriptionDoc,
} from './models/index.js';

interface HasCollection {
  readonly db: mongoose.Connection;
  readonly collection: { readonly collectionName: string };
}

/** The model's own collection object (the connection keeps one per name), typed with `T`. */
function typedModel<T extends mongoose.mongo.Document>(model: HasCollection): mongoose.mongo.Collection<T> {
  return model.db.collection<T>(model.collection.collectionName);
}

export const collections = {
  alerts: () => typedModel<AlertDoc>(Alert),
  channels: () => typedModel<ChannelDoc>(Channel),
  collectorRuns: () => typedModel<CollectorRunDoc>(CollectorRun),
  counters: () => typedModel<CounterDoc>(Counter),
  collectorStates: () => typedModel<CollectorStateDoc>(CollectorState),
  leases: () => typedModel<LeaseDoc>(Lease),
  markets: () => typedModel<MarketDoc>(Market),
  marketStats: () => typedModel<MarketStatDoc>(MarketStat),
  samples: () => typedModel<SampleDoc>(Sample),
  sampleBlocks: () => typedModel<SampleBlockDoc>(SampleBlock),
  spikeBaselines: () => typedModel<SpikeBaselineDoc>(SpikeBaseline),
  subscriptions: () => typedModel<SubscriptionDoc>(Subscription),
} as const;

export interface FrameListRecord {
  _id: string;
  markets: string[];
  createdAt: Date;
  /** Last time a writer confirmed it in use (the prune keeps what is used). */
  usedAt?: Date | null;
}

export interface TickFrameRecord {
  _id: string;
  source: string;
  tick: Date;
  list: string;
  v: Uint8Array | mongoose.mongo.Binary;
}

export interface StatRecord {
  _id: string;
  kind?: 'index' | 'acc';
  source?: string;
  window?: string;
  metric?: string;
  list?: string;
  asOf?: Date;
  exactAt?: Uint8Array | mongoose.mongo.Binary;
  since?: Uint8Array | mongoose.mongo.Binary;
  a?: Uint8Array | mongoose.mongo.Binary;
  at?: Date;
}

export interface SampleRecord {
  _id: string;
  market: string;
  ts: Date;
  source: string;
  [field: string]: unknown;
}

export interface CollectorStateRecord {
  _id: string;
  tick: Date;
  markets?: string[];
  symbols?: Array<string | null>;
  cums?: Array<number | null>;
  catalogAt?: Date;
  stamp?: string;
  backfillPending?: boolean;
}

// The pipeline's collections, typed with the records it writes (string ids, packed buffers).
const typed = <T extends mongoose.mongo.Document>(c: unknown) => c as mongoose.mongo.Collection<T>;

export const frameLists = () => typed<FrameListRecord>(FrameList.collection);
export const tickFrames = () => typed<TickFrameRecord>(TickFrame.collection);
export const marketStats = () => typed<StatRecord>(MarketStat.collection);
export const samples = () => typed<SampleRecord>(Sample.collection);
export const collectorState = () => typed<CollectorStateRecord>(CollectorState.collection);
