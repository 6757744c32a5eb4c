import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * prom-client's default metrics that are gauges named with a counter's `_total` suffix: promtool
 * check metrics (and every Prometheus linter) rejects them. The handle and request counts stay
 * without them (nodejs_active_handles etc. carry them by type).
 */
export const GAUGES_NAMED_TOTAL = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/**
 * prom-client's event loop delay histogram samples on a timer of this period (its default, 10 ms,
 * wakes the idle daemon 100 times a second: 103 → 9 wakeups/s with 1000). The
 * nodejs_eventloop_lag_* series then reflect delays seen at a 1 s resolution.
 */
const EVENT_LOOP_MONITOR_MS = 1000;

/** prom-client's process and Node.js metrics, less the misnamed gauges. */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_MONITOR_MS });
  for (const name of GAUGES_NAMED_TOTAL) registry.removeSingleMetric(name);
}
