/**
 * The evaluator: continuation-passing backtracking over bodies. Every eval function takes a continuation and
 * returns true when evaluation must stop (the caller found what it needed), false to keep searching.
 */
import type { Body, Expr, Term } from './ast.ts';
import { BUILTINS, isUnsupportedBuiltin, type BuiltinCtx } from './builtins/index.ts';
import type { Compiled, CompiledRule, RuleNode } from './compile.ts';
import { BuiltinError, RegoError, type Location } from './errors.ts';
import { Num } from './number.ts';
import { RObject, RSet, equal, keyOf, toRegoString, type Value } from './value.ts';

export interface TraceEvent {
  readonly op: 'Enter' | 'Eval' | 'Exit' | 'Redo' | 'Fail' | 'Note';
  readonly row: number;
  readonly col: number;
  readonly file: string;
  readonly depth: number;
  readonly text: string;
}

export interface EvalLimits {
  /** Maximum evaluated expressions. */
  readonly maxSteps: number;
  /** Maximum nesting of rule and function evaluation. */
  readonly maxDepth: number;
  /** Maximum number of elements produced by comprehensions and partial rules. */
  readonly maxOutput: number;
  /** Wall-clock budget in milliseconds. */
  readonly maxMillis: number;
}

export const DEFAULT_LIMITS: EvalLimits = { maxSteps: 5_000_000, maxDepth: 400, maxOutput: 1_000_000, maxMillis: 5_000 };

export interface EvalOptions {
  readonly input?: Value | undefined;
  readonly data?: Value | undefined;
  readonly strictBuiltinErrors?: boolean;
  readonly limits?: Partial<EvalLimits>;
  readonly trace?: boolean;
  /** Clock for time.now_ns, in nanoseconds since the epoch. */
  readonly nowNs?: () => bigint;
  readonly print?: (msg: string) => void;
}

type Env = Map<string, Value>;
type K = () => boolean;
type KV = (v: Value) => boolean;

interface Mock {
  readonly value?: Value;
  readonly fn?: string;
}

interface Ctx {
  input: Value | undefined;
  overrides: { path: string[]; value: Value }[];
  mocks: Map<string, Mock>;
  cache: Map<RuleNode, Value | undefined>;
  fcache: Map<string, Value | undefined>;
}

const EMPTY_ENV_NAMES = new Set(['data', 'input']);

class StopSignal {}


const MULTI: unique symbol = Symbol('multi');

export class Evaluator {
  private ctx: Ctx;
  private readonly data: Value;
  private readonly strict: boolean;
  private readonly limits: EvalLimits;
  private steps = 0;
  private depth = 0;
  private output = 0;
  private readonly deadline: number;
  private readonly active = new Set<RuleNode | string>();
  /** Rules being evaluated (innermost last), for rego.metadata.*. */
  private readonly ruleStack: CompiledRule[] = [];
  readonly trace: TraceEvent[] | undefined;
  private readonly bctx: BuiltinCtx;
  private nowCache: bigint | undefined;

  constructor(
    private readonly compiled: Compiled,
    opts: EvalOptions,
  ) {
    this.data = opts.data ?? new RObject();
    this.ctx = { input: opts.input, overrides: [], mocks: new Map(), cache: new Map(), fcache: new Map() };
    this.strict = opts.strictBuiltinErrors === true;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.deadline = performance.now() + this.limits.maxMillis;
    this.trace = opts.trace === true ? [] : undefined;
    this.bctx = {
      nowNs: () => {
        if (this.nowCache === undefined) this.nowCache = opts.nowNs !== undefined ? opts.nowNs() : BigInt(Date.now()) * 1_000_000n;
        return this.nowCache;
      },
      print: (msg) => opts.print?.(msg),
      note: (msg) => this.emit('Note', undefined, msg),
      strict: this.strict,
      call: (name, args) => this.callByName(name, args),
      memo: new Map(),
    };
  }

  /** Evaluates a query body; returns the bindings of the named vars for every solution. */
  query(body: Body, vars: readonly string[]): Record<string, Value>[] {
    const env: Env = new Map();
    const out: Record<string, Value>[] = [];
    try {
      this.run(body, env, vars, out);
    } catch (e) {
      if (e instanceof RangeError) throw new RegoError('eval_limit_error', 'evaluation exceeded the maximum nesting depth');
      throw e;
    }
    return out;
  }

  private run(body: Body, env: Env, vars: readonly string[], out: Record<string, Value>[]): void {
    this.evalBody(body, 0, env, () => {
      const row: Record<string, Value> = {};
      for (const v of vars) {
        const x = env.get(v);
        if (x !== undefined) row[v] = x;
      }
      out.push(row);
      this.countOutput(1);
      return false;
    });
  }

  // ---------------------------------------------------------------- limits and trace

  private step(loc: Location): void {
    this.steps++;
    if (this.steps > this.limits.maxSteps) throw new RegoError('eval_limit_error', `evaluation exceeded ${this.limits.maxSteps} steps`, loc);
    if ((this.steps & 1023) === 0 && performance.now() > this.deadline) throw new RegoError('eval_limit_error', `evaluation exceeded ${this.limits.maxMillis} ms`, loc);
  }

  private countOutput(n: number): void {
    this.output += n;
    if (this.output > this.limits.maxOutput) throw new RegoError('eval_limit_error', `evaluation produced more than ${this.limits.maxOutput} values`);
  }

  private emit(op: TraceEvent['op'], loc: Location | undefined, text: string): void {
    if (this.trace === undefined) return;
    if (this.trace.length > 100_000) return;
    this.trace.push({ op, row: loc?.row ?? 0, col: loc?.col ?? 0, file: loc?.file ?? '', depth: this.depth, text });
  }

  // ---------------------------------------------------------------- bodies and expressions

