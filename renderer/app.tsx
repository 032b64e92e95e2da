import { Suspense, lazy, useEffect, useRef } from 'react';
import { HomeScreen } from './screens/home-screen.tsx';
import { ShieldIcon } from './components/icons.tsx';
import { type Route, hrefOf, useRoute } from './lib/route.ts';

// Monaco is large: the policy studio loads it only when opened.
const PolicyScreen = lazy(() => import('./screens/policy-screen.tsx').then((m) => ({ default: m.PolicyScreen })));

const NAV: readonly { route: Route; label: string; hint: string }[] = [
  { route: 'overview', label: 'Overview', hint: 'Installation status' },
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
        {route === 'overview' ? (
          <HomeScreen />
        ) : (
          <Suspense
            fallback={
              <p className="page muted" role="status">
                Loading the policy studio…
              </p>
            }
          >
            <PolicyScreen />
          </Suspense>
        )}
      </main>
    </div>
  );
}
