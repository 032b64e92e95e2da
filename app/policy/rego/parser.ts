/** Rego v1 parser: modules, rules, bodies and queries, with row:col errors. */
import type { Body, ElseClause, Expr, Import, Module, Rule, Term, With } from './ast.ts';
import { RegoError, type Location } from './errors.ts';
import { lex, type Token } from './lexer.ts';
import { Num } from './number.ts';
import { attachMetadata } from './metadata.ts';

const LEVEL_OPS: readonly Record<string, string>[] = [{ '==': 'equal', '!=': 'neq', '<': 'lt', '<=': 'lte', '>': 'gt', '>=': 'gte' }, { '|': 'or' }, { '&': 'and' }, { '+': 'plus', '-': 'minus' }, { '*': 'mul', '/': 'div', '%': 'rem' }];

const KEYWORDS = new Set(['package', 'import', 'as', 'default', 'else', 'not', 'some', 'every', 'in', 'with', 'if', 'contains', 'true', 'false', 'null']);

let wildcardCounter = 0;

export function parseModule(src: string, file: string): Module {
  const p = new Parser(lex(src, file), file);
  const mod = p.module();
  attachMetadata(src, mod, p.packageRow);
  return mod;
}

export function parseQuery(src: string, file = 'query'): Body {
  const p = new Parser(lex(src, file), file);
  return p.query();
}

export function parseTermText(src: string, file = 'input'): Term {
  const p = new Parser(lex(src, file), file);
  const t = p.termOnly();
  return t;
}

/** Appends collected path terms to a term (making it a ref) and empties the list. */
function withPath(cur: Term, path: Term[]): Term {
  if (path.length === 0) return cur;
  const out: Term = cur.type === 'ref' ? { type: 'ref', head: cur.head, path: [...cur.path, ...path], loc: cur.loc } : { type: 'ref', head: cur, path: [...path], loc: cur.loc };
  path.length = 0;
  return out;
}

class Parser {
  private i = 0;
  /** Stack: true when newlines separate expressions (bodies), false inside brackets. */
  private nlStack: boolean[] = [true];
  /** Stack: true while parsing the head of a possible comprehension, where `|` is not the union operator. */
  private noOr: boolean[] = [false];

  /** Inside brackets newlines do not end expressions and `|` is not the set-union operator of an outer term. */
  private enterBrackets(): void {
    this.nlStack.push(false);
    this.noOr.push(false);
  }

  private leaveBrackets(): void {
    this.nlStack.pop();
    this.noOr.pop();
  }
  private mod: Module | undefined;
  packageRow = 0;

  constructor(
    private readonly toks: Token[],
    private readonly file: string,
  ) {}

  /** A keyword used as a name: directly followed by `.`, `[` or `(` (e.g. `false.foo`, `contains(x, y)`). */
  private kwAsName(t: Token = this.t): boolean {
    if (t.kind !== 'ident' || !KEYWORDS.has(t.text)) return false;
    const nx = this.toks[t === this.t ? this.i + 1 : this.toks.indexOf(t) + 1];
    return  KEYWORDS.has(t.text) && nx !== undefined && nx.kind === 'punct' && !nx.ws && (nx.text === '.' || nx.text === '(' || nx.text === '[');
  }

  private get t(): Token {
    return this.toks[this.i] ?? (this.toks[this.toks.length - 1] as Token);
  }

  private loc(t: Token = this.t): Location {
    return { file: this.file, row: t.row, col: t.col };
  }

  private err(msg: string, t: Token = this.t): RegoError {
    return new RegoError('rego_parse_error', msg, this.loc(t));
  }

  private isP(text: string, t: Token = this.t): boolean {
    return t.kind === 'punct' && t.text === text;
  }

  private isKw(text: string, t: Token = this.t): boolean {
    return t.kind === 'ident' && t.text === text && !this.kwAsName(t);
  }

  private expectP(text: string): Token {
    if (!this.isP(text)) throw this.err(`unexpected ${this.desc()} token: expected ${text}`);
    return this.toks[this.i++] as Token;
  }

