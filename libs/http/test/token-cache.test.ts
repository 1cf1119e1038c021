import { generateKeyPairSync } from 'node:crypto';
import { createLogger } from '@instantpost/telemetry';
import test from 'ava';
import { createHttpApp, JwtError, JwtErrorCodes, signAccessToken, TokenVerifier } from '../src/index.ts';

// The verified-token cache must never let through a token that full verification would refuse: these
// tests cache a good token first and then present what must still fail.
const keys = generateKeyPairSync('ed25519');
const otherKeys = generateKeyPairSync('ed25519');
const logger = createLogger({ service: 'http-token-cache-test', level: 'silent' });
const alice = { sub: '1001', username: 'alice' };
const T0 = Date.UTC(2026, 0, 1);

function refusal(t: { throws: (fn: () => unknown, e: { instanceOf: typeof JwtError }) => unknown }) {
  return (fn: () => unknown) => t.throws(fn, { instanceOf: JwtError }) as JwtError;
}

test('a cached token is refused once its exp has passed, and the refusal is not cached', (t) => {
  const verifier = new TokenVerifier(keys.publicKey);
  const token = signAccessToken(keys.privateKey, alice, 60, T0);
  t.is(verifier.verify(token, T0).sub, '1001');
  t.is(verifier.verify(token, T0 + 59_000).username, 'alice'); // a hit
  t.is(verifier.size, 1);
  const err = refusal(t)(() => verifier.verify(token, T0 + 60_000));
  t.is(err.code, JwtErrorCodes.Expired);
  t.is(verifier.size, 0);
  t.is(refusal(t)(() => verifier.verify(token, T0 + 61_000)).code, JwtErrorCodes.Expired);
  t.is(verifier.size, 0);
});

test('a token signed by another key never passes, before or after a good token was cached', (t) => {
  const verifier = new TokenVerifier(keys.publicKey);
  const foreign = signAccessToken(otherKeys.privateKey, alice, 60, T0);
  t.is(refusal(t)(() => verifier.verify(foreign, T0)).code, JwtErrorCodes.BadSignature);

  const good = signAccessToken(keys.privateKey, alice, 60, T0);
  verifier.verify(good, T0);
  // Same claims, other key: a different string, verified in full.
  t.is(refusal(t)(() => verifier.verify(foreign, T0)).code, JwtErrorCodes.BadSignature);
  // The cached token's header and payload with the other key's signature.
  const [header, payload] = good.split('.');
  const spliced = `${header}.${payload}.${foreign.split('.')[2]}`;
  t.is(refusal(t)(() => verifier.verify(spliced, T0)).code, JwtErrorCodes.BadSignature);
  // The cached token's signature on another user's payload.
  const mallory = signAccessToken(otherKeys.privateKey, { sub: '666', username: 'mallory' }, 60, T0);
  const forged = `${header}.${mallory.split('.')[1]}.${good.split('.')[2]}`;
  t.is(refusal(t)(() => verifier.verify(forged, T0)).code, JwtErrorCodes.BadSignature);
  // Still refused the second time: failures are not remembered, and nothing but the good token was.
  t.is(refusal(t)(() => verifier.verify(foreign, T0)).code, JwtErrorCodes.BadSignature);
  t.is(verifier.size, 1);
});

test('the cache is bounded, and an evicted token is verified again rather than refused', (t) => {
  const verifier = new TokenVerifier(keys.publicKey, 2);
  const tokens = ['1', '2', '3'].map((sub) =>
    signAccessToken(keys.privateKey, { sub, username: sub }, 60, T0),
  );
  for (const token of tokens) verifier.verify(token, T0);
  t.is(verifier.size, 2);
  t.is(verifier.verify(tokens[0] as string, T0).sub, '1');
  t.is(verifier.size, 2);

  const off = new TokenVerifier(keys.publicKey, 0);
  t.is(off.verify(tokens[1] as string, T0).sub, '2');
  t.is(off.size, 0);
});

test('over HTTP: a token answered from the cache still turns 401 when it expires; a foreign one is 401', async (t) => {
  const app = await createHttpApp({ service: 'probe', logger, jwtPublicKey: keys.publicKey, readiness: {} });
  app.get('/v1/me', { onRequest: app.requireUser }, async (request) => ({ user: request.user }));
  await app.ready();
  t.teardown(() => app.close());
  const get = (token: string) => app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${token}` } });

  // Signed just after a second starts with 2 s to live: between 1 and 2 s of validity (exp is whole
  // seconds), long enough for the requests below on a loaded machine, short enough to wait out.
  await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 5));
  const token = signAccessToken(keys.privateKey, alice, 2);
  for (let i = 0; i < 3; i++) {
    const ok = await get(token);
    t.is(ok.statusCode, 200);
    t.like(ok.json(), { user: { id: '1001', username: 'alice' } });
  }
  t.is((await get(signAccessToken(otherKeys.privateKey, alice, 60))).statusCode, 401);

  const exp = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).exp as number;
  await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 20));
  const expired = await get(token);
  t.is(expired.statusCode, 401);
  t.is(expired.headers['content-type'], 'application/problem+json; charset=utf-8');
  t.is(expired.json().detail, 'token has expired');
});
