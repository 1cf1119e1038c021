export {
  CONNECTIONS_PER_CLIENT,
  findNginx,
  findNjsModule,
  type Gateway,
  type GatewayOptions,
  GatewayPortTaken,
  type GatewayTuning,
  MEDIA_CACHE_VALID_SECONDS,
  renderNginxConfig,
  STREAMS_PER_CLIENT,
  startGateway,
  UPSTREAM_KEEPALIVE,
  WORKER_PROCESSES,
} from './nginx.ts';
export { freePort, type ReservedPort, reservePort, waitForOk } from './ports.ts';
export {
  findPrometheus,
  PROMETHEUS_PORT,
  type PrometheusConfigOptions,
  type PrometheusOptions,
  RULES_FILE,
  type RunningPrometheus,
  renderPrometheusConfig,
  startPrometheus,
  targetsOf,
} from './prometheus.ts';
export {
  allButFirstCpu,
  type CpuPriority,
  haveChrt,
  haveTaskset,
  lowerPriority,
  nodeCommand,
  REPO_ROOT,
  type Runtime,
  runtimeArgs,
  ServiceProcess,
} from './service-process.ts';
export {
  DEFAULT_PRIORITY,
  mediaProcessingDefaults,
  SERVICES,
  type Stack,
  type StackOptions,
  setupStack,
  startStack,
} from './stack.ts';
export { ensureWebBuild, WEB_DIST, webSourcesHash } from './web.ts';
