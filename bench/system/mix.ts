import type { PlannedCall } from './load.ts';
import { type User, zipf } from './seed.ts';

/** `feed/grid/post/profile/notifications` percentages of the read mix. */
export type MixShares = readonly [number, number, number, number, number];

/** BENCH_MIX (`50/25/10/10/5` by default), checked: five percentages adding up to 100. */
export function mixShares(text = '50/25/10/10/5'): MixShares {
  const shares = text.split('/').map(Number);
  if (
    shares.length !== 5 ||
    shares.some((n) => !Number.isFinite(n) || n < 0) ||
    shares.reduce((a, b) => a + b) !== 100
  )
    throw new Error(
      `BENCH_MIX must be five percentages feed/grid/post/profile/notifications adding up to 100, got ${text}`,
    );
  return shares as unknown as MixShares;
}

/**
 * The read mix, one fresh draw per call (so viewer/profile and viewer/post pairs keep being new, as with
 * real traffic): a random viewer's feed; profiles and grids of accounts drawn by the follows' Zipf law,
 * seen by random viewers; random seeded posts; notifications of accounts drawn by the same law.
 */
export function readMix(
  users: readonly User[],
  posts: readonly string[],
  zipfS: number,
  shares: MixShares,
  pick: () => number,
): () => PlannedCall {
  const [feed, grid, post, profile] = shares.map((n) => n / 100) as unknown as MixShares;
  const popular = zipf(users.length, zipfS, pick);
  const anyone = () => users[Math.floor(pick() * users.length)] as User;
  return () => {
    const x = pick();
    if (x < feed)
      return { kind: 'feed', method: 'GET', path: '/v1/feed', token: anyone().token, expect: 200 };
    if (x < feed + grid) {
      const owner = users[popular()] as User;
      return {
        kind: 'grid',
        method: 'GET',
        path: `/v1/users/${owner.id}/posts`,
        token: anyone().token,
        expect: 200,
      };
    }
    if (x < feed + grid + post) {
      const id = posts[Math.floor(pick() * posts.length)] as string;
      return { kind: 'post', method: 'GET', path: `/v1/posts/${id}`, token: anyone().token, expect: 200 };
    }
    if (x < feed + grid + post + profile) {
      const owner = users[popular()] as User;
      return {
        kind: 'profile',
        method: 'GET',
        path: `/v1/users/${owner.username}`,
        token: anyone().token,
        expect: 200,
      };
    }
    // Notifications of people with followers (follows are what the seed notifies).
    const recipient = users[popular()] as User;
    return {
      kind: 'notifications',
      method: 'GET',
      path: '/v1/notifications',
      token: recipient.token,
      expect: 200,
    };
  };
}
