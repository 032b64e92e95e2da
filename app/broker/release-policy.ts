/**
 * The model's release policy (README §7), through the policy API (`evaluatePolicy`, app/policy/README.md):
 * - a `package modelvault` policy runs in Model Vault mode with the input document built by the broker
 *   (subscriber, device, licence, runtime facts, action `decrypt`, time, model); allow iff `allow` and no `deny`;
 * - any other policy (e.g. the header's default `package model\nallow = true`) runs in reference mode.
 * Every outcome other than allowed denies; a policy that does not compile or errors is POLICY_INVALID.
 */
import { AppError } from '../errors.ts';
import { evaluateConstantPolicy } from '../format/policy.ts';
import { evaluatePolicy, type PolicyDecision, type PolicyInput } from '../policy/index.ts';

export type { PolicyInput } from '../policy/index.ts';

const VAULT_PACKAGE = /^\s*package\s+modelvault\s*$/m;

export function releasePolicyMode(regoText: string): 'vault' | 'reference' {
  return VAULT_PACKAGE.test(regoText) ? 'vault' : 'reference';
}

const CONSTANT_ALLOW: PolicyDecision = Object.freeze({ allow: true, outcome: 'allowed', message: 'Policy evaluation allowed', denyReasons: [] });

export function evaluateRelease(regoText: string, input: PolicyInput): PolicyDecision {
  const mode = releasePolicyMode(regoText);
  // Fast path: the codec's recognizer for the constant `package model` forms (e.g. the default allow-all policy).
  if (mode === 'reference' && evaluateConstantPolicy(regoText) === 'allow') return CONSTANT_ALLOW;
  return mode === 'vault' ? evaluatePolicy(regoText, input, { mode }) : evaluatePolicy(regoText, undefined, { mode, nowNs: () => BigInt(Date.parse(input.time)) * 1_000_000n });
}

/** Throws POLICY_DENIED (with the policy's deny reasons) or POLICY_INVALID; returns when the release is allowed. */
export function enforceRelease(regoText: string, input: PolicyInput): void {
  const d = evaluateRelease(regoText, input);
  if (d.allow) return;
  if (d.outcome === 'denied' || d.outcome === 'undefined') {
    const reasons = d.denyReasons.length === 0 ? '' : ` (${d.denyReasons.join('; ').slice(0, 300)})`;
    throw new AppError('POLICY_DENIED', `The model release policy denies this device or runtime${reasons}. Check the requirements with the publisher.`);
  }
  throw new AppError('POLICY_INVALID', 'The model release policy could not be evaluated. The producer must publish a valid policy.');
}

/** At publish time: the policy must compile (a denial on a sample input is fine; an invalid policy is refused). */
export function checkReleasePolicy(regoText: string): void {
  const sample: PolicyInput = { subscriber: { id: 'check', roles: ['subscriber'] }, device: { id: 'check' }, licence: { id: 'check', status: 'active' }, action: 'decrypt', time: '2026-01-01T00:00:00Z', model: { id: 'check' } };
  const d = evaluateRelease(regoText, sample);
  if (d.outcome === 'invalid_policy' || d.outcome === 'invalid_rule_path') throw new AppError('POLICY_INVALID', `The release policy is invalid: ${d.message.slice(0, 300)}`);
}
