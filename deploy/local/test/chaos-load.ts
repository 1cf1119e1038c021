/**
 * The chaos run's load: users sign up and follow each other, then upload small photos, follow, like,
 * comment and read their feeds through the gateway while the faults run one after the other. The ledger
 * keeps what every client was told (the acknowledgements), which is what the end state is checked against.
 */
import { performance } from 'node:perf_hooks';
import { sleep } from '@instantpost/testing';
import sharp from 'sharp';
import { ErrorLog, withRetries } from './chaos-client.ts';
import type { Fault } from './chaos-stack.ts';

/** How big a run is. */
export interface ChaosSize {
  users: number;
  uploads: number;
  /** Follows per user: half before the faults start, half among the load. */
  followsPerUser: number;
  likes: number;
  comments: number;
  feedReads: number;
  /** Operations in flight at once. */
  concurrency: number;
}

export interface ChaosUser {
  id: string;
  username: string;
  token: string;
}

export type OpKind = 'upload' | 'follow' | 'like' | 'comment' | 'feed read';
export const OP_KINDS: readonly OpKind[] = ['upload', 'follow', 'like', 'comment', 'feed read'];

/** What the clients were told. */
export interface Ledger {
  users: ChaosUser[];
  /** One per upload operation; `mediaId` once a 202 came back (retries send the same bytes: deduplicated). */
  uploads: Array<{
    owner: number;
    caption: string;
    mediaId?: string;
    ackedAt?: number;
    publishedAt?: number;
  }>;
  follows: Array<{ from: number; to: number; acked: boolean }>;
  likes: Array<{ user: number; postId: string; acked: boolean }>;
  /** Every attempt has its own text, so a comment created by an unanswered attempt is told apart. */
  comments: Array<{ user: number; postId: string; texts: string[]; acked?: { id: string; text: string } }>;
  feedReads: number;
}

export interface FaultRecord {
  name: string;
  /** Seconds since the load started. */
  at: number;
  seconds: number;
  error?: string;
}

export interface LoadResult {
  ledger: Ledger;
  errors: ErrorLog;
  faults: FaultRecord[];
  /** Seconds from the first operation to the last one answered. */
  loadSeconds: number;
  /** Operations of the load (the follows made before it are not among them), by kind. */
  planned: Record<OpKind, number>;
  /** Of those, the ones the client got an acknowledgement for. */
  acked: Record<OpKind, number>;
}

type Op =
  | { kind: 'upload'; n: number }
  | { kind: 'follow'; n: number }
  | { kind: 'like'; user: number }
  | { kind: 'comment'; user: number }
  | { kind: 'feed read'; user: number };

/** mulberry32: a small seeded PRNG, so a size always plans the same operations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A distinct small JPEG per upload: the same bytes on every retry of one upload. */
function photo(n: number): Promise<Buffer> {
  return sharp({
    create: {
      width: 96 + (n % 97),
      height: 64 + (n % 31),
      channels: 3,
      background: { r: (n * 37) % 256, g: (n * 101) % 256, b: (n * 7) % 256 },
    },
  })
    .jpeg({ quality: 80 })
    .toBuffer();
}

export class ChaosLoad {
  readonly errors = new ErrorLog();
  readonly ledger: Ledger;
  private readonly random = prng(2012);
  /** Posts whose upload status read `published`: what people like and comment on. */
  private readonly published: string[] = [];
  private readonly url: string;
  private readonly size: ChaosSize;
  private readonly log: (line: string) => void;

  constructor(url: string, size: ChaosSize, log: (line: string) => void) {
    this.url = url;
    this.size = size;
    this.log = log;
    this.ledger = { users: [], uploads: [], follows: [], likes: [], comments: [], feedReads: 0 };
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }

  /** Sign-ups and log-ins (retried like every operation), and the first half of the follows. */
  async seed(): Promise<void> {
    const { users, followsPerUser, concurrency } = this.size;
    const signedUp: ChaosUser[] = new Array(users);
    await pool(users, concurrency, async (i) => {
      const username = `chaos_${i}`;
      const password = 'correct horse battery staple';
      const created = await withRetries(
        this.url,
        'sign-up',
        this.errors,
        201,
        () => ({ method: 'POST', path: '/v1/accounts', json: { username, password, displayName: username } }),
        { alsoRetry: [] },
      );
      const session = await withRetries(this.url, 'log-in', this.errors, 201, () => ({
        method: 'POST',
        path: '/v1/sessions',
        json: { username, password },
      }));
      if (!created || !session) throw new Error(`could not sign ${username} up`);
      const { accessToken, user } = session.body as { accessToken: string; user: { id: string } };
      signedUp[i] = { id: user.id, username, token: accessToken };
    });
    this.ledger.users = signedUp;
    for (let from = 0; from < users; from++) {
      const chosen = new Set<number>();
      while (chosen.size < Math.min(followsPerUser, users - 1)) {
        const to = Math.floor(this.random() * users);
        if (to !== from) chosen.add(to);
      }
      for (const to of chosen) this.ledger.follows.push({ from, to, acked: false });
    }
    const before = Math.ceil(followsPerUser / 2);
    const first = this.ledger.follows.filter((_, i) => i % followsPerUser < before);
    await pool(first.length, concurrency, async (i) => {
      await this.follow(first[i] as Ledger['follows'][number]);
    });
    this.log(`seeded ${users} users and ${first.length} follows`);
  }

