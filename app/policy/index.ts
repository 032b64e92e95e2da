/**
 * The policy API used at load time, by the broker and by the editor.
 *
 * Two modes:
 * - `reference`: what the reference implementation does (spec §6): the module is loaded as `model.rego`, no input
 *   and no data, query `data.model.allow`, outcomes mapped exactly as the spec's table.
 * - `vault`: Model Vault policies (`package modelvault`) get the documented input document (README.md), and the
 *   decision is `allow == true` and an empty `deny` set (the deny reasons).
 *
 * `evaluatePolicy` never throws for a policy outcome: it returns a decision. `enforcePolicy` turns a decision into
 * an AppError (POLICY_DENIED or POLICY_INVALID) for callers that just need to stop.
 */
import { AppError } from '../errors.ts';
import { compile, evalQuery, isRegoError, RObject, RSet, fromJS, toRegoString, type EvalLimits, type TraceEvent, type Value } from './rego/index.ts';
import { parseTime } from './rego/builtins/time.ts';
import { validatePolicyInput, type PolicyInput } from './input.ts';

export { validatePolicyInput, type PolicyInput } from './input.ts';
export type { TraceEvent, EvalLimits } from './rego/index.ts';

export const POLICY_MODES = { reference: 'reference', vault: 'vault' } as const;
export type PolicyMode = (typeof POLICY_MODES)[keyof typeof POLICY_MODES];

export const POLICY_OUTCOMES = {
  allowed: 'allowed',
  denied: 'denied',
  undefinedResult: 'undefined',
  notBoolean: 'not_boolean',
  invalidRulePath: 'invalid_rule_path',
  invalidPolicy: 'invalid_policy',
  evalError: 'eval_error',
  limit: 'limit',
} as const;
export type PolicyOutcome = (typeof POLICY_OUTCOMES)[keyof typeof POLICY_OUTCOMES];

export interface PolicyOptions {
  readonly mode: PolicyMode;
  /** Collect explain trace events (Enter/Eval/Exit/Redo/Fail/Note). */
  readonly trace?: boolean;
  readonly limits?: Partial<EvalLimits>;
  /** Clock override (ns since the epoch). In vault mode the default clock is the input's `time`. */
  readonly nowNs?: () => bigint;
  /** Receives print() output. */
  readonly print?: (msg: string) => void;
}

export interface PolicyDecision {
  readonly allow: boolean;
  readonly outcome: PolicyOutcome;
  /** What happened, in the reference's words for reference mode. */
  readonly message: string;
  /** Deny reasons (vault mode: the `deny` set, sorted). */
  readonly denyReasons: readonly string[];
  /** OPA error code when the outcome is an error (rego_parse_error, eval_type_error, …). */
  readonly regoCode?: string;
  /** row:col of a parse or evaluation error. */
  readonly location?: { readonly row: number; readonly col: number };
  readonly trace?: readonly TraceEvent[];
}

const REFERENCE_FILE = 'model.rego';
const VAULT_FILE = 'policy.rego';

/**
 * Compiled policies by file name and source text, most recently used last. A compiled policy is read-only during
 * evaluation (each query gets a fresh Evaluator), so one compilation serves every evaluation of the same text: the
 * broker evaluates a model's policy at every key release, the editor re-evaluates an unchanged policy against each
 * edited input. A policy that fails to compile is not kept (it fails again, the same way).
 */
const COMPILED_MAX = 32;
const compiled = new Map<string, ReturnType<typeof compile>>();

function compileOnce(file: string, source: string): ReturnType<typeof compile> {
  const key = `${file}\u0000${source}`;
  const hit = compiled.get(key);
  if (hit !== undefined) {
    compiled.delete(key);
    compiled.set(key, hit);
    return hit;
  }
  const policy = compile([{ file, source }]);
  compiled.set(key, policy);
  if (compiled.size > COMPILED_MAX) compiled.delete(compiled.keys().next().value as string);
  return policy;
}

/** Forgets every compiled policy (tests compare cached and fresh compilations). */
export function clearCompiledPolicies(): void {
  compiled.clear();
}

export function evaluatePolicy(source: string, input: PolicyInput | undefined, opts: PolicyOptions): PolicyDecision {
  if (typeof source !== 'string') throw new AppError('VALIDATION', 'policy source must be a string');
  return opts.mode === 'reference' ? evaluateReference(source, opts) : evaluateVault(source, input, opts);
}

/** Throws POLICY_DENIED for a denial and POLICY_INVALID for every other non-allowed outcome. */
export function enforcePolicy(decision: PolicyDecision): void {
  if (decision.allow) return;
  if (decision.outcome === 'denied') throw new AppError('POLICY_DENIED', decision.message);
  if (decision.outcome === 'limit') throw new AppError('POLICY_LIMIT', decision.message);
  throw new AppError('POLICY_INVALID', decision.message);
}

function fail(outcome: PolicyOutcome, message: string, e?: unknown, trace?: readonly TraceEvent[]): PolicyDecision {
  const base = { allow: false, outcome, message, denyReasons: [] as string[], trace };
  if (isRegoError(e)) return { ...base, regoCode: e.regoCode, location: e.location === undefined ? undefined : { row: e.location.row, col: e.location.col } };
  return base;
}

