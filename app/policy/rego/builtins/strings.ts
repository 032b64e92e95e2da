/** String builtins, including Go-style sprintf. */
import { BuiltinError } from '../errors.ts';
import { Num } from '../number.ts';
import { RObject, RSet, toRegoString, typeName, type Value } from '../value.ts';
import { arr, arrOrSet, def, fail, int, n, number, str, typeErr, type Registry } from './util.ts';

export function registerStrings(reg: Registry): void {
  def(reg, 'concat', 2, (a) => {
    const sep = str(a, 0);
    const v = a[1] as Value;
    let items: Value[];
    if (Array.isArray(v)) items = [...(v as readonly Value[])];
    else if (v instanceof RSet) items = v.sorted();
    else throw typeErr(2, 'one of {array, set}', v);
    return items
      .map((x) => {
        if (typeof x !== 'string') throw typeErr(2, 'array of strings', v);
        return x;
      })
      .join(sep);
  });
  def(reg, 'contains', 2, (a) => str(a, 0).includes(str(a, 1)));
  def(reg, 'startswith', 2, (a) => str(a, 0).startsWith(str(a, 1)));
  def(reg, 'endswith', 2, (a) => str(a, 0).endsWith(str(a, 1)));
  def(reg, 'lower', 1, (a) => str(a, 0).toLowerCase());
  def(reg, 'upper', 1, (a) => str(a, 0).toUpperCase());
  def(reg, 'trim_space', 1, (a) => str(a, 0).replace(/^[\s\u0085\u00a0]+|[\s\u0085\u00a0]+$/gu, ''));
  def(reg, 'trim', 2, (a) => {
    const cut = new Set([...str(a, 1)]);
    const cs = [...str(a, 0)];
    let s = 0;
    let e = cs.length;
    while (s < e && cut.has(cs[s] as string)) s++;
    while (e > s && cut.has(cs[e - 1] as string)) e--;
    return cs.slice(s, e).join('');
  });
  def(reg, 'trim_left', 2, (a) => {
    const cut = new Set([...str(a, 1)]);
    const cs = [...str(a, 0)];
    let s = 0;
    while (s < cs.length && cut.has(cs[s] as string)) s++;
    return cs.slice(s).join('');
  });
  def(reg, 'trim_right', 2, (a) => {
    const cut = new Set([...str(a, 1)]);
    const cs = [...str(a, 0)];
    let e = cs.length;
    while (e > 0 && cut.has(cs[e - 1] as string)) e--;
    return cs.slice(0, e).join('');
  });
  def(reg, 'trim_prefix', 2, (a) => {
    const s = str(a, 0);
    const p = str(a, 1);
    return s.startsWith(p) ? s.slice(p.length) : s;
  });
  def(reg, 'trim_suffix', 2, (a) => {
    const s = str(a, 0);
    const p = str(a, 1);
    return p !== '' && s.endsWith(p) ? s.slice(0, s.length - p.length) : s;
  });
  def(reg, 'split', 2, (a) => {
    const s = str(a, 0);
    const d = str(a, 1);
    if (d === '') return [...s];
    return s.split(d);
  });
  def(reg, 'replace', 3, (a) => {
    const s = str(a, 0);
    const old = str(a, 1);
    const nw = str(a, 2);
    if (old === '') {
      const cs = [...s];
      return nw + cs.join(nw) + (cs.length > 0 ? nw : '');
    }
    return s.split(old).join(nw);
  });
  def(reg, 'strings.replace_n', 2, (a) => {
    const pats = a[0] as Value;
    if (!(pats instanceof RObject)) throw typeErr(1, 'object', pats);
    let s = str(a, 1);
    const pairs: [string, string][] = [];
    for (const [k, v] of pats.sorted()) {
      if (typeof k !== 'string') throw new BuiltinError('operand 1 non-string key found in pattern object', 'eval_type_error');
      if (typeof v !== 'string') throw new BuiltinError('operand 1 non-string value found in pattern object', 'eval_type_error');
      pairs.push([k, v]);
    }
    // Go strings.NewReplacer: at each position, the first matching old string in argument order
    let out = '';
    let i = 0;
    outer: while (i < s.length) {
      for (const [o, nw] of pairs) {
        if (o !== '' && s.startsWith(o, i)) {
          out += nw;
          i += o.length;
          continue outer;
        }
      }
      out += s[i] ?? '';
      i++;
    }
    s = out;
    return s;
  });
  def(reg, 'strings.reverse', 1, (a) => [...str(a, 0)].reverse().join(''));
  def(reg, 'strings.count', 2, (a) => {
    const s = str(a, 0);
    const sub = str(a, 1);
    if (sub === '') return n([...s].length + 1);
    return n(s.split(sub).length - 1);
  });
  def(reg, 'indexof', 2, (a) => {
    const s = str(a, 0);
    const sub = str(a, 1);
    const cs = [...s];
    const sc = [...sub];
    if (sc.length === 0) return n(0);
    for (let i = 0; i + sc.length <= cs.length; i++) {
      let ok = true;
      for (let j = 0; j < sc.length; j++)
        if (cs[i + j] !== sc[j]) {
          ok = false;
          break;
        }
      if (ok) return n(i);
    }
    return n(-1);
  });
  def(reg, 'indexof_n', 2, (a) => {
    const cs = [...str(a, 0)];
    const sc = [...str(a, 1)];
    const out: Value[] = [];
    if (sc.length === 0) return out;
    for (let i = 0; i + sc.length <= cs.length; i++) {
      let ok = true;
      for (let j = 0; j < sc.length; j++)
        if (cs[i + j] !== sc[j]) {
          ok = false;
          break;
        }
      if (ok) out.push(n(i));
    }
    return out;
  });
  def(reg, 'substring', 3, (a) => {
    const cs = [...str(a, 0)];
    const start = int(a, 1);
    const len = int(a, 2);
    if (start < 0) throw fail('negative offset');
    if (start >= cs.length) return '';
    if (len < 0) return cs.slice(start).join('');
    return cs.slice(start, start + len).join('');
  });
  def(reg, 'format_int', 2, (a) => {
    const x = number(a, 0);
    const base = number(a, 1).toSafeInt();
    if (base !== 2 && base !== 8 && base !== 10 && base !== 16) throw new BuiltinError('operand 2 must be one of {2, 8, 10, 16}', 'eval_type_error');
    const f = x.floor();
    // Go truncates toward zero via big.Float Int()
    const t = x.sign() < 0 ? x.neg().floor().neg() : f;
    return (t.toBigInt() ?? 0n).toString(base);
  });
  def(reg, 'strings.any_prefix_match', 2, (a) => {
    const ss = strList(a, 0);
    const ps = strList(a, 1);
    return ss.some((s) => ps.some((p) => s.startsWith(p)));
  });
  def(reg, 'strings.any_suffix_match', 2, (a) => {
    const ss = strList(a, 0);
    const ps = strList(a, 1);
    return ss.some((s) => ps.some((p) => s.endsWith(p)));
  });
  def(reg, 'sprintf', 2, (a) => sprintf(str(a, 0), arr(a, 1)));
  def(reg, 'strings.render_template', 2, (a) => renderTemplate(str(a, 0), a[1] as Value));
  def(reg, 'strings.join', 2, (a) => arrOrSet(a, 1).map((x) => (typeof x === 'string' ? x : toRegoString(x))).join(str(a, 0)));
}

