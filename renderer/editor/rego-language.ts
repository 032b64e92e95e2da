/**
 * Rego for Monaco: a Monarch grammar (keywords, strings, raw strings, numbers, comments, operators, builtin names)
 * and the language configuration (comments, brackets, auto-closing).
 */
import type * as Monaco from 'monaco-editor/editor/editor.api';

export const REGO_LANGUAGE_ID = 'rego';

const KEYWORDS = ['package', 'import', 'as', 'default', 'else', 'not', 'some', 'every', 'in', 'with', 'if', 'contains', 'true', 'false', 'null'];

/** Builtin namespaces and names highlighted as functions (a call to anything else still works). */
const BUILTIN_NAMESPACES = ['array', 'base64', 'base64url', 'bits', 'crypto', 'glob', 'graph', 'hex', 'io', 'json', 'net', 'numbers', 'object', 'regex', 'semver', 'strings', 'time', 'units', 'urlquery', 'uuid', 'yaml', 'rego'];
const BUILTIN_FUNCTIONS = [
  'count', 'sum', 'product', 'max', 'min', 'sort', 'all', 'any', 'abs', 'round', 'ceil', 'floor', 'concat', 'contains', 'endswith', 'startswith',
  'format_int', 'indexof', 'lower', 'upper', 'replace', 'split', 'sprintf', 'substring', 'trim', 'trim_left', 'trim_right', 'trim_prefix',
  'trim_suffix', 'trim_space', 'is_number', 'is_string', 'is_boolean', 'is_array', 'is_set', 'is_object', 'is_null', 'type_name', 'to_number',
  'walk', 'print', 'trace', 'union', 'intersection', 'object', 'set',
];

export const regoMonarch: Monaco.languages.IMonarchLanguage = {
  defaultToken: '',
  tokenPostfix: '.rego',
  keywords: KEYWORDS,
  builtinNamespaces: BUILTIN_NAMESPACES,
  builtins: BUILTIN_FUNCTIONS,
  operators: [':=', '==', '!=', '<=', '>=', '<', '>', '=', '+', '-', '*', '/', '%', '&', '|'],
  symbols: /[=><!:&|+\-*/%]+/,
  tokenizer: {
    root: [
      [/#.*$/, 'comment'],
      [/`/, { token: 'string.raw', next: '@rawString' }],
      [/"/, { token: 'string.quote', next: '@string' }],
      [/-?\d+(\.\d+)?([eE][+-]?\d+)?/, 'number'],
      [
        /[a-zA-Z_][\w]*(?=\s*\.\s*[a-zA-Z_][\w]*\s*\()/,
        { cases: { '@builtinNamespaces': 'type.identifier', '@default': 'identifier' } },
      ],
      [
        /[a-zA-Z_][\w]*(?=\s*\()/,
        { cases: { '@keywords': 'keyword', '@builtins': 'predefined', '@default': 'entity.name.function' } },
      ],
      [/[a-zA-Z_][\w]*/, { cases: { '@keywords': 'keyword', '@default': 'identifier' } }],
      [/[{}()[\]]/, '@brackets'],
      [/@symbols/, { cases: { '@operators': 'operator', '@default': '' } }],
      [/[;,.]/, 'delimiter'],
      [/\s+/, 'white'],
    ],
    string: [
      [/[^\\"]+/, 'string'],
      [/\\(?:[\\"/bfnrt]|u[0-9a-fA-F]{4})/, 'string.escape'],
      [/\\./, 'string.escape.invalid'],
      [/"/, { token: 'string.quote', next: '@pop' }],
    ],
    rawString: [
      [/[^`]+/, 'string.raw'],
      [/`/, { token: 'string.raw', next: '@pop' }],
    ],
  },
};

export const regoConfiguration: Monaco.languages.LanguageConfiguration = {
  comments: { lineComment: '#' },
  brackets: [
    ['{', '}'],
    ['[', ']'],
    ['(', ')'],
  ],
  autoClosingPairs: [
    { open: '{', close: '}' },
    { open: '[', close: ']' },
    { open: '(', close: ')' },
    { open: '"', close: '"', notIn: ['string'] },
    { open: '`', close: '`', notIn: ['string'] },
  ],
  surroundingPairs: [
    { open: '{', close: '}' },
    { open: '[', close: ']' },
    { open: '(', close: ')' },
    { open: '"', close: '"' },
  ],
  indentationRules: { increaseIndentPattern: /\{[^}]*$/, decreaseIndentPattern: /^\s*\}/ },
};

export function registerRego(monaco: typeof Monaco): void {
  if (monaco.languages.getLanguages().some((l) => l.id === REGO_LANGUAGE_ID)) return;
  monaco.languages.register({ id: REGO_LANGUAGE_ID, extensions: ['.rego'], aliases: ['Rego', 'rego'] });
  monaco.languages.setMonarchTokensProvider(REGO_LANGUAGE_ID, regoMonarch);
  monaco.languages.setLanguageConfiguration(REGO_LANGUAGE_ID, regoConfiguration);
}
