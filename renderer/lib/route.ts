/** A tiny hash router: the screens are few and the app has no server-side routes. */
import { useEffect, useState } from 'react';

export const ROUTES = ['overview', 'producer', 'subscriber', 'security', 'policy'] as const;
export type Route = (typeof ROUTES)[number];

function current(): Route {
  const name = window.location.hash.replace(/^#\/?/, '');
  return (ROUTES as readonly string[]).includes(name) ? (name as Route) : 'overview';
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(current);
  useEffect(() => {
    const onChange = (): void => setRoute(current());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function hrefOf(route: Route): string {
  return `#/${route}`;
}
