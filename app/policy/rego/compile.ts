/**
 * Compiler: merges modules into a rule tree, resolves names (rules of the package, imports, builtins), reorders
 * body expressions so variables are bound before use, and checks for unsafe variables and bad assignments.
 */
import type { Body, Expr, Module, Rule, Term } from './ast.ts';
import { BUILTINS, isUnsupportedBuiltin } from './builtins/index.ts';
import { RegoError } from './errors.ts';

export interface RuleNode {
  readonly path: readonly string[];
  readonly children: Map<string, RuleNode>;
  /** Complete, default and partial-set rules whose head ref is static and ends here. */
  readonly rules: CompiledRule[];
  /** Rules whose head ref has dynamic parts after this node. */
  readonly dynRules: CompiledRule[];
  /** Function rules defined exactly here. */
  readonly funcs: CompiledRule[];
  /** A package declared by some module (defined even when it has no rules). */
  isPkg: boolean;
}

export interface CompiledRule {
  readonly rule: Rule;
  readonly path: readonly string[];
  /** Dynamic ref terms after the static path (for ref heads such as p[x].y). */
  readonly dyn: readonly Term[];
}

export interface Compiled {
  readonly root: RuleNode;
  readonly modules: readonly Module[];
  /** Function name (data.a.b.f) to arity. */
  readonly funcArity: Map<string, number>;
}

function newNode(path: readonly string[]): RuleNode {
  return { path, children: new Map(), rules: [], dynRules: [], funcs: [], isPkg: false };
}

function nodeAt(root: RuleNode, path: readonly string[]): RuleNode {
  let n = root;
  for (const seg of path) {
    let c = n.children.get(seg);
    if (c === undefined) {
      c = newNode([...n.path, seg]);
      n.children.set(seg, c);
    }
    n = c;
  }
  return n;
}

export function compileModules(modules: readonly Module[]): Compiled {
  const root = newNode([]);
  const funcArity = new Map<string, number>();
  // rule heads first: names per package
  const pkgRuleNames = new Map<string, Set<string>>();
  for (const m of modules) {
    const key = m.pkg.join('.');
    let s = pkgRuleNames.get(key);
    if (s === undefined) {
      s = new Set();
      pkgRuleNames.set(key, s);
    }
    for (const r of m.rules) {
      const first = r.ref[0];
      if (first?.type === 'scalar' && typeof first.value === 'string') s.add(first.value);
    }
  }
  for (const m of modules) {
    for (const r of m.rules) {
      if (r.kind !== 'func') continue;
      const sp: string[] = [...m.pkg];
      for (const t of r.ref) if (t.type === 'scalar' && typeof t.value === 'string') sp.push(t.value);
      funcArity.set(`data.${sp.join('.')}`, r.args?.length ?? 0);
    }
  }
  // name resolution and reordering
  for (const m of modules) {
    const names = pkgRuleNames.get(m.pkg.join('.')) ?? new Set<string>();
    const aliases = new Map<string, readonly string[]>();
    for (const imp of m.imports) {
      if (imp.path[0] === 'future' || imp.path[0] === 'rego') continue;
      aliases.set(imp.alias, imp.path);
    }
    const resolver = new Resolver(m, names, aliases, funcArity);
    for (const r of m.rules) resolver.rule(r);
  }
  for (const m of modules) {
    nodeAt(root, m.pkg).isPkg = true;
    for (const r of m.rules) {
      const staticPath: string[] = [...m.pkg];
      let i = 0;
      for (; i < r.ref.length; i++) {
        const t = r.ref[i] as Term;
        if (t.type === 'scalar' && typeof t.value === 'string') staticPath.push(t.value);
        else break;
      }
      const dyn = r.ref.slice(i);
      const cr: CompiledRule = { rule: r, path: staticPath, dyn };
      if (r.kind === 'func') {
        const n = nodeAt(root, staticPath);
        n.funcs.push(cr);
      } else if (dyn.length === 0) {
        nodeAt(root, staticPath).rules.push(cr);
      } else {
        nodeAt(root, staticPath).dynRules.push(cr);
      }
    }
  }
  for (const m of modules) checkConflicts(m, modules);
  return { root, modules, funcArity };
}

