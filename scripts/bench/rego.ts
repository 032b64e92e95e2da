/**
 * Rego benchmark (not a test): parse+compile of a ~200-line policy, and the median evaluation time of a typical
 * access policy (RBAC + time window + CIDR + deny reasons) through the policy API.
 *
 *   npm run bench:rego [-- --json]
 *
 * Targets (issue 4): evaluation <= 2 ms median, compile <= 10 ms.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { compile } from '../../app/policy/rego/index.ts';
import { clearCompiledPolicies, evaluatePolicy, type PolicyInput } from '../../app/policy/index.ts';

const ROOT = join(import.meta.dirname, '../..');
const json = process.argv.includes('--json');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.95))] ?? 0;
}

/** A ~200-line policy: the sample access policy plus generated role tables, helpers and partial rules. */
function bigPolicy(): string {
  const lines = [readFileSync(join(ROOT, 'resources/policies/deny-reasons.rego'), 'utf8')];
  for (let i = 0; i < 22; i++) {
    lines.push(`role_${i} := {"name": "role-${i}", "actions": ["open", "load"], "level": ${i}}`);
    lines.push(`level_ok_${i}(l) if l >= ${i}`);
    lines.push(`deny contains msg if {\n\tinput.subscriber.attributes.level == ${i}\n\tnot level_ok_${i}(${i - 1})\n\tmsg := sprintf("level %d too low", [${i}])\n}`);
  }
  return lines.join('\n');
}

const input: PolicyInput = {
  subscriber: { id: 'sub-1', roles: ['analyst', 'viewer'], attributes: { clearance: 'high', org: 'acme' } },
  device: { id: 'dev-1', ip: '10.20.30.40', platform: 'linux', attested: true },
  licence: { id: 'lic-1', status: 'active', not_before: '2026-01-01T00:00:00Z', expires_at: '2027-01-01T00:00:00Z', features: ['inference'] },
  runtime: { app_version: '0.1.0', os: 'linux', offline: false },
  action: 'load',
  time: '2026-11-18T10:30:00Z',
  model: { id: 'demo', tensors: ['embed.weight', 'layers.0.attn.q_proj.weight', 'lm_head.weight'] },
};

const big = bigPolicy();
const lineCount = big.split('\n').length;
const compileTimes: number[] = [];
for (let i = 0; i < 250; i++) {
  const t0 = performance.now();
  compile([{ file: 'big.rego', source: big }]);
  compileTimes.push(performance.now() - t0);
}

const access = readFileSync(join(ROOT, 'resources/policies/deny-reasons.rego'), 'utf8');
const evalTimes: number[] = [];
let allow = false;
for (let i = 0; i < 600; i++) {
  clearCompiledPolicies(); // a cold decision: parse + compile + evaluate
  const t0 = performance.now();
  const d = evaluatePolicy(access, input, { mode: 'vault' });
  evalTimes.push(performance.now() - t0);
  allow = d.allow;
}
if (!allow) throw new Error('benchmark policy unexpectedly denied');
// what the broker pays per key release once a model's policy is compiled (evaluatePolicy keeps compiled policies)
const warmTimes: number[] = [];
for (let i = 0; i < 600; i++) {
  const t0 = performance.now();
  if (!evaluatePolicy(access, input, { mode: 'vault' }).allow) throw new Error('benchmark policy unexpectedly denied');
  warmTimes.push(performance.now() - t0);
}

const result = {
  compile_policy_lines: lineCount,
  compile_median_ms: Number(median(compileTimes.slice(50)).toFixed(3)),
  compile_p95_ms: Number(p95(compileTimes.slice(50)).toFixed(3)),
  eval_median_ms: Number(median(evalTimes.slice(100)).toFixed(3)),
  eval_p95_ms: Number(p95(evalTimes.slice(100)).toFixed(3)),
  eval_includes: 'parse + compile + evaluate of the access policy per decision',
  eval_cached_median_ms: Number(median(warmTimes.slice(100)).toFixed(3)),
  eval_cached_includes: 'evaluate only: the compiled policy is reused (as at every key release after the first)',
  targets: { eval_median_ms: 2, compile_median_ms: 10 },
};
if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  process.stdout.write(`compile ${lineCount}-line policy: median ${result.compile_median_ms} ms, p95 ${result.compile_p95_ms} ms (target <= 10 ms)\n`);
  process.stdout.write(`evaluate access policy (RBAC + time window + CIDR + deny reasons): median ${result.eval_median_ms} ms, p95 ${result.eval_p95_ms} ms (target <= 2 ms)\n`);
}
