// Rego engine behaviour that the conformance suite does not pin down: errors with row:col, limits on hostile
// policies, refused and unsupported builtins, explain traces, numbers, and the reference mode outcome table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile, evalQuery, isRegoError, toJSON, type EvalOptions } from '../../../app/policy/rego/index.ts';
import { evaluatePolicy, enforcePolicy } from '../../../app/policy/index.ts';
import { isAppError } from '../../../app/errors.ts';

function run(src: string, query: string, opts: EvalOptions = {}): string[] {
  const r = evalQuery(compile([{ file: 'p.rego', source: src }]), query, opts);
  return r.results.map((row) => Object.entries(row).map(([k, v]) => `${k}=${toJSON(v)}`).join(' '));
}

function regoError(f: () => unknown): { code: string; message: string; row?: number; col?: number } {
  try {
    f();
  } catch (e) {
    assert.ok(isRegoError(e), `expected a RegoError, got ${String(e)}`);
    return { code: e.regoCode, message: e.message, row: e.location?.row, col: e.location?.col };
  }
  assert.fail('expected an error');
}

test('parse errors carry row:col and rego_parse_error', () => {
  const e = regoError(() => compile([{ file: 'p.rego', source: 'package p\n\nallow if {\n  x := [1, 2\n}\n' }]));
  assert.equal(e.code, 'rego_parse_error');
  assert.equal(e.row, 5);
  assert.equal(e.col, 1);
  assert.match(e.message, /^p\.rego:5: rego_parse_error: /);
});

test('v0 syntax (rule body without if) is rejected, as Rego v1 requires', () => {
  const e = regoError(() => compile([{ file: 'p.rego', source: 'package p\nallow { true }\n' }]));
  assert.equal(e.code, 'rego_parse_error');
  assert.equal(e.row, 2);
  assert.match(e.message, /`if` keyword is required/);
});

test('reassigning a variable is a compile error', () => {
  const e = regoError(() => compile([{ file: 'p.rego', source: 'package p\nallow if {\n  x := 1\n  x := 2\n}\n' }]));
  assert.equal(e.code, 'rego_compile_error');
});

test('infinite recursion through rules ends with a typed error', () => {
  const e = regoError(() => run('package p\na if b\nb if a\n', 'data.p.a = x'));
  assert.equal(e.code, 'rego_recursion_error');
});

test('unbounded function recursion ends with a limit error, not a hang', () => {
  const e = regoError(() => run('package p\nf(n) := f(n + 1)\nx := f(0)\n', 'data.p.x = y', { limits: { maxDepth: 50 } }));
  assert.equal(e.code, 'eval_limit_error');
});

test('huge comprehensions hit the output limit', () => {
  const src = 'package p\nbig := [[a, b] | some a in numbers.range(1, 5000); some b in numbers.range(1, 5000)]\n';
  const e = regoError(() => run(src, 'data.p.big = x', { limits: { maxOutput: 100_000 } }));
  assert.equal(e.code, 'eval_limit_error');
});

test('the step limit stops long evaluations', () => {
  const src = 'package p\nn := count([x | some x in numbers.range(1, 100000); x % 7 == 0])\n';
  const e = regoError(() => run(src, 'data.p.n = x', { limits: { maxSteps: 10_000 } }));
  assert.equal(e.code, 'eval_limit_error');
});

test('http.send and network lookups are refused by design, even without strict errors', () => {
  const e = regoError(() => run('package p\nr := http.send({"method": "get", "url": "https://example.com"})\n', 'data.p.r = x'));
  assert.equal(e.code, 'eval_builtin_error');
  assert.match(e.message, /http\.send is refused by design/);
  assert.match(regoError(() => run('package p\nr := net.lookup_ip_addr("example.com")\n', 'data.p.r = x')).message, /refused/);
});

test('an unsupported or unknown builtin is an error naming it, never a silent undefined', () => {
  const e = regoError(() => run('package p\nr := crypto.parse_private_keys("x")\n', 'data.p.r = x'));
  assert.equal(e.code, 'rego_unsupported_error');
  assert.match(e.message, /builtin crypto\.parse_private_keys is not supported/);
  const u = regoError(() => run('package p\nr := no_such_fn("x")\n', 'data.p.r = x'));
  assert.equal(u.code, 'rego_type_error');
  assert.match(u.message, /undefined function no_such_fn/);
});

