/** Public entry points of the Rego engine: compile modules, evaluate queries. */
import type { Body, Module } from './ast.ts';
import { compileModules, compileQueryBody, allVars, type Compiled } from './compile.ts';
import { Evaluator, type EvalOptions, type TraceEvent } from './eval.ts';
import { parseModule, parseQuery } from './parser.ts';
import type { Value } from './value.ts';

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
  const modules: Module[] = sources.map((s) => parseModule(s.source, s.file));
  return { compiled: compileModules(modules) };
}

export interface QueryResult {
  readonly results: Record<string, Value>[];
  readonly trace: TraceEvent[] | undefined;
}

/** Evaluates a query (Rego body text) against compiled modules. */
export function evalQuery(policy: PreparedPolicy, query: string, opts: EvalOptions = {}): QueryResult {
  const body: Body = parseQuery(query);
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
