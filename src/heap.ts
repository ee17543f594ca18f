/**
 * V8 heap settings for the bot's process, applied by the entry point (and by the API benchmark's
 * server, which stands in for it). Why and the figures: docs/operations.md, "Memory".
 */
import { setFlagsFromString } from 'node:v8';

/** Old generation grows to 1.5x what survived, not up to 4x: RSS under API load 250-340 MB -> 190-210 MB. */
export const HEAP_GROWING_PERCENT = 50;

export function tuneHeap(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
