/**
 * The end state of a chaos run, read through the API only and compared with what the clients were told:
 * every acknowledged upload published once and in every follower's feed once, every acknowledged follow,
 * like and comment counted once (in metadata and in feed's copy), nothing dead-lettered.
 */
import { ErrorLog, withRetries } from './chaos-client.ts';
import type { ChaosUser, Ledger } from './chaos-load.ts';

interface PostJson {
  id: string;
  caption: string;
  author: { id: string };
  likeCount: number;
  commentCount: number;
  viewerHasLiked: boolean;
}

/** One line of the "nothing lost" table. */
export interface Check {
  what: string;
  expected: number;
  found: number;
}

export interface Verdict {
  checks: Check[];
  /** Each a precise description of something lost, duplicated or wrong; empty when all is well. */
  problems: string[];
  /** Done by an attempt the client never got an answer for, and found done: legitimate, reported. */
  unanswered: { uploadsPublished: number; followsMade: number; likesMade: number; commentsMade: number };
}

const ids = (items: readonly { id: string }[]) => items.map((i) => i.id);
const few = (xs: readonly string[]) => `${xs.slice(0, 5).join(', ')}${xs.length > 5 ? ', …' : ''}`;

function duplicates(xs: readonly string[]): string[] {
  const seen = new Set<string>();
  return [...new Set(xs.filter((x) => seen.has(x) || !seen.add(x)))];
}

async function pool<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(items.length, concurrency) }, async () => {
      while (next < items.length) await task(items[next++] as T);
    }),
  );
}

export class EndState {
  /** Reads that failed while checking (after convergence there should be none). */
  readonly errors = new ErrorLog();
  private readonly url: string;
  private readonly ledger: Ledger;

  constructor(url: string, ledger: Ledger) {
    this.url = url;
    this.ledger = ledger;
  }

  private async get<T>(path: string, token: string): Promise<T> {
    const ok = await withRetries(this.url, 'check read', this.errors, 200, () => ({
      method: 'GET',
      path,
      token,
    }));
    if (!ok) throw new Error(`GET ${path} did not answer 200`);
    return ok.body as T;
  }

