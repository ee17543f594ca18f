/**
 * What a stop signal means. The first one starts the orderly shutdown; a second one from a person
 * (Ctrl-C again) exits at once. Under a supervisor that signals only `npm`, npm and tsx each relay
 * the same SIGINT, so the bot sees two within about 60 ms: a repeat inside RELAY_WINDOW_MS is that
 * one stop, not a second request.
 */
export const RELAY_WINDOW_MS = 1_000;

export type SignalAction = 'shutdown' | 'ignore' | 'exit';

export function signalPolicy(now: () => number = Date.now): (signal: string) => SignalAction {
  let first: number | undefined;
  return () => {
    const t = now();
    if (first === undefined) {
      first = t;
      return 'shutdown';
    }
    return t - first < RELAY_WINDOW_MS ? 'ignore' : 'exit';
  };
}
