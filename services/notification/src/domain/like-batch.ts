// Likes and unlikes of one batch of events, for the recipients of one shard, decided in memory from the
// like groups and unlike marks they touch (read once, under the groups' locks) and written back as a few
// set-based statements. Pure: no I/O. The outcome is the one the per-event path (notifier.ts: `deliver`
// for a like, `unlike`) would reach handling the batch's changes one after another in event-time order.

/** One like or unlike of a post, for its author (the recipient), once its inbox key is fresh. */
export interface LikeChange {
  readonly eventId: string;
  readonly liked: boolean;
  readonly recipientId: string;
  readonly postId: string;
  readonly actorId: string;
  /** The event's time: orders the changes, anchors the grouping window and the unlike marks. */
  readonly at: Date;
}

/** An unread like group of a touched (recipient, post) as stored when the batch starts, oldest version first. */
export interface StoredGroup {
  readonly id: string;
  readonly recipientId: string;
  readonly postId: string;
  readonly firstAt: Date;
  readonly lastAt: Date;
  readonly actorCount: number;
}

/** An actor of the batch already in a stored group. */
export interface StoredMember {
  readonly groupId: string;
  readonly actorId: string;
  readonly actedAt: Date;
}

/** The newest unlike of a (recipient, post, actor). */
export interface UnlikeMark {
  readonly recipientId: string;
  readonly postId: string;
  readonly actorId: string;
  readonly at: Date;
}

/** A group the batch opens, with its actors (written with fresh ids). */
export interface NewGroup {
  readonly recipientId: string;
  readonly postId: string;
  readonly firstAt: Date;
  readonly lastAt: Date;
  readonly actors: readonly { actorId: string; actedAt: Date }[];
}

/** What to write: the batch's effect on the groups and marks it read. */
export interface LikeBatchPlan {
  /** Unlike marks to store (the newest wins, as `rememberUnlike`). */
  readonly unlikes: UnlikeMark[];
  /** Actors that left stored groups that stay. */
  readonly removedActors: { groupId: string; actorId: string }[];
  /** Actors that joined stored groups (or joined again, with a new time). */
  readonly addedActors: { groupId: string; actorId: string; actedAt: Date }[];
  /** Stored groups whose count or time changed; `announce`: an actor joined (new version, announced again). */
  readonly updatedGroups: { id: string; actorCount: number; lastAt: Date; announce: boolean }[];
  /** Stored groups whose last actor left. */
  readonly deletedGroups: string[];
  readonly newGroups: NewGroup[];
  /** The unread count change of each recipient of the batch (0 for a list that changed without a new item). */
  readonly unread: Map<string, number>;
}

interface Member {
  present: boolean;
  actedAt: Date;
  readonly stored: { actedAt: Date } | undefined;
}

interface Group {
  readonly stored: StoredGroup | undefined;
  readonly recipientId: string;
  readonly postId: string;
  readonly firstAt: Date;
  lastAt: Date;
  count: number;
  joined: boolean;
  deleted: boolean;
  /** The batch's actors (only theirs are known; `count` covers everyone). */
  readonly members: Map<string, Member>;
}

const pairOf = (recipientId: string, postId: string) => `${recipientId}:${postId}`;

/**
 * Applies `changes` (fresh ones only) in event-time order to the stored state: a like joins the newest
 * (by version) unread group of its post opened within `windowMs` before it, or opens one; a like at or
 * before a stored or earlier unlike of the same actor is ignored; an unlike is remembered and takes its
 * actor out of every unread group of the post, deleting a group left empty. A group an actor joined is
 * announced once for the batch, with its final state (a push gateway collapses by id anyway).
 */
