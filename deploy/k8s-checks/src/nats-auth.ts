import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BusConsumers,
  type BusUser,
  renderNatsAuthorization,
  SERVICE_BUS_ACCESS,
  type ServiceConsumers,
} from '@instantpost/bus';
import type { EventSubject } from '@instantpost/events';
import { consumerDeclarations, REPO_ROOT } from './code.ts';

/** The nats-server users file Kubernetes ships (ConfigMap `nats-auth`, k8s/nats). */
export const NATS_AUTH_FILE = join(REPO_ROOT, 'k8s/nats/auth.conf');

/** Every service's durable consumers, read from its `defineConsumer` calls (the one place they are written). */
export function serviceConsumers(repo = REPO_ROOT): ServiceConsumers {
  const out = {} as Record<BusUser, BusConsumers>;
  for (const service of Object.keys(SERVICE_BUS_ACCESS) as BusUser[]) {
    out[service] = Object.fromEntries(
      consumerDeclarations(service, repo).map((c) => [c.name, c.subjects as EventSubject[]]),
    );
  }
  return out;
}

/** Whether the shipped file is exactly the rendering of libs/bus's table and the services' consumers. */
export function natsAuthIsCurrent(file = NATS_AUTH_FILE): boolean {
  return readFileSync(file, 'utf8') === renderNatsAuthorization({ consumers: serviceConsumers() });
}

/** Writes the rendering (`npm run nats:auth`). */
export function writeNatsAuth(file = NATS_AUTH_FILE): void {
  writeFileSync(file, renderNatsAuthorization({ consumers: serviceConsumers() }));
}
