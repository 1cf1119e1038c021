import { useEffect, useState } from 'preact/hooks';

/** The client routes; the gateway answers every path outside /v1 and /media with index.html. */
export type Route =
  | { name: 'home' }
  | { name: 'new' }
  | { name: 'notifications' }
  | { name: 'settings' }
  | { name: 'profile'; username: string }
  | { name: 'tag'; tag: string }
  | { name: 'post'; id: string };

export function pathOf(route: Route): string {
  switch (route.name) {
    case 'home':
      return '/';
    case 'new':
      return '/new';
    case 'notifications':
      return '/notifications';
    case 'settings':
      return '/settings';
    case 'profile':
      return `/u/${encodeURIComponent(route.username)}`;
    case 'tag':
      return `/t/${encodeURIComponent(route.tag)}`;
    case 'post':
      return `/p/${route.id}`;
  }
}

/** The route of a path; an unknown path shows the home feed. */
export function routeOf(pathname: string): Route {
  if (pathname === '/new') return { name: 'new' };
  if (pathname === '/notifications') return { name: 'notifications' };
  if (pathname === '/settings') return { name: 'settings' };
  const profile = /^\/u\/([a-z0-9._]{1,30})\/?$/.exec(pathname);
  if (profile?.[1]) return { name: 'profile', username: profile[1] };
  const post = /^\/p\/([0-9]{1,20})\/?$/.exec(pathname);
  if (post?.[1]) return { name: 'post', id: post[1] };
  const tag = /^\/t\/([^/]+)\/?$/.exec(pathname);
  if (tag?.[1]) {
    try {
      return { name: 'tag', tag: decodeURIComponent(tag[1]) };
    } catch {
      // a malformed escape: no such tag, the home feed
    }
  }
  return { name: 'home' };
}

export function navigate(route: Route): void {
  const path = pathOf(route);
  if (location.pathname !== path) history.pushState(null, '', path);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** The current route, following the history (back/forward) and `navigate`. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => routeOf(location.pathname));
  useEffect(() => {
    const onPop = () => setRoute(routeOf(location.pathname));
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  return route;
}
