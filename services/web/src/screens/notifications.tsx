import { useEffect } from 'preact/hooks';
import type { Notification } from '../api/types.ts';
import type { NotificationState } from '../notifications.ts';
import { Link } from '../ui/link.tsx';
import { MoreBelow } from '../ui/pages.tsx';

function who(n: Notification): string {
  const first = n.actors[0]?.username ?? 'someone';
  const others = n.actorCount - 1;
  return others > 0 ? `${first} and ${others} ${others === 1 ? 'other' : 'others'}` : first;
}

/** "alice and 3 others liked your photo". */
export function describe(n: Notification): string {
  switch (n.type) {
    case 'like':
      return `${who(n)} liked your photo`;
    case 'comment':
      return `${who(n)} commented on your photo`;
    case 'follow':
      return `${who(n)} started following you`;
    case 'follow_request':
      return n.approved ? `${who(n)} accepted your follow request` : `${who(n)} asked to follow you`;
    case 'mention':
      return `${who(n)} mentioned you`;
  }
}

/** The activity list, each item leading to its post (or to who followed); opening it marks everything read. */
export function Notifications({ state }: { state: NotificationState }) {
  const { items, markRead } = state;
  useEffect(() => {
    markRead();
  }, [markRead]);
  return (
    <main>
      <h1>Notifications</h1>
      {items.length === 0 ? (
        <p class="empty">No activity yet.</p>
      ) : (
        <ul class="notifications">
          {items.map((n) => {
            const actor = n.actors[0]?.username;
            return (
              <li key={n.id} class={n.read ? undefined : 'unread'}>
                {n.postId ? (
                  <Link to={{ name: 'post', id: n.postId }}>{describe(n)}</Link>
                ) : actor ? (
                  <Link to={{ name: 'profile', username: actor }}>{describe(n)}</Link>
                ) : (
                  <span>{describe(n)}</span>
                )}{' '}
                <time dateTime={n.createdAt}>{new Date(n.createdAt).toLocaleString()}</time>
              </li>
            );
          })}
        </ul>
      )}
      <MoreBelow pages={state} />
    </main>
  );
}
