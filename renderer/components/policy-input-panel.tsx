import { useId, useState } from 'react';
import { INPUT_PRESETS } from '../lib/policy-samples.ts';
import type { EvalProblem } from '../workers/policy-protocol.ts';

/** The editable JSON input document of a live policy evaluation, with its presets (policy studio, producer step 3). */
export function usePolicyInput() {
  const first = INPUT_PRESETS[0];
  const [presetName, setPresetName] = useState(first?.name ?? '');
  const [inputText, setInputText] = useState(first === undefined ? '{}' : JSON.stringify(first.input, null, 2));
  return { presetName, setPresetName, inputText, setInputText };
}

export function PolicyInputPanel({
  input,
  problem,
  title,
  label,
  headingClass,
  level = 2,
  className,
  textareaClass,
}: {
  readonly input: ReturnType<typeof usePolicyInput>;
  readonly problem: EvalProblem | undefined;
  /** The panel's heading, and the textarea's accessible name. */
  readonly title: string;
  readonly label: string;
  readonly headingClass?: string;
  /** The heading level where the panel sits (default 2). */
  readonly level?: 2 | 3;
  readonly className?: string;
  readonly textareaClass?: string;
}) {
  const ids = { title: useId(), preset: useId(), input: useId() };
  const Heading = level === 3 ? 'h3' : 'h2';
  return (
    <section className={`panel${className === undefined ? '' : ` ${className}`}`} aria-labelledby={ids.title}>
      <div className="panel-head">
        <Heading id={ids.title} className={headingClass}>
          {title}
        </Heading>
        <div className="field-inline">
          <label htmlFor={ids.preset}>Preset</label>
          <select
            id={ids.preset}
            value={input.presetName}
            onChange={(e) => {
              const preset = INPUT_PRESETS.find((p) => p.name === e.target.value);
              input.setPresetName(e.target.value);
              if (preset !== undefined) input.setInputText(JSON.stringify(preset.input, null, 2));
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
        {label}
      </label>
      <textarea
        id={ids.input}
        className={`json-input mono${textareaClass === undefined ? '' : ` ${textareaClass}`}`}
        spellCheck={false}
        value={input.inputText}
        onChange={(e) => input.setInputText(e.target.value)}
        aria-invalid={problem !== undefined}
        aria-describedby={problem === undefined ? undefined : `${ids.input}-err`}
      />
      {problem === undefined ? null : (
        <p id={`${ids.input}-err`} className="field-error" role="alert">
          {problem.message}
        </p>
      )}
    </section>
  );
}