  evalBody(body: Body, i: number, env: Env, k: K): boolean {
    if (i >= body.length) return k();
    const e = body[i] as Expr;
    return this.evalExpr(e, env, () => this.evalBody(body, i + 1, env, k));
  }

  private evalExpr(e: Expr, env: Env, k: K): boolean {
    this.step(e.loc);
    if (this.trace !== undefined) this.emit('Eval', e.loc, exprText(e));
    if (e.withs.length > 0) return this.evalWith(e, env, k);
    return this.evalExprNoWith(e, env, k);
  }

  private evalExprNoWith(e: Expr, env: Env, k: K): boolean {
    if (e.negated) {
      const found = this.evalCore(e, env, () => true);
      if (found) {
        this.emit('Fail', e.loc, exprText(e));
        return false;
      }
      return k();
    }
    let any = false;
    const r = this.evalCore(e, env, () => {
      if (any) this.emit('Redo', e.loc, exprText(e));
      any = true;
      return k();
    });
    if (!any) this.emit('Fail', e.loc, exprText(e));
    return r;
  }

  private evalWith(e: Expr, env: Env, k: K): boolean {
    const saved = this.ctx;
    const next: Ctx = { input: saved.input, overrides: [...saved.overrides], mocks: new Map(saved.mocks), cache: new Map(), fcache: new Map() };
    for (const w of e.withs) {
      const target = refPath(w.target);
      if (target === undefined) throw new RegoError('rego_compile_error', 'with keyword target must reference existing input, data, or a function', w.loc);
      const [root, ...rest] = target;
      let value: Value | undefined;
      const fnName = this.functionNameOf(w.value, env);
      if (root === 'input' || (root === 'data' && !this.isFunctionPath(target))) {
        if (fnName !== undefined && !this.isValueTarget(w.value)) {
          // data.x as a function: treated as its value
        }
        value = this.evalOne(w.value, env);
        if (value === undefined) return false;
        if (root === 'input') {
          next.input = rest.length === 0 ? value : setPath(next.input, rest, value);
        } else {
          next.overrides = next.overrides.filter((o) => !startsWith(o.path, rest));
          next.overrides.push({ path: rest, value });
        }
      } else {
        const name = target.join('.');
        if (fnName !== undefined) next.mocks.set(name, { fn: this.resolveMockFn(fnName, next) });
        else {
          value = this.evalOne(w.value, env);
          if (value === undefined) return false;
          next.mocks.set(name, { value });
        }
      }
    }
    this.ctx = next;
    try {
      return this.evalExprNoWith(e, env, () => {
        this.ctx = saved;
        try {
          return k();
        } finally {
          this.ctx = next;
        }
      });
    } finally {
      this.ctx = saved;
    }
  }

  private resolveMockFn(name: string, ctx: Ctx): string {
    // mocks referring to other mocked functions resolve to the original target
    const m = ctx.mocks.get(name);
    if (m?.fn !== undefined && m.fn !== name) return m.fn;
    return name;
  }

  private isValueTarget(t: Term): boolean {
    return t.type !== 'var' && t.type !== 'ref';
  }

  private isFunctionPath(path: readonly string[]): boolean {
    return this.compiled.funcArity.has(path.join('.'));
  }

  /** If the term names a function (builtin or user), its name. */
  private functionNameOf(t: Term, env: Env): string | undefined {
    if (t.type === 'var') {
      if (env.has(t.name)) return undefined;
      if (BUILTINS.has(t.name)) return t.name;
      return undefined;
    }
    if (t.type === 'ref') {
      const p = refPath(t);
      if (p === undefined) return undefined;
      const name = p.join('.');
      if (this.compiled.funcArity.has(name)) return name;
      if (p[0] !== 'data' && p[0] !== 'input' && BUILTINS.has(name)) return name;
    }
    return undefined;
  }

  private evalCore(e: Expr, env: Env, k: K): boolean {
    switch (e.type) {
      case 'term':
        return this.evalTermExpr(e.term, env, k);
      case 'some':
        for (const v of e.vars) env.delete(v);
        return k();
      case 'somein':
        return this.evalTerm(e.coll, env, (coll) => this.iterate(coll, (key, val) => {
          if (e.key !== undefined) return this.unifyVal(e.key, key, env, () => this.unifyVal(e.value, val, env, k));
          return this.unifyVal(e.value, val, env, k);
        }));
      case 'every': {
        // an undefined domain has no elements: every is then vacuously true, as in OPA
        let defined = false;
        const r = this.evalTerm(e.domain, env, (dom) => {
          defined = true;
          let ok = true;
          this.iterate(dom, (key, val) => {
            const saved = new Map(env);
            const bindAndCheck = (): boolean => this.evalBody(e.body, 0, env, () => true);
            let found: boolean;
            if (e.key !== undefined) found = this.unifyVal(e.key, key, env, () => this.unifyVal(e.value, val, env, bindAndCheck));
            else found = this.unifyVal(e.value, val, env, bindAndCheck);
            env.clear();
            for (const [a, b] of saved) env.set(a, b);
            if (!found) {
              ok = false;
              return true;
            }
            return false;
          });
          return ok ? k() : false;
        });
        return defined ? r : k();
      }
    }
  }

  private evalTermExpr(t: Term, env: Env, k: K): boolean {
    if (t.type === 'call') {
      if (t.op === 'eq') return this.unify(t.args[0] as Term, t.args[1] as Term, env, k);
      if (t.op === 'assign') return this.unify(t.args[0] as Term, t.args[1] as Term, env, k);
    }
    return this.evalTerm(t, env, (v) => (v === false ? false : k()));
  }

  // ---------------------------------------------------------------- unification

  private bound(name: string, env: Env): boolean {
    return env.has(name) || EMPTY_ENV_NAMES.has(name);
  }