  private plan(): Op[] {
    const { users, uploads, likes, comments, feedReads, followsPerUser, concurrency } = this.size;
    const before = Math.ceil(followsPerUser / 2);
    for (let n = 0; n < uploads; n++)
      this.ledger.uploads.push({ owner: n % users, caption: `chaos photo ${n} #chaos` });
    const rest: Op[] = [
      ...this.ledger.uploads
        .slice(concurrency)
        .map((_, i) => ({ kind: 'upload' as const, n: i + concurrency })),
      ...this.ledger.follows.flatMap((_, n) =>
        n % followsPerUser >= before ? [{ kind: 'follow' as const, n }] : [],
      ),
      ...Array.from({ length: likes }, (_, n) => ({ kind: 'like' as const, user: n % users })),
      ...Array.from({ length: comments }, (_, n) => ({ kind: 'comment' as const, user: (n * 7) % users })),
      ...Array.from({ length: feedReads }, (_, n) => ({ kind: 'feed read' as const, user: (n * 3) % users })),
    ];
    for (let i = rest.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [rest[i], rest[j]] = [rest[j] as Op, rest[i] as Op];
    }
    // The first operations are uploads, so there is something to like by the time likes come.
    const head = this.ledger.uploads.slice(0, concurrency).map((_, n) => ({ kind: 'upload' as const, n }));
    return [...head, ...rest];
  }

  private async follow(edge: Ledger['follows'][number]): Promise<boolean> {
    const from = this.ledger.users[edge.from] as ChaosUser;
    const to = this.ledger.users[edge.to] as ChaosUser;
    const ok = await withRetries(this.url, 'follow', this.errors, 200, () => ({
      method: 'POST',
      path: `/v1/users/${to.id}/follow`,
      token: from.token,
    }));
    edge.acked = ok !== undefined;
    return edge.acked;
  }

  private async upload(n: number): Promise<boolean> {
    const entry = this.ledger.uploads[n] as Ledger['uploads'][number];
    const owner = this.ledger.users[entry.owner] as ChaosUser;
    const bytes = new Uint8Array(await photo(n));
    const ok = await withRetries(this.url, 'upload', this.errors, 202, () => ({
      method: 'POST',
      path: '/v1/media',
      token: owner.token,
      form: () => {
        const form = new FormData();
        form.set('caption', entry.caption);
        form.set('photo', new Blob([bytes], { type: 'image/jpeg' }), 'photo.jpg');
        return form;
      },
    }));
    if (ok) {
      entry.mediaId = (ok.body as { id: string }).id;
      entry.ackedAt = performance.now();
    }
    return ok !== undefined;
  }

  /** A post someone has seen published; waits (bounded) for the first ones. */
  private async target(): Promise<string | undefined> {
    for (let i = 0; i < 600 && this.published.length === 0; i++) await sleep(100);
    return this.published.length === 0 ? undefined : this.pick(this.published);
  }

  private async like(user: number): Promise<boolean> {
    const postId = await this.target();
    if (!postId) return false;
    const who = this.ledger.users[user] as ChaosUser;
    const ok = await withRetries(
      this.url,
      'like',
      this.errors,
      204,
      () => ({ method: 'POST', path: `/v1/posts/${postId}/likes`, token: who.token }),
      { alsoRetry: [404] },
    );
    this.ledger.likes.push({ user, postId, acked: ok !== undefined });
    return ok !== undefined;
  }

  private async comment(user: number): Promise<boolean> {
    const postId = await this.target();
    if (!postId) return false;
    const who = this.ledger.users[user] as ChaosUser;
    const entry: Ledger['comments'][number] = { user, postId, texts: [] };
    this.ledger.comments.push(entry);
    const n = this.ledger.comments.length;
    const ok = await withRetries(
      this.url,
      'comment',
      this.errors,
      201,
      (attempt) => {
        const text = `chaos comment ${n}.${attempt}`;
        entry.texts.push(text);
        return { method: 'POST', path: `/v1/posts/${postId}/comments`, token: who.token, json: { text } };
      },
      { alsoRetry: [404] },
    );
    if (ok) entry.acked = ok.body as { id: string; text: string };
    return ok !== undefined;
  }

