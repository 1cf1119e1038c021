import test from 'ava';
import { type LikeChange, planLikeBatch } from '../src/domain/like-batch.ts';

// The in-memory decision of a batch of likes and unlikes (pure; the database tests are like-batches.test.ts).

const HOUR = 3_600_000;
const T = Date.parse('2026-01-01T12:00:00Z');
const at = (s: number) => new Date(T + s * 1000);
let n = 0;
const like = (actorId: string, s: number, liked = true, postId = 'p1'): LikeChange => ({
  eventId: `e${n++}`,
  liked,
  recipientId: 'r1',
  postId,
  actorId,
  at: at(s),
});
const none = { groups: [], members: [], unlikes: [], windowMs: HOUR };

test('likes of one post open one group with every actor', (t) => {
  const plan = planLikeBatch({ ...none, changes: [like('a', 2), like('b', 1), like('c', 3)] });
  t.is(plan.newGroups.length, 1);
  t.deepEqual(
    plan.newGroups[0]?.actors.map((a) => a.actorId),
    ['b', 'a', 'c'],
  );
  t.deepEqual(plan.newGroups[0]?.firstAt, at(1));
  t.deepEqual(plan.newGroups[0]?.lastAt, at(3));
  t.deepEqual([...plan.unread], [['r1', 1]]);
});

test('a like joins the stored unread group within the window, which is announced again', (t) => {
  const group = { id: '10', recipientId: 'r1', postId: 'p1', firstAt: at(0), lastAt: at(0), actorCount: 1 };
  const plan = planLikeBatch({
    ...none,
    groups: [group],
    members: [{ groupId: '10', actorId: 'a', actedAt: at(0) }],
    changes: [like('a', 5), like('b', 6)],
  });
  t.deepEqual(plan.newGroups, []);
  t.deepEqual(plan.addedActors, [{ groupId: '10', actorId: 'b', actedAt: at(6) }], 'a was in it already');
  t.deepEqual(plan.updatedGroups, [{ id: '10', actorCount: 2, lastAt: at(6), announce: true }]);
  t.deepEqual([...plan.unread], [['r1', 0]]);
});

test('past the window a like opens a new group', (t) => {
  const group = { id: '10', recipientId: 'r1', postId: 'p1', firstAt: at(0), lastAt: at(0), actorCount: 1 };
  const plan = planLikeBatch({ ...none, groups: [group], changes: [like('b', 3601)] });
  t.is(plan.newGroups.length, 1);
  t.deepEqual(plan.updatedGroups, []);
  t.deepEqual([...plan.unread], [['r1', 1]]);
});

test('like then unlike leaves nothing but the unlike mark; a like older than a stored unlike is ignored', (t) => {
  const plan = planLikeBatch({
    ...none,
    unlikes: [{ recipientId: 'r1', postId: 'p2', actorId: 'c', at: at(10) }],
    changes: [like('a', 1), like('a', 2, false), like('c', 9, true, 'p2')],
  });
  t.deepEqual(plan.newGroups, []);
  t.deepEqual(plan.unlikes, [{ recipientId: 'r1', postId: 'p1', actorId: 'a', at: at(2) }]);
  t.deepEqual([...plan.unread], [['r1', 0]]);
});

test('an unlike empties a stored group (deleted, one unread less) and leaves another', (t) => {
  const g1 = { id: '10', recipientId: 'r1', postId: 'p1', firstAt: at(0), lastAt: at(0), actorCount: 1 };
  const g2 = { id: '11', recipientId: 'r1', postId: 'p1', firstAt: at(0), lastAt: at(1), actorCount: 2 };
  const plan = planLikeBatch({
    ...none,
    groups: [g1, g2],
    members: [
      { groupId: '10', actorId: 'a', actedAt: at(0) },
      { groupId: '11', actorId: 'a', actedAt: at(1) },
    ],
    changes: [like('a', 5, false)],
  });
  t.deepEqual(plan.deletedGroups, ['10']);
  t.deepEqual(plan.removedActors, [{ groupId: '11', actorId: 'a' }]);
  t.deepEqual(plan.updatedGroups, [{ id: '11', actorCount: 1, lastAt: at(1), announce: false }]);
  t.deepEqual([...plan.unread], [['r1', -1]]);
});

test('unlike then like again of a stored member: still counted once, with the new time', (t) => {
  const group = { id: '10', recipientId: 'r1', postId: 'p1', firstAt: at(0), lastAt: at(0), actorCount: 2 };
  const plan = planLikeBatch({
    ...none,
    groups: [group],
    members: [{ groupId: '10', actorId: 'a', actedAt: at(0) }],
    changes: [like('a', 1, false), like('a', 2)],
  });
  t.deepEqual(plan.removedActors, []);
  t.deepEqual(plan.addedActors, [{ groupId: '10', actorId: 'a', actedAt: at(2) }]);
  t.deepEqual(plan.updatedGroups, [{ id: '10', actorCount: 2, lastAt: at(2), announce: true }]);
});
