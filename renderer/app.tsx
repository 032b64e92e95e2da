import { type ComponentType, type LazyExoticComponent, Suspense, lazy, useEffect, useRef } from 'react';
import { HomeScreen } from './screens/home-screen.tsx';
import { ShieldIcon } from './components/icons.tsx';
import { type Route, hrefOf, useRoute } from './lib/route.ts';

// Every screen but the overview loads when first opened (Monaco alone is several megabytes).
const SCREENS: Readonly<Record<Exclude<Route, 'overview'>, LazyExoticComponent<ComponentType>>> = {
  producer: lazy(() => import('./screens/producer-screen.tsx').then((m) => ({ default: m.ProducerScreen }))),
  subscriber: lazy(() => import('./screens/subscriber-screen.tsx').then((m) => ({ default: m.SubscriberScreen }))),
  security: lazy(() => import('./screens/security-screen.tsx').then((m) => ({ default: m.SecurityScreen }))),
  policy: lazy(() => import('./screens/policy-screen.tsx').then((m) => ({ default: m.PolicyScreen }))),
};

const NAV: readonly { route: Route; label: string; hint: string }[] = [
  { route: 'overview', label: 'Overview', hint: 'Installation status' },
  { route: 'producer', label: 'Publish', hint: 'Package, sign and publish a model' },
  { route: 'subscriber', label: 'My models', hint: 'Licences, imported models and mounts' },
  { route: 'security', label: 'Keys & audit', hint: 'Key inventory, offline rotation and the audit log' },
  { route: 'policy', label: 'Policy studio', hint: 'Write and test access policies' },
];

export function App() {
  const route = useRoute();
  const main = useRef<HTMLElement>(null);
  const shownRoute = useRef(route);
  useEffect(() => {
    // After navigating, move focus to the new screen (keyboard and screen-reader users land on it); not on first load,
    // where focus starts at the top of the page with the skip link.
    if (shownRoute.current === route) return;
    shownRoute.current = route;
    main.current?.focus({ preventScroll: true });
  }, [route]);

  const Screen = route === 'overview' ? HomeScreen : SCREENS[route];
  const label = NAV.find((n) => n.route === route)?.label ?? '';
  return (
    <div className="shell">
      <a className="skip-link" href="#main" onClick={(e) => (e.preventDefault(), main.current?.focus())}>
        Skip to content
      </a>
      <aside className="sidebar" aria-label="Application">
        <div className="brand">
          <ShieldIcon />
          <span>Model Vault</span>
        </div>
        <nav aria-label="Main">
          <ul className="nav">
            {NAV.map((item) => (
              <li key={item.route}>
                <a className={`nav-item${item.route === route ? ' active' : ''}`} href={hrefOf(item.route)} aria-current={item.route === route ? 'page' : undefined} title={item.hint}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <p className="sidebar-foot">Encrypted, signed model weights — from the producer&apos;s disk to your runtime.</p>
      </aside>
      <main id="main" ref={main} className="content" tabIndex={-1}>
        <Suspense
          fallback={
            <p className="page muted" role="status">
              Loading {label.toLowerCase()}…
            </p>
          }
        >
          <Screen />
        </Suspense>
      </main>
    </div>
  );
}