  private isPattern(t: Term, env: Env): boolean {
    switch (t.type) {
      case 'var':
        return !this.bound(t.name, env);
      case 'array':
        return t.items.some((x) => this.isPattern(x, env));
      case 'object':
        return t.items.some(([, v]) => this.isPattern(v, env));
      default:
        return false;
    }
  }

  private unify(a: Term, b: Term, env: Env, k: K): boolean {
    const pa = this.isPattern(a, env);
    const pb = this.isPattern(b, env);
    if (!pa) return this.evalTerm(a, env, (v) => this.unifyVal(b, v, env, k));
    if (!pb) return this.evalTerm(b, env, (v) => this.unifyVal(a, v, env, k));
    // both sides have unbound variables
    if (a.type === 'array' && b.type === 'array') {
      if (a.items.length !== b.items.length) return false;
      return this.unifyPairs(a.items, b.items, 0, env, k);
    }
    if (a.type === 'object' && b.type === 'object') {
      if (a.items.length !== b.items.length) return false;
      const bk = new Map<string, Term>();
      const pairsA: Term[] = [];
      const pairsB: Term[] = [];
      for (const [kt, vt] of b.items) {
        const kv = this.evalOne(kt, env);
        if (kv === undefined) return false;
        bk.set(keyOf(kv), vt);
      }
      for (const [kt, vt] of a.items) {
        const kv = this.evalOne(kt, env);
        if (kv === undefined) return false;
        const other = bk.get(keyOf(kv));
        if (other === undefined) return false;
        pairsA.push(vt);
        pairsB.push(other);
      }
      return this.unifyPairs(pairsA, pairsB, 0, env, k);
    }
    if (a.type === 'var' && b.type === 'var') throw unsafe(a.name, a.loc);
    if (a.type === 'var' || b.type === 'var') return false;
    return false;
  }

  private unifyPairs(as: readonly Term[], bs: readonly Term[], i: number, env: Env, k: K): boolean {
    if (i >= as.length) return k();
    // prefer a pair where one side is ground
    const a = as[i] as Term;
    const b = bs[i] as Term;
    if (this.isPattern(a, env) && this.isPattern(b, env)) {
      // try later pairs first: they may bind these variables
      for (let j = i + 1; j < as.length; j++) {
        if (!this.isPattern(as[j] as Term, env) || !this.isPattern(bs[j] as Term, env)) {
          const as2 = [...as];
          const bs2 = [...bs];
          as2.splice(i, 0, ...as2.splice(j, 1));
          bs2.splice(i, 0, ...bs2.splice(j, 1));
          return this.unifyPairs(as2, bs2, i, env, k);
        }
      }
    }
    return this.unify(a, b, env, () => this.unifyPairs(as, bs, i + 1, env, k));
  }

  unifyVal(p: Term, v: Value, env: Env, k: K): boolean {
    switch (p.type) {
      case 'var': {
        if (p.name === 'input' || p.name === 'data') return this.evalTerm(p, env, (x) => (equal(x, v) ? k() : false));
        const cur = env.get(p.name);
        if (cur !== undefined) return equal(cur, v) ? k() : false;
        env.set(p.name, v);
        try {
          return k();
        } finally {
          env.delete(p.name);
        }
      }
      case 'array': {
        if (!Array.isArray(v)) return false;
        const arr = v as readonly Value[];
        if (arr.length !== p.items.length) return false;
        const go = (i: number): boolean => (i >= arr.length ? k() : this.unifyVal(p.items[i] as Term, arr[i] as Value, env, () => go(i + 1)));
        return go(0);
      }
      case 'object': {
        if (!(v instanceof RObject)) return false;
        if (v.size !== p.items.length) return false;
        const go = (i: number): boolean => {
          if (i >= p.items.length) return k();
          const [kt, vt] = p.items[i] as readonly [Term, Term];
          return this.evalTerm(kt, env, (kv) => {
            const x = v.get(kv);
            if (x === undefined) return false;
            return this.unifyVal(vt, x, env, () => go(i + 1));
          });
        };
        return go(0);
      }
      default:
        return this.evalTerm(p, env, (x) => (equal(x, v) ? k() : false));
    }
  }

  // ---------------------------------------------------------------- terms

  /** The first value of a term, or undefined. */
  evalOne(t: Term, env: Env): Value | undefined {
    let out: Value | undefined;
    this.evalTerm(t, env, (v) => {
      out = v;
      return true;
    });
    return out;
  }

