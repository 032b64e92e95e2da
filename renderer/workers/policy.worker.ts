/**
 * The policy studio's evaluation worker: runs our Rego engine (app/policy/, Model Vault mode) off the UI thread, so
 * typing never waits for an evaluation. The engine's own limits (steps, depth, time) end hostile policies with a
 * typed limit error; the studio also replaces a worker that stops answering.
 */
import { evaluatePolicy, type PolicyDecision, type PolicyInput, type TraceEvent } from '../../app/policy/index.ts';
import { isAppError } from '../../app/errors.ts';
import type { EvalProblem, EvalRequest, EvalResponse, TraceLine } from './policy-protocol.ts';

const MAX_TRACE_LINES = 2000;
const LIMITS = { maxMillis: 1500 };

function traceLines(events: readonly TraceEvent[] | undefined, mode: EvalRequest['explain']): TraceLine[] {
  if (events === undefined || mode === 'off') return [];
  const wanted = mode === 'notes' ? (e: TraceEvent) => e.op === 'Note' : mode === 'fails' ? (e: TraceEvent) => e.op === 'Fail' || e.op === 'Note' : () => true;
  return events
    .filter(wanted)
    .slice(0, MAX_TRACE_LINES)
    .map((e) => ({ op: e.op, depth: e.depth, row: e.row, col: e.col, text: e.text }));
}

function policyProblem(decision: PolicyDecision): EvalProblem {
  return { message: decision.message, code: decision.regoCode ?? decision.outcome, row: decision.location?.row, col: decision.location?.col, where: 'policy' };
}

/** A valid input used only to keep reporting the policy's own problems while the user's input is broken. */
const PLACEHOLDER_INPUT: PolicyInput = { action: 'load', time: '2026-01-01T12:00:00Z', subscriber: { id: 'placeholder', roles: [] }, model: { id: 'placeholder' } };

/** The policy's own problems (parse, compile) against a placeholder input; [] when it compiles. */
function policyProblemsAlone(source: string): EvalProblem[] {
  try {
    const d = evaluatePolicy(source, PLACEHOLDER_INPUT, { mode: 'vault', limits: LIMITS });
    return d.outcome === 'invalid_policy' || d.outcome === 'invalid_rule_path' ? [policyProblem(d)] : [];
  } catch {
    return [];
  }
}

function evaluate(request: EvalRequest): EvalResponse {
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  const inputFailure = (problem: EvalProblem): EvalResponse => ({ id: request.id, ok: false, problems: [problem, ...policyProblemsAlone(request.source)], durationMs: elapsed() });
  let input: unknown;
  try {
    input = JSON.parse(request.inputText) as unknown;
  } catch (e) {
    const message = e instanceof SyntaxError ? `The input is not valid JSON: ${e.message}` : 'The input is not valid JSON.';
    return inputFailure({ message, code: 'invalid_json', where: 'input' });
  }
  let decision: PolicyDecision;
  try {
    decision = evaluatePolicy(request.source, input as PolicyInput, { mode: 'vault', trace: request.explain !== 'off', limits: LIMITS });
  } catch (e) {
    if (isAppError(e) && e.code === 'VALIDATION') return inputFailure({ message: e.message, code: 'invalid_input', where: 'input' });
    return { id: request.id, ok: false, problems: [{ message: isAppError(e) ? e.message : 'The policy engine failed unexpectedly.', code: isAppError(e) ? e.code : 'internal', where: 'policy' }], durationMs: elapsed() };
  }
  const decided = decision.outcome === 'allowed' || decision.outcome === 'denied' || decision.outcome === 'undefined';
  if (!decided) return { id: request.id, ok: false, problems: [policyProblem(decision)], durationMs: elapsed() };
  return {
    id: request.id,
    ok: true,
    allow: decision.allow,
    denyReasons: decision.denyReasons,
    bindings: { allow: decision.allow, outcome: decision.outcome, deny: decision.denyReasons, message: decision.message },
    trace: traceLines(decision.trace, request.explain),
    durationMs: elapsed(),
  };
}

self.onmessage = (e: MessageEvent<EvalRequest>) => {
  self.postMessage(evaluate(e.data));
};