test('builtin errors are undefined by default and raised with strict errors', () => {
  assert.deepEqual(run('package p\nr := 1 / 0\n', 'data.p.r = x'), []);
  const e = regoError(() => run('package p\nr := 1 / 0\n', 'data.p.r = x', { strictBuiltinErrors: true }));
  assert.equal(e.code, 'eval_builtin_error');
  assert.match(e.message, /div: divide by zero/);
});

test('conflicting complete rules raise eval_conflict_error', () => {
  const e = regoError(() => run('package p\nr := 1\nr := 2\n', 'data.p.r = x'));
  assert.equal(e.code, 'eval_conflict_error');
});

test('arbitrary-precision numbers', () => {
  assert.deepEqual(run('package p\nr := 0.1 + 0.2\n', 'data.p.r = x'), ['x=0.3']);
  assert.deepEqual(run('package p\nr := 12345678901234567890 * 10\n', 'data.p.r = x'), ['x=123456789012345678900']);
  assert.deepEqual(run('package p\nr := 1 == 1.0\n', 'data.p.r = x'), ['x=true']);
});

test('sets and objects use the total order and print sorted', () => {
  assert.deepEqual(run('package p\nr := {3, "a", null, [1], {"k": 1}, false, 2}\n', 'data.p.r = x'), ['x=[null,false,2,3,"a",[1],{"k":1}]']);
});

test('with mocks time.now_ns and input', () => {
  const src = 'package p\nr := time.now_ns()\ns := input.a\n';
  assert.deepEqual(run(src, 'data.p.r = x with time.now_ns as 42'), ['x=42']);
  assert.deepEqual(run(src, 'data.p.s = x with input.a as "z"'), ['x="z"']);
});

test('explain trace has Enter/Eval/Fail events with row:col and depth', () => {
  const r = evalQuery(compile([{ file: 'p.rego', source: 'package p\nallow if {\n  input.x == 1\n}\n' }]), 'data.p.allow = x', { input: { x: 2 } as never, trace: true });
  const trace = r.trace ?? [];
  assert.ok(trace.some((t) => t.op === 'Enter'));
  const fail = trace.find((t) => t.op === 'Fail' && t.text === 'input.x == 1');
  assert.ok(fail !== undefined);
  assert.equal(fail.row, 3);
  assert.equal(fail.col, 3);
  assert.ok(fail.depth >= 1);
});

test('trace() adds Note events', () => {
  const r = evalQuery(compile([{ file: 'p.rego', source: 'package p\nallow if trace("checked")\n' }]), 'data.p.allow = x', { trace: true });
  assert.ok((r.trace ?? []).some((t) => t.op === 'Note' && t.text === 'checked'));
});

test('reference mode maps outcomes exactly as spec §6', () => {
  const ref = (src: string) => evaluatePolicy(src, undefined, { mode: 'reference' });
  assert.equal(ref('package model\nallow = true').allow, true);
  assert.equal(ref('package model\nallow := true').outcome, 'allowed');
  assert.equal(ref('package model\nallow := false').message, 'Policy evaluation denied');
  assert.equal(ref('package model\nallow if false').message, 'Policy returned undefined');
  assert.match(ref('package model\nallow := "yes"').message, /did not return a boolean/);
  assert.match(ref('package other\nallow := true').message, /not a valid rule path/);
  assert.match(ref('package model\ndeny := true').message, /not a valid rule path/);
  const parse = ref('package model\nallow { true }');
  assert.equal(parse.outcome, 'invalid_policy');
  assert.match(parse.message, /^Failed to add policy/);
  assert.equal(parse.regoCode, 'rego_parse_error');
  // no input in reference mode
  assert.equal(ref('package model\nallow if input.x == 1').message, 'Policy returned undefined');
});