export function planLikeBatch(input: {
  changes: readonly LikeChange[];
  groups: readonly StoredGroup[];
  members: readonly StoredMember[];
  unlikes: readonly UnlikeMark[];
  windowMs: number;
}): LikeBatchPlan {
  const byPair = new Map<string, Group[]>();
  const storedMembers = new Map<string, Map<string, Date>>();
  for (const m of input.members) {
    const of = storedMembers.get(m.groupId) ?? new Map<string, Date>();
    of.set(m.actorId, m.actedAt);
    storedMembers.set(m.groupId, of);
  }
  for (const g of input.groups) {
    const list = byPair.get(pairOf(g.recipientId, g.postId)) ?? [];
    const members = new Map<string, Member>();
    for (const [actorId, actedAt] of storedMembers.get(g.id) ?? []) {
      members.set(actorId, { present: true, actedAt, stored: { actedAt } });
    }
    list.push({
      stored: g,
      recipientId: g.recipientId,
      postId: g.postId,
      firstAt: g.firstAt,
      lastAt: g.lastAt,
      count: g.actorCount,
      joined: false,
      deleted: false,
      members,
    });
    byPair.set(pairOf(g.recipientId, g.postId), list);
  }
  const marks = new Map<string, UnlikeMark>();
  const markKey = (c: { recipientId: string; postId: string; actorId: string }) =>
    `${c.recipientId}:${c.postId}:${c.actorId}`;
  for (const u of input.unlikes) marks.set(markKey(u), u);
  const newMarks = new Map<string, UnlikeMark>();
  const unread = new Map<string, number>();
  const bump = (recipientId: string, delta: number) =>
    unread.set(recipientId, (unread.get(recipientId) ?? 0) + delta);

  const ordered = input.changes
    .map((change, i) => ({ change, i }))
    .sort((a, b) => a.change.at.getTime() - b.change.at.getTime() || a.i - b.i);
  for (const { change } of ordered) {
    bump(change.recipientId, 0);
    const pair = pairOf(change.recipientId, change.postId);
    const groups = byPair.get(pair) ?? [];
    byPair.set(pair, groups);
    if (change.liked) {
      const undone = marks.get(markKey(change));
      if (undone && undone.at.getTime() >= change.at.getTime()) continue;
      const notBefore = change.at.getTime() - input.windowMs;
      // newest version last: a group that grows gets a new version, so it moves to the end
      let index = -1;
      for (let i = groups.length - 1; i >= 0; i--) {
        const g = groups[i] as Group;
        if (!g.deleted && g.firstAt.getTime() >= notBefore) {
          index = i;
          break;
        }
      }
      const group = groups[index];
      if (group === undefined) {
        groups.push({
          stored: undefined,
          recipientId: change.recipientId,
          postId: change.postId,
          firstAt: change.at,
          lastAt: change.at,
          count: 1,
          joined: true,
          deleted: false,
          members: new Map([[change.actorId, { present: true, actedAt: change.at, stored: undefined }]]),
        });
        bump(change.recipientId, 1);
        continue;
      }
      const member = group.members.get(change.actorId);
      if (member?.present) continue; // already in the group: nothing new to announce
      if (member) {
        member.present = true;
        member.actedAt = change.at;
      } else {
        group.members.set(change.actorId, { present: true, actedAt: change.at, stored: undefined });
      }
      group.count++;
      if (change.at.getTime() > group.lastAt.getTime()) group.lastAt = change.at;
      group.joined = true;
      groups.splice(index, 1);
      groups.push(group);
    } else {
      const key = markKey(change);
      const known = marks.get(key);
      if (!known || known.at.getTime() < change.at.getTime()) {
        const mark = {
          recipientId: change.recipientId,
          postId: change.postId,
          actorId: change.actorId,
          at: change.at,
        };
        marks.set(key, mark);
        newMarks.set(key, mark);
      }
      for (const group of groups) {
        const member = group.members.get(change.actorId);
        if (group.deleted || !member?.present) continue;
        member.present = false;
        group.count--;
        if (group.count <= 0) {
          group.deleted = true;
          bump(change.recipientId, -1);
        }
      }
    }
  }

  const plan: LikeBatchPlan = {
    unlikes: [...newMarks.values()],
    removedActors: [],
    addedActors: [],
    updatedGroups: [],
    deletedGroups: [],
    newGroups: [],
    unread,
  };
  for (const groups of byPair.values()) {
    for (const g of groups) {
      if (g.stored === undefined) {
        if (g.deleted) continue;
        const actors = [...g.members]
          .filter(([, m]) => m.present)
          .map(([actorId, m]) => ({ actorId, actedAt: m.actedAt }));
        plan.newGroups.push({
          recipientId: g.recipientId,
          postId: g.postId,
          firstAt: g.firstAt,
          lastAt: g.lastAt,
          actors,
        });
        continue;
      }
      const id = g.stored.id;
      if (g.deleted) {
        plan.deletedGroups.push(id);
        continue;
      }
      for (const [actorId, m] of g.members) {
        if (!m.present && m.stored) plan.removedActors.push({ groupId: id, actorId });
        else if (m.present && (!m.stored || m.stored.actedAt.getTime() !== m.actedAt.getTime()))
          plan.addedActors.push({ groupId: id, actorId, actedAt: m.actedAt });
      }
      if (g.joined || g.count !== g.stored.actorCount || g.lastAt.getTime() !== g.stored.lastAt.getTime()) {
        plan.updatedGroups.push({ id, actorCount: g.count, lastAt: g.lastAt, announce: g.joined });
      }
    }
  }
  return plan;
}