function checkConflicts(m: Module, modules: readonly Module[]): void {
  // functions vs non-functions with the same path
  const kinds = new Map<string, string>();
  for (const mm of modules) {
    if (mm.pkg.join('.') !== m.pkg.join('.')) continue;
    for (const r of mm.rules) {
      if (r.ref.length !== 1) continue;
      const n = r.ref[0];
      if (n?.type !== 'scalar') continue;
      const name = typeof n.value === 'string' ? n.value : '';
      const k = r.kind === 'func' ? 'func' : r.kind === 'multi' ? 'multi' : 'complete';
      const prev = kinds.get(name);
      if (prev !== undefined && prev !== k) throw new RegoError('rego_type_error', `conflicting rules data.${m.pkg.join('.')}.${name} found`, r.loc);
      kinds.set(name, k);
    }
  }
}

const ROOTS = new Set(['data', 'input']);

/** Per-module name resolution. */
class Resolver {
  constructor(
    private readonly m: Module,
    private readonly names: Set<string>,
    private readonly aliases: Map<string, readonly string[]>,
    private readonly funcArity: Map<string, number>,
  ) {}

  /** Variables renamed because a nested body re-declares them (comprehension shadowing). */
  private renames = new Map<string, string>();
  /** Variables declared in the body being resolved (for "assigned above"). */
  private locals = new Set<string>();
  private renameCounter = 0;

  /** Declares a local; in a nested body a name visible from outside is renamed so it shadows. */
  private declare(v: string, scope: Set<string>, assign: boolean, loc: Rule['loc']): string {
    if (v.startsWith('$')) {
      scope.add(v);
      return v;
    }
    if (this.locals.has(v)) {
      if (assign) throw new RegoError('rego_compile_error', `var ${v} assigned above`, loc);
      return this.renames.get(v) ?? v;
    }
    this.locals.add(v);
    if (scope.has(v) || this.renames.has(v)) {
      const fresh = `${v}$${++this.renameCounter}`;
      this.renames.set(v, fresh);
      scope.add(fresh);
      return fresh;
    }
    scope.add(v);
    return v;
  }

  rule(r: Rule): void {
    const scope = new Set<string>();
    // vars in a ref head's dynamic parts are bound by the body
    const mutable = r as unknown as { body: Body; ref: Term[]; key: Term | undefined; value: Term | undefined; elses: { value: Term; body: Body; loc: unknown }[]; args: Term[] | undefined };
    // function arguments that are expressions (templates, calls, refs) become a fresh variable checked at the end of
    // the body, so they may use variables the body binds
    if (r.args !== undefined && r.args.some((a) => !isPatternTerm(a))) {
      const extra: Expr[] = [];
      mutable.args = r.args.map((a, i) => {
        if (isPatternTerm(a)) return a;
        const v: Term = { type: 'var', name: `$arg${i}_${++this.renameCounter}`, loc: a.loc };
        extra.push({ type: 'term', term: { type: 'call', op: 'equal', opRef: undefined, args: [v, a], loc: a.loc }, negated: false, withs: [], loc: a.loc });
        return v;
      });
      mutable.body = [...r.body, ...extra];
      mutable.elses = r.elses.map((e) => ({ ...e, body: [...e.body, ...extra] }));
    }
    if (r.args !== undefined) for (const a of r.args) patternVars(a, scope);
    if (r.args !== undefined) mutable.args = r.args.map((a) => this.term(a, scope));
    const headScope = new Set(scope);
    mutable.body = this.body(r.body, scope, r.args !== undefined ? argVars(r.args) : new Set());
    const bodyScope = new Set([...scope, ...bodyVars(r.body)]);
    mutable.ref = r.ref.map((t, i) => (i === 0 ? t : this.term(t, bodyScope)));
    if (r.key !== undefined) mutable.key = this.term(r.key, bodyScope);
    if (r.value !== undefined) mutable.value = this.term(r.value, bodyScope);
    mutable.elses = r.elses.map((e) => {
      const s = new Set(headScope);
      const body = this.body(e.body, s, r.args !== undefined ? argVars(r.args) : new Set());
      const bs = new Set([...s, ...bodyVars(body)]);
      return { value: this.term(e.value, bs), body, loc: e.loc };
    });
  }

