import { formatBytes } from '../../lib/task.ts';
import { useApproveSubscription, useProducerModels } from '../../queries/producer.ts';
import { StatusDot } from '../icons.tsx';

function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Packaged and published models, with their subscribers and the broker's audit entries. */
export function PublishedModels() {
  const models = useProducerModels();
  const approve = useApproveSubscription();
  return (
    <section className="panel pv-models" aria-labelledby="pv-models-title">
      <div className="panel-head">
        <h2 id="pv-models-title">Your models</h2>
        <button type="button" className="button secondary pv-small-button" onClick={() => void models.refetch()} disabled={models.isFetching}>
          {models.isFetching ? 'Refreshing…' : 'Refresh'}
        </button>
      </div>
      {models.isPending ? (
        <p className="muted pv-pad">Loading…</p>
      ) : models.isError ? (
        <p className="field-error" role="alert">
          {models.error.message}
        </p>
      ) : models.data.models.length === 0 ? (
        <p className="muted pv-pad">Nothing packaged yet. Models you package and publish appear here with their subscribers and audit trail.</p>
      ) : (
        <>
          {models.data.brokerNote === null ? null : <p className="muted small pv-pad">Subscribers and audit are not available right now: {models.data.brokerNote}</p>}
          <ul className="pv-model-list" data-testid="published-models">
            {models.data.models.map((m) => (
              <li key={m.packageId} className="pv-model">
                <div className="pv-model-row">
                  <div className="pv-model-main">
                    <strong>{m.name}</strong>
                    <span className="muted small">
                      {' '}
                      · {m.alg} · {formatBytes(m.bytes)} · packaged {when(m.packagedAt)}
                    </span>
                    <div className="mono small muted pv-ellipsis">{m.output}</div>
                  </div>
                  {m.publication === null ? (
                    <span className="pv-chip">Not published</span>
                  ) : (
                    <span className="pv-chip pv-chip-ok">
                      <StatusDot tone="ok" /> {m.publication.modelId}
                    </span>
                  )}
                </div>
                {m.publication === null ? null : (
                  <div className="pv-model-detail">
                    <div>
                      <h3 className="subhead">Subscribers ({m.subscribers.length})</h3>
                      {m.subscribers.length === 0 ? (
                        <p className="muted small">No subscriptions yet.</p>
                      ) : (
                        <table className="pv-table small">
                          <caption className="visually-hidden">Subscribers of {m.publication.modelId}</caption>
                          <thead>
                            <tr>
                              <th scope="col">Subscriber</th>
                              <th scope="col">Status</th>
                              <th scope="col">Devices</th>
                              <th scope="col">Expires</th>
                            </tr>
                          </thead>
                          <tbody>
                            {m.subscribers.map((s) => (
                              <tr key={s.subscriptionId}>
                                <td className="mono">{s.subscriberId}</td>
                                <td>
                                  {s.status}{' '}
                                  {s.status === 'pending' ? (
                                    <button type="button" className="pv-link" onClick={() => approve.mutate(s.subscriptionId)} disabled={approve.isPending}>
                                      Approve
                                    </button>
                                  ) : null}
                                </td>
                                <td>{s.devices}</td>
                                <td>{s.expiresAt === null ? 'never' : new Date(s.expiresAt).toLocaleDateString()}</td>
                              </tr>
                            ))}
                          </tbody>
                        </table>
                      )}
                    </div>
                    <details className="pv-audit">
                      <summary>Audit trail ({m.audit.length} entries)</summary>
                      <ol className="pv-audit-list small">
                        {m.audit.map((a) => (
                          <li key={a.seq}>
                            <span className="mono muted">#{a.seq}</span> {when(a.at)} · <strong>{a.action}</strong> · <span className={a.outcome === 'ok' ? '' : 'pv-bad'}>{a.outcome}</span>
                          </li>
                        ))}
                      </ol>
                    </details>
                  </div>
                )}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