  evalTerm(t: Term, env: Env, k: KV): boolean {
    switch (t.type) {
      case 'scalar':
        return k(t.value);
      case 'var': {
        const v = env.get(t.name);
        if (v !== undefined) return k(v);
        if (t.name === 'input') return this.ctx.input === undefined ? false : k(this.ctx.input);
        if (t.name === 'data') return this.walkData(this.compiled.root, [], 0, env, k, t.loc);
        throw unsafe(t.name, t.loc);
      }
      case 'ref':
        return this.evalRef(t, env, k);
      case 'array': {
        const d = this.direct(t, env);
        if (d !== MULTI) return d === undefined ? false : k(d);
        return this.evalList(t.items, 0, [], env, (vals) => k(vals));
      }
      case 'set': {
        const d = this.direct(t, env);
        if (d !== MULTI) return d === undefined ? false : k(d);
        return this.evalList(t.items, 0, [], env, (vals) => k(RSet.from(vals)));
      }
      case 'object': {
        const d = this.direct(t, env);
        if (d !== MULTI) return d === undefined ? false : k(d);
        const flat: Term[] = [];
        for (const [a, b] of t.items) flat.push(a, b);
        return this.evalList(flat, 0, [], env, (vals) => {
          const o = new RObject();
          for (let i = 0; i < vals.length; i += 2) {
            const key = vals[i] as Value;
            const val = vals[i + 1] as Value;
            const prev = o.get(key);
            if (prev !== undefined && !equal(prev, val)) throw new RegoError('eval_conflict_error', 'object keys must be unique', t.loc);
            o.set(key, val);
          }
          return k(o);
        });
      }
      case 'arraycompr': {
        const out: Value[] = [];
        this.evalBody(t.body, 0, env, () =>
          this.evalTerm(t.term, env, (v) => {
            out.push(v);
            this.countOutput(1);
            return false;
          }),
        );
        return k(out);
      }
      case 'setcompr': {
        const out = new RSet();
        this.evalBody(t.body, 0, env, () =>
          this.evalTerm(t.term, env, (v) => {
            out.add(v);
            this.countOutput(1);
            return false;
          }),
        );
        return k(out);
      }
      case 'objectcompr': {
        const out = new RObject();
        this.evalBody(t.body, 0, env, () =>
          this.evalTerm(t.key, env, (kv) =>
            this.evalTerm(t.value, env, (vv) => {
              const prev = out.get(kv);
              if (prev !== undefined && !equal(prev, vv)) throw new RegoError('eval_conflict_error', 'object keys must be unique', t.loc);
              out.set(kv, vv);
              this.countOutput(1);
              return false;
            }),
          ),
        );
        return k(out);
      }
      case 'call':
        return this.evalCall(t, env, k);
      case 'template':
        return this.evalTemplate(t.parts, 0, '', env, k, t.loc);
    }
  }

  /** Values of terms that cannot iterate (scalars, bound variables and collections of them), without continuations. */
  private direct(t: Term, env: Env): Value | undefined | typeof MULTI {
    switch (t.type) {
      case 'scalar':
        return t.value;
      case 'var': {
        const v = env.get(t.name);
        if (v !== undefined) return v;
        if (t.name === 'input') return this.ctx.input;
        return MULTI;
      }
      case 'array': {
        const out: Value[] = [];
        for (const x of t.items) {
          const v = this.direct(x, env);
          if (v === MULTI || v === undefined) return v;
          out.push(v);
        }
        return out;
      }
      case 'set': {
        const out = new RSet();
        for (const x of t.items) {
          const v = this.direct(x, env);
          if (v === MULTI || v === undefined) return v;
          out.add(v);
        }
        return out;
      }
      case 'object': {
        const out = new RObject();
        for (const [a, b] of t.items) {
          const kv = this.direct(a, env);
          if (kv === MULTI || kv === undefined) return kv;
          const vv = this.direct(b, env);
          if (vv === MULTI || vv === undefined) return vv;
          const prev = out.get(kv);
          if (prev !== undefined && !equal(prev, vv)) throw new RegoError('eval_conflict_error', 'object keys must be unique', t.loc);
          out.set(kv, vv);
        }
        return out;
      }
      default:
        return MULTI;
    }
  }

  private evalTemplate(parts: readonly (string | Term)[], i: number, acc: string, env: Env, k: KV, loc: Location): boolean {
    if (i >= parts.length) return k(acc);
    const p = parts[i] as string | Term;
    if (typeof p === 'string') return this.evalTemplate(parts, i + 1, acc + p, env, k, loc);
    const vals: Value[] = [];
    this.evalTerm(p, env, (v) => {
      vals.push(v);
      return false;
    });
    const uniq = RSet.from(vals);
    if (uniq.size > 1) throw new RegoError('eval_conflict_error', 'template-strings must not produce multiple outputs', loc);
    const v = vals[0];
    const s = v === undefined ? '<undefined>' : typeof v === 'string' ? v : toRegoString(v);
    return this.evalTemplate(parts, i + 1, acc + s, env, k, loc);
  }

  private evalList(items: readonly Term[], i: number, acc: Value[], env: Env, k: (vals: Value[]) => boolean): boolean {
    if (i >= items.length) return k([...acc]);
    return this.evalTerm(items[i] as Term, env, (v) => {
      acc.push(v);
      try {
        return this.evalList(items, i + 1, acc, env, k);
      } finally {
        acc.pop();
      }
    });
  }

  // ---------------------------------------------------------------- references

  private evalRef(t: Extract<Term, { type: 'ref' }>, env: Env, k: KV): boolean {
    const h = t.head;
    if (h.type === 'var' && !env.has(h.name)) {
      if (h.name === 'data') return this.walkData(this.compiled.root, t.path, 0, env, k, t.loc);
      if (h.name === 'input') {
        const inp = this.ctx.input;
        if (inp === undefined) return false;
        return this.walkValue(inp, t.path, 0, env, k);
      }
    }
    return this.evalTerm(h, env, (hv) => this.walkValue(hv, t.path, 0, env, k));
  }

  walkValue(v: Value, path: readonly Term[], i: number, env: Env, k: KV, inData = false): boolean {
    if (i >= path.length) return k(v);
    const p = path[i] as Term;
    if (this.isPattern(p, env)) {
      return this.iterate(v, (key, val) => this.unifyVal(p, key, env, () => this.walkValue(val, path, i + 1, env, k, inData)));
    }
    return this.evalTerm(p, env, (key) => {
      let next = index(v, key);
      if (next === undefined && inData && key instanceof Num && key.isInt() && v instanceof RObject) next = v.get(key.toString());
      if (next === undefined) return false;
      return this.walkValue(next, path, i + 1, env, k, inData);
    });
  }

  /** Calls f(key, value) for each element of a collection; stops when f returns true. */
  iterate(v: Value, f: (key: Value, val: Value) => boolean): boolean {
    if (Array.isArray(v)) {
      const arr = v as readonly Value[];
      for (let i = 0; i < arr.length; i++) if (f(Num.int(i), arr[i] as Value)) return true;
      return false;
    }
    if (v instanceof RObject) {
      for (const [key, val] of v.entries()) if (f(key, val)) return true;
      return false;
    }
    if (v instanceof RSet) {
      for (const x of v.values()) if (f(x, x)) return true;
      return false;
    }
    return false;
  }