  private async feedRead(user: number): Promise<boolean> {
    const who = this.ledger.users[user] as ChaosUser;
    const ok = await withRetries(this.url, 'feed read', this.errors, 200, () => ({
      method: 'GET',
      path: '/v1/feed?limit=20',
      token: who.token,
    }));
    if (ok) this.ledger.feedReads++;
    return ok !== undefined;
  }

  /** Polls the status of acknowledged uploads, as the app's upload screen does, until `stopped()`. */
  private async watchPublished(stopped: () => boolean): Promise<void> {
    const seen = new Set<string>();
    while (!stopped()) {
      const waiting = this.ledger.uploads.filter((u) => u.mediaId && !seen.has(u.mediaId));
      await pool(waiting.length, 4, async (i) => {
        const u = waiting[i] as Ledger['uploads'][number];
        const owner = this.ledger.users[u.owner] as ChaosUser;
        const res = await fetch(`${this.url}/v1/media/${u.mediaId}/status`, {
          headers: { authorization: `Bearer ${owner.token}` },
          signal: AbortSignal.timeout(5000),
        }).catch(() => undefined);
        const body = res?.ok ? ((await res.json()) as { status: string }) : undefined;
        if (body?.status === 'published' && u.mediaId && !seen.has(u.mediaId)) {
          seen.add(u.mediaId);
          u.publishedAt = performance.now();
          this.published.push(u.mediaId);
        }
      });
      await sleep(500);
    }
  }

  /** Runs one operation; true when the client got its acknowledgement. */
  private async run(op: Op): Promise<boolean> {
    if (op.kind === 'upload') return this.upload(op.n);
    if (op.kind === 'follow') return this.follow(this.ledger.follows[op.n] as Ledger['follows'][number]);
    if (op.kind === 'like') return this.like(op.user);
    if (op.kind === 'comment') return this.comment(op.user);
    return this.feedRead(op.user);
  }

  /**
   * Runs the planned operations with the faults among them: the operations are cut into one slice more than
   * there are faults, and fault k starts when the operations reach slice k + 1 (and fault k - 1 is over),
   * so every fault lands while operations are in flight and they never overlap.
   */
  async drive(faults: readonly Fault[]): Promise<LoadResult> {
    const ops = this.plan();
    const slices = faults.length + 1;
    const sliceOf = (i: number) => Math.floor((i * slices) / ops.length);
    const reached = faults.map(() => deferred());
    const started = faults.map(() => deferred());
    const records: FaultRecord[] = [];
    const began = performance.now();
    const since = () => (performance.now() - began) / 1000;
    let loadOver = false;
    const watcher = this.watchPublished(() => loadOver);

    const faultRunner = (async () => {
      for (const [k, fault] of faults.entries()) {
        await reached[k]?.promise;
        const at = since();
        this.log(`  ${at.toFixed(1)} s: ${fault.name}`);
        started[k]?.resolve();
        const record: FaultRecord = { name: fault.name, at, seconds: 0 };
        this.errors.phase = fault.name;
        try {
          await fault.run();
        } catch (err) {
          record.error = (err as Error).message;
          this.log(`  fault failed: ${record.error}`);
        }
        this.errors.phase = 'no fault';
        record.seconds = since() - at;
        records.push(record);
      }
    })();

    let next = 0;
    let done = 0;
    const acked = Object.fromEntries(OP_KINDS.map((k) => [k, 0])) as Record<OpKind, number>;
    const workers = Array.from({ length: this.size.concurrency }, async () => {
      while (next < ops.length) {
        const i = next++;
        const slice = sliceOf(i);
        if (slice > 0) {
          reached[slice - 1]?.resolve();
          await started[slice - 1]?.promise;
        }
        const op = ops[i] as Op;
        if (await this.run(op)) acked[op.kind]++;
        if (++done % Math.max(1, Math.floor(ops.length / 10)) === 0)
          this.log(`  ${since().toFixed(1)} s: ${done}/${ops.length} operations answered`);
      }
    });
    await Promise.all(workers);
    const loadSeconds = since();
    // With fewer operations than faults a boundary may never be reached: release the rest.
    for (const r of reached) r.resolve();
    await faultRunner;
    loadOver = true;
    await watcher;

    const planned = Object.fromEntries(OP_KINDS.map((k) => [k, 0])) as Record<OpKind, number>;
    for (const op of ops) planned[op.kind]++;
    return { ledger: this.ledger, errors: this.errors, faults: records, loadSeconds, planned, acked };
  }
}
