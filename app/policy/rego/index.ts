/** Public entry points of the Rego engine: compile modules, evaluate queries. */
import type { Body, Module } from './ast.ts';
import { compileModules, compileQueryBody, allVars, type Compiled } from './compile.ts';
import { Evaluator, type EvalOptions, type TraceEvent } from './eval.ts';
import { parseModule, parseQuery } from './parser.ts';
import type { Value } from './value.ts';
import { RegoError } from './errors.ts';

export { RegoError, isRegoError, REGO_CODES, type RegoCode } from './errors.ts';
export type { EvalOptions, EvalLimits, TraceEvent } from './eval.ts';
export { DEFAULT_LIMITS } from './eval.ts';
export { fromJS, toJS, toJSON, toRegoString, equal, compare, RObject, RSet, Num, type Value } from './value.ts';
export { parseTermText } from './parser.ts';

export interface ModuleSource {
  readonly file: string;
  readonly source: string;
}

export interface PreparedPolicy {
  readonly compiled: Compiled;
}

/** Parses and compiles modules (throws RegoError with rego_parse_error / rego_compile_error). */
export function compile(sources: readonly ModuleSource[]): PreparedPolicy {
  let total = 0;
  for (const s of sources) total += s.source.length;
  if (total > MAX_SOURCE_CHARS) throw new RegoError('rego_parse_error', `policy source is ${total} characters, more than the limit of ${MAX_SOURCE_CHARS}`);
  try {
    const modules: Module[] = sources.map((s) => parseModule(s.source, s.file));
    return { compiled: compileModules(modules) };
  } catch (e) {
    // hostile input: nesting deep enough to exhaust the stack is a parse error, not a crash
    if (e instanceof RangeError) throw new RegoError('rego_parse_error', 'policy nesting is too deep');
    throw e;
  }
}

/** Largest accepted policy source (all modules together). */
export const MAX_SOURCE_CHARS = 1_000_000;

export interface QueryResult {
  readonly results: Record<string, Value>[];
  readonly trace: TraceEvent[] | undefined;
}

/** Evaluates a query (Rego body text) against compiled modules. */
export function evalQuery(policy: PreparedPolicy, query: string, opts: EvalOptions = {}): QueryResult {
  let body: Body;
  try {
    body = parseQuery(query);
  } catch (e) {
    if (e instanceof RangeError) throw new RegoError('rego_parse_error', 'query nesting is too deep');
    throw e;
  }
  const q = compileQuery(policy, body);
  const vars = new Set<string>();
  for (const e of q) {
    if (e.type === 'term') allVars(e.term, vars);
    if (e.type === 'somein') {
      if (e.key !== undefined) allVars(e.key, vars);
      allVars(e.value, vars);
    }
  }
  const names = [...vars].filter((v) => !v.startsWith('$') && v !== 'data' && v !== 'input');
  const ev = new Evaluator(policy.compiled, opts);
  const results = ev.query(q, names);
  return { results, trace: ev.trace };
}

function compileQuery(policy: PreparedPolicy, body: Body): Body {
  return compileQueryBody(body, policy.compiled);
}