function strList(a: Value[], i: number): string[] {
  const v = a[i] as Value;
  if (typeof v === 'string') return [v];
  let items: Value[];
  if (Array.isArray(v)) items = [...(v as readonly Value[])];
  else if (v instanceof RSet) items = v.sorted();
  else throw typeErr(i + 1, 'one of {string, set, array}', v);
  return items.map((x) => {
    if (typeof x !== 'string') throw new BuiltinError(`operand ${i + 1} must be array of strings but got array containing ${typeName(x)}`, 'eval_type_error');
    return x;
  });
}

/** Go fmt-style formatting of Rego values. */
export function sprintf(format: string, args: readonly Value[]): string {
  let out = '';
  let ai = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    i++;
    if (format[i] === '%') {
      out += '%';
      continue;
    }
    let flags = '';
    while (i < format.length && '+-# 0'.includes(format[i] ?? '')) flags += format[i++];
    let width = '';
    while (i < format.length && /[0-9]/.test(format[i] ?? '')) width += format[i++];
    let prec: string | undefined;
    if (format[i] === '.') {
      i++;
      prec = '';
      while (i < format.length && /[0-9]/.test(format[i] ?? '')) prec += format[i++];
    }
    const verb = format[i] ?? '';
    if (verb === '') {
      out += '%!(NOVERB)';
      break;
    }
    if (ai >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const v = goArg(args[ai++] as Value);
    let s = fmtOne(verb, v, flags, prec);
    const w = width === '' ? 0 : Number(width);
    if (w > 100_000 || Number(prec ?? '0') > 100_000) throw fail('width or precision larger than 100000');
    if ([...s].length < w) {
      const pad = w - [...s].length;
      if (flags.includes('-')) s = s + ' '.repeat(pad);
      else if (flags.includes('0') && verb !== 's' && verb !== 'v' && verb !== 'q') {
        const neg = s.startsWith('-') || s.startsWith('+');
        s = neg ? s[0] + '0'.repeat(pad) + s.slice(1) : '0'.repeat(pad) + s;
      } else s = ' '.repeat(pad) + s;
    }
    out += s;
  }
  if (ai < args.length) {
    out += `%!(EXTRA ${args
      .slice(ai)
      .map(goArg)
      .map((v) => `${goType(v)}=${fmtOne('v', v, '', undefined)}`)
      .join(', ')})`;
  }
  return out;
}

