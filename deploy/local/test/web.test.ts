/**
 * The web client in a real browser: Debian's Chromium (headless, a fresh profile) driven by playwright-core,
 * against the real stack (five services, nginx serving services/web/dist at /). Two people on phone-sized
 * screens sign up, one follows the other on her profile, a photo is shared, shows up in the follower's
 * feed, is liked, and the author's Notifications link says so live.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openNamespace, stopTestInfra, type TestNamespace, waitFor } from '@instantpost/testing';
import test, { type ExecutionContext } from 'ava';
import axe from 'axe-core';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { Client } from './client.ts';
import { openTestStack, type TestStack } from './stack-fixture.ts';

/** The flags this machine needs (.library env doc): no sandbox as root, no calls to Google's hosts. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const PASSWORD = 'correct horse battery';
/** Long enough for a photo to pass through processing and fan-out on a loaded 2-core machine. */
const SLOW_MS = 45_000;

let ns: TestNamespace;
let running: TestStack;
let browser: Browser;
const pages = new Map<string, { page: Page; errors: string[]; refreshes: number }>();
/** Short-lived access tokens, so the story lives through several quiet refreshes (the service's minimum). */
const ACCESS_TOKEN_TTL_SECONDS = 10;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  running = await openTestStack(ns, { env: { ACCESS_TOKEN_TTL_SECONDS: String(ACCESS_TOKEN_TTL_SECONDS) } });
  // launch() gives every run a new, empty user-data-dir of its own (and removes it on close).
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
});
test.after.always(async () => {
  await browser?.close();
  await running?.stop();
  await ns?.close();
  await stopTestInfra();
});

