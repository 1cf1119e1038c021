import { ConfigError, loadConfig } from '@instantpost/config';
import test from 'ava';
import fc from 'fast-check';
import {
  bucketedExpiry,
  createMediaUrlSigner,
  mediaSignature,
  mediaUrlConfigSpec,
  signedMediaUrl,
  verifyMediaUrl,
} from '../src/index.ts';

const KEY = 'kkkkkkkkkkkkkkkk0123456789abcdef0123456789abcdef';
const BASE = 'https://cdn.example.com/media';
const T0 = Date.UTC(2026, 5, 1, 10, 15, 0);

const signer = (now: () => number) =>
  createMediaUrlSigner({ baseUrl: `${BASE}/`, key: KEY, ttlSeconds: 86_400, bucketSeconds: 3600, now });

test('a URL is <base>/<id>/<name>.<ext>?e=<unix seconds>&s=<base64url HMAC, no padding> and verifies', (t) => {
  const url = signer(() => T0).url('7301234567890123456', '1080', 'webp');
  t.regex(
    url,
    /^https:\/\/cdn\.example\.com\/media\/7301234567890123456\/1080\.webp\?e=\d+&s=[A-Za-z0-9_-]{43}$/,
  );
  const result = verifyMediaUrl(url, KEY, T0);
  t.deepEqual(result, {
    valid: true,
    mediaPath: '7301234567890123456/1080.webp',
    expires: Number(new URL(url).searchParams.get('e')),
  });
});

test('URLs are identical within an hour bucket and valid for 24 to 25 hours after they are handed out', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3_599_999 }), fc.integer({ min: 0, max: 3_599_999 }), (a, b) => {
      const hour = Date.UTC(2026, 5, 1, 10);
      const first = signer(() => hour + a).url('42', 'thumb', 'jpeg');
      const second = signer(() => hour + b).url('42', 'thumb', 'jpeg');
      const expires = Number(new URL(first).searchParams.get('e'));
      return (
        first === second &&
        expires * 1000 - (hour + a) >= 24 * 3600_000 &&
        expires * 1000 - (hour + a) <= 25 * 3600_000
      );
    }),
  );
  const now = Date.UTC(2026, 5, 1, 10, 59, 59);
  t.not(signer(() => now).url('42', 'thumb', 'jpeg'), signer(() => now + 1000).url('42', 'thumb', 'jpeg'));
  t.is(bucketedExpiry(now, 86_400, 3600), Date.UTC(2026, 5, 2, 11) / 1000);
});

test('a tampered, foreign, re-encoded, unsigned or expired URL does not verify', (t) => {
  const url = new URL(signer(() => T0).url('42', '640', 'jpeg'));
  const e = url.searchParams.get('e') as string;
  const s = url.searchParams.get('s') as string;
  const at = (path: string, query: string) => `${BASE}/${path}?${query}`;
  const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
  const cases: Array<[string, string]> = [
    [at('42/640.jpg', `e=${e}&s=${flipped}`), 'bad-signature'],
    [at('42/640.webp', `e=${e}&s=${s}`), 'bad-signature'], // another rendition's signature
    [at('43/640.jpg', `e=${e}&s=${s}`), 'bad-signature'], // another media's
    [at('42/640.jpg', `e=${Number(e) + 3600}&s=${s}`), 'bad-signature'], // a longer expiry
    [at('42/640.jpg', `e=${e}&s=${s}=`), 'malformed'], // padding added
    [at('42/640.jpg', `e=${e}&s=${s.slice(0, 20)}.${s.slice(20)}`), 'malformed'],
    [at('42/640.jpg', `e=+${e}&s=${s}`), 'malformed'],
    [at('42/640.jpg', `e=${e}`), 'unsigned'],
    [`${BASE}/42/640.jpg`, 'unsigned'],
    [at('42/original', `e=${e}&s=${s}`), 'not-media'],
  ];
  for (const [candidate, reason] of cases) {
    t.deepEqual(verifyMediaUrl(candidate, KEY, T0), { valid: false, reason }, candidate);
  }
  t.deepEqual(verifyMediaUrl(url.toString(), `${KEY}x`, T0), { valid: false, reason: 'bad-signature' });
  t.deepEqual(verifyMediaUrl(url.toString(), KEY, Number(e) * 1000), { valid: false, reason: 'expired' });
  const past = Math.floor(T0 / 1000) - 1;
  t.deepEqual(verifyMediaUrl(signedMediaUrl(BASE, KEY, '42/640.jpg', past), KEY, T0), {
    valid: false,
    reason: 'expired',
  });
});

test('the signature is HMAC-SHA256 over "<id>/<name>.<ext>\\n<expires>" (what the gateway recomputes)', (t) => {
  // Computed independently: printf '42/thumb.jpg\n1780000000' | openssl dgst -sha256 -hmac <key> -binary | basenc --base64url
  t.is(
    mediaSignature('secret-key', '42/thumb.jpg', 1_780_000_000),
    'cgfruvisJkM1988imHbd6SJnRPS-AU11PNWNitcV3co',
  );
  t.is(
    signedMediaUrl(BASE, KEY, '42/thumb.jpg', 1_780_000_000),
    `${BASE}/42/thumb.jpg?e=1780000000&s=${mediaSignature(KEY, '42/thumb.jpg', 1_780_000_000)}`,
  );
  t.throws(() => signedMediaUrl(BASE, KEY, '../originals/42', 1));
});

test('configuration: the key is required and validated without echoing it; TTL and bucket have defaults', (t) => {
  const missing = t.throws(() => loadConfig(mediaUrlConfigSpec, {}), { instanceOf: ConfigError });
  t.regex(missing.message, /MEDIA_URL_SIGNING_KEY: is required/);
  const short = t.throws(() => loadConfig(mediaUrlConfigSpec, { MEDIA_URL_SIGNING_KEY: 'tooshort-s3cret' }), {
    instanceOf: ConfigError,
  });
  t.regex(short.message, /MEDIA_URL_SIGNING_KEY: must be 32-512 characters/);
  t.false(short.message.includes('tooshort-s3cret'));
  t.deepEqual(loadConfig(mediaUrlConfigSpec, { MEDIA_URL_SIGNING_KEY: KEY }), {
    mediaUrlSigningKey: KEY,
    mediaUrlTtlSeconds: 86_400,
    mediaUrlBucketSeconds: 3600,
  });
  t.throws(
    () => loadConfig(mediaUrlConfigSpec, { MEDIA_URL_SIGNING_KEY: KEY, MEDIA_URL_BUCKET_SECONDS: '0' }),
    {
      message: /MEDIA_URL_BUCKET_SECONDS/,
    },
  );
});

test('a signer signs a stored key path the same as the rendition it names, and nothing else', (t) => {
  const s = signer(() => T0);
  t.is(s.pathUrl('42/320.webp'), s.url('42', '320', 'webp'));
  t.throws(() => s.pathUrl('originals/42'));
  t.throws(() => s.pathUrl('42/../../originals/42.jpg'));
});