  private overrideAt(path: readonly string[]): Value | undefined {
    for (const o of this.ctx.overrides) if (o.path.length === path.length && startsWith(path, o.path)) return o.value;
    return undefined;
  }

  private walkData(node: RuleNode, path: readonly Term[], i: number, env: Env, k: KV, loc: Location): boolean {
    const ov = this.ctx.overrides.length > 0 ? this.overrideAt(node.path) : undefined;
    if (ov !== undefined) return this.walkValue(ov, path, i, env, k);
    if (node.rules.length > 0 || node.dynRules.length > 0) {
      const v = this.evalNode(node, loc);
      if (v === undefined) return false;
      return this.walkValue(v, path, i, env, k);
    }
    if (node.funcs.length > 0) return false;
    if (i >= path.length) {
      const v = this.evalNode(node, loc);
      return v === undefined ? false : k(v);
    }
    const p = path[i] as Term;
    const step = (key0: Value): boolean => {
      const key = key0 instanceof Num && key0.isInt() ? key0.toString() : key0;
      if (typeof key === 'string') {
        const child = node.children.get(key);
        if (child !== undefined) return this.walkData(child, path, i + 1, env, k, loc);
        const base = this.baseAt([...node.path, key]);
        if (base === undefined) return false;
        return this.walkValue(base, path, i + 1, env, k, true);
      }
      return false;
    };
    if (this.isPattern(p, env)) {
      const keys = new Map<string, Value>();
      for (const c of node.children.keys()) keys.set(c, c);
      const base = this.baseAt(node.path);
      if (base instanceof RObject) for (const kk of base.keys()) if (typeof kk === 'string') keys.set(kk, kk);
      for (const o of this.ctx.overrides) if (o.path.length > node.path.length && startsWith(o.path, node.path)) keys.set(o.path[node.path.length] ?? '', o.path[node.path.length] ?? '');
      for (const key of keys.values()) {
        if (this.unifyVal(p, key, env, () => step(key))) return true;
      }
      return false;
    }
    return this.evalTerm(p, env, step);
  }

  /** Base data at a path with `with` overrides applied. */
  private baseAt(path: readonly string[]): Value | undefined {
    let v: Value | undefined = this.data;
    for (const seg of path) {
      if (!(v instanceof RObject)) {
        v = undefined;
        break;
      }
      v = v.get(seg);
      if (v === undefined) break;
    }
    if (this.ctx.overrides.length === 0) return v;
    for (const o of this.ctx.overrides) {
      if (startsWith(path, o.path)) {
        // override above or at this path
        let x: Value | undefined = o.value;
        for (const seg of path.slice(o.path.length)) x = x instanceof RObject ? x.get(seg) : undefined;
        return x;
      }
    }
    for (const o of this.ctx.overrides) {
      if (o.path.length > path.length && startsWith(o.path, path)) v = setPath(v, o.path.slice(path.length), o.value);
    }
    return v;
  }

  // ---------------------------------------------------------------- rules

  /** The value of the virtual (and base) document at a rule-tree node. */
  evalNode(node: RuleNode, loc: Location): Value | undefined {
    const cache = this.ctx.cache;
    if (cache.has(node)) return cache.get(node);
    if (this.active.has(node)) throw new RegoError('rego_recursion_error', `rule data.${node.path.join('.')} is recursive`, loc);
    this.active.add(node);
    this.depth++;
    if (this.depth > this.limits.maxDepth) throw new RegoError('eval_limit_error', `evaluation exceeded depth ${this.limits.maxDepth}`, loc);
    try {
      const v = this.computeNode(node, loc);
      cache.set(node, v);
      return v;
    } finally {
      this.depth--;
      this.active.delete(node);
    }
  }

  private computeNode(node: RuleNode, loc: Location): Value | undefined {
    const ov = this.overrideAt(node.path);
    if (ov !== undefined) return ov;
    const complete = node.rules.filter((r) => r.rule.kind === 'complete');
    const multi = node.rules.filter((r) => r.rule.kind === 'multi');
    let result: Value | undefined;
    if (complete.length > 0) {
      result = this.evalComplete(node, complete);
    } else if (multi.length > 0) {
      const set = new RSet();
      for (const r of multi) this.evalMulti(r, set);
      result = set;
    } else if (node.funcs.length > 0) {
      return undefined;
    } else {
      const base = this.baseAt(node.path);
      const obj = base instanceof RObject ? base.copy() : new RObject();
      for (const [name, child] of node.children) {
        if (child.funcs.length > 0 && child.rules.length === 0) continue;
        if (obj.has(name) && child.rules.length > 0) continue; // base data at the same path wins, as in OPA
        const cv = this.evalNode(child, loc);
        if (cv !== undefined) {
          if (child.rules.length === 0 && child.dynRules.length === 0 && cv instanceof RObject && cv.size === 0 && !hasAnyRules(child) && this.baseAt(child.path) === undefined) continue;
          obj.set(name, cv);
        }
      }
      for (const r of node.dynRules) this.evalDyn(r, obj);
      result = obj;
    }
    if (result !== undefined && this.ctx.overrides.length > 0) {
      for (const o of this.ctx.overrides) {
        if (o.path.length > node.path.length && startsWith(o.path, node.path)) result = setPath(result, o.path.slice(node.path.length), o.value);
      }
    }
    return result;
  }

  private ruleEnter(r: CompiledRule): void {
    if (this.trace !== undefined) this.emit('Enter', r.rule.loc, `data.${r.path.join('.')}`);
  }

