/**
 * The model's release policy (README §7): Rego evaluated at key release with an input document describing the
 * subject, device, model, subscription and the device's runtime facts; `data.model.allow` must be exactly `true`.
 *
 * ADAPTER NOTE: `evaluatePolicy` (Model Vault mode) was not yet exported by app/policy/ when this was written; this
 * is a minimal adapter over the engine's public `compile`/`evalQuery`. Swap it for `evaluatePolicy` when it lands.
 */
import { AppError } from '../errors.ts';
import { compile, evalQuery, fromJS, isRegoError, toJS, type PreparedPolicy } from '../policy/rego/index.ts';
import type { RuntimeFacts } from './messages.ts';

export interface ReleaseInput {
  readonly time_ns: string;
  readonly subject: { readonly id: string; readonly role: string };
  readonly device: { readonly id: string };
  readonly model: { readonly id: string; readonly producer: string };
  readonly subscription: { readonly id: string; readonly expires_at_ns: string | null; readonly devices: readonly string[] };
  readonly runtime: RuntimeFacts;
}

const cache = new Map<string, PreparedPolicy>();
const MAX_CACHE = 256;

function prepared(regoText: string): PreparedPolicy {
  const hit = cache.get(regoText);
  if (hit !== undefined) return hit;
  let p: PreparedPolicy;
  try {
    p = compile([{ file: 'model.rego', source: regoText }]);
  } catch (e) {
    if (isRegoError(e)) throw new AppError('POLICY_INVALID', 'The model release policy does not compile. The producer must publish a valid Rego policy.');
    throw e;
  }
  if (cache.size >= MAX_CACHE) cache.clear();
  cache.set(regoText, p);
  return p;
}

/** true only when `data.model.allow` is exactly true; undefined, false and non-booleans deny; errors are POLICY_INVALID. */
export function releaseAllowed(regoText: string, input: ReleaseInput, nowNs: bigint): boolean {
  const policy = prepared(regoText);
  try {
    const r = evalQuery(policy, 'x = data.model.allow', { input: fromJS(input), nowNs: () => nowNs });
    if (r.results.length !== 1) return false;
    const x = r.results[0]?.x;
    return x !== undefined && toJS(x) === true;
  } catch (e) {
    if (isRegoError(e)) throw new AppError('POLICY_INVALID', 'The model release policy failed to evaluate. The producer must fix the policy.');
    throw e;
  }
}

/** Checks a policy compiles (at publish time), so a broken policy is refused before anyone subscribes. */
export function checkReleasePolicy(regoText: string): void {
  prepared(regoText);
}
