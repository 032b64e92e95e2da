import { useId, useMemo, useState } from 'react';
import { RegoEditor } from '../components/rego-editor.tsx';
import { StatusDot } from '../components/icons.tsx';
import { INPUT_PRESETS, SAMPLE_POLICIES } from '../lib/policy-samples.ts';
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
  const firstPreset = INPUT_PRESETS[0];
  const [sampleName, setSampleName] = useState(firstSample?.name ?? '');
  const [source, setSource] = useState(firstSample?.source ?? 'package modelvault\n\nimport rego.v1\n\ndefault allow := false\n');
  const [revision, setRevision] = useState(0);
  const [presetName, setPresetName] = useState(firstPreset?.name ?? '');
  const [inputText, setInputText] = useState(firstPreset === undefined ? '{}' : JSON.stringify(firstPreset.input, null, 2));
  const [explain, setExplain] = useState<EvalRequest['explain']>('notes');
  const { response, pending } = useLivePolicy(source, inputText, explain);
  const ids = { sample: useId(), preset: useId(), input: useId(), explain: useId() };
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

        <section className="panel" aria-labelledby="input-title">
          <div className="panel-head">
            <h2 id="input-title">Input document</h2>
            <div className="field-inline">
              <label htmlFor={ids.preset}>Preset</label>
              <select
                id={ids.preset}
                value={presetName}
                onChange={(e) => {
                  const preset = INPUT_PRESETS.find((p) => p.name === e.target.value);
                  setPresetName(e.target.value);
                  if (preset !== undefined) setInputText(JSON.stringify(preset.input, null, 2));
                }}
              >
                {INPUT_PRESETS.map((p) => (
                  <option key={p.name} value={p.name}>
                    {p.title}
                  </option>
                ))}
              </select>
            </div>
          </div>
          <label htmlFor={ids.input} className="visually-hidden">
            Input document, JSON
          </label>
          <textarea id={ids.input} className="json-input mono" spellCheck={false} value={inputText} onChange={(e) => setInputText(e.target.value)} aria-invalid={inputProblem !== undefined} aria-describedby={inputProblem === undefined ? undefined : `${ids.input}-err`} />
          {inputProblem === undefined ? null : (
            <p id={`${ids.input}-err`} className="field-error" role="alert">
              {inputProblem.message}
            </p>
          )}
        </section>
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