  /** Resolves and reorders a body; `scope` gains the declared locals. */
  body(body: Body, scope: Set<string>, bound: Set<string>, nested = false): Body {
    const savedLocals = this.locals;
    this.locals = nested ? new Set() : new Set(scope);
    try {
      const out: Expr[] = [];
      for (const e of body) out.push(this.expr(e, scope));
      return reorder(out, bound, this.funcArity);
    } finally {
      this.locals = savedLocals;
    }
  }

  private expr(e: Expr, scope: Set<string>): Expr {
    const withs = e.withs.map((w) => ({ target: this.withTarget(w.target, scope), value: this.term(w.value, scope), loc: w.loc }));
    switch (e.type) {
      case 'some': {
        const vars = e.vars.map((v) => this.declare(v, scope, false, e.loc));
        return { ...e, vars, withs };
      }
      case 'somein': {
        const coll = this.term(e.coll, scope);
        const declared = new Set<string>();
        if (e.key !== undefined) patternVars(e.key, declared);
        patternVars(e.value, declared);
        for (const v of declared) this.declare(v, scope, false, e.loc);
        return { ...e, coll, key: e.key === undefined ? undefined : this.term(e.key, scope), value: this.term(e.value, scope), withs };
      }
      case 'every': {
        const domain = this.term(e.domain, scope);
        const inner = new Set(scope);
        const savedRenames = new Map(this.renames);
        const savedLocals = this.locals;
        this.locals = new Set();
        const declared = new Set<string>();
        if (e.key !== undefined) patternVars(e.key, declared);
        patternVars(e.value, declared);
        for (const v of declared) this.declare(v, inner, false, e.loc);
        const key = e.key === undefined ? undefined : this.term(e.key, inner);
        const value = this.term(e.value, inner);
        const bound = new Set<string>(inner);
        const body = this.body(e.body, inner, bound, true);
        this.locals = savedLocals;
        this.renames = savedRenames;
        return { ...e, key, value, domain, body, withs };
      }
      case 'term': {
        const t = e.term;
        if (t.type === 'call' && t.op === 'assign') {
          const rhs = this.term(t.args[1] as Term, scope);
          const lhs0 = t.args[0] as Term;
          const declared = new Set<string>();
          patternVars(lhs0, declared);
          for (const v of declared) this.declare(v, scope, true, e.loc);
          const lhs = this.term(lhs0, scope);
          return { ...e, term: { ...t, args: [lhs, rhs] }, withs };
        }
        return { ...e, term: this.term(t, scope), withs };
      }
    }
  }

  private withTarget(t: Term, scope: Set<string>): Term {
    const head = t.type === 'ref' ? t.head : t;
    if (head.type === 'var' && (ROOTS.has(head.name) || BUILTINS.has(head.name))) return t;
    if (t.type === 'ref' && head.type === 'var') {
      const dotted = [head.name, ...t.path.map((p) => (p.type === 'scalar' && typeof p.value === 'string' ? p.value : '?'))].join('.');
      if (BUILTINS.has(dotted)) return t;
    }
    return this.term(t, scope);
  }

