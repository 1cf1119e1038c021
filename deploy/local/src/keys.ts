import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The local Ed25519 key pair for access tokens, made once and kept under `dir`. PEM strings. */
export function localJwtKeys(dir: string): { publicKey: string; privateKey: string } {
  const privateFile = join(dir, 'jwt-ed25519.key.pem');
  const publicFile = join(dir, 'jwt-ed25519.pub.pem');
  if (!existsSync(privateFile) || !existsSync(publicFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pair = generateKeyPairSync('ed25519');
    writeFileSync(privateFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(publicFile, pair.publicKey.export({ type: 'spki', format: 'pem' }));
  }
  return { publicKey: readFileSync(publicFile, 'utf8'), privateKey: readFileSync(privateFile, 'utf8') };
}

/** The local key of rendition URLs (MEDIA_URL_SIGNING_KEY, shared by metadata, feed and the gateway), made once. */
export function localMediaUrlKey(dir: string): string {
  const file = join(dir, 'media-url-signing.key');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}
