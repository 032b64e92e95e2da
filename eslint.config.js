// ESLint flat config. Enforces the layers of STYLE §1 (second line of defence after the per-layer tsconfigs) and the
// tree-health rules of STYLE §5 and §8.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';
import reactHooks from 'eslint-plugin-react-hooks';

const NODE_BUILTINS = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
const NATIVE_OR_UI = ['electron', 'react', 'react-dom', 'monaco-editor', 'keytar', 'better-sqlite3', 'fastify', 'pg', 'fuse-native', '@tanstack/react-query'];

const restrict = (names, why) => ({ paths: names.map((name) => ({ name, message: why })), patterns: [{ group: ['monaco-editor/*', 'react-dom/*', '@tanstack/*'], message: why }] });

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'dist/**', 'out/**', 'test-results/**', 'playwright-report/**', 'reports/**', '.venv/**', 'test/vectors/**', '**/*.py', 'bench-out/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', '*.mjs', 'scripts/*.mjs', 'bin/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { import: importPlugin },
    settings: { 'import/resolver': { node: { extensions: ['.ts', '.tsx', '.js', '.mjs'] } } },
    rules: {
      eqeqeq: ['error', 'always'],
      'no-console': 'error',
      'no-empty': ['error', { allowEmptyCatch: false }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] }],
      // Handlers implement async interfaces (the router, the CLI) whether or not they await: not a defect.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      'no-restricted-syntax': ['error', { selector: 'TSEnumDeclaration', message: 'No TypeScript enum: use a frozen `as const` object plus a union (STYLE §4).' }],
      'import/no-restricted-paths': [
        'error',
        {
          zones: [
            { target: './app', from: ['./main', './preload', './renderer'], message: 'app/ never imports main/, preload/ or renderer/ (STYLE §1).' },
            { target: ['./app/!(node)/**/*', './app/*'], from: './app/node', message: 'pure app/ never imports app/node/ (STYLE §1).' },
            { target: './main', from: ['./preload', './renderer'], message: 'main/ never imports preload/ or renderer/ (STYLE §1).' },
            { target: './renderer', from: ['./main', './preload', './app/node'], message: 'renderer/ never imports main/, preload/ or app/node/ (STYLE §1).' },
            { target: './preload', from: ['./main', './renderer', './app/node'], message: 'preload/ imports only electron and app/ipc/contract.ts (STYLE §1).' },
            { target: './app', from: './app/**/internal/**', message: 'internal/ folders are private to their parent (STYLE §1).' },
          ],
        },
      ],
    },
  },
  // app/ (pure core): no Node, no electron, no UI libraries, no Math.random.
  {
    files: ['app/**/*.ts'],
    ignores: ['app/node/**'],
    rules: {
      'no-restricted-imports': ['error', restrict([...NODE_BUILTINS, ...NATIVE_OR_UI], 'app/ is pure TypeScript: no Node built-ins, electron, UI or native modules (STYLE §1). Declare a port in app/ and implement it in app/node/.')],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'Use app/crypto/random.ts (STYLE §6).' }],
      'no-restricted-globals': ['error', 'window', 'document', 'process', 'Buffer', 'require', '__dirname'],
    },
  },
  // app/node/: Node is fine, electron and UI are not.
  {
    files: ['app/node/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', restrict(['electron', 'react', 'react-dom', 'monaco-editor', '@tanstack/react-query'], 'app/node/ runs in the main process and the CLI: no electron or UI imports (STYLE §1).')],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'Use app/crypto/random.ts (STYLE §6).' }],
    },
  },
  // main/: only main/ipc/ may touch ipcMain.
  {
    files: ['main/**/*.ts'],
    ignores: ['main/ipc/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'electron', importNames: ['ipcMain'], message: 'Only main/ipc/ registers IPC handlers (STYLE §2).' }] }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'Use app/crypto/random.ts (STYLE §6).' }],
    },
  },
  // preload/: electron's bridge and the contract, nothing else.
  {
    files: ['preload/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [...NODE_BUILTINS, 'keytar', 'react', 'monaco-editor'].map((name) => ({ name, message: 'preload/ imports only electron and app/ipc/contract.ts (STYLE §1).' })) }],
    },
  },
  // renderer/: DOM, React, react-query, monaco and pure app/ only.
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.tsx'],
    ignores: ['renderer/vite.config.ts'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': ['error', { paths: [...NODE_BUILTINS, 'electron', 'keytar', 'better-sqlite3', 'fastify', 'pg', 'fuse-native'].map((name) => ({ name, message: 'renderer/ runs sandboxed: no Node, electron or native modules (STYLE §1).' })) }],
    },
  },
  // The logger, CLI output and scripts may write to the console.
  { files: ['app/node/log.ts', 'app/node/cli/**/*.ts', 'scripts/**', 'bin/**', 'test/**'], rules: { 'no-console': 'off' } },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    files: ['test/**/*.ts'],
    rules: { 'no-restricted-syntax': ['error', { selector: "CallExpression[callee.property.name='only']", message: 'No committed .only (STYLE §7).' }] },
  },
);