  /** Every page of a list (bounded: 200 pages of 100). */
  private async all<T>(path: string, token: string): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 200; page++) {
      const sep = path.includes('?') ? '&' : '?';
      const q: string = cursor ? `${sep}limit=100&cursor=${encodeURIComponent(cursor)}` : `${sep}limit=100`;
      const body: { items: T[]; nextCursor: string | null } = await this.get(`${path}${q}`, token);
      out.push(...body.items);
      cursor = body.nextCursor;
      if (!cursor) return out;
    }
    throw new Error(`${path}: more than 200 pages`);
  }

  /** Acknowledged uploads whose status is not yet `published` (terminal ones that are not, as problems). */
  async unpublished(): Promise<{ waiting: string[]; rejected: string[] }> {
    const waiting: string[] = [];
    const rejected: string[] = [];
    const acked = this.ledger.uploads.filter((u) => u.mediaId);
    await pool(acked, 8, async (u) => {
      const owner = this.ledger.users[u.owner] as ChaosUser;
      const { status } = await this.get<{ status: string }>(`/v1/media/${u.mediaId}/status`, owner.token);
      if (status === 'processing') waiting.push(u.mediaId as string);
      else if (status !== 'published') rejected.push(`${u.mediaId} (${status})`);
    });
    return { waiting, rejected };
  }

  async verify(): Promise<Verdict> {
    const { users } = this.ledger;
    const problems: string[] = [];
    const checks: Check[] = [];
    const unanswered = { uploadsPublished: 0, followsMade: 0, likesMade: 0, commentsMade: 0 };
    const index = new Map(users.map((u, i) => [u.id, i]));

    // Profile grids: each user's posts, each acknowledged upload once.
    const grids = new Map<string, PostJson[]>();
    await pool(users, 8, async (u) => {
      grids.set(u.id, await this.all<PostJson>(`/v1/users/${u.id}/posts`, u.token));
    });
    const posts = new Map<string, PostJson>();
    let ackedUploads = 0;
    let publishedOnce = 0;
    for (const [i, u] of users.entries()) {
      const grid = grids.get(u.id) ?? [];
      for (const p of grid) posts.set(p.id, p);
      const dup = duplicates(ids(grid));
      if (dup.length) problems.push(`${u.username}'s grid lists ${dup.length} posts twice: ${few(dup)}`);
      const dupCaptions = duplicates(grid.map((p) => p.caption));
      if (dupCaptions.length)
        problems.push(
          `${u.username}'s grid has ${dupCaptions.length} uploads published twice: ${few(dupCaptions)}`,
        );
      const mine = this.ledger.uploads.filter((x) => x.owner === i);
      const inGrid = new Set(ids(grid));
      for (const x of mine.filter((m) => m.mediaId)) {
        ackedUploads++;
        if (inGrid.has(x.mediaId as string)) publishedOnce++;
        else
          problems.push(`accepted upload ${x.mediaId} of ${u.username} ("${x.caption}") is not in the grid`);
      }
      const acked = new Set(mine.flatMap((m) => (m.mediaId ? [m.mediaId] : [])));
      const unackedCaptions = new Set(mine.filter((m) => !m.mediaId).map((m) => m.caption));
      for (const p of grid.filter((p) => !acked.has(p.id))) {
        if (unackedCaptions.has(p.caption)) unanswered.uploadsPublished++;
        else problems.push(`${u.username}'s grid has a post nobody uploaded: ${p.id} ("${p.caption}")`);
      }
      const profile = await this.get<{ counts: { posts: number } }>(`/v1/users/${u.username}`, u.token);
      if (profile.counts.posts !== grid.length)
        problems.push(
          `${u.username}'s profile counts ${profile.counts.posts} posts, the grid holds ${grid.length}`,
        );
    }
    checks.push({
      what: 'accepted uploads (202) published, once in the grid',
      expected: ackedUploads,
      found: publishedOnce,
    });

    // Follows: every acknowledged one is there, nothing nobody asked for.
    const following = new Map<string, Set<string>>();
    await pool(users, 8, async (u) => {
      following.set(
        u.id,
        new Set(ids(await this.all<{ id: string }>(`/v1/users/${u.id}/following`, u.token))),
      );
    });
    let ackedFollows = 0;
    let followsFound = 0;
    for (const [i, u] of users.entries()) {
      const edges = this.ledger.follows.filter((f) => f.from === i);
      const actual = following.get(u.id) ?? new Set();
      const asked = new Set(edges.map((f) => (users[f.to] as ChaosUser).id));
      for (const f of edges) {
        const to = (users[f.to] as ChaosUser).id;
        if (f.acked) {
          ackedFollows++;
          if (actual.has(to)) followsFound++;
          else problems.push(`acknowledged follow ${u.username} → ${users[f.to]?.username} is missing`);
        } else if (actual.has(to)) unanswered.followsMade++;
      }
      const strays = [...actual].filter((id) => !asked.has(id));
      if (strays.length) problems.push(`${u.username} follows ${strays.length} accounts never asked for`);
    }
    checks.push({ what: 'acknowledged follows (200) in place', expected: ackedFollows, found: followsFound });

    // Each post as metadata shows it now (counts), its comments, and who liked it.
    const views = new Map<string, PostJson>();
    const comments = new Map<string, { id: string; text: string }[]>();
    await pool([...posts.values()], 8, async (p) => {
      const author = users[index.get(p.author.id) ?? -1] as ChaosUser;
      views.set(p.id, await this.get<PostJson>(`/v1/posts/${p.id}`, author.token));
      comments.set(p.id, await this.all(`/v1/posts/${p.id}/comments`, author.token));
    });

    // Likes: the count equals the distinct acknowledged likers plus unanswered likes that took effect.
    const likers = new Map<string, { acked: Set<number>; unanswered: Set<number> }>();
    for (const l of this.ledger.likes) {
      const entry = likers.get(l.postId) ?? { acked: new Set(), unanswered: new Set() };
      (l.acked ? entry.acked : entry.unanswered).add(l.user);
      likers.set(l.postId, entry);
    }
    let ackedLikes = 0;
    let likesCounted = 0;
    const likeChecks = [...likers].flatMap(([postId, e]) =>
      [...e.acked, ...[...e.unanswered].filter((x) => !e.acked.has(x))].map((user) => ({ postId, user })),
    );
    const liked = new Set<string>();
    await pool(likeChecks, 8, async ({ postId, user }) => {
      const view = await this.get<PostJson>(`/v1/posts/${postId}`, (users[user] as ChaosUser).token);
      if (view.viewerHasLiked) liked.add(`${postId}:${user}`);
    });
    for (const [postId, e] of likers) {
      const view = views.get(postId);
      if (!view) {
        problems.push(`post ${postId} was liked but is not in its author's grid`);
        continue;
      }
      let expected = 0;
      for (const user of e.acked) {
        ackedLikes++;
        expected++;
        if (liked.has(`${postId}:${user}`)) likesCounted++;
        else problems.push(`acknowledged like of ${postId} by ${users[user]?.username} is not there`);
      }
      for (const user of e.unanswered) {
        if (!e.acked.has(user) && liked.has(`${postId}:${user}`)) {
          expected++;
          unanswered.likesMade++;
        }
      }
      if (view.likeCount !== expected)
        problems.push(
          `post ${postId}: likeCount ${view.likeCount}, expected ${expected} (${e.acked.size} acknowledged)`,
        );
    }
    for (const [postId, view] of views)
      if (!likers.has(postId) && view.likeCount !== 0)
        problems.push(`post ${postId}: likeCount ${view.likeCount}, nobody liked it`);
    checks.push({
      what: 'acknowledged likes (204; distinct liker and post) counted once',
      expected: ackedLikes,
      found: likesCounted,
    });

    // Comments: listed once each; the count is the list; unanswered attempts that took effect are named by text.
    const asked = new Map<string, Ledger['comments']>();
    for (const c of this.ledger.comments) asked.set(c.postId, [...(asked.get(c.postId) ?? []), c]);
    let ackedComments = 0;
    let commentsOnce = 0;
    for (const [postId, view] of views) {
      const listed = comments.get(postId) ?? [];
      const mine = asked.get(postId) ?? [];
      const dupIds = duplicates(ids(listed));
      const dupTexts = duplicates(listed.map((c) => c.text));
      if (dupIds.length) problems.push(`post ${postId} lists comments twice: ${few(dupIds)}`);
      if (dupTexts.length) problems.push(`post ${postId} has comments stored twice: ${few(dupTexts)}`);
      const texts = new Set(mine.flatMap((c) => c.texts));
      const ackedIds = new Set(mine.flatMap((c) => (c.acked ? [c.acked.id] : [])));
      for (const c of mine.filter((m) => m.acked)) {
        ackedComments++;
        const n = listed.filter((l) => l.id === c.acked?.id).length;
        if (n === 1) commentsOnce++;
        else problems.push(`acknowledged comment ${c.acked?.id} on ${postId} listed ${n} times`);
      }
      for (const l of listed.filter((x) => !ackedIds.has(x.id))) {
        if (texts.has(l.text)) unanswered.commentsMade++;
        else problems.push(`post ${postId} has a comment nobody sent: ${l.id} ("${l.text}")`);
      }
      if (view.commentCount !== listed.length)
        problems.push(`post ${postId}: commentCount ${view.commentCount}, ${listed.length} comments listed`);
    }
    checks.push({
      what: 'acknowledged comments (201) listed and counted once',
      expected: ackedComments,
      found: commentsOnce,
    });

    // The hashtag index (metadata's own consumer of post events): every post once.
    const anyone = users[0] as ChaosUser;
    const tagged = ids(await this.all<PostJson>('/v1/tags/chaos/posts', anyone.token));
    const dupTagged = duplicates(tagged);
    if (dupTagged.length) problems.push(`#chaos lists ${dupTagged.length} posts twice: ${few(dupTagged)}`);
    const taggedSet = new Set(tagged);
    const untagged = [...posts.keys()].filter((id) => !taggedSet.has(id));
    if (untagged.length) problems.push(`#chaos misses ${untagged.length} posts: ${few(untagged)}`);
    const strayTags = [...taggedSet].filter((id) => !posts.has(id));
    if (strayTags.length)
      problems.push(`#chaos lists ${strayTags.length} posts of no grid: ${few(strayTags)}`);
    checks.push({
      what: 'posts in the #chaos tag index, once each',
      expected: posts.size,
      found: posts.size - untagged.length,
    });

    // Feeds: exactly the posts of the user and of whom they follow, once, with metadata's counts.
    let feedEntriesExpected = 0;
    let feedEntriesFound = 0;
    await pool(users, 4, async (u) => {
      const feed = await this.all<PostJson>('/v1/feed', u.token);
      const authors = [u.id, ...(following.get(u.id) ?? [])];
      const expected = new Set(authors.flatMap((a) => ids(grids.get(a) ?? [])));
      feedEntriesExpected += expected.size;
      const got = ids(feed);
      const dup = duplicates(got);
      if (dup.length) problems.push(`${u.username}'s feed holds ${dup.length} posts twice: ${few(dup)}`);
      const missing = [...expected].filter((id) => !got.includes(id));
      const extra = [...new Set(got)].filter((id) => !expected.has(id));
      feedEntriesFound += expected.size - missing.length;
      if (missing.length)
        problems.push(`${u.username}'s feed misses ${missing.length} posts: ${few(missing)}`);
      if (extra.length)
        problems.push(`${u.username}'s feed holds ${extra.length} posts it should not: ${few(extra)}`);
      for (const item of feed) {
        const view = views.get(item.id);
        if (view && (item.likeCount !== view.likeCount || item.commentCount !== view.commentCount))
          problems.push(
            `${u.username}'s feed shows ${item.id} with ${item.likeCount} likes/${item.commentCount} comments, the post has ${view.likeCount}/${view.commentCount}`,
          );
      }
    });
    checks.push({
      what: "posts in followers' feeds, once each",
      expected: feedEntriesExpected,
      found: feedEntriesFound,
    });

    return { checks, problems, unanswered };
  }
}
