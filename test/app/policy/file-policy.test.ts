import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFilePolicyEvaluator, filePolicyEvaluator } from '../../../app/policy/file-policy.ts';
import { enforcePolicy } from '../../../app/format/policy.ts';
import { isAppError } from '../../../app/errors.ts';

const texts = (local: string) => ({ local, remote: 'package model\nallow := true' });

test('reference outcomes: true allows; false and undefined deny', async () => {
  assert.equal(filePolicyEvaluator('package model\n\nallow := true\n'), 'allow');
  assert.equal(filePolicyEvaluator('package model\n\nallow := false\n'), 'deny');
  assert.equal(filePolicyEvaluator('package model\n\nallow if { 1 > 2 }\n'), 'deny');
  // A builtin error (division by zero) makes the rule undefined, as in OPA without strict builtin errors: a denial.
  assert.equal(filePolicyEvaluator('package model\nallow if { x := 1 / 0 }'), 'deny');
  assert.equal(filePolicyEvaluator('package model\n\nimport rego.v1\n\nallow if count([1, 2]) == 2\n'), 'allow');
});

test('a policy with an expiry date uses the clock', () => {
  const policy = 'package model\n\nimport rego.v1\n\nallow if time.now_ns() < time.parse_rfc3339_ns("2027-01-01T00:00:00Z")\n';
  const at = (iso: string) => createFilePolicyEvaluator({ nowNs: () => BigInt(Date.parse(iso)) * 1_000_000n });
  assert.equal(at('2026-11-21T00:00:00Z')(policy), 'allow');
  assert.equal(at('2027-02-01T00:00:00Z')(policy), 'deny');
});

test('broken policies are POLICY_INVALID, never an allow', () => {
  for (const bad of ['package other\nallow := true', 'package model\nallow := "yes"', 'package model\nallow {', 'package model\ndeny := true']) {
    assert.throws(
      () => filePolicyEvaluator(bad),
      (e: unknown) => isAppError(e) && (e.code === 'POLICY_INVALID' || e.code === 'POLICY_LIMIT'),
      bad,
    );
  }
});

test('hostile policies end with a typed limit error', () => {
  const recursion = 'package model\n\nimport rego.v1\n\nf(x) := y if { y := f(x + 1) }\n\nallow if f(1) > 0\n';
  const huge = 'package model\n\nimport rego.v1\n\nallow if count({[a, b, c] | some a in numbers.range(1, 1000); some b in numbers.range(1, 1000); some c in numbers.range(1, 1000)}) > 0\n';
  for (const p of [recursion, huge]) {
    assert.throws(
      () => filePolicyEvaluator(p),
      (e: unknown) => isAppError(e) && (e.code === 'POLICY_LIMIT' || e.code === 'POLICY_INVALID'),
    );
  }
});

test('plugged into the format reader: denial is POLICY_DENIED, allow passes', async () => {
  assert.equal(await enforcePolicy(texts('package model\n\nimport rego.v1\n\nallow if 2 > 1\n'), { policyEvaluator: filePolicyEvaluator }), 'allow');
  await assert.rejects(enforcePolicy(texts('package model\n\nimport rego.v1\n\nallow if 2 < 1\n'), { policyEvaluator: filePolicyEvaluator }), (e: unknown) => isAppError(e) && e.code === 'POLICY_DENIED');
});