/** A person's own phone: an isolated context (storage, cookies) with a 390×844 screen. */
async function phone(name: string): Promise<Page> {
  const context: BrowserContext = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`${name}: console: ${message.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`${name}: uncaught: ${err.message}`));
  const seen = { page, errors, refreshes: 0 };
  page.on('response', (res) => {
    if (res.url().endsWith('/v1/sessions/refresh') && res.status() === 201) seen.refreshes++;
  });
  page.setDefaultTimeout(SLOW_MS);
  pages.set(name, seen);
  await page.goto(running.url);
  return page;
}

/** The issue's budget for the first load's scripts and styles, as transferred (gzipped). */
const FIRST_LOAD_BUDGET_BYTES = 150 * 1024;

/** What a first visit transfers (response bodies as sent, so gzipped), by kind: the page, scripts, styles. */
async function firstLoad(): Promise<{ html: number; js: number; css: number }> {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const page = await context.newPage();
  const bodies: Promise<{ kind: 'html' | 'js' | 'css'; bytes: number }>[] = [];
  page.on('response', (res) => {
    const path = new URL(res.url()).pathname;
    const kind =
      path === '/' ? 'html' : path.endsWith('.js') ? 'js' : path.endsWith('.css') ? 'css' : undefined;
    if (!kind) return;
    bodies.push(
      res
        .finished()
        .then(() => res.request().sizes())
        .then((sizes) => ({ kind, bytes: sizes.responseBodySize })),
    );
  });
  await page.goto(running.url);
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  const sum = { html: 0, js: 0, css: 0 };
  for (const { kind, bytes } of await Promise.all(bodies)) sum[kind] += bytes;
  await context.close();
  return sum;
}

async function signUp(page: Page, username: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('link', { name: 'Home' }).waitFor();
}

/** axe-core's rules on the page as it is now; the serious and critical violations, described. */
async function accessibilityProblems(page: Page): Promise<string[]> {
  // Injected through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axe.source);
  const violations = (await page.evaluate(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) })))`,
  )) as { id: string; impact: string | null; help: string; targets: string[] }[];
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.targets.join(', ')})`);
}

/** Screenshots of every open page into a new temp dir, named by person. */
async function screenshots(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'instantpost-web-failure-'));
  mkdirSync(dir, { recursive: true });
  for (const [name, { page }] of pages) {
    await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true }).catch(() => undefined);
  }
  return dir;
}

/** Runs the story; on a failure, screenshots every page and names the folder in the failure. */
async function withScreenshots(t: ExecutionContext, story: () => Promise<void>): Promise<void> {
  try {
    await story();
  } catch (err) {
    const dir = await screenshots();
    t.log(`screenshots of every page: ${dir}`);
    if (err instanceof Error && err.name !== 'TestFailure') {
      throw new Error(`${err.message}\n(screenshots of every page: ${dir})`, { cause: err });
    }
    throw err;
  }
}

test.serial('the first load transfers at most 150 KB of scripts and styles, gzipped', async (t) => {
  const load = await firstLoad();
  t.log(`first load: index.html ${load.html} B, JS ${load.js} B, CSS ${load.css} B (as transferred)`);
  t.true(load.js > 0 && load.css > 0, 'the app and its styles were loaded');
  t.true(
    load.js + load.css <= FIRST_LOAD_BUDGET_BYTES,
    `JS + CSS ${load.js + load.css} B over the ${FIRST_LOAD_BUDGET_BYTES} B budget`,
  );
});

test.serial(
  'two people through the UI: sign up, share, see it in the feed, like it, get notified live',
  async (t) => {
    await withScreenshots(t, async () => {
      const alice = await phone('alice');
      t.deepEqual(await accessibilityProblems(alice), [], 'the log-in screen');
      await signUp(alice, 'alice');
      const bob = await phone('bob');
      await signUp(bob, 'bob');

      // Bob opens alice's profile from a link (a deep link: the gateway answers it with the app, which
      // restores his session from the refresh token) and follows her.
      await bob.goto(`${running.url}/u/alice`);
      await bob.getByRole('heading', { name: 'alice', level: 1 }).waitFor();
      await bob.getByText('0 posts').waitFor();
      await bob.getByRole('button', { name: 'Follow' }).click();
      await bob.getByRole('button', { name: 'Following' }).waitFor();
      t.deepEqual(await accessibilityProblems(bob), [], 'a profile');

      // Alice reads what she has so far (bob follows her): the link's count goes back to none.
      await alice.getByRole('link', { name: 'Notifications 1 unread' }).click();
      await alice.getByText(/started following you/).waitFor();
      await alice.getByRole('link', { name: 'Notifications', exact: true }).waitFor();

      // Alice shares a photo: preview, progress bar, processing, published.
      await alice.getByRole('link', { name: 'New post' }).click();
      const photo = await sharp({
        create: { width: 1600, height: 1200, channels: 3, background: { r: 230, g: 120, b: 40 } },
      })
        .jpeg({ quality: 90 })
        .toBuffer();
      await alice
        .getByLabel('Photo')
        .setInputFiles({ name: 'sunset.jpg', mimeType: 'image/jpeg', buffer: photo });
      await alice.getByRole('img', { name: /Preview/ }).waitFor();
      await alice.getByLabel('Caption').fill('Sunset at the beach #Sunset with @bob');
      await alice.getByLabel('Alt text').fill('An orange sky over the sea');
      t.deepEqual(await accessibilityProblems(alice), [], 'the new post screen');
      // What the status area showed, in order (the upload of a small photo on loopback is over in a blink).
      await alice.evaluate(`(() => {
      window.__seen = [];
      const status = document.querySelector('[role=status]');
      new MutationObserver(() => {
        const text = (status.querySelector('progress') ? 'progress bar: ' : '') + status.textContent.trim();
        if (window.__seen.at(-1) !== text) window.__seen.push(text);
      }).observe(status, { subtree: true, childList: true, characterData: true, attributes: true });
    })()`);
      await alice.getByRole('button', { name: 'Share' }).click();
      await alice.getByText(/^Published/).waitFor();
      const seen = (await alice.evaluate('window.__seen')) as string[];
      const stage = (pattern: RegExp) => seen.findIndex((s) => pattern.test(s));
      t.true(
        stage(/^progress bar: Uploading/) >= 0,
        `a progress bar while uploading: ${JSON.stringify(seen)}`,
      );
      t.true(stage(/^Processing/) > stage(/^progress bar/), `then "Processing…": ${JSON.stringify(seen)}`);
      t.true(stage(/^Published/) > stage(/^Processing/), `then "Published": ${JSON.stringify(seen)}`);

      // Bob's home feed shows it (the fan-out is asynchronous: "Home" again reloads the feed).
      const post = bob.locator('article', { hasText: 'Sunset at the beach' });
      await waitFor(
        "alice's post in bob's feed",
        async () => {
          await bob.getByRole('link', { name: 'Home' }).click();
          await bob.locator('article, .empty').first().waitFor();
          return (await post.count()) === 1;
        },
        { timeoutMs: SLOW_MS, intervalMs: 500 },
      );
      t.is(await post.getByRole('heading').textContent(), 'alice');
      const img = post.getByRole('img', { name: 'An orange sky over the sea' });
      await img.waitFor();
      t.regex(
        await img.evaluate((el: { style: { backgroundImage: string } }) => el.style.backgroundImage),
        /^url\("data:image\/png;base64,/,
        'the blurhash fills its place until the photo loads',
      );
      t.truthy(await img.getAttribute('width'), 'width set: nothing jumps when it loads');
      t.truthy(await img.getAttribute('height'));
      t.regex(
        (await post.locator('source[type="image/webp"]').getAttribute('srcset')) ?? '',
        /\.webp\?.* 640w/,
      );
      t.regex((await img.getAttribute('srcset')) ?? '', /\.jpg\?.* 640w/);
      // Decoded from a signed URL through the gateway, and the browser chose WebP.
      const loaded = await waitFor('the photo to load', async () => {
        const [width, src] = await img.evaluate(
          (el: { naturalWidth: number; currentSrc: string }) => [el.naturalWidth, el.currentSrc] as const,
        );
        return width > 0 ? src : undefined;
      });
      t.regex(loaded, /\/media\/\d+\/\d+\.webp\?e=\d+&s=/);

      // Bob likes it: the button says so, the count follows.
      const like = post.getByRole('button', { name: 'Like' });
      t.is(await like.getAttribute('aria-pressed'), 'false');
      await like.click();
      t.is(await like.getAttribute('aria-pressed'), 'true');
      t.is(await post.locator('.likes').textContent(), '1 like');
      t.deepEqual(await accessibilityProblems(bob), [], 'the home feed');

      // Alice hears it without reloading: her Notifications link's accessible name carries the count.
      await alice.getByRole('link', { name: 'Notifications 1 unread' }).waitFor();
      await alice.getByRole('link', { name: 'Notifications 1 unread' }).click();
      await alice.getByText('bob liked your photo').waitFor();
      await alice.getByRole('link', { name: 'Notifications', exact: true }).waitFor();
      t.deepEqual(await accessibilityProblems(alice), [], 'the notifications screen');

      // Two quiet refreshes later the token alice's page started with has expired (the server closes a
      // stream when its token does): a like from carol still reaches her live, so her stream moved along.
      // (Likes arriving after the earlier one was read start a new item rather than growing it.)
      await alice.getByRole('link', { name: 'Home' }).click();
      const aliceState = pages.get('alice');
      const before = aliceState?.refreshes ?? 0;
      await waitFor(
        "two quiet refreshes of alice's session",
        () => (aliceState?.refreshes ?? 0) >= before + 2,
        {
          timeoutMs: SLOW_MS,
          intervalMs: 200,
        },
      );
      const api = new Client(running.url);
      const carol = await api.signUp('carol', PASSWORD, 'Carol');
      const aliceProfile = await api.call<{ id: string }>('GET', '/v1/users/alice', {
        token: carol.accessToken,
      });
      const grid = await api.call<{ items: { id: string }[] }>(
        'GET',
        `/v1/users/${aliceProfile.body.id}/posts`,
        {
          token: carol.accessToken,
        },
      );
      const postId = grid.body.items[0]?.id;
      t.truthy(postId, "alice's post on her grid");
      t.is((await api.call('POST', `/v1/posts/${postId}/likes`, { token: carol.accessToken })).status, 204);
      await alice.getByRole('link', { name: 'Notifications 1 unread' }).click();
      await alice.getByText('carol liked your photo').waitFor();

      // By keyboard alone: Tab reaches the Like button, Space undoes the like and does it again.
      const focusedLabel = () =>
        bob.evaluate(
          `(document.activeElement?.textContent ?? '') + '|' + (document.activeElement?.getAttribute('aria-pressed') ?? '')`,
        ) as Promise<string>;
      let focused = '';
      for (let tabs = 0; tabs < 20 && !focused.startsWith('Like|'); tabs++) {
        await bob.keyboard.press('Tab');
        focused = await focusedLabel();
      }
      t.is(focused, 'Like|true', 'Tab reaches the Like button');
      await bob.keyboard.press('Space');
      t.is(await focusedLabel(), 'Like|false');
      t.is(await post.locator('.likes').textContent(), '0 likes');
      // The like again, once the unlike is through: the page sends them in order.
      const likedAgain = bob.waitForResponse(
        (res) => res.url().endsWith('/likes') && res.request().method() === 'POST',
      );
      await bob.keyboard.press('Space');
      t.is(await focusedLabel(), 'Like|true');
      t.is(await post.locator('.likes').textContent(), '1 like');
      t.is((await likedAgain).status(), 204);

      // The like survives a reload (the refresh token brings the session back quietly).
      await bob.reload();
      const again = bob
        .locator('article', { hasText: 'Sunset at the beach' })
        .getByRole('button', { name: 'Like' });
      t.is(await again.getAttribute('aria-pressed'), 'true');

      // The author's name leads to her profile: her photo on the grid, bob following.
      await again.locator('xpath=ancestor::article').getByRole('link', { name: 'alice' }).click();
      await bob.getByRole('heading', { name: 'alice', level: 1 }).waitFor();
      await bob
        .getByRole('list', { name: 'Posts by alice' })
        .getByRole('img', { name: 'An orange sky over the sea' })
        .waitFor();
      t.true(await bob.getByRole('button', { name: 'Following' }).isVisible());

      // The caption's #tag leads to the tag's page, its @mention to the profile.
      await bob.getByRole('link', { name: 'Home' }).click();
      await post.getByRole('link', { name: '@bob' }).waitFor();
      await post.getByRole('link', { name: '#Sunset' }).click();
      await bob.getByRole('heading', { name: '#sunset', level: 1 }).waitFor();
      await bob.locator('article', { hasText: 'Sunset at the beach' }).waitFor();

      // Alice makes her account private: carol's follow becomes a request, which alice hears of live and
      // approves in her settings.
      await alice.getByRole('link', { name: 'Profile' }).click();
      await alice.getByRole('link', { name: 'Settings' }).click();
      await alice.getByRole('switch', { name: 'Private account' }).check();
      // Tokens last 10 s here: carol logs in afresh before each use rather than carry an old one.
      const asCarol = { token: (await api.logIn('carol', PASSWORD)).accessToken };
      await waitFor('alice private', async () => {
        const res = await api.call<{ isPrivate: boolean }>('GET', '/v1/users/alice', asCarol);
        return res.body.isPrivate;
      });
      const asked = await api.call<{ state: string }>(
        'POST',
        `/v1/users/${aliceProfile.body.id}/follow`,
        asCarol,
      );
      t.is(asked.body.state, 'requested');
      await alice.getByRole('link', { name: /^Notifications \d+ unread$/ }).click();
      await alice.getByText('carol asked to follow you').waitFor();
      await alice.getByRole('link', { name: 'Profile' }).click();
      await alice.getByRole('link', { name: 'Settings' }).click();
      t.true(await alice.getByRole('switch', { name: 'Private account' }).isChecked(), 'still private');
      await alice.getByRole('button', { name: 'Approve carol' }).click();
      await alice.getByText('No one is waiting.').waitFor();
      t.deepEqual(await accessibilityProblems(alice), [], 'the settings screen');
      const asCarolNow = { token: (await api.logIn('carol', PASSWORD)).accessToken };
      const approved = await waitFor('carol following alice', async () => {
        const res = await api.call<{ viewer: { following: boolean } }>('GET', '/v1/users/alice', asCarolNow);
        return res.body.viewer.following;
      });
      t.true(approved);

      // Bob comments on alice's photo; she hears of it.
      await bob.getByRole('link', { name: 'Home' }).click();
      const bobsView = bob.locator('article', { hasText: 'Sunset at the beach' });
      await bobsView.getByLabel(/^Comment on alice/).fill('What a view');
      await bobsView.getByRole('button', { name: 'Post' }).click();
      await bobsView.getByRole('button', { name: 'Comments (1)', expanded: true }).waitFor();
      await bobsView.getByText('What a view').waitFor();
      await alice.getByRole('link', { name: /^Notifications \d+ unread$/ }).click();
      await alice.getByText('bob commented on your photo').waitFor();

      // Logging out (Profile, Settings) ends the session: the log-in screen, and a reload stays there.
      await bob.getByRole('link', { name: 'Profile' }).click();
      await bob.getByRole('link', { name: 'Settings' }).click();
      await bob.getByRole('button', { name: 'Log out' }).click();
      await bob.getByRole('button', { name: 'Log in' }).waitFor();
      await bob.reload();
      await bob.getByRole('button', { name: 'Log in' }).waitFor();

      t.deepEqual(
        [...pages.values()].flatMap((p) => p.errors),
        [],
        'no errors in the console',
      );
    });
  },
);