test('enforcePolicy throws AppError codes', () => {
  const denied = evaluatePolicy('package model\nallow := false', undefined, { mode: 'reference' });
  try {
    enforcePolicy(denied);
    assert.fail('expected a throw');
  } catch (e) {
    assert.ok(isAppError(e));
    assert.equal(e.code, 'POLICY_DENIED');
  }
  const bad = evaluatePolicy('package model\nallow := "x"', undefined, { mode: 'reference' });
  assert.throws(() => enforcePolicy(bad), (e: unknown) => isAppError(e) && e.code === 'POLICY_INVALID');
});

test('vault mode validates the input document', () => {
  assert.throws(
    () => evaluatePolicy('package modelvault\nallow := true', { action: 'load' } as never, { mode: 'vault' }),
    (e: unknown) => isAppError(e) && e.code === 'VALIDATION' && /input\.subscriber is required/.test(e.message),
  );
});

test('print is variadic and prints <undefined> for undefined arguments', () => {
  const out: string[] = [];
  const r = evalQuery(compile([{ file: 'p.rego', source: 'package p\na if { print("hi", 1, input.x, {"a"}) }\n' }]), 'data.p.a = x', { print: (m) => out.push(m) });
  assert.equal(r.results.length, 1);
  assert.deepEqual(out, ['hi 1 <undefined> {"a"}']);
});

test('METADATA annotations through rego.metadata.rule and chain', () => {
  const src = '# METADATA\n# title: pkg\npackage p\n\n# METADATA\n# title: the rule\n# authors:\n# - Jane Doe <jane@example.com>\nr := rego.metadata.rule()\nc := rego.metadata.chain()\n';
  assert.deepEqual(run(src, 'data.p.r = x'), ['x={"authors":[{"email":"jane@example.com","name":"Jane Doe"}],"scope":"rule","title":"the rule"}']);
  assert.deepEqual(run(src, 'data.p.c = x'), ['x=[{"path":["data","p","c"]},{"annotations":{"scope":"package","title":"pkg"},"path":["data","p"]}]']);
});

test('hostile sources: deep nesting and huge policies are typed parse errors', () => {
  const deep = `package p\nx := ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`;
  assert.equal(regoError(() => compile([{ file: 'p.rego', source: deep }])).code, 'rego_parse_error');
  const huge = `package p\n${'# padding\n'.repeat(150_000)}`;
  assert.match(regoError(() => compile([{ file: 'p.rego', source: huge }])).message, /more than the limit/);
});

test('wall-clock limit stops a slow evaluation', () => {
  const src = 'package p\nn := count([x | some x in numbers.range(1, 3000); some y in numbers.range(1, 3000); x == y])\n';
  const e = regoError(() => run(src, 'data.p.n = x', { limits: { maxMillis: 50, maxSteps: 1e12, maxOutput: 1e12 } }));
  assert.equal(e.code, 'eval_limit_error');
  assert.match(e.message, /ms/);
});

test('explain selects fails and notes like opa eval --explain', async () => {
  const { explain, formatTrace } = await import('../../../app/policy/index.ts');
  const d = evaluatePolicy('package model\nallow if {\n  trace("checking expiry")\n  time.now_ns() < 0\n}\n', undefined, { mode: 'reference', trace: true });
  const trace = d.trace ?? [];
  assert.deepEqual(explain(trace, 'notes').map((e) => e.text), ['checking expiry']);
  const fails = explain(trace, 'fails');
  assert.ok(fails.some((e) => e.text === 'time.now_ns() < 0' && e.row === 4));
  assert.match(formatTrace(fails), /model\.rego:4:3 +Fail +time\.now_ns\(\) < 0/);
});

test('json.match_schema reports errors in OPA\'s shape', () => {
  const src = 'package p\ns := {"type": "object", "properties": {"age": {"type": "integer", "minimum": 0}}, "required": ["name"]}\nr := json.match_schema({"age": -1}, s)\n';
  const [row] = run(src, 'data.p.r = x');
  assert.equal(row, 'x=[false,[{"desc":"name is required","error":"(root): name is required","field":"(root)","type":"required"},{"desc":"Must be greater than or equal to 0","error":"age: Must be greater than or equal to 0","field":"age","type":"number_gte"}]]');
});
