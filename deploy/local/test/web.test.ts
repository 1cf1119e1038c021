/**
 * The web client in a real browser: Debian's Chromium (headless, a fresh profile) driven by playwright-core,
 * against the real stack (five services, nginx serving services/web/dist at /). Three people on
 * phone-sized screens (one browser, a context each) sign up, follow, share a photo, see it in their feeds,
 * like and comment on it, hear of it live, and its author deletes it; every screen passes axe-core.
 * A fourth person's long lists (grid, comments, notifications) are paged.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openNamespace, stopTestInfra, type TestNamespace, waitFor } from '@instantpost/testing';
import test, { type ExecutionContext } from 'ava';
import axe from 'axe-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { launchChromium } from './chromium.ts';
import { Client } from './client.ts';
import { openTestStack, type TestStack } from './stack-fixture.ts';

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
  browser = await launchChromium();
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

/** Someone's profile from a link (a deep link: the gateway answers it with the app), then "Follow". */
async function follow(page: Page, username: string, expect: 'Following' | 'Requested'): Promise<void> {
  await page.goto(`${running.url}/u/${username}`);
  await page.getByRole('heading', { name: username, level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Follow', exact: true }).click();
  await page.getByRole('button', { name: expect }).waitFor();
}

/** A plain photo of one colour, as a phone's JPEG. */
function photoOf(width: number, height: number, background: { r: number; g: number; b: number }) {
  return sharp({ create: { width, height, channels: 3, background } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

/**
 * "Home" until the feed shows a post by `author` (or no longer shows it): fan-out, its undoing and the
 * feed's copy of the author's name (a projection of its own, which can lag on a loaded machine) are
 * asynchronous.
 */
async function homeUntil(page: Page, caption: string, author: string | undefined): Promise<void> {
  const post = page.locator('article', { hasText: caption });
  await waitFor(
    `"${caption}" ${author ? `by ${author} in` : 'gone from'} the home feed`,
    async () => {
      await page.getByRole('link', { name: 'Home' }).click();
      await page.locator('article, .empty').first().waitFor();
      if (!author) return (await post.count()) === 0;
      return (await post.count()) === 1 && (await post.getByRole('heading').textContent()) === author;
    },
    { timeoutMs: SLOW_MS, intervalMs: 500 },
  );
}

test.serial(
  'three people through the UI: sign up, follow, share, see it, like, comment, hear of it live, delete',
  async (t) => {
    await withScreenshots(t, async () => {
      const alice = await phone('alice');
      t.deepEqual(await accessibilityProblems(alice), [], 'the log-in screen');
      await signUp(alice, 'alice');
      const bob = await phone('bob');
      await signUp(bob, 'bob');
      const carol = await phone('carol');
      await signUp(carol, 'carol');

      // Bob and carol follow alice from her profile.
      await follow(bob, 'alice', 'Following');
      await bob.getByText('0 posts').waitFor();
      t.deepEqual(await accessibilityProblems(bob), [], 'a profile');
      await follow(carol, 'alice', 'Following');

      // Alice hears of both live and reads them: the link's count goes back to none; each leads to the profile.
      await alice.getByRole('link', { name: 'Notifications 2 unread' }).click();
      await alice.getByRole('link', { name: 'bob started following you' }).waitFor();
      await alice.getByRole('link', { name: 'carol started following you' }).waitFor();
      await alice.getByRole('link', { name: 'Notifications', exact: true }).waitFor();

      // Alice shares a photo: preview, progress bar, processing, published.
      await alice.getByRole('link', { name: 'New post' }).click();
      const photo = await photoOf(1600, 1200, { r: 230, g: 120, b: 40 });
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

      // Bob's home feed shows it.
      const caption = 'Sunset at the beach';
      await homeUntil(bob, caption, 'alice');
      const post = bob.locator('article', { hasText: caption });
      t.is(await post.getByRole('button', { name: 'Delete' }).count(), 0, 'only its author may delete it');
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

      // Bob likes it: the button says so, the count follows; alice hears it without reloading.
      const like = post.getByRole('button', { name: 'Like' });
      t.is(await like.getAttribute('aria-pressed'), 'false');
      await like.click();
      t.is(await like.getAttribute('aria-pressed'), 'true');
      t.is(await post.locator('.likes').textContent(), '1 like');
      t.deepEqual(await accessibilityProblems(bob), [], 'the home feed');
      await alice.getByRole('link', { name: 'Notifications 1 unread' }).waitFor();

      // Carol likes it too, before alice looks: one item, grown ("bob and 1 other"), sent again live.
      await homeUntil(carol, caption, 'alice');
      const carolsView = carol.locator('article', { hasText: caption });
      const carolLiked = carol.waitForResponse(
        (res) => res.url().endsWith('/likes') && res.request().method() === 'POST',
      );
      await carolsView.getByRole('button', { name: 'Like' }).click();
      t.is((await carolLiked).status(), 204);
      t.is(await carolsView.getByRole('button', { name: 'Like' }).getAttribute('aria-pressed'), 'true');
      // The grouping happens in the notification service, after the like's event: wait for it there (a
      // session of alice's own through the API, so her page's unread items stay unread).
      const api = new Client(running.url);
      const asAlice = { token: (await api.logIn('alice', PASSWORD)).accessToken };
      await waitFor('the two likes grouped', async () => {
        const res = await api.call<{ items: { type: string; actorCount: number }[] }>(
          'GET',
          '/v1/notifications',
          asAlice,
        );
        return res.body.items.some((i) => i.type === 'like' && i.actorCount === 2);
      });
      await alice.getByRole('link', { name: 'Notifications 1 unread' }).click();
      await alice.getByRole('link', { name: /^(bob|carol) and 1 other liked your photo$/ }).waitFor();
      await alice.getByRole('link', { name: 'Notifications', exact: true }).waitFor();
      t.deepEqual(await accessibilityProblems(alice), [], 'the notifications screen');

      // Two quiet refreshes later the token alice's page started with has expired (the server closes a
      // stream when its token does): carol's comment still reaches her live, so her stream moved along.
      await alice.getByRole('link', { name: 'Home' }).click();
      const aliceState = pages.get('alice');
      const before = aliceState?.refreshes ?? 0;
      await waitFor(
        "two quiet refreshes of alice's session",
        () => (aliceState?.refreshes ?? 0) >= before + 2,
        { timeoutMs: SLOW_MS, intervalMs: 200 },
      );
      await carolsView.getByLabel(/^Comment on alice/).fill('What a view');
      await carolsView.getByRole('button', { name: 'Post' }).click();
      await carolsView.getByRole('button', { name: 'Comments (1)', expanded: true }).waitFor();
      await carolsView.getByText('What a view').waitFor();
      await alice.getByRole('link', { name: 'Notifications 1 unread' }).click();
      // The item leads to the post's own page, its comments open.
      await alice.getByRole('link', { name: 'carol commented on your photo' }).click();
      await alice.getByRole('heading', { name: 'Post by alice', level: 1 }).waitFor();
      t.regex(alice.url(), /\/p\/\d+$/);
      await alice.locator('article').getByText('What a view').waitFor();
      t.deepEqual(await accessibilityProblems(alice), [], 'a post page');

      // By keyboard alone: Tab reaches bob's Like button, Space undoes the like and does it again.
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
      // (Bob's page loaded before carol's like: it counts his alone.)
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

      // The like survives a reload (the refresh token brings the session back quietly). The home feed is
      // feed's projection of the like events (the issue's bound: within 2 s; SLOW_MS on a loaded machine):
      // bob's unlike and like again, and carol's like, show once they are projected.
      await waitFor(
        "bob's like pressed and carol's and his counted after a reload",
        async () => {
          const likeButton = post.getByRole('button', { name: 'Like' });
          const shown = [
            await likeButton.getAttribute('aria-pressed'),
            await post.locator('.likes').textContent(),
          ];
          if (shown[0] === 'true' && shown[1] === '2 likes') return true;
          await bob.reload();
          return false;
        },
        { timeoutMs: SLOW_MS, intervalMs: 250 },
      );
      t.is(await post.getByRole('button', { name: 'Like' }).getAttribute('aria-pressed'), 'true');
      t.is(await post.locator('.likes').textContent(), '2 likes', "carol's like and bob's counted");

      // The caption's #tag leads to the tag's page, its @mention to the profile.
      await post.getByRole('link', { name: '@bob' }).waitFor();
      await post.getByRole('link', { name: '#Sunset' }).click();
      await bob.getByRole('heading', { name: '#sunset', level: 1 }).waitFor();
      await bob.locator('article', { hasText: caption }).waitFor();
      t.deepEqual(await accessibilityProblems(bob), [], 'a tag page');

      // The author's name leads to her profile: her photo on the grid, leading to its page.
      await bob.locator('article', { hasText: caption }).getByRole('link', { name: 'alice' }).click();
      await bob.getByRole('heading', { name: 'alice', level: 1 }).waitFor();
      t.true(await bob.getByRole('button', { name: 'Following' }).isVisible());
      await bob
        .getByRole('list', { name: 'Posts by alice' })
        .getByRole('link', { name: 'An orange sky over the sea' })
        .click();
      await bob.getByRole('heading', { name: 'Post by alice', level: 1 }).waitFor();
      await bob.getByText('What a view').waitFor();

      // Bob unfollows; alice makes her account private; bob's follow becomes a request, which alice hears
      // of live and approves in her settings.
      await bob.goBack();
      await bob.getByRole('button', { name: 'Following' }).click();
      await bob.getByRole('button', { name: 'Follow', exact: true }).waitFor();
      await alice.getByRole('link', { name: 'Profile' }).click();
      await alice.getByRole('link', { name: 'Settings' }).click();
      await alice.getByRole('switch', { name: 'Private account' }).check();
      await waitFor('alice private, as bob sees her', async () => {
        await bob.reload();
        await bob.getByRole('heading', { name: 'alice', level: 1 }).waitFor();
        return bob.getByText('This account is private.', { exact: false }).isVisible();
      });
      await bob.getByRole('button', { name: 'Follow', exact: true }).click();
      await bob.getByRole('button', { name: 'Requested' }).waitFor();
      // (Bob's like pressed again after alice read the first may be an item of its own, unread too.)
      await alice.getByRole('link', { name: /^Notifications \d+ unread$/ }).click();
      await alice.getByRole('link', { name: 'bob asked to follow you' }).waitFor();
      await alice.getByRole('link', { name: 'Profile' }).click();
      await alice.getByRole('link', { name: 'Settings' }).click();
      t.true(await alice.getByRole('switch', { name: 'Private account' }).isChecked(), 'still private');
      await alice.getByRole('button', { name: 'Approve bob' }).click();
      await alice.getByText('No one is waiting.').waitFor();
      t.deepEqual(await accessibilityProblems(alice), [], 'the settings screen');
      await waitFor('bob following alice again', async () => {
        await bob.reload();
        await bob.getByRole('heading', { name: 'alice', level: 1 }).waitFor();
        return bob.getByRole('button', { name: 'Following' }).isVisible();
      });
      await bob.getByRole('list', { name: 'Posts by alice' }).getByRole('link').first().waitFor();

      // Alice deletes her photo from its page: asked first (Escape keeps it), then gone from her grid,
      // from carol's feed and from bob's view of her grid.
      await alice.getByRole('link', { name: 'Profile' }).click();
      await alice
        .getByRole('list', { name: 'Posts by alice' })
        .getByRole('link', { name: 'An orange sky over the sea' })
        .click();
      await alice.getByRole('heading', { name: 'Post by alice', level: 1 }).waitFor();
      await alice.getByRole('button', { name: 'Delete' }).click();
      const dialog = alice.getByRole('dialog', { name: 'Delete this post?' });
      await dialog.waitFor();
      t.deepEqual(await accessibilityProblems(alice), [], 'the delete dialog');
      await alice.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      t.true(await alice.getByRole('img', { name: 'An orange sky over the sea' }).isVisible(), 'kept');
      await alice.getByRole('button', { name: 'Delete' }).click();
      await dialog.getByRole('button', { name: 'Delete post' }).click();
      await alice.getByRole('heading', { name: 'alice', level: 1 }).waitFor();
      await alice.getByText('No posts yet.').waitFor();
      await homeUntil(carol, caption, undefined);
      await waitFor("the photo gone from alice's grid as bob sees it", async () => {
        await bob.reload();
        await bob.getByRole('heading', { name: 'alice', level: 1 }).waitFor();
        await bob.locator('.grid, .empty').first().waitFor();
        return (await bob.getByRole('img', { name: 'An orange sky over the sea' }).count()) === 0;
      });

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

/** Uploads a photo through the API as `username` and waits until it is published (tokens last 10 s here). */
async function publish(api: Client, username: string, photo: Buffer, caption: string): Promise<void> {
  const mediaId = await api.upload((await api.logIn(username, PASSWORD)).accessToken, photo, { caption });
  await waitFor(
    `photo "${caption}" published`,
    async () => {
      const token = (await api.logIn(username, PASSWORD)).accessToken;
      const res = await api.call<{ status: string }>('GET', `/v1/media/${mediaId}/status`, { token });
      if (res.body.status === 'rejected') throw new Error(`"${caption}" rejected`);
      return res.body.status === 'published';
    },
    { timeoutMs: SLOW_MS, intervalMs: 500 },
  );
}

test.serial('long lists are paged: a grid, a post’s comments, the notifications', async (t) => {
  await withScreenshots(t, async () => {
    // Dave's 13 photos (the grid's pages hold 12) and 21 comments from erin on his last (comments and
    // notifications come 20 a page), set up through the API.
    const api = new Client(running.url);
    const dave = await api.signUp('dave', PASSWORD, 'Dave');
    // Three at a time: a loaded 2-core machine processes a few photos at once, not a queue of 13.
    for (let n = 1; n <= 13; n += 3) {
      const batch = [n, n + 1, n + 2].filter((i) => i <= 13);
      // Each a photo of its own (the same bytes twice would be the same photo).
      const photos = await Promise.all(batch.map((i) => photoOf(320, 320, { r: 10 * i, g: 90, b: 160 })));
      await Promise.all(batch.map((i, k) => publish(api, 'dave', photos[k] as Buffer, `Photo ${i}`)));
    }
    await api.signUp('erin', PASSWORD, 'Erin');
    const asErin = { token: (await api.logIn('erin', PASSWORD)).accessToken };
    const grid = await api.call<{ items: { id: string }[] }>(
      'GET',
      `/v1/users/${dave.user.id}/posts?limit=1`,
      asErin,
    );
    const last = grid.body.items[0]?.id;
    for (let n = 1; n <= 21; n++) {
      const res = await api.call('POST', `/v1/posts/${last}/comments`, {
        ...asErin,
        json: { text: `Comment ${n}` },
      });
      t.is(res.status, 201);
    }
    await waitFor('21 notifications for dave', async () => {
      const token = (await api.logIn('dave', PASSWORD)).accessToken;
      const res = await api.call<{ unreadCount: number }>('GET', '/v1/notifications', { token });
      return res.body.unreadCount >= 21;
    });

    // Dave logs in on his phone.
    const page = await phone('dave');
    await page.getByLabel('Username').fill('dave');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    const paged: string[] = [];
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.searchParams.has('cursor')) paged.push(url.pathname);
    });

    // Notifications: the first 20, the rest as the list's end comes into view (or on "Load more").
    await page.getByRole('link', { name: /^Notifications \d+ unread$/ }).click();
    const items = page.getByRole('link', { name: 'erin commented on your photo' });
    await waitFor('all 21 notifications', async () => (await items.count()) === 21);
    t.true(paged.includes('/v1/notifications'), 'a second page of notifications');

    // The grid: 12, then the 13th.
    await page.getByRole('link', { name: 'Profile' }).click();
    const thumbs = page.getByRole('list', { name: 'Posts by dave' }).getByRole('link');
    await waitFor('all 13 thumbs', async () => (await thumbs.count()) === 13);
    t.true(paged.includes(`/v1/users/${dave.user.id}/posts`), 'a second page of the grid');
    t.deepEqual(await accessibilityProblems(page), [], 'a long grid');

    // The last post's comments: 20, then "More comments" brings the 21st.
    await thumbs.first().click();
    await page.getByRole('heading', { name: 'Post by dave', level: 1 }).waitFor();
    const comment = (n: number) =>
      page.getByRole('listitem').filter({ hasText: new RegExp(`^erin Comment ${n}$`) });
    await comment(20).waitFor();
    t.is(await comment(21).count(), 0);
    await page.getByRole('button', { name: 'More comments' }).click();
    await comment(21).waitFor();
    t.is(await page.getByRole('button', { name: 'More comments' }).count(), 0, 'no more');

    t.deepEqual(pages.get('dave')?.errors, [], 'no errors in the console');
  });
});
