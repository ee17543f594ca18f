/**
 * Every chat command and button action, one line each. Adapters, /help and the Discord
 * registration script all read this list.
 */
import type { ActionDefinition, AnyCommand } from '../src/chat/registry.js';
import { alert } from './alert.js';
import { alertActions } from './alert-actions.js';
import { compare } from './compare.js';
import { help } from './help.js';
import { metric } from './metric.js';
import { mute } from './mute.js';
import { rank } from './rank.js';
import { track, trackAction } from './track.js';
import { tracking } from './tracking.js';
import { untrack } from './untrack.js';

export const commands: AnyCommand[] = [metric, rank, compare, track, alert, untrack, tracking, mute, help];

export const actions: ActionDefinition[] = [trackAction, ...alertActions];
