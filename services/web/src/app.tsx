import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ApiClient } from './api/client.ts';
import { useNotifications } from './notifications.ts';
import { pathOf, type Route, useRoute } from './router.ts';
import { Feed } from './screens/feed.tsx';
import { Login } from './screens/login.tsx';
import { NewPost } from './screens/new-post.tsx';
import { Notifications } from './screens/notifications.tsx';
import { PostPage } from './screens/post.tsx';
import { Profile } from './screens/profile.tsx';
import { Settings } from './screens/settings.tsx';
import { Link } from './ui/link.tsx';

/** Signed in or not: follows the tokens (a refused refresh anywhere signs out). */
function useSignedIn(api: ApiClient): boolean | undefined {
  const [signedIn, setSignedIn] = useState<boolean | undefined>(api.tokens.access ? true : undefined);
  useEffect(() => {
    const update = () => setSignedIn(api.tokens.access !== undefined);
    const unsubscribe = api.tokens.subscribe(update);
    // A reload: the stored refresh token buys a new access token, quietly (main.tsx started it; it may
    // be over already).
    if (api.tokens.access) update();
    else void api.accessToken().then(update);
    return unsubscribe;
  }, [api]);
  return signedIn;
}

export function App({ api }: { api: ApiClient }) {
  const signedIn = useSignedIn(api);
  if (signedIn === undefined) return <p class="loading">Loading…</p>;
  if (!signedIn) return <Login api={api} />;
  // Keyed by the user: signing in as someone else starts from nothing.
  return <SignedIn key={api.tokens.user?.id} api={api} />;
}

function SignedIn({ api }: { api: ApiClient }) {
  const route = useRoute();
  const notifications = useNotifications(api);
  // Each visit (a click on "Home" included) starts the screen afresh: the feed reloads.
  const [visit, setVisit] = useState(0);
  useEffect(() => {
    const onPop = () => setVisit((v) => v + 1);
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  const unread = notifications.unread;
  const me = api.tokens.user?.username;

  return (
    <>
      <a class="skip" href="#content">
        Skip to content
      </a>
      <header class="bar">
        <nav aria-label="Main">
          <NavLink to={{ name: 'home' }} route={route}>
            Home
          </NavLink>
          <NavLink to={{ name: 'new' }} route={route}>
            New post
          </NavLink>
          <NavLink to={{ name: 'notifications' }} route={route}>
            Notifications
            {unread > 0 && (
              <>
                {' '}
                <span class="badge">
                  {unread}
                  <span class="visually-hidden"> unread</span>
                </span>
              </>
            )}
          </NavLink>
          {me && (
            <NavLink to={{ name: 'profile', username: me }} route={route}>
              Profile
            </NavLink>
          )}
        </nav>
      </header>
      <div id="content" key={`${pathOf(route)}-${visit}`}>
        {route.name === 'home' && <Feed api={api} source="/v1/feed" />}
        {route.name === 'tag' && (
          <Feed
            api={api}
            source={`/v1/tags/${encodeURIComponent(route.tag)}/posts`}
            title={`#${route.tag}`}
          />
        )}
        {route.name === 'new' && <NewPost api={api} />}
        {route.name === 'notifications' && <Notifications state={notifications} />}
        {route.name === 'settings' && <Settings api={api} />}
        {route.name === 'profile' && <Profile api={api} username={route.username} />}
        {route.name === 'post' && <PostPage api={api} id={route.id} />}
      </div>
    </>
  );
}

function NavLink(props: { to: Route; route: Route; children: ComponentChildren }) {
  return (
    <Link to={props.to} current={pathOf(props.to) === pathOf(props.route)}>
      {props.children}
    </Link>
  );
}
