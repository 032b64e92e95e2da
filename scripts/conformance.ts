/**
 * OPA conformance runner: runs every YAML case under --cases <dir> (OPA's test-case schema) against our Rego engine
 * and judges as OPA's own runner does (result sets of bindings, exact error codes, error substrings).
 *
 *   npm run conformance -- --cases ../shared/conformance/opa-v1 [--json] [--floor 90] [--filter text] [--verbose]
 *
 * With --json the last line is {"passed":N,"failed":N,"skipped":N,"total":N}. With --floor P the exit code is 1 when
 * fewer than P % of the non-skipped cases pass.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { compile, evalQuery, fromJS, isRegoError, parseTermText, RObject, RSet, toJSON, type Value } from '../app/policy/rego/index.ts';
import { Evaluator } from '../app/policy/rego/eval.ts';
import { compileModules } from '../app/policy/rego/compile.ts';
import { Num } from '../app/policy/rego/number.ts';

interface Case {
  note?: string;
  query?: string;
  modules?: string[];
  data?: unknown;
  input?: unknown;
  input_term?: string;
  want_result?: Record<string, unknown>[];
  want_error?: string;
  want_error_code?: string;
  strict_error?: boolean;
  sort_bindings?: boolean;
  skip?: boolean;
  ignore_generated_vars?: boolean;
}

interface Args {
  cases: string;
  json: boolean;
  floor: number | undefined;
  filter: string | undefined;
  verbose: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { cases: '', json: false, floor: undefined, filter: undefined, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === '--cases') a.cases = argv[++i] ?? '';
    else if (x === '--json') a.json = true;
    else if (x === '--floor') a.floor = Number(argv[++i]);
    else if (x === '--filter') a.filter = argv[++i];
    else if (x === '--verbose' || x === '-v') a.verbose = true;
  }
  if (a.cases === '') {
    process.stderr.write('usage: conformance --cases <dir> [--json] [--floor <percent>] [--filter <text>] [--verbose]\n');
    process.exit(2);
  }
  if (a.floor !== undefined && !(a.floor >= 0 && a.floor <= 100)) {
    process.stderr.write('--floor must be a percentage between 0 and 100\n');
    process.exit(2);
  }
  return a;
}

function collect(dir: string, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.yaml') || name.endsWith('.yml')) out.push(p);
  }
}

/** JSON view of a value, as OPA converts results before comparing (sets become sorted arrays). */
function jsonView(v: Value): Value {
  // numbers compare numerically at float64 precision, as after OPA's JSON round trip
  if (v instanceof Num) {
    const f = v.toNumber();
    return Number.isFinite(f) ? (Num.fromDouble(f) ?? v) : v;
  }
  if (v instanceof RSet) return v.sorted().map(jsonView);
  if (v instanceof RObject) {
    const o = new RObject();
    for (const [k, x] of v.entries()) o.set(typeof k === 'string' ? k : toJSON(k), jsonView(x));
    return o;
  }
  if (Array.isArray(v)) return (v as readonly Value[]).map(jsonView);
  return v;
}

function sortArrays(v: Value): Value {
  if (Array.isArray(v)) return [...(v as readonly Value[])].sort((a, b) => (toJSON(a) < toJSON(b) ? -1 : toJSON(a) > toJSON(b) ? 1 : 0));
  return v;
}

function rowKey(row: Record<string, Value>, sortBindings: boolean): string {
  const o = new RObject();
  for (const [k, v] of Object.entries(row)) o.set(k, sortBindings ? sortArrays(jsonView(v)) : jsonView(v));
  return o.key();
}

function evalInputTerm(src: string): Value | undefined {
  const term = parseTermText(src, 'input_term');
  const ev = new Evaluator(compileModules([]), {});
  return ev.evalOne(term, new Map());
}

type Outcome = { status: 'pass' } | { status: 'fail'; reason: string } | { status: 'skip' };