  private desc(t: Token = this.t): string {
    if (t.kind === 'eof') return 'eof';
    if (t.kind === 'ident') return KEYWORDS.has(t.text) ? `${t.text} keyword` : 'ident';
    if (t.kind === 'string') return 'string';
    if (t.kind === 'number') return 'number';
    return t.text;
  }

  private get nlSig(): boolean {
    return this.nlStack[this.nlStack.length - 1] ?? true;
  }

  /** True when the current token starts a new expression (newline-separated) in a body. */
  private atExprBreak(): boolean {
    return this.nlSig && this.t.nl;
  }

  module(): Module {
    while (this.isP(';')) this.i++;
    if (!this.isKw('package')) throw this.err('package expected');
    this.packageRow = this.t.row;
    this.i++;
    const pkg = this.packagePath();
    const mod: Module = { file: this.file, pkg, imports: [], rules: [] };
    this.mod = mod;
    while (this.t.kind !== 'eof') {
      if (this.isP(';')) {
        this.i++;
        continue;
      }
      if (this.isKw('import')) {
        mod.imports.push(this.importDecl());
        continue;
      }
      mod.rules.push(...this.rule());
    }
    return mod;
  }

  private packagePath(): string[] {
    const first = this.t;
    if (first.kind !== 'ident') throw this.err('expected package path');
    this.i++;
    const out = [first.text];
    for (;;) {
      if (this.isP('.') && !this.t.ws) {
        this.i++;
        const n = this.t;
        if (n.kind !== 'ident') throw this.err('expected identifier');
        out.push(n.text);
        this.i++;
      } else if (this.isP('[') && !this.t.ws) {
        this.i++;
        const s = this.t;
        if (s.kind !== 'string') throw this.err('expected string in package path');
        out.push(s.str ?? '');
        this.i++;
        this.expectP(']');
      } else break;
    }
    if (out[0] === 'data') out.shift();
    return out;
  }

  private importDecl(): Import {
    const start = this.t;
    this.i++;
    const path: string[] = [];
    const first = this.t;
    if (first.kind !== 'ident') throw this.err('expected import path');
    path.push(first.text);
    this.i++;
    while ((this.isP('.') || this.isP('[')) && !this.t.ws) {
      if (this.isP('.')) {
        this.i++;
        if (this.t.kind !== 'ident') throw this.err('expected identifier');
        path.push(this.t.text);
        this.i++;
      } else {
        this.i++;
        if (this.t.kind !== 'string') throw this.err('expected string');
        path.push(this.t.str ?? '');
        this.i++;
        this.expectP(']');
      }
    }
    const root = path[0];
    if (root !== 'data' && root !== 'input' && root !== 'future' && root !== 'rego') throw this.err(`invalid path ${path.join('.')}: path must begin with input or data`, start);
    let alias = path[path.length - 1] ?? '';
    if (this.isKw('as')) {
      this.i++;
      if (this.t.kind !== 'ident') throw this.err('expected alias');
      alias = this.t.text;
      this.i++;
    }
    return { path, alias, loc: this.loc(start) };
  }

  private rule(): Rule[] {
    const start = this.t;
    const mod = this.mod as Module;
    let isDefault = false;
    if (this.isKw('default')) {
      isDefault = true;
      this.i++;
    }
    const ref = this.ruleRef();
    let args: Term[] | undefined;
    if (this.isP('(') && !this.t.ws) {
      this.i++;
      this.enterBrackets();
      args = [];
      while (!this.isP(')')) {
        args.push(this.exprTerm());
        if (this.isP(',')) this.i++;
        else break;
      }
      this.leaveBrackets();
      this.expectP(')');
    }
    let key: Term | undefined;
    let value: Term | undefined;
    let assign = false;
    let kind: Rule['kind'] = args !== undefined ? 'func' : 'complete';
    if (this.isKw('contains')) {
      this.i++;
      key = this.exprTerm();
      kind = 'multi';
    } else if (this.isP(':=') || this.isP('=')) {
      assign = this.isP(':=');
      this.i++;
      this.enterBrackets();
      value = this.exprTerm();
      this.leaveBrackets();
    }
    if (isDefault) {
      if (value === undefined) throw this.err('default rule must have a value', start);
      return [{ ref, kind, key, value, args, isDefault, assign, body: [], elses: [], loc: this.loc(start), module: mod }];
    }
    let body: Body = [];
    const loc = this.loc(start);
    if (this.isKw('if')) {
      this.i++;
      body = this.ruleBody();
    } else if (this.isP('{') && !this.t.nl) {
      throw this.err('`if` keyword is required before rule body');
    } else if (value === undefined && key === undefined && args === undefined) {
      const last = ref[ref.length - 1];
      if (ref.length === 1 || last?.type !== 'var') throw this.err(`rule must have a body or a value`, start);
    }
    const elses: ElseClause[] = [];
    while (this.isKw('else')) {
      const et = this.t;
      this.i++;
      let ev: Term | undefined;
      if (this.isP(':=') || this.isP('=')) {
        this.i++;
        this.enterBrackets();
        ev = this.exprTerm();
        this.leaveBrackets();
      }
      let eb: Body = [];
      if (this.isKw('if')) {
        this.i++;
        eb = this.ruleBody();
      } else if (this.isP('{')) throw this.err('`if` keyword is required before rule body');
      elses.push({ value: ev ?? { type: 'scalar', value: true, loc: this.loc(et) }, body: eb, loc: this.loc(et) });
    }
    const rule: Rule = { ref, kind, key, value, args, isDefault, assign, body, elses, loc, module: mod };
    return [rule];
  }

