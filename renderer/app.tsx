import { HomeScreen } from './screens/home-screen.tsx';
import { ShieldIcon } from './components/icons.tsx';

export function App() {
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className="sidebar" aria-label="Application">
        <div className="brand">
          <ShieldIcon />
          <span>Model Vault</span>
        </div>
        <nav aria-label="Main">
          <ul className="nav">
            <li>
              <a className="nav-item active" href="#main" aria-current="page">
                Overview
              </a>
            </li>
          </ul>
        </nav>
        <p className="sidebar-foot">Encrypted, signed model weights — from the producer&apos;s disk to your runtime.</p>
      </aside>
      <main id="main" className="content" tabIndex={-1}>
        <HomeScreen />
      </main>
    </div>
  );
}
