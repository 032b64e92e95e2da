import { useId, useMemo, useState } from 'react';
import { RegoEditor } from '../rego-editor.tsx';
import { StatusDot } from '../icons.tsx';
import { INPUT_PRESETS, SAMPLE_POLICIES } from '../../lib/policy-samples.ts';
import { useLivePolicy } from '../../queries/live-policy.ts';

/** The starting policy: loading is for the roles listed, so the default "analyst" preset is denied until edited. */
export const DEFAULT_ACCESS_POLICY = `package modelvault

import rego.v1

# Who may load this model. The broker evaluates this policy at every key release,
# with the subscriber, device, licence and time of the request as input.
default allow := false

allowed_roles := {"admin"}

allow if {
	input.action == "load"
	some role in input.subscriber.roles
	role in allowed_roles
	input.licence.status == "active"
}

deny contains "this role may not load the model" if {
	every role in input.subscriber.roles {
		not role in allowed_roles
	}
}
`;

/**
 * Step 3: the access policy, in the policy studio's Monaco editor with live evaluation in a worker, against an input
 * preset. The same editor, worker and presets as the Policy studio screen.
 */
export function PolicyStep({ source, revision, onChange, onLoadSample }: { readonly source: string; readonly revision: number; readonly onChange: (s: string) => void; readonly onLoadSample: (s: string) => void }) {
  const firstPreset = INPUT_PRESETS[0];
  const [presetName, setPresetName] = useState(firstPreset?.name ?? '');
  const [inputText, setInputText] = useState(firstPreset === undefined ? '{}' : JSON.stringify(firstPreset.input, null, 2));
  const { response, pending } = useLivePolicy(source, inputText, 'notes');
  const problems = useMemo(() => (response !== undefined && !response.ok ? response.problems : []), [response]);
  const ids = { preset: useId(), sample: useId(), input: useId() };
  const inputProblem = problems.find((p) => p.where === 'input');

  return (
    <div className="pv-step-body pv-policy">
      <section className="panel pv-policy-editor" aria-labelledby="pv-policy-title">
        <div className="panel-head">
          <h3 id="pv-policy-title" className="pv-panel-title">
            Access policy (Rego)
          </h3>
          <div className="field-inline">
            <label htmlFor={ids.sample}>Start from</label>
            <select
              id={ids.sample}
              value=""
              onChange={(e) => {
                const sample = e.target.value === 'default' ? DEFAULT_ACCESS_POLICY : SAMPLE_POLICIES.find((s) => s.name === e.target.value)?.source;
                if (sample !== undefined) onLoadSample(sample);
              }}
            >
              <option value="" disabled>
                a sample…
              </option>
              <option value="default">Roles allowed to load (default)</option>
              {SAMPLE_POLICIES.filter((s) => s.source.includes('package modelvault')).map((s) => (
                <option key={s.name} value={s.name}>
                  {s.title}
                </option>
              ))}
            </select>
          </div>
        </div>
        <RegoEditor value={source} revision={revision} onChange={onChange} problems={problems} label="Access policy, Rego" />
      </section>
      <div className="pv-policy-side">
        <section className="panel" aria-labelledby="pv-decision-title" aria-live="polite">
          <div className="panel-head">
            <h3 id="pv-decision-title" className="pv-panel-title">
              Live decision
            </h3>
            <span className="muted small">{response === undefined ? '' : `${response.durationMs.toFixed(1)} ms`}</span>
          </div>
          <div className="result">
            {response === undefined ? (
              <span className="badge badge-idle">Evaluating…</span>
            ) : !response.ok ? (
              <>
                <span className="badge badge-bad" data-testid="producer-decision">
                  <StatusDot tone="bad" />
                  Error
                </span>
                <ul className="problems small">
                  {response.problems.map((p, i) => (
                    <li key={i}>
                      <span className="mono">{p.row === undefined ? p.where : `${p.row}:${p.col ?? 1}`}</span> {p.message}
                    </li>
                  ))}
                </ul>
              </>
            ) : (
              <>
                <span className={`badge ${response.allow ? 'badge-ok' : 'badge-bad'}`} data-testid="producer-decision" aria-busy={pending}>
                  <StatusDot tone={response.allow ? 'ok' : 'bad'} />
                  {response.allow ? 'Allow' : 'Deny'}
                </span>
                {response.denyReasons.length === 0 ? null : (
                  <ul className="reasons small">
                    {response.denyReasons.map((r) => (
                      <li key={r}>{r}</li>
                    ))}
                  </ul>
                )}
              </>
            )}
          </div>
        </section>
        <section className="panel pv-policy-input" aria-labelledby="pv-input-title">
          <div className="panel-head">
            <h3 id="pv-input-title" className="pv-panel-title">
              Test request
            </h3>
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
            Test request, JSON input document
          </label>
          <textarea id={ids.input} className="json-input mono pv-json" spellCheck={false} value={inputText} onChange={(e) => setInputText(e.target.value)} aria-invalid={inputProblem !== undefined} />
          {inputProblem === undefined ? null : (
            <p className="field-error" role="alert">
              {inputProblem.message}
            </p>
          )}
        </section>
      </div>
    </div>
  );
}