  private evalComplete(node: RuleNode, rules: CompiledRule[]): Value | undefined {
    let value: Value | undefined;
    let defaultValue: Value | undefined;
    let defaultRule: CompiledRule | undefined;
    for (const r of rules) {
      if (r.rule.isDefault) {
        defaultRule = r;
        continue;
      }
      this.ruleEnter(r);
      const v = this.evalRuleValue(r, new Map());
      if (v === undefined) continue;
      if (value !== undefined && !equal(value, v)) throw new RegoError('eval_conflict_error', 'complete rules must not produce multiple outputs', r.rule.loc);
      value = v;
    }
    if (value === undefined && defaultRule !== undefined) {
      defaultValue = this.evalOne(defaultRule.rule.value as Term, new Map());
      return defaultValue;
    }
    void node;
    return value;
  }

  /** Evaluates a single-value rule (with else chain); returns undefined when no body succeeds. */
  private evalRuleValue(r: CompiledRule, env: Env): Value | undefined {
    this.ruleStack.push(r);
    try {
      return this.evalRuleValueInner(r, env);
    } finally {
      this.ruleStack.pop();
    }
  }

  private evalRuleValueInner(r: CompiledRule, env: Env): Value | undefined {
    const rule = r.rule;
    let value: Value | undefined;
    const clauses = [{ body: rule.body, value: rule.value }, ...rule.elses.map((e) => ({ body: e.body, value: e.value }))] as { body: Body; value: Term | undefined }[];
    for (const c of clauses) {
      let found = false;
      this.evalBody(c.body, 0, env, () => {
        const vt = c.value;
        if (vt === undefined) {
          found = true;
          if (value !== undefined && value !== true) throw new RegoError('eval_conflict_error', 'complete rules must not produce multiple outputs', rule.loc);
          value = true;
          return false;
        }
        return this.evalTerm(vt, env, (v) => {
          if (value !== undefined && !equal(value, v)) throw new RegoError('eval_conflict_error', rule.kind === 'func' ? 'functions must not produce multiple outputs for same inputs' : 'complete rules must not produce multiple outputs', rule.loc);
          value = v;
          found = true;
          return false;
        });
      });
      if (found) {
        if (this.trace !== undefined) this.emit('Exit', rule.loc, `data.${r.path.join('.')}`);
        return value;
      }
    }
    return undefined;
  }

  private evalMulti(r: CompiledRule, set: RSet): void {
    this.ruleEnter(r);
    const env: Env = new Map();
    this.ruleStack.push(r);
    try {
      this.evalBody(r.rule.body, 0, env, () =>
        this.evalTerm(r.rule.key as Term, env, (v) => {
          set.add(v);
          this.countOutput(1);
          return false;
        }),
      );
    } finally {
      this.ruleStack.pop();
    }
  }

  /** Ref-head rules with dynamic parts: insert each solution into the object. */
  private evalDyn(r: CompiledRule, obj: RObject): void {
    this.ruleStack.push(r);
    try {
      this.evalDynInner(r, obj);
    } finally {
      this.ruleStack.pop();
    }
  }

  private evalDynInner(r: CompiledRule, obj: RObject): void {
    this.ruleEnter(r);
    const rule = r.rule;
    const env: Env = new Map();
    const insert = (keys: Value[], v: Value, isSet: boolean): void => {
      let cur = obj;
      for (let i = 0; i < keys.length - 1; i++) {
        const key = keys[i] as Value;
        let nxt = cur.get(key);
        if (!(nxt instanceof RObject)) {
          if (nxt !== undefined) throw new RegoError('eval_conflict_error', 'object keys must be unique', rule.loc);
          nxt = new RObject();
          cur.set(key, nxt);
        }
        cur = nxt;
      }
      const last = keys[keys.length - 1] as Value;
      if (isSet) {
        let s = cur.get(last);
        if (s === undefined) {
          s = new RSet();
          cur.set(last, s);
        }
        if (!(s instanceof RSet)) throw new RegoError('eval_conflict_error', 'object keys must be unique', rule.loc);
        s.add(v);
        return;
      }
      const prev = cur.get(last);
      if (prev !== undefined && !equal(prev, v)) throw new RegoError('eval_conflict_error', 'object keys must be unique', rule.loc);
      cur.set(last, v);
      this.countOutput(1);
    };
    const isSet = rule.kind === 'multi';
    const solve = (body: Body, valueTerm: Term | undefined): boolean => {
      let found = false;
      this.evalBody(body, 0, env, () =>
        this.evalList(r.dyn, 0, [], env, (keys) => {
          if (isSet) return this.evalTerm(rule.key as Term, env, (v) => (insert(keys, v, true), (found = true), false));
          if (valueTerm === undefined) {
            insert(keys, true, false);
            found = true;
            return false;
          }
          return this.evalTerm(valueTerm, env, (v) => (insert(keys, v, false), (found = true), false));
        }),
      );
      return found;
    };
    if (rule.isDefault) return;
    if (!solve(rule.body, rule.value)) {
      for (const e of rule.elses) if (solve(e.body, e.value)) break;
    }
  }

  // ---------------------------------------------------------------- calls

