import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ApiClient } from './api/client.ts';
import { messageOf } from './api/errors.ts';
import type { Notification, NotificationPage } from './api/types.ts';
import { pageQuery } from './ui/pages.tsx';

export interface NotificationState {
  items: Notification[];
  unread: number;
  /** Older items past the loaded ones (the paged list behind the first page). */
  more: boolean;
  loading: boolean;
  error: string | undefined;
  loadMore(): Promise<void>;
  /** Marks everything read (the Notifications screen was opened). */
  markRead(): void;
}

const PAGE = 20;

/** Older items below the ones held (an item already held, sent again by the stream, stays as it is). */
function appendOlder(items: readonly Notification[], older: readonly Notification[]): Notification[] {
  const held = new Set(items.map((i) => i.id));
  return [...items, ...older.filter((i) => !held.has(i.id))];
}

/** Items newest first; an item sent again (a like group grew) replaces its older copy. */
function merge(items: readonly Notification[], item: Notification): Notification[] {
  return [item, ...items.filter((i) => i.id !== item.id)];
}

/**
 * The notifications and the unread count, live: the first page from GET /v1/notifications, then every new
 * or grown item from the stream (EventSource, token in `?access_token=`). A stream closed by the server
 * (the access token expired) opens again after a refresh, from the last event id it saw.
 */
export function useNotifications(api: ApiClient): NotificationState {
  const [items, setItems] = useState<Notification[]>([]);
  const [unread, setUnread] = useState(0);
  // The next older page's cursor; null at the end, undefined until the first page is in.
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string>();
  // Items counted unread here: an update of one of them (a like group grew) does not count again.
  const unreadIds = useRef(new Set<string>()).current;

  useEffect(() => {
    let source: EventSource | undefined;
    let lastEventId: string | undefined;
    let stopped = false;

    // Each open() supersedes the ones before it (a refresh while a stream was still connecting).
    let generation = 0;
    const open = async () => {
      const mine = ++generation;
      source?.close();
      const token = await api.accessToken();
      if (stopped || !token || mine !== generation) return;
      const query = new URLSearchParams({ access_token: token });
      if (lastEventId) query.set('lastEventId', lastEventId);
      const stream = new EventSource(`/v1/notifications/stream?${query}`);
      source = stream;
      stream.onmessage = (e: MessageEvent<string>) => {
        lastEventId = e.lastEventId || lastEventId;
        const item = JSON.parse(e.data) as Notification;
        setItems((list) => merge(list, item));
        if (!item.read && !unreadIds.has(item.id)) {
          unreadIds.add(item.id);
          setUnread((n) => n + 1);
        }
      };
      // EventSource retries by itself after a network error; a refusal (401: the token expired while the
      // tab slept) closes it for good, so this opens a new one with a fresh token.
      stream.onerror = () => {
        if (stream.readyState !== EventSource.CLOSED || stopped || stream !== source) return;
        void api.refresh().then((ok) => {
          if (ok) void open();
        });
      };
    };

    // A renewed access token: the stream moves to it before the server closes the old one at its expiry.
    const unsubscribe = api.tokens.subscribe(() => {
      if (!source || stopped || !api.tokens.access) return;
      void open();
    });

    void (async () => {
      try {
        const page = await api.get<NotificationPage>(`/v1/notifications?${pageQuery(PAGE)}`);
        if (stopped) return;
        for (const item of page.items) if (!item.read) unreadIds.add(item.id);
        // The stream may have brought newer items meanwhile: they stay on top.
        setItems((streamed) => appendOlder(streamed, page.items));
        setUnread(page.unreadCount);
        setCursor(page.nextCursor);
      } catch {
        // the count stays 0 until the stream brings something
      }
      await open();
    })();
    return () => {
      stopped = true;
      unsubscribe();
      source?.close();
    };
  }, [api]);

  const markRead = useCallback(() => {
    if (unread === 0) return;
    setUnread(0);
    unreadIds.clear();
    setItems((list) => list.map((i) => ({ ...i, read: true })));
    void api.post('/v1/notifications/read').catch(() => undefined);
  }, [api, unread, unreadIds]);

  const loadMore = useCallback(async () => {
    if (!cursor || loading) return;
    setLoading(true);
    setError(undefined);
    try {
      const page = await api.get<NotificationPage>(`/v1/notifications?${pageQuery(PAGE, cursor)}`);
      setItems((list) => appendOlder(list, page.items));
      setCursor(page.nextCursor);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setLoading(false);
    }
  }, [api, cursor, loading]);

  return { items, unread, markRead, more: cursor !== null, loading, error, loadMore };
}
