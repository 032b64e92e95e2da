/**
 * The evaluator for a file's embedded policy (`__policy__.local`), as the reference evaluates it (spec §6): our Rego
 * engine in reference mode — module `model.rego`, no input, no data, query `data.model.allow`. Plugged into the
 * format reader (app/format/policy.ts), which recognizes constant policies natively and asks this for the rest.
 *
 * A `false` or undefined result is a denial; every other failure (parse error, missing rule, non-boolean, an
 * evaluation error, a limit hit) is POLICY_INVALID or POLICY_LIMIT with the engine's own message, never a silent
 * allow. The file policy is advisory (W-7): anyone holding the master key can decrypt regardless.
 */
import { AppError } from '../errors.ts';
import type { PolicyEvaluator, PolicyVerdict } from '../format/policy.ts';
import { evaluatePolicy, type EvalLimits } from './index.ts';

/** Files are hostile input: tighter limits than the editor's defaults. */
const FILE_POLICY_LIMITS: Partial<EvalLimits> = { maxMillis: 2000 };

export function createFilePolicyEvaluator(options: { readonly nowNs?: () => bigint } = {}): PolicyEvaluator {
  return (regoText: string): PolicyVerdict => {
    const decision = evaluatePolicy(regoText, undefined, { mode: 'reference', limits: FILE_POLICY_LIMITS, nowNs: options.nowNs });
    switch (decision.outcome) {
      case 'allowed':
        return 'allow';
      case 'denied':
      case 'undefined':
        return 'deny';
      case 'limit':
        throw new AppError('POLICY_LIMIT', `The file policy exceeded the evaluation limits and was stopped: ${decision.message}`);
      case 'not_boolean':
      case 'invalid_rule_path':
      case 'invalid_policy':
      case 'eval_error':
        throw new AppError('POLICY_INVALID', `The file policy cannot be evaluated (${decision.message}). The model cannot be opened under this policy; ask its publisher for a corrected file.`);
    }
  };
}

export const filePolicyEvaluator: PolicyEvaluator = createFilePolicyEvaluator();
