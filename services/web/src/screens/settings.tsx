import { useEffect, useState } from 'preact/hooks';
import type { ApiClient } from '../api/client.ts';
import { messageOf } from '../api/errors.ts';
import type { FollowRequestPage, Me, User } from '../api/types.ts';

/** The private-account switch, the follow requests waiting for an answer, and logging out. */
export function Settings({ api }: { api: ApiClient }) {
  const [me, setMe] = useState<Me>();
  const [requests, setRequests] = useState<User[]>([]);
  const [error, setError] = useState<string>();

  useEffect(() => {
    let live = true;
    void (async () => {
      try {
        const [profile, pending] = await Promise.all([
          api.get<Me>('/v1/me'),
          api.get<FollowRequestPage>('/v1/follow-requests?limit=100'),
        ]);
        if (!live) return;
        setMe(profile);
        setRequests(pending.items);
      } catch (err) {
        if (live) setError(messageOf(err));
      }
    })();
    return () => {
      live = false;
    };
  }, [api]);

  const setPrivate = async (isPrivate: boolean) => {
    if (!me) return;
    setError(undefined);
    setMe({ ...me, isPrivate });
    try {
      setMe(await api.patch<Me>('/v1/me', { isPrivate }));
    } catch (err) {
      setMe({ ...me, isPrivate: !isPrivate });
      setError(messageOf(err));
    }
  };

  const answer = async (user: User, verdict: 'approve' | 'deny') => {
    setError(undefined);
    try {
      await api.post(`/v1/follow-requests/${user.id}/${verdict}`);
      setRequests((list) => list.filter((u) => u.id !== user.id));
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <main class="settings">
      <h1>Settings</h1>
      {me && (
        <label class="switch">
          <input
            type="checkbox"
            role="switch"
            checked={me.isPrivate}
            aria-checked={me.isPrivate}
            onChange={(e) => void setPrivate(e.currentTarget.checked)}
          />{' '}
          Private account
        </label>
      )}
      <p class="hint">Only people you approve see the photos of a private account.</p>
      <h2>Follow requests</h2>
      {requests.length === 0 ? (
        <p class="empty">No one is waiting.</p>
      ) : (
        <ul class="requests">
          {requests.map((user) => (
            <li key={user.id}>
              <span>{user.username}</span>
              <button
                type="button"
                aria-label={`Approve ${user.username}`}
                onClick={() => void answer(user, 'approve')}
              >
                Approve
              </button>
              <button
                type="button"
                class="secondary"
                aria-label={`Deny ${user.username}`}
                onClick={() => void answer(user, 'deny')}
              >
                Deny
              </button>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <button type="button" class="secondary logout" onClick={() => void api.logOut()}>
        Log out
      </button>
    </main>
  );
}
