export {
  type CodeFacts,
  type ConsumerDeclaration,
  consumerDeclarations,
  type EnvVarUse,
  envVarsOf,
  healthRoutes,
  REPO_ROOT,
  readCodeFacts,
  requiredVars,
  servicePorts,
} from './code.ts';
export { dashboardJson, dashboards } from './dashboards.ts';
export {
  checkDependencies,
  type ImportUse,
  importsOf,
  packageOf,
  readWorkspaces,
  usesOf,
  type Workspace,
} from './dependencies.ts';
export {
  checkDockerfile,
  copyBuildContext,
  type Dockerfile,
  parseDockerfile,
  readDockerfile,
} from './docker.ts';
export { checkGatewayApi, httpRouteEntries, httpRouteRoute, ingressEntries } from './gateway-api.ts';
export { checkManifests, type ExternalConfig, type ManifestCheckOptions } from './manifests.ts';
export { checkMediaCache } from './media-cache.ts';
export {
  COMPONENT_DASHBOARDS_DIR,
  checkMonitoring,
  DASHBOARDS_DIR,
  dashboardExpressions,
  MONITORING_COMPONENT,
  metricNames,
  PROMETHEUS_RULE_FILE,
  prometheusRuleYaml,
  promtool,
  RULES_FILE,
  RULES_TEST_FILE,
  readDashboards,
  readRules,
  runPromtool,
  staleDashboards,
  staleMonitoringCopies,
  uncoveredAlerts,
  writeDashboards,
  writeMonitoringCopies,
} from './monitoring.ts';
export { NATS_AUTH_FILE, natsAuthIsCurrent, serviceConsumers, writeNatsAuth } from './nats-auth.ts';
export { checkNatsVersions, type NatsVersionUse, natsVersionsInUse } from './nats-version.ts';
export {
  documentedConfig,
  kubectl,
  parseManifests,
  renderEdited,
  renderOverlay,
  renderWithComponent,
} from './render.ts';
export {
  checkRollout,
  configReferences,
  findByStem,
  hashedStem,
  kustomizeHash,
  ROLLOUT_ANNOTATION,
} from './rollout.ts';
export { checkRouting } from './routing.ts';
export { validateSchemas } from './schema.ts';
export { checkTiltfile, parseTiltfile, readTiltfile } from './tilt.ts';
export { type Finding, formatFindings, type K8sObject } from './types.ts';