  term(t: Term, scope: Set<string>): Term {
    switch (t.type) {
      case 'scalar':
        return t;
      case 'var': {
        const renamed = this.renames.get(t.name);
        if (renamed !== undefined && scope.has(renamed)) return { ...t, name: renamed };
        if (scope.has(t.name) || ROOTS.has(t.name) || t.name.startsWith('$')) return t;
        const alias = this.aliases.get(t.name);
        if (alias !== undefined) return pathRef(alias, t);
        if (this.names.has(t.name)) return pathRef(['data', ...this.m.pkg, t.name], t);
        return t;
      }
      case 'ref': {
        const head = this.term(t.head, scope);
        const path = t.path.map((p) => this.term(p, scope));
        if (head.type === 'ref') return { type: 'ref', head: head.head, path: [...head.path, ...path], loc: t.loc };
        return { ...t, head, path };
      }
      case 'array':
        return { ...t, items: t.items.map((x) => this.term(x, scope)) };
      case 'set':
        return { ...t, items: t.items.map((x) => this.term(x, scope)) };
      case 'object':
        return { ...t, items: t.items.map(([k, v]) => [this.term(k, scope), this.term(v, scope)] as const) };
      case 'arraycompr':
      case 'setcompr': {
        const saved = new Map(this.renames);
        const s = new Set(scope);
        const body = this.body(t.body, s, new Set(scope), true);
        const bs = new Set([...s, ...bodyVars(body)]);
        const head = this.term(t.term, bs);
        this.renames = saved;
        return { ...t, body, term: head };
      }
      case 'objectcompr': {
        const saved = new Map(this.renames);
        const s = new Set(scope);
        const body = this.body(t.body, s, new Set(scope), true);
        const bs = new Set([...s, ...bodyVars(body)]);
        const key = this.term(t.key, bs);
        const value = this.term(t.value, bs);
        this.renames = saved;
        return { ...t, body, key, value };
      }
      case 'template':
        return { ...t, parts: t.parts.map((p) => (typeof p === 'string' ? p : this.term(p, scope))) };
      case 'call': {
        const args = t.args.map((a) => this.term(a, scope));
        const op = this.resolveOp(t.op, scope);
        // unknown functions are compile errors (as in OPA): an unsupported builtin is named, never silently undefined
        if (op !== 'eq' && op !== 'assign' && !BUILTINS.has(op) && !this.funcArity.has(op)) {
          if (isUnsupportedBuiltin(op)) throw new RegoError('rego_unsupported_error', `builtin ${op} is not supported by Model Vault's Rego engine`, t.loc);
          if (!op.startsWith('data.')) throw new RegoError('rego_type_error', `undefined function ${op}`, t.loc);
        }
        return { ...t, op, args };
      }
    }
  }

  private resolveOp(op: string, scope: Set<string>): string {
    if (op === 'eq' || op === 'assign' || op.startsWith('internal.')) return op;
    const parts = op.split('.');
    const first = parts[0] ?? '';
    if (scope.has(first)) return op;
    if (first === 'data') return op;
    const alias = this.aliases.get(first);
    if (alias !== undefined) return [...alias, ...parts.slice(1)].join('.');
    if (this.names.has(first)) return ['data', ...this.m.pkg, ...parts].join('.');
    return op;
  }
}

function pathRef(path: readonly string[], at: Term): Term {
  const [head, ...rest] = path;
  const loc = at.loc;
  const h: Term = { type: 'var', name: head ?? 'data', loc };
  if (rest.length === 0) return h;
  return { type: 'ref', head: h, path: rest.map((s) => ({ type: 'scalar', value: s, loc })), loc };
}

function argVars(args: readonly Term[]): Set<string> {
  const s = new Set<string>();
  for (const a of args) allVars(a, s);
  return s;
}

/** Terms usable as unification patterns (variables, scalars, and arrays/objects/sets of them). */
function isPatternTerm(t: Term): boolean {
  switch (t.type) {
    case 'var':
    case 'scalar':
      return true;
    case 'array':
    case 'set':
      return t.items.every(isPatternTerm);
    case 'object':
      return t.items.every(([k, v]) => isPatternTerm(k) && isPatternTerm(v));
    default:
      return false;
  }
}

