import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderNatsAuthorization } from '@instantpost/bus';
import { REPO_ROOT } from './code.ts';

/** The nats-server users file Kubernetes ships (ConfigMap `nats-auth`, k8s/nats). */
export const NATS_AUTH_FILE = join(REPO_ROOT, 'k8s/nats/auth.conf');

/** Whether the shipped file is exactly the rendering of libs/bus's access table. */
export function natsAuthIsCurrent(file = NATS_AUTH_FILE): boolean {
  return readFileSync(file, 'utf8') === renderNatsAuthorization();
}

/** Writes the rendering (`npm run nats:auth`). */
export function writeNatsAuth(file = NATS_AUTH_FILE): void {
  writeFileSync(file, renderNatsAuthorization());
}
