/**
 * The file's access policy (spec §6, W-7). The reference evaluates the `local` Rego text with no input and queries
 * `data.model.allow`. We recognize the constant forms natively, accept a pluggable evaluator for the rest, and
 * otherwise fail closed (POLICY_INVALID) unless the caller explicitly ignores the policy. The policy is advisory:
 * anyone holding the master key can decrypt regardless.
 */
import { AppError } from '../errors.ts';
import type { PolicyTexts } from './crypto-metadata.ts';

export type PolicyVerdict = 'allow' | 'deny' | 'unsupported';

/** Evaluates Rego `local` text the reference's way; must return 'deny' for false/undefined/non-boolean. */
export type PolicyEvaluator = (regoText: string) => PolicyVerdict | Promise<PolicyVerdict>;

const CONSTANT_RULE = /^(default\s+)?allow\s*:?=\s*(true|false)$/;

/** Recognizes `package model` followed only by constant `allow` rules (comments and blank lines allowed). */
export function evaluateConstantPolicy(regoText: string): PolicyVerdict {
  const lines = regoText.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter((l) => l !== '');
  if (lines[0] !== 'package model' || lines.length < 2) return 'unsupported';
  let value: string | undefined;
  let defaultValue: string | undefined;
  for (const line of lines.slice(1)) {
    if (line.startsWith('import rego.v1')) continue;
    const m = CONSTANT_RULE.exec(line);
    if (m === null) return 'unsupported';
    if (m[1] !== undefined) {
      if (defaultValue !== undefined) return 'unsupported';
      defaultValue = m[2];
    } else {
      if (value !== undefined && value !== m[2]) return 'unsupported'; // conflicting complete rules: a Rego error
      value = m[2];
    }
  }
  const result = value ?? defaultValue;
  return result === 'true' ? 'allow' : 'deny';
}

export interface PolicyOptions {
  readonly ignorePolicy?: boolean;
  readonly policyEvaluator?: PolicyEvaluator;
}

export type PolicyOutcome = 'allow' | 'ignored';

/** Throws POLICY_DENIED or POLICY_INVALID; returns 'ignored' only when the caller opted out. */
export async function enforcePolicy(policy: PolicyTexts, options: PolicyOptions): Promise<PolicyOutcome> {
  if (options.ignorePolicy === true) return 'ignored';
  let verdict = evaluateConstantPolicy(policy.local);
  if (verdict === 'unsupported' && options.policyEvaluator !== undefined) verdict = await options.policyEvaluator(policy.local);
  if (verdict === 'allow') return 'allow';
  if (verdict === 'deny') throw new AppError('POLICY_DENIED', 'The file policy denies access to this model.');
  throw new AppError('POLICY_INVALID', 'The file policy uses Rego this version cannot evaluate. Re-run with the policy explicitly ignored only if you trust the publisher.');
}