  private ruleRef(): Term[] {
    const first = this.t;
    if (first.kind !== 'ident' || (KEYWORDS.has(first.text) && !this.kwAsName(first))) throw this.err(`unexpected ${this.desc()} token`);
    this.i++;
    const out: Term[] = [{ type: 'scalar', value: first.text, loc: this.loc(first) }];
    for (;;) {
      if (this.isP('.') && !this.t.ws) {
        this.i++;
        const n = this.t;
        if (n.kind !== 'ident') throw this.err('expected identifier');
        out.push({ type: 'scalar', value: n.text, loc: this.loc(n) });
        this.i++;
      } else if (this.isP('[') && !this.t.ws) {
        this.i++;
        this.enterBrackets();
        out.push(this.exprTerm());
        this.leaveBrackets();
        this.expectP(']');
      } else break;
    }
    return out;
  }

  private ruleBody(): Body {
    if (this.isP('{')) {
      // `if {` is a body, unless it only parses as a single object/set expression
      const save = this.i;
      const depthN = this.nlStack.length;
      const depthO = this.noOr.length;
      try {
        this.i++;
        const b = this.bodyUntil('}');
        this.expectP('}');
        return b;
      } catch (e) {
        this.i = save;
        this.nlStack.length = depthN;
        this.noOr.length = depthO;
        try {
          this.nlStack.push(true);
          const lit = this.literal();
          this.nlStack.pop();
          return [lit];
        } catch {
          throw e;
        }
      }
    }
    this.nlStack.push(true);
    const e = this.literal();
    this.leaveBrackets();
    return [e];
  }

  query(): Body {
    const b = this.bodyUntil(undefined);
    if (this.t.kind !== 'eof') throw this.err(`unexpected ${this.desc()} token`);
    return b;
  }

  /** A template-string expression: a term, optionally with `with` modifiers (desugared to a comprehension). */
  templateExpr(): Term {
    this.nlStack.push(false);
    const start = this.t;
    const t = this.exprTerm();
    if (!this.isKw('with')) {
      this.nlStack.pop();
      if (this.t.kind !== 'eof') throw this.err(`unexpected ${this.desc()} token`);
      return t;
    }
    const loc = this.loc(start);
    const tmp: Term = { type: 'var', name: `$_t${++wildcardCounter}`, loc };
    const expr = this.withs({ type: 'term', term: { type: 'call', op: 'eq', opRef: undefined, args: [tmp, t], loc }, negated: false, withs: [], loc });
    this.nlStack.pop();
    if (this.t.kind !== 'eof') throw this.err(`unexpected ${this.desc()} token`);
    return { type: 'call', op: 'internal.template_first', opRef: undefined, args: [{ type: 'arraycompr', term: tmp, body: [expr], loc }], loc };
  }

  termOnly(): Term {
    this.enterBrackets();
    const t = this.exprTerm();
    this.leaveBrackets();
    if (this.t.kind !== 'eof') throw this.err(`unexpected ${this.desc()} token`);
    return t;
  }

