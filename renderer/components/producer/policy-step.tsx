import { useId, useMemo } from 'react';
import { RegoEditor } from '../rego-editor.tsx';
import { StatusDot } from '../icons.tsx';
import { SAMPLE_POLICIES } from '../../lib/policy-samples.ts';
import { PolicyInputPanel, usePolicyInput } from '../policy-input-panel.tsx';
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
  const input = usePolicyInput();
  const { response, pending } = useLivePolicy(source, input.inputText, 'notes');
  const problems = useMemo(() => (response !== undefined && !response.ok ? response.problems : []), [response]);
  const ids = { sample: useId() };
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
        <PolicyInputPanel input={input} problem={inputProblem} title="Test request" label="Test request, JSON input document" level={3} headingClass="pv-panel-title" className="pv-policy-input" textareaClass="pv-json" />
      </div>
    </div>
  );
}
