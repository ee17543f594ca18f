/** The collector: one tick of one source (tick.ts), with its steps in this folder. */
export {
  alignTick,
  blankTickResult,
  derivePerMinute,
  leaseName,
  leaseTtl,
  type RunContext,
  type TickOptions,
  type TickResult,
  type TickStatus,
} from './context.js';
export { collectTick, collectTickRows, type CollectedTick } from './tick.js';
