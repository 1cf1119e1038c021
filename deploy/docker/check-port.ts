/**
 * The image's PORT build argument must be the service's port in SERVICE_PORTS (libs/chassis/src/config.ts),
 * so EXPOSE and PORT cannot drift from the code. Plain Node 24 (type stripping), no dependencies.
 *
 *   node deploy/docker/check-port.ts <service> <port> <repo dir>
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function servicePort(repo: string, service: string): number | undefined {
  const source = readFileSync(join(repo, 'libs/chassis/src/config.ts'), 'utf8');
  const block = /SERVICE_PORTS\s*=\s*\{([^}]*)\}/.exec(source)?.[1] ?? '';
  const escaped = service.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  const match = new RegExp(`(?:^|[\\s,{])'?${escaped}'?\\s*:\\s*(\\d+)`).exec(block);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

if (import.meta.main) {
  const [service, port, repo] = process.argv.slice(2);
  if (!service || !port || !repo) {
    process.stderr.write('usage: node check-port.ts <service> <port> <repo dir>\n');
    process.exit(2);
  }
  const actual = servicePort(repo, service);
  if (actual !== Number(port)) {
    process.stderr.write(
      `prune: PORT ${port} does not match SERVICE_PORTS['${service}'] = ${actual} in libs/chassis/src/config.ts\n`,
    );
    process.exit(1);
  }
}