/** How OPA hands a Rego value to Go's fmt: strings, int64/big ints and float64 natively, the rest as ast values. */
function goType(v: Value): string {
  if (typeof v === 'string') return 'string';
  if (v instanceof Num) {
    if (!v.isInt()) return 'float64';
    const b = v.toBigInt() ?? 0n;
    return b >= -(1n << 63n) && b < 1n << 63n ? 'int' : '*big.Int';
  }
  if (typeof v === 'boolean') return 'ast.Boolean';
  if (v === null) return 'ast.Null';
  if (v instanceof RSet) return '*ast.set';
  if (v instanceof RObject) return '*ast.object';
  return '*ast.Array';
}

/** Numbers beyond float64 reach Go's fmt as their literal text (OPA falls back to the number's string). */
function goArg(v: Value): Value {
  if (v instanceof Num && !Number.isFinite(v.toNumber())) return sciText(v);
  return v;
}

function bad(verb: string, v: Value): string {
  return `%!${verb}(${goType(v)}=${fmtOne('v', v, '', undefined)})`;
}

function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function fmtOne(verb: string, v: Value, flags: string, prec: string | undefined): string {
  const t = goType(v);
  const p = prec === undefined ? undefined : Number(prec || '0');
  if (t === 'string') {
    const sv = v as string;
    switch (verb) {
      case 'v':
      case 's':
        return p !== undefined ? [...sv].slice(0, p).join('') : sv;
      case 'q':
        return goQuote(sv);
      case 'x':
      case 'X': {
        const h = [...new TextEncoder().encode(sv)].map((x) => x.toString(16).padStart(2, '0')).join('');
        return verb === 'X' ? h.toUpperCase() : h;
      }
      default:
        return bad(verb, v);
    }
  }
  if (t === 'int' || t === '*big.Int') {
    const b = (v as Num).toBigInt() ?? 0n;
    const sign = flags.includes('+') && b >= 0n ? '+' : '';
    switch (verb) {
      case 'v':
      case 'd':
        return sign + b.toString();
      case 's':
        return t === '*big.Int' ? b.toString() : bad(verb, v);
      case 'b':
        return sign + b.toString(2);
      case 'o':
        return sign + b.toString(8);
      case 'x':
        return sign + b.toString(16);
      case 'X':
        return sign + b.toString(16).toUpperCase();
      case 'c':
        return t === 'int' ? String.fromCodePoint(Number(b)) : bad(verb, v);
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G':
        return bad(verb, v);
      default:
        return bad(verb, v);
    }
  }
  if (t === 'float64') {
    const n = v as Num;
    const x = n.toNumber();
    const sign = flags.includes('+') && x >= 0 ? '+' : '';
    switch (verb) {
      case 'v':
        return sign + goFloatG(x, undefined, 21);
      case 'g':
      case 'G': {
        const out = goFloatG(x, p, p === undefined ? 21 : p);
        return sign + (verb === 'G' ? out.toUpperCase() : out);
      }
      case 'f':
      case 'F':
        return sign + fixed(n, p ?? 6);
      case 'e':
      case 'E': {
        const e = x.toExponential(p ?? 6).replace(/e([+-])(\d)$/, 'e$10$2');
        return sign + (verb === 'E' ? e.toUpperCase() : e);
      }
      default:
        return bad(verb, v);
    }
  }
  // other values are ast values printed through their String() method
  if (verb === 'v' || verb === 's') return toRegoString(v);
  return bad(verb, v);
}

