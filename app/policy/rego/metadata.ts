/**
 * METADATA annotations: `# METADATA` comment blocks (YAML) directly before a package or rule, exposed through
 * rego.metadata.rule() and rego.metadata.chain().
 */
import { parse } from 'yaml';
import type { Module } from './ast.ts';
import { RegoError } from './errors.ts';
import { RObject, fromJS, type Value } from './value.ts';

interface Block {
  readonly row: number;
  readonly startRow: number;
  readonly text: string;
}

function blocks(src: string): Block[] {
  const lines = src.split(/\r?\n/);
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if ((lines[i] ?? '').trim() !== '# METADATA') continue;
    const start = i;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && (lines[j] ?? '').trimStart().startsWith('#')) {
      body.push((lines[j] ?? '').trimStart().replace(/^# ?/, ''));
      j++;
    }
    out.push({ row: j + 1, startRow: start + 1, text: body.join('\n') });
    i = j - 1;
  }
  return out;
}

function normalize(raw: unknown, defaultScope: string, file: string, row: number): Value {
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new RegoError('rego_parse_error', 'invalid METADATA block: expected an object', { file, row, col: 1 });
  const o = { ...(raw as Record<string, unknown>) };
  if (o.scope === undefined) o.scope = defaultScope;
  if (Array.isArray(o.authors)) {
    o.authors = o.authors.map((a: unknown) => {
      if (typeof a !== 'string') return a;
      const m = /^(.*?)\s*<([^>]+)>\s*$/.exec(a);
      if (m !== null) return m[1] === '' ? { email: m[2] } : { name: m[1], email: m[2] };
      return a.includes('@') && !a.includes(' ') ? { email: a } : { name: a };
    });
  }
  if (Array.isArray(o.related_resources)) o.related_resources = o.related_resources.map((r: unknown) => (typeof r === 'string' ? { ref: r } : r));
  return fromJS(o);
}

/** Attaches annotations to the module (package scope) and its rules. */
export function attachMetadata(src: string, mod: Module, packageRow: number): void {
  if (!src.includes('# METADATA')) return;
  for (const b of blocks(src)) {
    let raw: unknown;
    try {
      raw = parse(b.text, { version: '1.1' });
    } catch {
      throw new RegoError('rego_parse_error', 'invalid METADATA block: bad YAML', { file: mod.file, row: b.startRow, col: 1 });
    }
    if (b.row === packageRow) {
      (mod as { annotations?: Value }).annotations = normalize(raw, 'package', mod.file, b.startRow);
      continue;
    }
    const rule = mod.rules.find((r) => r.loc.row === b.row);
    if (rule !== undefined) (rule as { annotations?: Value }).annotations = normalize(raw, 'rule', mod.file, b.startRow);
  }
}

export function annotationsOf(x: { annotations?: Value }): Value | undefined {
  return x.annotations;
}

export const EMPTY_ANNOTATIONS: Value = new RObject();