  private evalCall(t: Extract<Term, { type: 'call' }>, env: Env, k: KV): boolean {
    if (t.op === 'eq' || t.op === 'assign') return this.unify(t.args[0] as Term, t.args[1] as Term, env, () => k(true));
    let name = t.op;
    const mock = this.ctx.mocks.get(name);
    let mockValue: Value | undefined;
    if (mock !== undefined) {
      if (mock.fn !== undefined) name = mock.fn;
      else mockValue = mock.value;
    }
    if (name === 'print' && mock === undefined) {
      const parts: string[] = [];
      for (const a of t.args) {
        const v = this.evalOne(a, env);
        parts.push(v === undefined ? '<undefined>' : typeof v === 'string' ? v : toRegoString(v));
      }
      this.bctx.print(parts.join(' '));
      return k(true);
    }
    const userArity = this.compiled.funcArity.get(name);
    const bi = userArity === undefined ? BUILTINS.get(name) : undefined;
    let arity: number;
    if (userArity !== undefined) arity = userArity;
    else if (bi !== undefined) arity = bi.arity;
    else if (mockValue !== undefined) arity = t.args.length;
    else if (isUnsupportedBuiltin(name)) {
      throw new RegoError('rego_unsupported_error', `builtin ${name} is not supported by Model Vault's Rego engine`, t.loc);
    } else throw new RegoError('rego_type_error', `undefined function ${name}`, t.loc);
    const origBi = BUILTINS.get(t.op);
    if (mockValue !== undefined && origBi !== undefined) arity = origBi.arity;
    else if (mockValue !== undefined && this.compiled.funcArity.has(t.op)) arity = this.compiled.funcArity.get(t.op) ?? arity;
    if (t.args.length !== arity && t.args.length !== arity + 1) {
      throw new RegoError('rego_type_error', `${t.op}: arity mismatch: expected ${arity} arguments, got ${t.args.length}`, t.loc);
    }
    const inArgs = t.args.slice(0, arity);
    const outArg = t.args.length > arity ? t.args[arity] : undefined;
    const finish = (v: Value): boolean => (outArg === undefined ? k(v) : this.unifyVal(outArg, v, env, () => k(true)));
    // arguments that are still-unbound variables are evaluated last (another argument may bind them)
    const order = inArgs.map((_, i) => i);
    if (inArgs.some((a) => a.type === 'var' && !this.bound(a.name, env))) order.sort((x, y) => Number(isFreeVar(inArgs[x] as Term, env)) - Number(isFreeVar(inArgs[y] as Term, env)));
    const ordered = order.map((i) => inArgs[i] as Term);
    return this.evalList(ordered, 0, [], env, (vals0) => {
      const vals: Value[] = new Array<Value>(vals0.length);
      order.forEach((oi, j) => (vals[oi] = vals0[j] as Value));
      if (mockValue !== undefined) return finish(mockValue);
      if (mock?.fn !== undefined) {
        // a mock function runs without any mocks (it may call the original)
        const saved = this.ctx;
        this.ctx = { ...saved, mocks: new Map(), cache: new Map(), fcache: new Map() };
        let results: Value[];
        try {
          results = userArity !== undefined ? this.callUser(name, vals, t.loc) : this.callBuiltinValues(name, vals, t.loc);
        } finally {
          this.ctx = saved;
        }
        for (const v of results) if (finish(v)) return true;
        return false;
      }
      if (userArity !== undefined) {
        const results = this.callUser(name, vals, t.loc);
        for (const v of results) if (finish(v)) return true;
        return false;
      }
      if (bi === undefined) return false;
      if (bi.special === 'metadata') return finish(this.metadata(name));
      let out: Value | undefined;
      let multi: Value[] | undefined;
      try {
        if (bi.multi !== undefined) multi = bi.multi(vals, this.bctx);
        else out = bi.fn?.(vals, this.bctx);
      } catch (e) {
        if (e instanceof BuiltinError) {
          if (this.strict || e.halt) throw new RegoError(e.code, `${t.op}: ${e.message}`, t.loc);
          return false;
        }
        throw e;
      }
      if (multi !== undefined) {
        for (const v of multi) if (finish(v)) return true;
        return false;
      }
      if (out === undefined) return false;
      return finish(out);
    });
  }

  private callBuiltinValues(name: string, vals: Value[], loc: Location): Value[] {
    const bi = BUILTINS.get(name);
    if (bi === undefined) return [];
    try {
      if (bi.multi !== undefined) return bi.multi(vals, this.bctx);
      const v = bi.fn?.(vals, this.bctx);
      return v === undefined ? [] : [v];
    } catch (e) {
      if (e instanceof BuiltinError) {
        if (this.strict || e.halt) throw new RegoError(e.code, `${name}: ${e.message}`, loc);
        return [];
      }
      throw e;
    }
  }

  private metadata(name: string): Value {
    const r = this.ruleStack[this.ruleStack.length - 1];
    if (name === 'rego.metadata.rule') return r?.rule.annotations ?? new RObject();
    const chain: Value[] = [];
    if (r !== undefined) {
      const entry = new RObject();
      entry.set('path', ['data', ...r.path]);
      if (r.rule.annotations !== undefined) entry.set('annotations', r.rule.annotations);
      chain.push(entry);
      const pkgAnn = r.rule.module.annotations;
      if (pkgAnn !== undefined) {
        const p = new RObject();
        p.set('path', ['data', ...r.rule.module.pkg]);
        p.set('annotations', pkgAnn);
        chain.push(p);
      }
    }
    return chain;
  }

