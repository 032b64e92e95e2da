import { useEffect, useRef } from 'react';
import { monaco } from '../editor/monaco.ts';
import { REGO_LANGUAGE_ID } from '../editor/rego-language.ts';
import type { EvalProblem } from '../workers/policy-protocol.ts';

export interface RegoEditorProps {
  /** The document to show when the editor is created or `revision` changes (e.g. a sample was chosen). */
  readonly value: string;
  /** Bump to replace the text with `value`; typing never does (its echoes can arrive after later keystrokes). */
  readonly revision: number;
  readonly onChange: (value: string) => void;
  readonly problems: readonly EvalProblem[];
  readonly label: string;
}

const MARKER_OWNER = 'model-vault-rego';

/** The Monaco editor for a Rego policy; our parser's errors are shown as markers at their row:col. */
export function RegoEditor({ value, revision, onChange, problems, label }: RegoEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<monaco.editor.IStandaloneCodeEditor | null>(null);
  const onChangeRef = useRef(onChange);
  const shownRevision = useRef(revision);
  useEffect(() => {
    onChangeRef.current = onChange;
  }, [onChange]);

  useEffect(() => {
    if (host.current === null) return;
    const model = monaco.editor.createModel(value, REGO_LANGUAGE_ID);
    const instance = monaco.editor.create(host.current, {
      model,
      theme: 'model-vault',
      automaticLayout: true,
      minimap: { enabled: false },
      fontSize: 13,
      lineHeight: 20,
      scrollBeyondLastLine: false,
      tabSize: 4,
      insertSpaces: false,
      renderLineHighlight: 'line',
      ariaLabel: label,
      padding: { top: 8 },
      fixedOverflowWidgets: true,
    });
    editor.current = instance;
    const sub = instance.onDidChangeModelContent(() => onChangeRef.current(instance.getValue()));
    return () => {
      sub.dispose();
      instance.dispose();
      model.dispose();
      editor.current = null;
    };
    // The editor is created once; later `value` changes (a sample chosen) are applied below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const instance = editor.current;
    if (instance === null || revision === shownRevision.current) return;
    shownRevision.current = revision;
    instance.setValue(value);
  }, [revision, value]);

  useEffect(() => {
    const model = editor.current?.getModel();
    if (model === undefined || model === null) return;
    const lastLine = model.getLineCount();
    monaco.editor.setModelMarkers(
      model,
      MARKER_OWNER,
      problems
        .filter((p) => p.where === 'policy')
        .map((p) => {
          const line = Math.min(Math.max(p.row ?? 1, 1), lastLine);
          const col = Math.max(p.col ?? 1, 1);
          return { severity: monaco.MarkerSeverity.Error, message: `${p.message} (${p.code})`, startLineNumber: line, startColumn: col, endLineNumber: line, endColumn: Math.max(col + 1, model.getLineMaxColumn(line)) };
        }),
    );
  }, [problems]);

  return <div ref={host} className="code-editor" data-testid="rego-editor" />;
}
