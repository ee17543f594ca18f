/**
 * Prometheus metrics, one registry for the process. Served at GET /metrics. Worker threads keep
 * their own registries, so jobs report their figures to the main thread (scheduler relays them)
 * instead of counting here.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
// The event-loop lag histogram samples with a timer; prom-client's default 10 ms wakes an idle bot
// 100 times a second. Every 500 ms still catches any block long enough to delay a chat acknowledgement.
collectDefaultMetrics({ register: registry, prefix: 'chatops_', eventLoopMonitoringPrecision: 500 });

export const ticksTotal = new Counter({
  name: 'chatops_ticks_total',
  help: 'Collector ticks by source and outcome',
  labelNames: ['source', 'status'] as const,
  registers: [registry],
});
export const tickDuration = new Histogram({
  name: 'chatops_tick_duration_seconds',
  help: 'Collector tick duration',
  labelNames: ['source'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});
export const samplesWritten = new Counter({
  name: 'chatops_samples_written_total',
  help: 'Samples inserted',
  labelNames: ['source'] as const,
  registers: [registry],
});
export const sourceErrors = new Counter({
  name: 'chatops_source_errors_total',
  help: 'Source request failures by kind (timeout, http_5xx, rate_limited, malformed, ...)',
  labelNames: ['source', 'kind'] as const,
  registers: [registry],
});
export const alertsTotal = new Counter({
  name: 'chatops_alerts_total',
  help: 'Alerts by stage: detected, sent, failed',
  labelNames: ['stage', 'platform'] as const,
  registers: [registry],
});
export const commandLatency = new Histogram({
  name: 'chatops_command_duration_seconds',
  help: 'Chat command latency by command and platform',
  labelNames: ['command', 'platform', 'outcome'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3],
  registers: [registry],
});
export const httpLatency = new Histogram({
  name: 'chatops_http_request_duration_seconds',
  help: 'REST API latency by route and status',
  labelNames: ['route', 'status'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  registers: [registry],
});

/** Counts alerts a detection run wrote, from the figures its worker reports. */
export function countDetectedAlerts(alertsByPlatform: Record<string, number>): void {
  for (const [platform, n] of Object.entries(alertsByPlatform))
    if (n > 0) alertsTotal.inc({ stage: 'detected', platform }, n);
}
