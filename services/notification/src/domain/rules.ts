import type { EventData } from '@instantpost/events';
import type { Intent } from './types.ts';

// Who is told what, for each event. Pure: no I/O. Nobody is notified of their own action, and a
// recipient gets at most one intent per event (a post author mentioned in a comment on their own
// post gets the comment, not also a mention).

function notSelf(intents: Intent[]): Intent[] {
  const seen = new Set<string>();
  return intents.filter((intent) => {
    if (intent.recipientId === intent.actorId || seen.has(intent.recipientId)) return false;
    seen.add(intent.recipientId);
    return true;
  });
}

export function followIntents(data: EventData<'follow.created'>, at: Date): Intent[] {
  return notSelf([
    {
      recipientId: data.followeeId,
      kind: data.state === 'following' ? 'follow' : 'follow_request',
      actorId: data.followerId,
      at,
    },
  ]);
}

/** The requester learns that the private account accepted. */
export function followApprovedIntents(data: EventData<'follow.approved'>, at: Date): Intent[] {
  return notSelf([{ recipientId: data.followerId, kind: 'follow_approved', actorId: data.followeeId, at }]);
}

export function likeIntents(data: EventData<'like.created'>, at: Date): Intent[] {
  return notSelf([
    { recipientId: data.postAuthorId, kind: 'like', actorId: data.userId, postId: data.postId, at },
  ]);
}

export function commentIntents(data: EventData<'comment.created'>, at: Date): Intent[] {
  const base = { actorId: data.userId, postId: data.postId, commentId: data.commentId, at };
  return notSelf([
    { ...base, recipientId: data.postAuthorId, kind: 'comment' },
    ...data.mentions.map((m): Intent => ({ ...base, recipientId: m.userId, kind: 'mention' })),
  ]);
}

export function postMentionIntents(data: EventData<'post.published'>, at: Date): Intent[] {
  return notSelf(
    data.mentions.map(
      (m): Intent => ({
        recipientId: m.userId,
        kind: 'mention',
        actorId: data.authorId,
        postId: data.postId,
        at,
      }),
    ),
  );
}