  /** Calls a user function; returns its (at most one) result. */
  private callUser(name: string, args: Value[], loc: Location): Value[] {
    const path = name.split('.').slice(1);
    let node: RuleNode | undefined = this.compiled.root;
    for (const seg of path) node = node?.children.get(seg);
    if (node === undefined) return [];
    const ckey = `${name}(${args.map(keyOf).join(',')})`;
    const cached = this.ctx.fcache.get(ckey);
    if (cached !== undefined) return [cached];
    if (this.active.has(ckey)) throw new RegoError('rego_recursion_error', `function ${name} is recursive`, loc);
    this.depth++;
    if (this.depth > this.limits.maxDepth) throw new RegoError('eval_limit_error', `evaluation exceeded depth ${this.limits.maxDepth}`, loc);
    this.active.add(ckey);
    try {
      let value: Value | undefined;
      let defaultRule: CompiledRule | undefined;
      for (const r of node.funcs) {
        if (r.rule.isDefault) {
          defaultRule = r;
          continue;
        }
        this.ruleEnter(r);
        const env: Env = new Map();
        const params = r.rule.args ?? [];
        const bindArgs = (i: number, kk: () => void): void => {
          if (i >= params.length) {
            kk();
            return;
          }
          this.unifyVal(params[i] as Term, args[i] as Value, env, () => {
            bindArgs(i + 1, kk);
            return true;
          });
        };
        bindArgs(0, () => {
          const v = this.evalRuleValue(r, env);
          if (v === undefined) return;
          if (value !== undefined && !equal(value, v)) throw new RegoError('eval_conflict_error', 'functions must not produce multiple outputs for same inputs', r.rule.loc);
          value = v;
        });
      }
      if (value === undefined && defaultRule !== undefined) value = this.evalOne(defaultRule.rule.value as Term, new Map());
      if (value !== undefined) this.ctx.fcache.set(ckey, value);
      return value === undefined ? [] : [value];
    } finally {
      this.active.delete(ckey);
      this.depth--;
    }
  }

  /** Calls a function by name with values (for builtins that take function names, and mocks). */
  private callByName(name: string, args: Value[]): Value | undefined {
    if (this.compiled.funcArity.has(name)) return this.callUser(name, args, { file: '', row: 0, col: 0 })[0];
    const bi = BUILTINS.get(name);
    return bi?.fn?.(args, this.bctx);
  }
}

function isFreeVar(t: Term, env: Env): boolean {
  return t.type === 'var' && !env.has(t.name) && t.name !== 'input' && t.name !== 'data';
}

function hasAnyRules(n: RuleNode): boolean {
  if (n.isPkg || n.rules.length > 0 || n.dynRules.length > 0 || n.funcs.length > 0) return true;
  for (const c of n.children.values()) if (hasAnyRules(c)) return true;
  return false;
}

function unsafe(name: string, loc: Location): RegoError {
  return new RegoError('rego_unsafe_var_error', `var ${name} is unsafe`, loc);
}

export function index(v: Value, key: Value): Value | undefined {
  if (Array.isArray(v)) {
    if (!(key instanceof Num)) return undefined;
    const i = key.toSafeInt();
    if (i === undefined || i < 0) return undefined;
    return (v as readonly Value[])[i];
  }
  if (v instanceof RObject) return v.get(key);
  if (v instanceof RSet) return v.has(key) ? key : undefined;
  return undefined;
}

function startsWith(path: readonly string[], prefix: readonly string[]): boolean {
  if (prefix.length > path.length) return false;
  for (let i = 0; i < prefix.length; i++) if (path[i] !== prefix[i]) return false;
  return true;
}

/** Returns a copy of `v` with `path` set to `value`, creating objects along the way. */
export function setPath(v: Value | undefined, path: readonly string[], value: Value): Value {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string, ...string[]];
  const obj = v instanceof RObject ? v.copy() : new RObject();
  obj.set(head, setPath(obj.get(head), rest, value));
  return obj;
}

/** A ref of static string segments (input.x.y, data.a.b, time.now_ns) as a path. */
export function refPath(t: Term): string[] | undefined {
  if (t.type === 'var') return [t.name];
  if (t.type !== 'ref' || t.head.type !== 'var') return undefined;
  const out = [t.head.name];
  for (const p of t.path) {
    if (p.type !== 'scalar' || typeof p.value !== 'string') return undefined;
    out.push(p.value);
  }
  return out;
}

function exprText(e: Expr): string {
  switch (e.type) {
    case 'term':
      return `${e.negated ? 'not ' : ''}${termText(e.term)}`;
    case 'some':
      return `some ${e.vars.join(', ')}`;
    case 'somein':
      return `some ${e.key === undefined ? '' : `${termText(e.key)}, `}${termText(e.value)} in ${termText(e.coll)}`;
    case 'every':
      return `every ${e.key === undefined ? '' : `${termText(e.key)}, `}${termText(e.value)} in ${termText(e.domain)} { … }`;
  }
}

const INFIX: Record<string, string> = { eq: '=', assign: ':=', equal: '==', neq: '!=', lt: '<', lte: '<=', gt: '>', gte: '>=', plus: '+', minus: '-', mul: '*', div: '/', rem: '%', and: '&', or: '|', 'internal.member_2': 'in' };

export function termText(t: Term): string {
  switch (t.type) {
    case 'scalar':
      return toRegoString(t.value);
    case 'var':
      return t.name.startsWith('$_') ? '_' : t.name;
    case 'ref':
      return termText(t.head) + t.path.map((p) => (p.type === 'scalar' && typeof p.value === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(p.value) ? `.${p.value}` : `[${termText(p)}]`)).join('');
    case 'array':
      return `[${t.items.map(termText).join(', ')}]`;
    case 'set':
      return t.items.length === 0 ? 'set()' : `{${t.items.map(termText).join(', ')}}`;
    case 'object':
      return `{${t.items.map(([a, b]) => `${termText(a)}: ${termText(b)}`).join(', ')}}`;
    case 'arraycompr':
      return `[${termText(t.term)} | …]`;
    case 'setcompr':
      return `{${termText(t.term)} | …}`;
    case 'objectcompr':
      return `{${termText(t.key)}: ${termText(t.value)} | …}`;
    case 'call': {
      const inf = INFIX[t.op];
      if (inf !== undefined && t.args.length === 2) return `${termText(t.args[0] as Term)} ${inf} ${termText(t.args[1] as Term)}`;
      return `${t.op}(${t.args.map(termText).join(', ')})`;
    }
    case 'template':
      return '$"…"';
  }
}

export { StopSignal };
