export { findNginx, type Gateway, type GatewayOptions, renderNginxConfig, startGateway } from './nginx.ts';
export { freePort, waitForOk } from './ports.ts';
export { REPO_ROOT, ServiceProcess } from './service-process.ts';
export { SERVICES, type Stack, type StackOptions, setupStack, startStack } from './stack.ts';
