import { useAppStatus } from '../queries/status.ts';
import { StatusCard } from '../components/status-card.tsx';

export function HomeScreen() {
  const status = useAppStatus();

  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Overview</h1>
          <p className="lede">The state of this installation: where your keys live, which broker releases them, and where data is kept.</p>
        </div>
        <button type="button" className="button secondary" onClick={() => void status.refetch()} disabled={status.isFetching}>
          {status.isFetching ? 'Checking…' : 'Check again'}
        </button>
      </header>

      {status.isPending ? (
        <p className="muted" role="status">
          Reading status…
        </p>
      ) : status.isError ? (
        <div className="alert alert-bad" role="alert">
          <strong>Could not read the application status.</strong> {status.error.message}
        </div>
      ) : (
        <>
          <div className="card-grid" aria-live="polite">
            <StatusCard
              testId="status-app"
              title="Application"
              tone="ok"
              value={`${status.data.name} ${status.data.version}`}
              detail={
                <dl className="facts">
                  <dt>Host</dt>
                  <dd>{status.data.host === 'electron' ? 'Desktop (Electron)' : 'Web host on 127.0.0.1'}</dd>
                  <dt>Platform</dt>
                  <dd>{status.data.platform}</dd>
                  <dt>Runtime</dt>
                  <dd>{status.data.runtime}</dd>
                </dl>
              }
            />
            <StatusCard
              testId="status-keychain"
              title="OS keychain"
              tone={status.data.keychain.available ? 'ok' : 'warn'}
              value={status.data.keychain.available ? 'Available' : 'Unavailable'}
              detail={
                <dl className="facts">
                  <dt>Backend</dt>
                  <dd>{status.data.keychain.backend}</dd>
                  {status.data.keychain.reason === undefined ? null : (
                    <>
                      <dt>Why</dt>
                      <dd>{status.data.keychain.reason}</dd>
                    </>
                  )}
                </dl>
              }
            />
            <StatusCard
              testId="status-broker"
              title="Key broker"
              tone="idle"
              value={status.data.broker.mode === 'embedded' ? 'Embedded (local SQLite)' : 'Remote broker'}
              detail={
                <dl className="facts">
                  <dt>{status.data.broker.mode === 'embedded' ? 'Database' : 'Address'}</dt>
                  <dd className="mono">{status.data.broker.location}</dd>
                </dl>
              }
            />
            <StatusCard
              testId="status-data"
              title="Data directory"
              tone="ok"
              value="Local folder"
              detail={<p className="mono path">{status.data.dataDir}</p>}
            />
          </div>
        </>
      )}
    </div>
  );
}