  private atEnd(close: string | undefined): boolean {
    return this.t.kind === 'eof' || (close !== undefined && this.isP(close));
  }

  private bodyUntil(close: string | undefined): Body {
    this.nlStack.push(true);
    this.noOr.push(false);
    const out: Body = [];
    for (;;) {
      while (this.isP(';')) this.i++;
      if (this.atEnd(close)) break;
      const e = this.literal();
      out.push(e);
      if (this.isP(';')) continue;
      if (this.atEnd(close)) break;
      if (!this.t.nl) throw this.err(`unexpected ${this.desc()} token: expected \\n or ; or ${close ?? 'eof'}`);
    }
    this.leaveBrackets();
    if (out.length === 0) throw this.err('found empty body');
    return out;
  }

  private literal(): Expr {
    const start = this.t;
    const loc = this.loc(start);
    let expr: Expr;
    if (this.isKw('some')) {
      this.i++;
      const first = this.exprTermNoIn();
      if (this.isP(',') || this.isKw('in')) {
        const terms: Term[] = [first];
        while (this.isP(',')) {
          this.i++;
          terms.push(this.exprTermNoIn());
        }
        if (this.isKw('in')) {
          this.i++;
          const coll = this.exprTermNoIn();
          if (terms.length > 2) throw this.err('unexpected , token');
          expr = terms.length === 2 ? { type: 'somein', key: terms[0], value: terms[1] as Term, coll, negated: false, withs: [], loc } : { type: 'somein', key: undefined, value: first, coll, negated: false, withs: [], loc };
        } else {
          const vars = terms.map((t) => {
            if (t.type !== 'var') throw this.err('expected var in some declaration', start);
            return t.name;
          });
          expr = { type: 'some', vars, negated: false, withs: [], loc };
        }
      } else {
        if (first.type !== 'var') throw this.err('expected var in some declaration', start);
        expr = { type: 'some', vars: [first.name], negated: false, withs: [], loc };
      }
      return this.withs(expr);
    }
    if (this.isKw('every')) {
      this.i++;
      const a = this.exprTermNoIn();
      let key: Term | undefined;
      let value = a;
      if (this.isP(',')) {
        this.i++;
        key = a;
        value = this.exprTermNoIn();
      }
      if (!this.isKw('in')) throw this.err('expected in keyword');
      this.i++;
      const domain = this.exprTermNoIn();
      this.expectP('{');
      const body = this.bodyUntil('}');
      this.expectP('}');
      expr = { type: 'every', key, value, domain, body, negated: false, withs: [], loc };
      return this.withs(expr);
    }
    if (this.isKw('not')) {
      this.i++;
      const inner = this.literal();
      if (inner.negated) throw this.err('unexpected not keyword', start);
      inner.negated = true;
      return inner;
    }
    // k, v in xs at the top level
    const first = this.exprTerm();
    if (this.isP(',') && this.nlSig) {
      this.i++;
      const second = this.exprTermNoIn();
      if (!this.isKw('in')) throw this.err('unexpected , token');
      this.i++;
      const coll = this.exprTermNoIn();
      const term: Term = { type: 'call', op: 'internal.member_3', opRef: undefined, args: [first, second, coll], loc };
      return this.withs({ type: 'term', term, negated: false, withs: [], loc });
    }
    return this.withs({ type: 'term', term: first, negated: false, withs: [], loc });
  }

  private withs(expr: Expr): Expr {
    const ws: With[] = [];
    while (this.isKw('with')) {
      const wt = this.t;
      this.i++;
      this.enterBrackets();
      const target = this.termRef();
      if (!this.isKw('as')) throw this.err('expected as keyword');
      this.i++;
      const value = this.exprTermNoIn();
      this.leaveBrackets();
      ws.push({ target, value, loc: this.loc(wt) });
    }
    expr.withs = ws;
    return expr;
  }

  /** Full expression including := and = (as calls "assign" and "eq"). */
  exprTerm(): Term {
    const lhs = this.exprIn();
    if ((this.isP(':=') || this.isP('=')) && !this.breakHere()) {
      const op = this.t.text === ':=' ? 'assign' : 'eq';
      const loc = this.loc();
      this.i++;
      const rhs = this.exprIn();
      return { type: 'call', op, opRef: undefined, args: [lhs, rhs], loc };
    }
    return lhs;
  }