/** Variables a pattern term declares (vars in arrays/objects, not in refs). */
export function patternVars(t: Term, out: Set<string>): void {
  switch (t.type) {
    case 'var':
      out.add(t.name);
      return;
    case 'array':
      for (const x of t.items) patternVars(x, out);
      return;
    case 'object':
      for (const [, v] of t.items) patternVars(v, out);
      return;
    default:
      return;
  }
}

/** All variables appearing in a term (including inside comprehensions). */
export function allVars(t: Term, out: Set<string>): void {
  switch (t.type) {
    case 'scalar':
      return;
    case 'var':
      out.add(t.name);
      return;
    case 'ref':
      allVars(t.head, out);
      for (const p of t.path) allVars(p, out);
      return;
    case 'array':
    case 'set':
      for (const x of t.items) allVars(x, out);
      return;
    case 'object':
      for (const [k, v] of t.items) {
        allVars(k, out);
        allVars(v, out);
      }
      return;
    case 'arraycompr':
    case 'setcompr':
      allVars(t.term, out);
      for (const e of t.body) exprVars(e, out);
      return;
    case 'objectcompr':
      allVars(t.key, out);
      allVars(t.value, out);
      for (const e of t.body) exprVars(e, out);
      return;
    case 'call':
      for (const a of t.args) allVars(a, out);
      return;
    case 'template':
      for (const p of t.parts) if (typeof p !== 'string') allVars(p, out);
      return;
  }
}

function exprVars(e: Expr, out: Set<string>): void {
  switch (e.type) {
    case 'term':
      allVars(e.term, out);
      break;
    case 'some':
      for (const v of e.vars) out.add(v);
      break;
    case 'somein':
      if (e.key !== undefined) allVars(e.key, out);
      allVars(e.value, out);
      allVars(e.coll, out);
      break;
    case 'every':
      allVars(e.domain, out);
      break;
  }
  for (const w of e.withs) allVars(w.value, out);
}

function bodyVars(body: Body): Set<string> {
  const s = new Set<string>();
  for (const e of body) {
    const { outs } = ioVars(e, new Map());
    for (const v of outs) s.add(v);
  }
  return s;
}

/** Output (bindable) and needed (must be bound first) variables of an expression. */
function ioVars(e: Expr, funcArity: Map<string, number>): { outs: Set<string>; needs: Set<string> } {
  const outs = new Set<string>();
  const needs = new Set<string>();
  const walk = (t: Term, pattern: boolean): void => {
    switch (t.type) {
      case 'scalar':
        return;
      case 'var':
        if (ROOTS.has(t.name)) return;
        (pattern ? outs : needs).add(t.name);
        return;
      case 'ref':
        if (t.head.type === 'var') {
          if (!ROOTS.has(t.head.name)) needs.add(t.head.name);
        } else walk(t.head, false);
        for (const p of t.path) walk(p, p.type === 'var' || p.type === 'array' || p.type === 'object');
        return;
      case 'array':
      case 'object':
        if (t.type === 'array') for (const x of t.items) walk(x, pattern);
        else
          for (const [k, v] of t.items) {
            walk(k, false);
            walk(v, pattern);
          }
        return;
      case 'set':
        for (const x of t.items) walk(x, false);
        return;
      case 'arraycompr':
      case 'setcompr':
      case 'objectcompr': {
        const s = new Set<string>();
        allVars(t, s);
        for (const v of s) if (!ROOTS.has(v)) needs.add(`?${v}`);
        return;
      }
      case 'template':
        for (const p of t.parts) if (typeof p !== 'string') walk(p, false);
        return;
      case 'call': {
        if (t.op === 'eq') {
          walk(t.args[0] as Term, true);
          walk(t.args[1] as Term, true);
          return;
        }
        if (t.op === 'assign') {
          walk(t.args[0] as Term, true);
          walk(t.args[1] as Term, false);
          return;
        }
        const arity = BUILTINS.get(t.op)?.arity ?? funcArity.get(t.op);
        t.args.forEach((a, i) => walk(a, arity !== undefined && i === arity && i === t.args.length - 1));
        return;
      }
    }
  };
  switch (e.type) {
    case 'term':
      walk(e.term, false);
      if (e.term.type === 'var' && !ROOTS.has(e.term.name)) needs.add(e.term.name);
      break;
    case 'some':
      break;
    case 'somein':
      if (e.key !== undefined) walk(e.key, true);
      walk(e.value, true);
      walk(e.coll, false);
      break;
    case 'every': {
      walk(e.domain, false);
      const s = new Set<string>();
      for (const x of e.body) exprVars(x, s);
      for (const v of s) needs.add(`?${v}`);
      break;
    }
  }
  for (const w of e.withs) walk(w.value, false);
  if (e.negated) {
    for (const v of outs) needs.add(v);
    outs.clear();
  }
  return { outs, needs };
}

