export {
  type CodeFacts,
  type EnvVarUse,
  envVarsOf,
  healthRoutes,
  REPO_ROOT,
  readCodeFacts,
  requiredVars,
  servicePorts,
} from './code.ts';
export {
  checkDockerfile,
  copyBuildContext,
  type Dockerfile,
  parseDockerfile,
  readDockerfile,
} from './docker.ts';
export { checkManifests, type ExternalConfig, type ManifestCheckOptions } from './manifests.ts';
export { documentedConfig, kubectl, parseManifests, renderOverlay } from './render.ts';
export { checkRouting } from './routing.ts';
export { validateSchemas } from './schema.ts';
export { checkTiltfile, parseTiltfile, readTiltfile } from './tilt.ts';
export { type Finding, formatFindings, type K8sObject } from './types.ts';
