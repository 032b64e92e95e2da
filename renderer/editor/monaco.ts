/**
 * Monaco, bundled locally (never from a CDN): the editor API plus only the features the policy editor uses, and the
 * base editor worker as a bundled file of our own origin (the CSP allows `worker-src 'self'` only).
 */
import * as monaco from 'monaco-editor/editor/editor.api';
import 'monaco-editor/features/bracketMatching/register';
import 'monaco-editor/features/comment/register';
import 'monaco-editor/features/find/register';
import 'monaco-editor/features/folding/register';
import 'monaco-editor/features/hover/register';
import 'monaco-editor/features/wordHighlighter/register';
import EditorWorker from 'monaco-editor/editor/editor.worker?worker';
import { registerRego } from './rego-language.ts';

self.MonacoEnvironment = {
  getWorker: () => new EditorWorker(),
};

registerRego(monaco);

monaco.editor.defineTheme('model-vault', {
  base: 'vs',
  inherit: true,
  rules: [
    { token: 'keyword', foreground: '1d4ed8', fontStyle: 'bold' },
    { token: 'predefined', foreground: '7c3aed' },
    { token: 'type.identifier', foreground: '7c3aed' },
    { token: 'entity.name.function', foreground: '0f766e' },
    { token: 'string', foreground: 'b45309' },
    { token: 'string.raw', foreground: 'b45309' },
    { token: 'number', foreground: '0369a1' },
    { token: 'comment', foreground: '475569', fontStyle: 'italic' },
    { token: 'operator', foreground: '334155' },
  ],
  colors: { 'editor.background': '#ffffff', 'editorLineNumber.foreground': '#64748b', 'editor.lineHighlightBackground': '#f1f5f9' },
});

export { monaco };
