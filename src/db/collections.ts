/**
 * The driver's collections behind the models, typed with the documents the pipeline writes to
 * them. The pipeline writes through the driver (no per-document mongoose casting at thousands of
 * rows a tick); these types are the one place that says what those documents hold.
 */
import type mongoose from 'mongoose';
import { CollectorState, FrameList, MarketStat, Sample, TickFrame } from './models/index.js';

export interface FrameListRecord {
  _id: string;
  markets: string[];
  createdAt: Date;
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

// mongoose types every model's collection with an ObjectId `_id`; these collections use strings.
const typed = <T extends mongoose.mongo.Document>(c: unknown) => c as mongoose.mongo.Collection<T>;

export const frameLists = () => typed<FrameListRecord>(FrameList.collection);
export const tickFrames = () => typed<TickFrameRecord>(TickFrame.collection);
export const marketStats = () => typed<StatRecord>(MarketStat.collection);
export const samples = () => typed<SampleRecord>(Sample.collection);
export const collectorState = () => typed<CollectorStateRecord>(CollectorState.collection);
