import { useId, useMemo, useState } from 'react';
import { RegoEditor } from '../components/rego-editor.tsx';
import { StatusDot } from '../components/icons.tsx';
import { SAMPLE_POLICIES } from '../lib/policy-samples.ts';
import { PolicyInputPanel, usePolicyInput } from '../components/policy-input-panel.tsx';
import { useLivePolicy } from '../queries/live-policy.ts';
import type { EvalRequest, EvalResponse } from '../workers/policy-protocol.ts';

const EXPLAIN_MODES: readonly { value: EvalRequest['explain']; label: string }[] = [
  { value: 'notes', label: 'Notes' },
  { value: 'fails', label: 'Fails' },
  { value: 'full', label: 'Full trace' },
];

function DecisionBadge({ response, pending }: { readonly response: EvalResponse | undefined; readonly pending: boolean }) {
  if (response === undefined) return <span className="badge badge-idle">Evaluating…</span>;
  if (!response.ok) return <span className="badge badge-bad">Error</span>;
  return (
    <span className={`badge ${response.allow ? 'badge-ok' : 'badge-bad'}`} data-testid="decision" aria-busy={pending}>
      <StatusDot tone={response.allow ? 'ok' : 'bad'} />
      {response.allow ? 'Allow' : 'Deny'}
    </span>
  );
}

export function PolicyScreen() {
  const firstSample = SAMPLE_POLICIES[0];
  const [sampleName, setSampleName] = useState(firstSample?.name ?? '');
  const [source, setSource] = useState(firstSample?.source ?? 'package modelvault\n\nimport rego.v1\n\ndefault allow := false\n');
  const [revision, setRevision] = useState(0);
  const input = usePolicyInput();
  const [explain, setExplain] = useState<EvalRequest['explain']>('notes');
  const { response, pending } = useLivePolicy(source, input.inputText, explain);
  const ids = { sample: useId(), explain: useId() };
  const problems = useMemo(() => (response !== undefined && !response.ok ? response.problems : []), [response]);
  const inputProblem = problems.find((p) => p.where === 'input');

  return (
    <div className="page page-wide">
      <header className="page-header">
        <div>
          <h1>Policy studio</h1>
          <p className="lede">Write the access policy that travels inside the model. It is evaluated as you type, against the input document on the right, exactly as the loader and the broker will.</p>
        </div>
        <div className="field-inline">
          <label htmlFor={ids.sample}>Sample</label>
          <select
            id={ids.sample}
            value={sampleName}
            onChange={(e) => {
              const sample = SAMPLE_POLICIES.find((s) => s.name === e.target.value);
              setSampleName(e.target.value);
              if (sample !== undefined) {
                setSource(sample.source);
                setRevision((r) => r + 1);
              }
            }}
          >
            {SAMPLE_POLICIES.map((s) => (
              <option key={s.name} value={s.name}>
                {s.title}
              </option>
            ))}
          </select>
        </div>
      </header>

      <div className="studio">
        <section className="panel" aria-labelledby="policy-title">
          <div className="panel-head">
            <h2 id="policy-title">Policy (Rego)</h2>
            <span className="muted small">{problems.some((p) => p.where === 'policy') ? `${problems.filter((p) => p.where === 'policy').length} problem(s)` : 'No problems'}</span>
          </div>
          <RegoEditor value={source} revision={revision} onChange={setSource} problems={problems} label="Policy source, Rego" />
        </section>

        <PolicyInputPanel input={input} problem={inputProblem} title="Input document" label="Input document, JSON" />
      </div>

      <div className="studio">
        <section className="panel" aria-labelledby="result-title" aria-live="polite">
          <div className="panel-head">
            <h2 id="result-title">Decision</h2>
            <span className="muted small" data-testid="eval-time">
              {response === undefined ? '' : `${response.durationMs.toFixed(1)} ms`}
            </span>
          </div>
          <div className="result">
            <DecisionBadge response={response} pending={pending} />
            {response === undefined ? null : response.ok ? (
              <>
                {response.denyReasons.length === 0 ? (
                  <p className="muted">{response.allow ? 'No deny reasons.' : 'Denied by default: no rule granted access.'}</p>
                ) : (
                  <>
                    <h3 className="subhead">Deny reasons</h3>
                    <ul className="reasons" data-testid="deny-reasons">
                      {response.denyReasons.map((r) => (
                        <li key={r}>{r}</li>
                      ))}
                    </ul>
                  </>
                )}
                <h3 className="subhead">Decision document</h3>
                <pre className="mono bindings" tabIndex={0} aria-label="Decision document, JSON">{JSON.stringify(response.bindings, null, 2)}</pre>
              </>
            ) : (
              <ul className="problems" data-testid="problems">
                {response.problems.map((p, i) => (
                  <li key={i}>
                    <span className="mono">{p.row === undefined ? p.where : `${p.where} ${p.row}:${p.col ?? 1}`}</span> {p.message} <span className="muted">({p.code})</span>
                  </li>
                ))}
              </ul>
            )}
          </div>
        </section>

        <section className="panel" aria-labelledby="explain-title">
          <div className="panel-head">
            <h2 id="explain-title">Why</h2>
            <div className="field-inline">
              <label htmlFor={ids.explain}>Explain</label>
              <select id={ids.explain} value={explain} onChange={(e) => setExplain(e.target.value as EvalRequest['explain'])}>
                {EXPLAIN_MODES.map((m) => (
                  <option key={m.value} value={m.value}>
                    {m.label}
                  </option>
                ))}
              </select>
            </div>
          </div>
          <ol className="trace mono" data-testid="trace" tabIndex={0} aria-label="Explanation trace">
            {response !== undefined && response.ok && response.trace.length > 0 ? (
              response.trace.map((t, i) => (
                <li key={i} style={{ paddingLeft: `${Math.min(t.depth, 12) * 12}px` }}>
                  <span className={`op op-${t.op.toLowerCase()}`}>{t.op}</span> {t.row === undefined ? '' : <span className="muted">{`${t.row}:${t.col ?? 1}`}</span>} {t.text}
                </li>
              ))
            ) : (
              <li className="muted">{explain === 'notes' ? 'No notes: call trace(msg) in the policy to leave one.' : 'Nothing to show.'}</li>
            )}
          </ol>
        </section>
      </div>
    </div>
  );
}
