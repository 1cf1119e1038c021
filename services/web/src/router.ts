import { useEffect, useState } from 'preact/hooks';

/** The client routes; anything else shows the home feed (the gateway answers every one with index.html). */
export type Route = 'home' | 'new' | 'notifications';

const PATHS: Record<Route, string> = { home: '/', new: '/new', notifications: '/notifications' };

export function pathOf(route: Route): string {
  return PATHS[route];
}

function routeOf(pathname: string): Route {
  const found = (Object.entries(PATHS) as [Route, string][]).find(([, path]) => path === pathname);
  return found ? found[0] : 'home';
}

export function navigate(route: Route): void {
  if (location.pathname !== PATHS[route]) history.pushState(null, '', PATHS[route]);
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
