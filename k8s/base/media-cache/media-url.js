// Verifies rendition URLs signed by libs/media-urls, inside nginx (njs 0.7+), with no service round trip.
// Loaded by the local gateway (nginx.conf.template) and, as a copy in a ConfigMap, by the Kubernetes media
// cache (k8s/base/media-cache.yaml; deploy/k8s-checks keeps the two identical).
//
// A URL is <base>/<mediaId>/<name>.<jpg|webp>?e=<expires, Unix seconds>&s=<signature>, where the signature
// is base64url without padding of HMAC-SHA256(MEDIA_URL_SIGNING_KEY, "<mediaId>/<name>.<ext>\n<expires>").
// The key comes from the environment (`env MEDIA_URL_SIGNING_KEY;` in the main context), never from a file.
// biome-ignore lint/style/useNodejsImportProtocol: njs, not Node: its module is plain 'crypto'
import crypto from 'crypto';

const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;
const EXPIRES = /^[0-9]{1,12}$/;

function sameText(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

// js_set $media_url_check media_url.check: "ok", or the reason the URL is refused. Reads the location's
// $media_path capture and the raw (undecoded) query arguments e and s.
function check(r) {
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: nginx's environment (`env` directive), not a turbo task
  const key = process.env.MEDIA_URL_SIGNING_KEY;
  if (!key) return 'no-key';
  const path = r.variables.media_path;
  const e = r.variables.arg_e;
  const s = r.variables.arg_s;
  if (!path) return 'not-media';
  if (!e || !s) return 'unsigned';
  if (!EXPIRES.test(e) || !SIGNATURE.test(s)) return 'malformed';
  if (Number(e) * 1000 <= Date.now()) return 'expired';
  const expected = crypto.createHmac('sha256', key).update(`${path}\n${e}`).digest('base64url');
  return sameText(expected, s) ? 'ok' : 'bad-signature';
}

export default { check };
