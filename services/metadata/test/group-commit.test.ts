import { inTransaction } from '@instantpost/shards';
import test from 'ava';
import { GroupCommit } from '../src/store/group-commit.ts';
import {
  call,
  type Fixture,
  mediaIdFor,
  newPost,
  newUser,
  openMetadata,
  recordEvents,
  waitFor,
} from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openMetadata();
});
test.after.always(async () => {
  await fx?.close();
});

async function rowCount(table: 'likes' | 'comments', postId: string): Promise<number> {
  const shard = fx.svc.infra.shards.forId(postId);
  const [row] = await shard.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM ${shard.table(table)} WHERE post_id = ${postId}`;
  return row?.n ?? 0;
}

test('likes and comments sent at once share transactions: each is answered as its own, stored once, with its event', async (t) => {
  const author = await newUser(fx.svc, { database: 0 });
  const postId = await newPost(fx, author, 'many at once');
  const likers = await Promise.all(
    Array.from({ length: 30 }, async (_, i) => {
      const id = await mediaIdFor(fx, author.id);
      return fx.keys.tokenFor({ id, username: `gc${i}_${id.slice(-6)}` });
    }),
  );
  const seen = recordEvents(fx, '>');
  // All at once, so they share transactions.
  const replies = await Promise.all([
    ...likers.map((token) => call(fx.svc, 'POST', `/v1/posts/${postId}/likes`, { token })),
    ...Array.from({ length: 20 }, (_, i) =>
      call(fx.svc, 'POST', `/v1/posts/${postId}/comments`, {
        token: author.token,
        body: { text: `comment ${i}` },
      }),
    ),
  ]);
  const likeReplies = replies.slice(0, 30);
  const commentReplies = replies.slice(30);
  t.deepEqual(
    likeReplies.map((r) => r.status),
    likers.map(() => 204),
  );
  t.deepEqual(
    commentReplies.map((r) => r.status),
    Array.from({ length: 20 }, () => 201),
  );
  t.is(await rowCount('likes', postId), 30);
  t.is(await rowCount('comments', postId), 20);
  const commentIds = new Set(commentReplies.filter((r) => r.status === 201).map((r) => r.body.id as string));
  t.is(commentIds.size, 20, 'each comment has its own id');
  t.true(
    commentReplies.every((r, i) => r.status !== 201 || r.body.text === `comment ${i}`),
    'each answer is its own comment',
  );
  await waitFor('every event published', () => {
    const likes = seen.events.filter((e) => e.type === 'like.created' && e.subject === postId).length;
    const comments = seen.events.filter((e) => e.type === 'comment.created' && e.subject === postId).length;
    return likes === 30 && comments === 20;
  });
  seen.stop();
});

test('liking twice and unliking in one burst: the outcome of each is as if alone', async (t) => {
  const author = await newUser(fx.svc, { database: 1 });
  const postId = await newPost(fx, author, 'idempotent in a batch');
  const missing = `${BigInt(postId) + 1n}`;
  const [a, b, gone] = await Promise.all([
    call(fx.svc, 'POST', `/v1/posts/${postId}/likes`, { token: author.token }),
    call(fx.svc, 'POST', `/v1/posts/${postId}/likes`, { token: author.token }),
    call(fx.svc, 'POST', `/v1/posts/${missing}/likes`, { token: author.token }),
  ]);
  t.is(a?.status, 204);
  t.is(b?.status, 204);
  t.is(gone?.status, 404);
  t.is(await rowCount('likes', postId), 1);
  const unliked = await Promise.all([
    call(fx.svc, 'DELETE', `/v1/posts/${postId}/likes`, { token: author.token }),
    call(fx.svc, 'DELETE', `/v1/posts/${postId}/likes`, { token: author.token }),
  ]);
  t.deepEqual(
    unliked.map((r) => r.status),
    [204, 204],
  );
  t.is(await rowCount('likes', postId), 0);
});

test('a batch Postgres refuses is written again one request at a time: only the refused request fails', async (t) => {
  const shard = fx.svc.infra.shards.forShard(3);
  const probe = shard.table('group_commit_probe');
  await shard.sql`CREATE TABLE ${probe} (v int NOT NULL CHECK (v >= 0))`;
  const sizes: number[] = [];
  const commit = new GroupCommit<number, number>({
    maxBatch: 64,
    perDatabase: 1,
    databaseOf: () => shard.database,
    conflictKey: (v) => String(v),
    write: (_group, ops) =>
      inTransaction(shard, async (tx) => {
        sizes.push(ops.length);
        await tx.sql`INSERT INTO ${tx.table('group_commit_probe')} SELECT unnest(${[...ops]}::int[])`;
        return ops.map((v) => v * 2);
      }),
  });
  const values = Array.from({ length: 40 }, (_, i) => (i === 17 ? -17 : i));
  const outcomes = await Promise.allSettled(values.map((v) => commit.submit(3, v)));
  t.true(
    sizes.some((n) => n > 1),
    `requests shared a transaction: ${sizes.join(',')}`,
  );
  outcomes.forEach((o, i) => {
    if (i === 17) t.regex(String(o.status === 'rejected' ? o.reason : ''), /check constraint/);
    else t.deepEqual(o, { status: 'fulfilled', value: i * 2 });
  });
  const [row] = await shard.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ${probe}`;
  t.is(row?.n, 39, 'every answered request is stored, once');
});

test("likes answered together: each liker's own viewerHasLiked shows at once, after the post was read", async (t) => {
  const author = await newUser(fx.svc, { database: 1 });
  const postId = await newPost(fx, author, 'read, then liked by many at once');
  const likers = await Promise.all(Array.from({ length: 12 }, () => newUser(fx.svc)));
  const liked = async (token: string) =>
    (await call(fx.svc, 'GET', `/v1/posts/${postId}`, { token })).body.viewerHasLiked as boolean;
  // Read first, so each liker's "not liked" is cached and would be served stale.
  t.deepEqual(
    await Promise.all(likers.map((u) => liked(u.token))),
    likers.map(() => false),
  );
  const answers = await Promise.all(
    likers.map((u) => call(fx.svc, 'POST', `/v1/posts/${postId}/likes`, { token: u.token })),
  );
  t.deepEqual(
    answers.map((a) => a.status),
    likers.map(() => 204),
  );
  // Right after the answers (no wait for the events): the flag changes went to Redis before them.
  t.deepEqual(
    await Promise.all(likers.map((u) => liked(u.token))),
    likers.map(() => true),
  );
});
