/**
 * The web client's first load in headless Chromium (Debian's /usr/bin/chromium through playwright-core),
 * against a real local stack (five services, nginx serving services/web/dist):
 *
 *   1. what a first visit transfers (cold cache, bodies as sent, so gzipped): index.html, scripts and
 *      styles, against the issue's budget of 150 KB of JS and CSS;
 *   2. the time from navigation to the first photo of the home feed having loaded (a signed-in person
 *      coming back: the refresh token in localStorage, an empty HTTP cache), next to a raw baseline
 *      measured in the same run: a static page of one <img> of the very rendition the app showed, from the
 *      same gateway — what any page must wait for to show that photo. Their ratio is what the app costs:
 *      its script, the token refresh, the feed call, then the photo.
 *
 * Rounds alternate app and baseline (which one goes first alternates too) after one warm-up of each (the
 * gateway's media cache and the services' caches filled). A phone's screen: 390×844 at 2× density.
 *
 *   npm run bench -- web        (or: node --import tsx bench/web/run.ts)
 *
 * Env: BENCH_ROUNDS (7).
 */
import { openNamespace, stopTestInfra, waitFor } from '@instantpost/testing';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../deploy/local/test/chromium.ts';
import { Client } from '../../deploy/local/test/client.ts';
import { openTestStack } from '../../deploy/local/test/stack-fixture.ts';
import { type BenchFigure, latencyRatio, reportFigures } from '../report.ts';
import { median } from '../stats.ts';
import { distinct, phonePhoto } from '../system/pipeline.ts';

const env = process.env;
const ROUNDS = Number(env.BENCH_ROUNDS ?? 7);
const BUDGET_BYTES = 150 * 1024;
const PASSWORD = 'correct horse battery';
const REFRESH_KEY = 'instantpost.refreshToken'; // services/web/src/api/tokens.ts
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const log = (line: string) => process.stdout.write(`${line}\n`);

/** Records, in the page, when the first <img> finished loading (ms since navigation started). */
const FIRST_PHOTO_PROBE = `document.addEventListener('load', (e) => {
  if (e.target instanceof HTMLImageElement && window.__firstPhoto === undefined) window.__firstPhoto = performance.now();
}, true);`;

interface Load {
  firstPhotoMs: number;
  /** When, after navigation started, each step of the way ended (ms): script, session, feed, photo start. */
  steps: Record<string, number>;
  bytes: { html: number; js: number; css: number; json: number; image: number };
  photoUrl: string;
  photoSize: { width: number; height: number };
}

/** One visit in a fresh context (empty cache): what it transferred and when its first photo loaded. */
async function visit(
  browser: Browser,
  url: string,
  prepare: (page: Page) => Promise<void>,
  refreshToken?: string,
): Promise<Load> {
  const origin = new URL(url).origin;
  const context = await browser.newContext({
    ...PHONE,
    ...(refreshToken
      ? {
          storageState: {
            cookies: [],
            origins: [{ origin, localStorage: [{ name: REFRESH_KEY, value: refreshToken }] }],
          },
        }
      : {}),
  });
  const page = await context.newPage();
  await page.addInitScript(FIRST_PHOTO_PROBE);
  await prepare(page);
  const sizes: Promise<{ kind: keyof Load['bytes']; bytes: number }>[] = [];
  page.on('response', (res) => {
    const type = res.headers()['content-type'] ?? '';
    const kind = type.startsWith('text/html')
      ? 'html'
      : type.includes('javascript')
        ? 'js'
        : type.startsWith('text/css')
          ? 'css'
          : type.startsWith('image/')
            ? 'image'
            : type.includes('json')
              ? 'json'
              : undefined;
    if (!kind) return;
    sizes.push(
      res
        .finished()
        .then(() => res.request().sizes())
        .then((s) => ({ kind, bytes: s.responseBodySize })),
    );
  });
  await page.goto(url);
  const first = await waitFor(
    'the first photo',
    () => page.evaluate('window.__firstPhoto') as Promise<number | undefined>,
    { timeoutMs: 30_000, intervalMs: 20 },
  );
  const [photoUrl, width, height] = (await page.evaluate(`(() => {
    const img = document.querySelector('img');
    return [img.currentSrc, img.naturalWidth, img.naturalHeight];
  })()`)) as [string, number, number];
  // The app's path to its first photo, from the Resource Timing entries.
  const steps = (await page.evaluate(`(() => {
    const out = {};
    for (const e of performance.getEntriesByType('resource')) {
      const path = new URL(e.name).pathname;
      const step = path.endsWith('.js') ? 'script' : path === '/v1/sessions/refresh' ? 'session'
        : path === '/v1/feed' ? 'feed' : undefined;
      if (step && out[step] === undefined) out[step] = e.responseEnd;
      if (path.startsWith('/media/') && out.photoRequested === undefined) out.photoRequested = e.startTime;
    }
    return out;
  })()`)) as Record<string, number>;
  const bytes = { html: 0, js: 0, css: 0, json: 0, image: 0 };
  for (const { kind, bytes: n } of await Promise.all(sizes)) bytes[kind] += n;
  await context.close();
  return { firstPhotoMs: first, steps, bytes, photoUrl, photoSize: { width, height } };
}

