/** Metrics and health: prom-client series on a private registry, /metrics /healthz /readyz. */
export { createAgentMetrics, eventLoopCpuWaitSeconds, METRIC_NAMES, STATE_NUMBERS, type AgentMetrics, type AgentMetricsOptions, type NotificationDirection, type SeenNotification } from './metrics.js';
export { Heartbeat, readiness, type HealthAnswer, type ReadyAnswer } from './health.js';
export { startMetricsServer, parseListen, MetricsListenError, type MetricsEndpoints, type MetricsServer } from './server.js';
export type * from './types.js';