function runCase(c: Case): Outcome {
  if (c.skip === true) return { status: 'skip' };
  const wantsError = c.want_error !== undefined || c.want_error_code !== undefined;
  let results: Record<string, Value>[];
  try {
    const policy = compile((c.modules ?? []).map((source, i) => ({ file: `test-${i}.rego`, source })));
    let input: Value | undefined;
    if (c.input_term !== undefined) input = evalInputTerm(c.input_term);
    else if (c.input !== undefined) input = fromJS(c.input);
    const data = c.data === undefined ? undefined : fromJS(c.data);
    results = evalQuery(policy, c.query ?? '', {
      input,
      data,
      strictBuiltinErrors: c.strict_error === true,
      limits: { maxMillis: 3000 },
      nowNs: () => BigInt(Date.now()) * 1_000_000n,
    }).results;
  } catch (e) {
    if (!isRegoError(e)) return { status: 'fail', reason: `crash: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}` };
    if (!wantsError) return { status: 'fail', reason: `unexpected error: ${e.message}` };
    if (c.want_error_code !== undefined && c.want_error_code !== e.regoCode) return { status: 'fail', reason: `want code ${c.want_error_code}, got ${e.message}` };
    if (c.want_error !== undefined && !e.message.includes(c.want_error)) return { status: 'fail', reason: `want error containing ${JSON.stringify(c.want_error)}, got ${e.message}` };
    return { status: 'pass' };
  }
  if (wantsError) return { status: 'fail', reason: `want error ${c.want_error_code ?? ''} ${c.want_error ?? ''}, got ${results.length} result(s)` };
  const want = c.want_result ?? [];
  const sortB = c.sort_bindings === true;
  const got = new Set(results.map((r) => rowKey(r, sortB)));
  const exp = new Set(
    want.map((r) => {
      const row: Record<string, Value> = {};
      for (const [k, v] of Object.entries(r)) row[k] = fromJS(v);
      return rowKey(row, sortB);
    }),
  );
  const same = got.size === exp.size && [...got].every((k) => exp.has(k));
  if (!same) {
    const show = results.slice(0, 3).map((r) => Object.entries(r).map(([k, v]) => `${k}=${toJSON(v)}`).join(' ')).join(' | ');
    return { status: 'fail', reason: `result mismatch: got ${results.length} row(s): ${show.slice(0, 400)}; want ${JSON.stringify(want, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)).slice(0, 400)}` };
  }
  return { status: 'pass' };
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const files: string[] = [];
  collect(args.cases, files);
  const perDir = new Map<string, { passed: number; failed: number; skipped: number }>();
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const f of files) {
    const dir = relative(args.cases, f).split(/[\\/]/)[0] ?? '.';
    let doc: { cases?: Case[] };
    try {
      doc = parseYaml(readFileSync(f, 'utf8'), { intAsBigInt: true }) as { cases?: Case[] };
    } catch (e) {
      process.stderr.write(`cannot read ${f}: ${String(e)}\n`);
      continue;
    }
    for (const c of doc.cases ?? []) {
      if (args.filter !== undefined && !(c.note ?? '').includes(args.filter) && !f.includes(args.filter)) continue;
      let st = perDir.get(dir);
      if (st === undefined) {
        st = { passed: 0, failed: 0, skipped: 0 };
        perDir.set(dir, st);
      }
      let out: Outcome;
      try {
        out = runCase(c);
      } catch (e) {
        out = { status: 'fail', reason: `runner crash: ${String(e)}` };
      }
      if (out.status === 'pass') {
        passed++;
        st.passed++;
      } else if (out.status === 'skip') {
        skipped++;
        st.skipped++;
      } else {
        failed++;
        st.failed++;
        if (args.verbose) process.stdout.write(`FAIL ${relative(args.cases, f)} :: ${c.note ?? ''}\n    ${out.reason.split('\n').slice(0, 6).join('\n    ')}\n`);
      }
    }
  }
  for (const [dir, st] of [...perDir.entries()].sort()) {
    const total = st.passed + st.failed;
    process.stdout.write(`${dir.padEnd(40)} ${String(st.passed).padStart(4)}/${String(total).padEnd(4)}${st.skipped > 0 ? ` (${st.skipped} skipped)` : ''}${st.failed > 0 ? '  FAIL' : ''}\n`);
  }
  const total = passed + failed + skipped;
  const pct = passed + failed === 0 ? 100 : (100 * passed) / (passed + failed);
  process.stdout.write(`passed ${passed}, failed ${failed}, skipped ${skipped}, total ${total} (${pct.toFixed(2)} % of run cases)\n`);
  if (args.json) process.stdout.write(`${JSON.stringify({ passed, failed, skipped, total })}\n`);
  if (args.floor !== undefined && pct < args.floor) {
    process.stderr.write(`conformance ${pct.toFixed(2)} % is below the floor of ${args.floor} %\n`);
    process.exitCode = 1;
  }
}

main();