/** Go's %g / %v for float64: shortest digits, exponent form below 1e-4 or from 10^threshold. */
function goFloatG(x: number, prec: number | undefined, threshold: number): string {
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const e = (prec === undefined ? x.toExponential() : x.toExponential(Math.max(0, prec - 1))).split('e');
  let digits = (e[0] ?? '0').replace('-', '').replace('.', '');
  if (prec !== undefined) digits = digits.replace(/0+$/, '') || '0';
  const exp = Number(e[1] ?? '0');
  const neg = x < 0 ? '-' : '';
  if (exp < -4 || exp >= threshold) {
    const mant = digits.length > 1 ? `${digits[0] ?? ''}.${digits.slice(1)}` : digits;
    return `${neg}${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp >= 0) {
    const intPart = digits.length > exp + 1 ? digits.slice(0, exp + 1) : digits.padEnd(exp + 1, '0');
    const frac = digits.length > exp + 1 ? digits.slice(exp + 1) : '';
    return `${neg}${intPart}${frac === '' ? '' : `.${frac}`}`;
  }
  return `${neg}0.${'0'.repeat(-exp - 1)}${digits}`;
}

/** A number as Go prints a big.Int or big.Float with %v. */
function numV(v: Num): string {
  return fmtOne('v', v, '', undefined);
}

/** Fixed-point formatting with exact decimal rounding (half to even as Go's strconv does for exact halves). */
function fixed(v: Num, p: number): string {
  const scaled = v.mul(Num.of(1n, p));
  let r = scaled.floor();
  const frac = scaled.sub(r);
  const half = Num.of(5n, -1);
  const c = frac.cmp(half);
  if (c > 0 || (c === 0 && ((r.toBigInt() ?? 0n) & 1n) === 1n)) r = r.add(Num.int(1));
  const b = r.toBigInt() ?? 0n;
  const neg = b < 0n;
  let ds = (neg ? -b : b).toString();
  if (p > 0) {
    ds = ds.padStart(p + 1, '0');
    ds = `${ds.slice(0, ds.length - p)}.${ds.slice(ds.length - p)}`;
  }
  return (neg ? '-' : '') + ds;
}

type TplNode = { kind: 'text'; text: string } | { kind: 'expr'; expr: string } | { kind: 'if'; expr: string; then: TplNode[]; other: TplNode[] } | { kind: 'range'; key: string | undefined; val: string | undefined; expr: string; body: TplNode[]; other: TplNode[] };

/** Parses a Go text/template subset: {{.a.b}}, {{$v}}, {{if}}/{{else}}/{{end}}, {{range [$i, $v :=] …}}, trim markers. */
function parseTemplate(tpl: string): TplNode[] {
  const tokens: ({ text: string } | { action: string })[] = [];
  const re = /\{\{(-\s)?([\s\S]*?)(\s-)?\}\}/g;
  let last = 0;
  let m: RegExpExecArray | null;
  let trimNext = false;
  while ((m = re.exec(tpl)) !== null) {
    let text = tpl.slice(last, m.index);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (m[1] !== undefined) text = text.replace(/\s+$/, '');
    if (text !== '') tokens.push({ text });
    const action = (m[2] ?? '').trim();
    if (!action.startsWith('/*')) tokens.push({ action });
    trimNext = m[3] !== undefined;
    last = re.lastIndex;
  }
  let tail = tpl.slice(last);
  if (trimNext) tail = tail.replace(/^\s+/, '');
  if (tail !== '') tokens.push({ text: tail });
  let i = 0;
  const block = (): { nodes: TplNode[]; end: 'end' | 'else' | 'eof' } => {
    const nodes: TplNode[] = [];
    while (i < tokens.length) {
      const t = tokens[i++] as { text: string } | { action: string };
      if ('text' in t) {
        nodes.push({ kind: 'text', text: t.text });
        continue;
      }
      const act = t.action;
      if (act === 'end') return { nodes, end: 'end' };
      if (act === 'else') return { nodes, end: 'else' };
      const im = /^if\s+(.+)$/.exec(act);
      const rm = /^range\s+(?:(\$\w+)\s*(?:,\s*(\$\w+))?\s*:=\s*)?(.+)$/.exec(act);
      if (im !== null) {
        const body = block();
        const other = body.end === 'else' ? block().nodes : [];
        nodes.push({ kind: 'if', expr: im[1] ?? '', then: body.nodes, other });
      } else if (rm !== null) {
        const body = block();
        const other = body.end === 'else' ? block().nodes : [];
        const two = rm[2] !== undefined;
        nodes.push({ kind: 'range', key: two ? rm[1] : undefined, val: two ? rm[2] : rm[1], expr: rm[3] ?? '', body: body.nodes, other });
      } else nodes.push({ kind: 'expr', expr: act });
    }
    return { nodes, end: 'eof' };
  };
  return block().nodes;
}

function tplLookup(expr: string, dot: Value | undefined, vars: Map<string, Value>): Value | undefined {
  const e = expr.trim();
  let cur: Value | undefined;
  let rest: string;
  if (e.startsWith('$')) {
    const m = /^(\$\w*)(.*)$/.exec(e);
    cur = vars.get(m?.[1] ?? '');
    rest = m?.[2] ?? '';
  } else if (e.startsWith('.')) {
    cur = dot;
    rest = e;
  } else throw fail(`template: unsupported action ${JSON.stringify(e)}`);
  for (const seg of rest.split('.').filter((x) => x !== '')) {
    if (!(cur instanceof RObject)) return undefined;
    cur = cur.get(seg);
  }
  return cur;
}

function tplTruthy(v: Value | undefined): boolean {
  if (v === undefined || v === null || v === false) return false;
  if (typeof v === 'string') return v !== '';
  if (v instanceof Num) return v.sign() !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof RObject || v instanceof RSet) return v.size > 0;
  return true;
}

function tplText(v: Value | undefined): string {
  if (v === undefined) return '<undefined>';
  if (typeof v === 'string') return v;
  if (v instanceof Num) return numV(v);
  return toRegoString(v);
}

function renderNodes(nodes: readonly TplNode[], dot: Value | undefined, vars: Map<string, Value>): string {
  let out = '';
  for (const n of nodes) {
    switch (n.kind) {
      case 'text':
        out += n.text;
        break;
      case 'expr':
        out += tplText(tplLookup(n.expr, dot, vars));
        break;
      case 'if':
        out += renderNodes(tplTruthy(tplLookup(n.expr, dot, vars)) ? n.then : n.other, dot, vars);
        break;
      case 'range': {
        const coll = tplLookup(n.expr, dot, vars);
        const items: [Value, Value][] = [];
        if (Array.isArray(coll)) (coll as readonly Value[]).forEach((x, idx) => items.push([Num.int(idx), x]));
        else if (coll instanceof RObject) for (const [k, x] of coll.sorted()) items.push([k, x]);
        else if (coll instanceof RSet) coll.sorted().forEach((x, idx) => items.push([Num.int(idx), x]));
        if (items.length === 0) {
          out += renderNodes(n.other, dot, vars);
          break;
        }
        for (const [k, x] of items) {
          const scope = new Map(vars);
          if (n.key !== undefined) scope.set(n.key, k);
          if (n.val !== undefined) scope.set(n.val, x);
          out += renderNodes(n.body, x, scope);
        }
        break;
      }
    }
  }
  return out;
}

function renderTemplate(tpl: string, vars: Value): string {
  if (!(vars instanceof RObject)) throw typeErr(2, 'object', vars);
  return renderNodes(parseTemplate(tpl), vars, new Map([['$', vars]]));
}

function sciText(v: Num): string {
  const neg = v.m < 0n;
  const ds = (neg ? -v.m : v.m).toString();
  const exp = v.e + ds.length - 1;
  return `${neg ? '-' : ''}${ds.length > 1 ? `${ds[0] ?? ''}.${ds.slice(1)}` : ds}e${exp}`;
}