function errorOutcome(e: unknown, prefix: string): PolicyDecision {
  if (isRegoError(e)) {
    if (e.regoCode === 'eval_limit_error' || e.regoCode === 'eval_cancel_error') return fail('limit', `${prefix}: ${e.message}`, e);
    if (e.regoCode.startsWith('rego_')) return fail('invalid_policy', `${prefix}: ${e.message}`, e);
    return fail('eval_error', `${prefix}: ${e.message}`, e);
  }
  throw e;
}

function evaluateReference(source: string, opts: PolicyOptions): PolicyDecision {
  let policy;
  try {
    policy = compileOnce(REFERENCE_FILE, source);
  } catch (e) {
    return errorOutcome(e, 'Failed to add policy');
  }
  const mod = policy.compiled.modules[0];
  const hasAllow = mod !== undefined && mod.pkg.length === 1 && mod.pkg[0] === 'model' && mod.rules.some((r) => r.ref.length === 1 && r.ref[0]?.type === 'scalar' && r.ref[0].value === 'allow' && r.kind !== 'func');
  if (!hasAllow) return fail('invalid_rule_path', 'Policy evaluation failed: data.model.allow is not a valid rule path');
  let result;
  try {
    result = evalQuery(policy, 'x = data.model.allow', { input: undefined, data: undefined, trace: opts.trace, limits: opts.limits, nowNs: opts.nowNs, print: opts.print });
  } catch (e) {
    return errorOutcome(e, 'Policy evaluation failed');
  }
  const trace = result.trace;
  const v = result.results[0]?.x;
  if (v === undefined) return fail('undefined', 'Policy returned undefined', undefined, trace);
  if (typeof v !== 'boolean') return fail('not_boolean', 'Policy evaluation failed: the policy did not return a boolean', undefined, trace);
  if (!v) return fail('denied', 'Policy evaluation denied', undefined, trace);
  return { allow: true, outcome: 'allowed', message: 'Policy evaluation allowed', denyReasons: [], trace };
}

function evaluateVault(source: string, input: PolicyInput | undefined, opts: PolicyOptions): PolicyDecision {
  if (input === undefined) throw new AppError('VALIDATION', 'vault mode needs an input document (see app/policy/README.md)');
  const problems = validatePolicyInput(input);
  if (problems.length > 0) throw new AppError('VALIDATION', `policy input is invalid: ${problems.slice(0, 5).join('; ')}`);
  let policy;
  try {
    policy = compileOnce(VAULT_FILE, source);
  } catch (e) {
    return errorOutcome(e, 'Policy is invalid');
  }
  const mod = policy.compiled.modules[0];
  if (mod === undefined || mod.pkg.join('.') !== 'modelvault') return fail('invalid_rule_path', 'Policy is invalid: a Model Vault policy must declare `package modelvault`');
  const inputValue: Value = fromJS(input);
  const nowNs = opts.nowNs ?? (() => parseTime('2006-01-02T15:04:05Z07:00', input.time));
  let allowV: Value | undefined;
  let denyV: Value | undefined;
  let trace: TraceEvent[] | undefined;
  try {
    const r = evalQuery(policy, 'a = data.modelvault', { input: inputValue, trace: opts.trace, limits: opts.limits, nowNs, print: opts.print });
    trace = r.trace;
    const doc = r.results[0]?.a;
    if (doc instanceof RObject) {
      allowV = doc.get('allow');
      denyV = doc.get('deny');
    }
  } catch (e) {
    return errorOutcome(e, 'Policy evaluation failed');
  }
  const reasons: string[] = [];
  if (denyV instanceof RSet) for (const r of denyV.sorted()) reasons.push(typeof r === 'string' ? r : toRegoString(r));
  else if (denyV !== undefined) return fail('not_boolean', 'Policy evaluation failed: `deny` must be a partial set (deny contains reason if …)', undefined, trace);
  if (allowV !== undefined && typeof allowV !== 'boolean') return fail('not_boolean', 'Policy evaluation failed: `allow` did not return a boolean', undefined, trace);
  if (reasons.length > 0) return { allow: false, outcome: 'denied', message: `Policy evaluation denied: ${reasons.join('; ')}`, denyReasons: reasons, trace };
  if (allowV === undefined) return { allow: false, outcome: 'undefined', message: 'Policy returned undefined: no `allow` rule matched (fail closed)', denyReasons: [], trace };
  if (!allowV) return { allow: false, outcome: 'denied', message: 'Policy evaluation denied', denyReasons: [], trace };
  return { allow: true, outcome: 'allowed', message: 'Policy evaluation allowed', denyReasons: [], trace };
}

export const EXPLAIN_MODES = { full: 'full', fails: 'fails', notes: 'notes' } as const;
export type ExplainMode = (typeof EXPLAIN_MODES)[keyof typeof EXPLAIN_MODES];

/** The trace as `opa eval --explain=<mode>` would select it: everything, failures only, or notes only. */
export function explain(trace: readonly TraceEvent[], mode: ExplainMode): TraceEvent[] {
  switch (mode) {
    case 'full':
      return [...trace];
    case 'fails':
      return trace.filter((e) => e.op === 'Fail');
    case 'notes':
      return trace.filter((e) => e.op === 'Note');
  }
}

/** One line per event, indented by depth: `file:row:col  Op  text`. */
export function formatTrace(trace: readonly TraceEvent[]): string {
  return trace.map((e) => `${e.file}:${e.row}:${e.col}${' '.repeat(Math.max(1, 2 + 2 * e.depth))}${e.op.padEnd(5)} ${e.text}`).join('\n');
}