  private exprTermNoIn(): Term {
    return this.exprRel();
  }

  private breakHere(): boolean {
    return this.atExprBreak();
  }

  private exprIn(): Term {
    let lhs = this.exprRel();
    while (this.isKw('in') && !this.breakHere()) {
      const loc = this.loc();
      this.i++;
      const rhs = this.exprRel();
      lhs = { type: 'call', op: 'internal.member_2', opRef: undefined, args: [lhs, rhs], loc };
    }
    return lhs;
  }

  /** Binary operators by precedence level (0 = relational … 4 = factor). */
  private level(lv: number): Term {
    if (lv > 4) return this.unary();
    if (lv === 1 && this.noOr[this.noOr.length - 1] === true) return this.level(2);
    const ops = LEVEL_OPS[lv] as Record<string, string>;
    let lhs = this.level(lv + 1);
    for (;;) {
      const t = this.t;
      if (t.kind !== 'punct') return lhs;
      const op = ops[t.text];
      if (op === undefined || this.breakHere()) return lhs;
      this.i++;
      const rhs = this.level(lv + 1);
      lhs = { type: 'call', op, opRef: undefined, args: [lhs, rhs], loc: this.loc(t) };
    }
  }

  private exprRel(): Term {
    return this.level(0);
  }

  private unary(): Term {
    if (this.isP('-')) {
      const t = this.t;
      this.i++;
      if (this.t.kind === 'number' && !this.t.ws) {
        const n = this.t;
        this.i++;
        const v = Num.parse(n.text);
        if (v === undefined) throw this.err('invalid number', n);
        return this.refTail({ type: 'scalar', value: v.neg(), loc: this.loc(t) });
      }
      const operand = this.unary();
      return { type: 'call', op: 'minus', opRef: undefined, args: [{ type: 'scalar', value: Num.int(0), loc: this.loc(t) }, operand], loc: this.loc(t) };
    }
    return this.term();
  }

  private termRef(): Term {
    return this.term();
  }

  private term(): Term {
    const t = this.t;
    const loc = this.loc(t);
    let base: Term;
    switch (t.kind) {
      case 'number': {
        this.i++;
        const v = Num.parse(t.text);
        if (v === undefined) throw this.err('invalid number', t);
        base = { type: 'scalar', value: v, loc };
        break;
      }
      case 'string':
        this.i++;
        base = { type: 'scalar', value: t.str ?? '', loc };
        break;
      case 'template': {
        this.i++;
        const parts: (string | Term)[] = [];
        for (const p of t.parts ?? []) {
          if (typeof p === 'string') parts.push(p);
          else {
            const sub = new Parser(p, this.file);
            sub.mod = this.mod;
            parts.push(sub.templateExpr());
          }
        }
        base = { type: 'template', parts, loc };
        break;
      }
      case 'ident': {
        if (this.kwAsName(t) && t.text !== '_') {
          this.i++;
          base = { type: 'var', name: t.text, loc };
          break;
        }
        if (t.text === 'true' || t.text === 'false') {
          this.i++;
          base = { type: 'scalar', value: t.text === 'true', loc };
          break;
        }
        if (t.text === 'null') {
          this.i++;
          base = { type: 'scalar', value: null, loc };
          break;
        }
        if (KEYWORDS.has(t.text)) throw this.err(`unexpected ${t.text} keyword`);
        this.i++;
        if (t.text === '_') {
          base = { type: 'var', name: `$_${++wildcardCounter}`, loc };
          break;
        }
        base = { type: 'var', name: t.text, loc };
        break;
      }
      case 'punct': {
        if (t.text === '(') {
          this.i++;
          this.enterBrackets();
          base = this.exprTerm();
          this.leaveBrackets();
          this.expectP(')');
          break;
        }
        if (t.text === '[') {
          base = this.arrayLit();
          break;
        }
        if (t.text === '{') {
          base = this.braceLit();
          break;
        }
        throw this.err(`unexpected ${t.text} token`);
      }
      default:
        throw this.err('unexpected eof token');
    }
    return this.refTail(base);
  }

