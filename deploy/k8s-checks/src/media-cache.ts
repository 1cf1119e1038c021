/**
 * The media cache verifies signed rendition URLs exactly as the local gateway does: the same njs script
 * (deploy/nginx/media-url.js, copied into its ConfigMap), the module loaded, the key's variable passed to
 * the workers, and the key from the same Secret entry the signing services (metadata, feed) read.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './code.ts';
import { findByStem } from './rollout.ts';
import type { Finding, K8sObject } from './types.ts';

const KEY_VAR = 'MEDIA_URL_SIGNING_KEY';
const SCRIPT = 'media-url.js';
/** The services that hand out rendition URLs (they read KEY_VAR through libs/media-urls). */
const SIGNERS = ['metadata', 'feed'];

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML
type Json = any;

function containersOf(objects: readonly K8sObject[], name: string): Json[] {
  const workload = objects.find((o) => o.kind === 'Deployment' && o.metadata?.name === name);
  return workload?.spec?.template?.spec?.containers ?? [];
}

/** `secret/key` the container's KEY_VAR comes from, or a description of what it is instead. */
function keySource(container: Json): string {
  const env = (container?.env ?? []).find((e: Json) => e.name === KEY_VAR);
  const ref = env?.valueFrom?.secretKeyRef;
  if (ref?.name && ref?.key) return `${ref.name}/${ref.key}`;
  return env ? 'not from a Secret' : 'unset';
}

export function checkMediaCache(objects: readonly K8sObject[], repo = REPO_ROOT): Finding[] {
  const findings: Finding[] = [];
  const add = (check: Finding['check'], object: string, message: string) =>
    findings.push({ check, object, message });
  const config = findByStem(objects, 'ConfigMap', 'media-cache');
  const data = config?.data ?? {};
  const script = readFileSync(join(repo, 'deploy/nginx', SCRIPT), 'utf8');
  if (data[SCRIPT] !== script)
    add('security', 'ConfigMap/media-cache', `${SCRIPT} differs from deploy/nginx/${SCRIPT}: copy it again`);
  const main = data['nginx.conf'] ?? '';
  if (!/^\s*load_module\s+\S*ngx_http_js_module\.so;/m.test(main))
    add('security', 'ConfigMap/media-cache', 'nginx.conf does not load the njs module');
  if (!new RegExp(`^\\s*env\\s+${KEY_VAR};`, 'm').test(main))
    add('security', 'ConfigMap/media-cache', `nginx.conf does not pass ${KEY_VAR} to the workers (env)`);
  const site = data['media.conf.template'] ?? '';
  for (const [pattern, what] of [
    [/js_import\s+media_url\s+from\s+media-url\.js;/, `js_import of ${SCRIPT}`],
    [/js_set\s+\$media_url_check\s+media_url\.check;/, 'js_set $media_url_check'],
    [
      /if \(\$media_url_check != "ok"\) \{\s*return 403;\s*\}[^@]*proxy_pass /,
      'the signature check in the media location (before its proxy_pass)',
    ],
    [/proxy_cache_key \$uri;/, 'a cache key without the signature ($uri)'],
    [/proxy_cache_revalidate on;/, 'revalidation with S3 (a deleted post must stop being served)'],
  ] as const) {
    if (!pattern.test(site)) add('security', 'ConfigMap/media-cache', `media.conf.template lacks ${what}`);
  }

  const cache = containersOf(objects, 'media-cache')[0];
  const mounts: Json[] = cache?.volumeMounts ?? [];
  if (!mounts.some((m) => m.mountPath === '/etc/nginx/nginx.conf'))
    add('security', 'Deployment/media-cache', 'nginx.conf of the ConfigMap is not mounted');
  if (!mounts.some((m) => m.mountPath === '/etc/nginx/njs'))
    add('security', 'Deployment/media-cache', `${SCRIPT} is not mounted at /etc/nginx/njs`);
  const verifier = keySource(cache);
  if (!verifier.includes('/')) add('env', 'Deployment/media-cache', `${KEY_VAR} is ${verifier}`);
  for (const service of SIGNERS) {
    const signer = keySource(containersOf(objects, service)[0]);
    if (signer !== verifier)
      add(
        'env',
        `Deployment/${service}`,
        `${KEY_VAR} is ${signer}, the media cache verifies with ${verifier}`,
      );
  }
  return findings;
}