/** Reorders expressions so that each runs once the variables it needs are bound (OPA's safety reordering). */
function reorder(body: Body, bound: Set<string>, funcArity: Map<string, number>): Body {
  const infos = body.map((e) => ({ e, ...ioVars(e, funcArity), sides: eqSides(e) }));
  const produced = new Set<string>();
  const producers = new Map<string, number>();
  for (const i of infos)
    for (const v of i.outs) {
      produced.add(v);
      producers.set(v, (producers.get(v) ?? 0) + 1);
    }
  const have = new Set(bound);
  const out: Expr[] = [];
  const pending = [...infos];
  // a unification runs once one side is ground (its variables bound, or bound by no other expression)
  const ground = (side: Set<string>): boolean => [...side].every((v) => have.has(v));
  const canWait = (sides: [Set<string>, Set<string>], own: Set<string>): boolean => [...sides[0], ...sides[1]].some((v) => !have.has(v) && (producers.get(v) ?? 0) - (own.has(v) ? 1 : 0) > 0);
  const unifyReady = (sides: [Set<string>, Set<string>] | undefined, own: Set<string>): boolean => sides === undefined || ground(sides[0]) || ground(sides[1]) || !canWait(sides, own);
  while (pending.length > 0) {
    let idx = pending.findIndex((i) => ready(i.needs, have, produced) && unifyReady(i.sides, i.outs));
    if (idx < 0) idx = 0; // unsafe: keep source order, the evaluator reports the unbound variable
    const [pick] = pending.splice(idx, 1);
    if (pick === undefined) break;
    out.push(pick.e);
    for (const v of pick.outs) have.add(v);
  }
  return out;
}

/** Pattern variables of each side of a top-level unification. */
function eqSides(e: Expr): [Set<string>, Set<string>] | undefined {
  if (e.type !== 'term' || e.negated || e.term.type !== 'call' || e.term.op !== 'eq') return undefined;
  const a = new Set<string>();
  const b = new Set<string>();
  patternVars(e.term.args[0] as Term, a);
  patternVars(e.term.args[1] as Term, b);
  for (const r of ROOTS) {
    a.delete(r);
    b.delete(r);
  }
  return [a, b];
}

function ready(needs: Set<string>, have: Set<string>, produced: Set<string>): boolean {
  for (const n of needs) {
    const name = n.startsWith('?') ? n.slice(1) : n;
    if (have.has(name)) continue;
    if (n.startsWith('?') && !produced.has(name)) continue;
    if (!produced.has(name)) continue; // never bound anywhere: an unsafe var reported at run time
    return false;
  }
  return true;
}

/** Resolves and reorders an ad-hoc query body against compiled modules. */
export function compileQueryBody(body: Body, compiled: Compiled): Body {
  const mod: Module = { file: 'query', pkg: [], imports: [], rules: [] };
  const resolver = new Resolver(mod, new Set(), new Map(), compiled.funcArity);
  return resolver.body(body, new Set(), new Set());
}