  private refTail(head: Term): Term {
    let cur = head;
    const path: Term[] = [];
    for (;;) {
      if (this.isP('.') && !this.t.ws) {
        this.i++;
        const n = this.t;
        if (n.kind !== 'ident') throw this.err(`unexpected ${this.desc()} token: expected identifier`);
        this.i++;
        path.push({ type: 'scalar', value: n.text, loc: this.loc(n) });
      } else if (this.isP('[') && !this.t.ws) {
        this.i++;
        this.enterBrackets();
        path.push(this.exprTerm());
        this.leaveBrackets();
        this.expectP(']');
      } else if (this.isP('(') && !this.t.ws) {
        cur = withPath(cur, path);
        const name = this.callName(cur);
        if (name === undefined) throw this.err('invalid function name');
        this.i++;
        this.enterBrackets();
        const args: Term[] = [];
        while (!this.isP(')')) {
          args.push(this.exprTerm());
          if (this.isP(',')) this.i++;
          else break;
        }
        this.leaveBrackets();
        this.expectP(')');
        if (name === 'set' && args.length === 0) cur = { type: 'set', items: [], loc: cur.loc };
        else cur = { type: 'call', op: name, opRef: cur, args, loc: cur.loc };
      } else break;
    }
    return withPath(cur, path);
  }

  private callName(t: Term): string | undefined {
    if (t.type === 'var') return t.name;
    if (t.type === 'ref' && t.head.type === 'var') {
      const parts = [t.head.name];
      for (const p of t.path) {
        if (p.type !== 'scalar' || typeof p.value !== 'string') return undefined;
        parts.push(p.value);
      }
      return parts.join('.');
    }
    return undefined;
  }

  private arrayLit(): Term {
    const open = this.t;
    this.i++;
    this.enterBrackets();
    if (this.isP(']')) {
      this.leaveBrackets();
      this.i++;
      return { type: 'array', items: [], loc: this.loc(open) };
    }
    this.noOr.push(true);
    const first = this.exprTerm();
    this.noOr.pop();
    if (this.isP('|')) {
      this.i++;
      const body = this.bodyUntil(']');
      this.leaveBrackets();
      this.expectP(']');
      return { type: 'arraycompr', term: first, body, loc: this.loc(open) };
    }
    const items = [first];
    while (this.isP(',')) {
      this.i++;
      if (this.isP(']')) break;
      items.push(this.exprTerm());
    }
    this.leaveBrackets();
    this.expectP(']');
    return { type: 'array', items, loc: this.loc(open) };
  }

  private braceLit(): Term {
    const open = this.t;
    this.i++;
    this.enterBrackets();
    if (this.isP('}')) {
      this.leaveBrackets();
      this.i++;
      return { type: 'object', items: [], loc: this.loc(open) };
    }
    this.noOr.push(true);
    const first = this.exprTerm();
    this.noOr.pop();
    if (this.isP(':')) {
      this.i++;
      this.noOr.push(true);
      const v = this.exprTerm();
      this.noOr.pop();
      if (this.isP('|')) {
        this.i++;
        const body = this.bodyUntil('}');
        this.leaveBrackets();
        this.expectP('}');
        return { type: 'objectcompr', key: first, value: v, body, loc: this.loc(open) };
      }
      const items: [Term, Term][] = [[first, v]];
      while (this.isP(',')) {
        this.i++;
        if (this.isP('}')) break;
        const k = this.exprTerm();
        this.expectP(':');
        items.push([k, this.exprTerm()]);
      }
      this.leaveBrackets();
      this.expectP('}');
      return { type: 'object', items, loc: this.loc(open) };
    }
    if (this.isP('|')) {
      this.i++;
      const body = this.bodyUntil('}');
      this.leaveBrackets();
      this.expectP('}');
      return { type: 'setcompr', term: first, body, loc: this.loc(open) };
    }
    const items = [first];
    while (this.isP(',')) {
      this.i++;
      if (this.isP('}')) break;
      items.push(this.exprTerm());
    }
    this.leaveBrackets();
    this.expectP('}');
    return { type: 'set', items, loc: this.loc(open) };
  }
}