const ns = await openNamespace({ databases: 2 });
const stack = await openTestStack(ns);
const browser = await launchChromium();
try {
  // Bob follows alice, who has shared three phone photos: his home feed opens on them.
  const api = new Client(stack.url);
  const alice = await api.signUp('alice', PASSWORD, 'Alice');
  const bob = await api.signUp('bob', PASSWORD, 'Bob');
  await api.call('POST', `/v1/users/${alice.user.id}/follow`, { token: bob.accessToken });
  const photo = await phonePhoto();
  for (let n = 0; n < 3; n++) {
    await api.upload(alice.accessToken, distinct(photo, n), {
      caption: `Photo ${n} #bench`,
      altText: 'A gradient',
    });
  }
  await waitFor(
    "alice's three photos in bob's feed",
    async () => {
      const feed = await api.call<{ items: unknown[] }>('GET', '/v1/feed', { token: bob.accessToken });
      return feed.body.items.length === 3;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );

  const app = async () => {
    const { refreshToken } = await api.logIn('bob', PASSWORD);
    return visit(browser, `${stack.url}/`, async () => {}, refreshToken);
  };
  // The baseline: a page of one <img> at a path of the same origin (answered by the browser itself,
  // so only the photo goes over the network, from the gateway like the app's).
  const raw = (of: Load) =>
    visit(browser, `${stack.url}/raw-baseline`, async (page) => {
      await page.route(`${stack.url}/raw-baseline`, (route) =>
        route.fulfill({
          contentType: 'text/html; charset=utf-8',
          body: `<!doctype html><meta name="viewport" content="width=device-width"><img src="${of.photoUrl}" width="${of.photoSize.width}" height="${of.photoSize.height}" alt="">`,
        }),
      );
    });

  log('warm-up (one of each: caches filled)');
  const warm = await app();
  await raw(warm);
  const apps: Load[] = [];
  const raws: Load[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      const a = await app();
      apps.push(a);
      raws.push(await raw(a));
    } else {
      const a = await app();
      raws.push(await raw(a));
      apps.push(a);
    }
    const a = apps.at(-1) as Load;
    const r = raws.at(-1) as Load;
    log(
      `round ${round + 1}: app ${a.firstPhotoMs.toFixed(0)} ms (${Object.entries(a.steps)
        .map(([k, v]) => `${k} ${v.toFixed(0)}`)
        .join(
          ', ',
        )}; JS ${a.bytes.js} B, CSS ${a.bytes.css} B, HTML ${a.bytes.html} B, JSON ${a.bytes.json} B, images ${a.bytes.image} B), raw <img> ${r.firstPhotoMs.toFixed(0)} ms (${r.bytes.image} B) — ${a.photoUrl.replace(/\?.*/, '').replace(stack.url, '')}`,
    );
  }

  const first = apps[0] as Load;
  const stepNames = ['script', 'session', 'feed', 'photoRequested'];
  const medianSteps = stepNames
    .map((k) => `${k} ${median(apps.map((a) => a.steps[k] ?? Number.NaN)).toFixed(0)} ms`)
    .join(', ');
  const scriptsAndStyles = first.bytes.js + first.bytes.css;
  const appMs = median(apps.map((a) => a.firstPhotoMs));
  const rawMs = median(raws.map((r) => r.firstPhotoMs));
  const appBytes = median(apps.map((a) => Object.values(a.bytes).reduce((x, y) => x + y, 0)));
  const rawBytes = median(raws.map((r) => r.bytes.image + r.bytes.html));
  const figures: BenchFigure[] = [
    {
      figure: 'first load, JS + CSS as transferred (gzipped)',
      value: scriptsAndStyles / 1024,
      unit: 'KB',
      baseline: "the issue's budget",
      baselineValue: BUDGET_BYTES / 1024,
      ratio: latencyRatio(scriptsAndStyles, BUDGET_BYTES),
    },
    {
      figure:
        'a first visit of the home feed, all it transferred (page, scripts, styles, API, the photos it loaded)',
      value: appBytes / 1024,
      unit: 'KB',
      baseline: 'raw page of one <img> of that rendition',
      baselineValue: rawBytes / 1024,
      ratio: latencyRatio(appBytes, rawBytes),
    },
    {
      figure: `time to the first photo on the home feed, median of ${ROUNDS} cold visits`,
      value: appMs,
      unit: 'ms',
      baseline: 'raw page of one <img> of that rendition',
      baselineValue: rawMs,
      ratio: latencyRatio(appMs, rawMs),
    },
  ];
  reportFigures(
    'web',
    `npm run bench -- web${env.BENCH_ROUNDS ? ` (BENCH_ROUNDS=${ROUNDS})` : ''}`,
    figures,
    `Headless Chromium (Debian's), a 390×844 phone screen at 2×, an empty cache each visit; the first photo: the ${first.photoUrl.replace(/\?.*/, '').replace(/.*\/media\/\d+\//, '')} rendition, shown ${first.photoSize.width}×${first.photoSize.height} CSS px (the baseline page loads that URL). ` +
      `First load: index.html ${first.bytes.html} B, JS ${first.bytes.js} B, CSS ${first.bytes.css} B. ` +
      `The app's way to its first photo (medians since navigation): ${medianSteps}, photo loaded ${appMs.toFixed(0)} ms.`,
  );
} finally {
  await browser.close();
  await stack.stop();
  await ns.close();
  await stopTestInfra();
}
