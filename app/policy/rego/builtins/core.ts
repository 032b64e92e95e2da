/** Comparison, arithmetic, sets, aggregates, types, casts, bits, arrays and objects. */
import { BuiltinError } from '../errors.ts';
import { Num } from '../number.ts';
import { RObject, RSet, compare, equal, keyOf, toJSON, typeName, type Value } from '../value.ts';
import { arr, arrOrSet, def, fail, int, n, number, obj, set, typeErr, type Registry } from './util.ts';

export function registerCore(reg: Registry): void {
  def(reg, 'equal', 2, (a) => equal(a[0] as Value, a[1] as Value));
  def(reg, 'neq', 2, (a) => !equal(a[0] as Value, a[1] as Value));
  def(reg, 'lt', 2, (a) => compare(a[0] as Value, a[1] as Value) < 0);
  def(reg, 'lte', 2, (a) => compare(a[0] as Value, a[1] as Value) <= 0);
  def(reg, 'gt', 2, (a) => compare(a[0] as Value, a[1] as Value) > 0);
  def(reg, 'gte', 2, (a) => compare(a[0] as Value, a[1] as Value) >= 0);

  def(reg, 'plus', 2, (a) => number(a, 0).add(number(a, 1)));
  def(reg, 'minus', 2, (a) => {
    const x = a[0] as Value;
    const y = a[1] as Value;
    if (x instanceof Num && y instanceof Num) return x.sub(y);
    if (x instanceof RSet && y instanceof RSet) return RSet.from([...x.values()].filter((v) => !y.has(v)));
    if (!(x instanceof Num) && !(x instanceof RSet)) throw typeErr(1, 'one of {number, set}', x);
    if (x instanceof Num) throw typeErr(2, 'number', y);
    throw typeErr(2, 'set', y);
  });
  def(reg, 'mul', 2, (a) => number(a, 0).mul(number(a, 1)));
  def(reg, 'div', 2, (a) => {
    const x = number(a, 0);
    const y = number(a, 1);
    if (y.sign() === 0) throw fail('divide by zero');
    return x.div(y);
  });
  def(reg, 'rem', 2, (a) => {
    const x = number(a, 0);
    const y = number(a, 1);
    if (!x.isInt() || !y.isInt()) throw fail('modulo on floating-point number');
    if (y.sign() === 0) throw fail('modulo by zero');
    return x.rem(y);
  });
  def(reg, 'abs', 1, (a) => number(a, 0).abs());
  def(reg, 'round', 1, (a) => number(a, 0).round());
  def(reg, 'ceil', 1, (a) => number(a, 0).ceil());
  def(reg, 'floor', 1, (a) => number(a, 0).floor());
  def(reg, 'numbers.range', 2, (a) => {
    const x = number(a, 0);
    const y = number(a, 1);
    if (!x.isInt()) throw fail('operand 1 must be integer number but got floating-point number');
    if (!y.isInt()) throw fail('operand 2 must be integer number but got floating-point number');
    return range(x, y, Num.int(1));
  });
  def(reg, 'numbers.range_step', 3, (a) => {
    const x = number(a, 0);
    const y = number(a, 1);
    const s = number(a, 2);
    if (!x.isInt()) throw fail('operand 1 must be integer number but got floating-point number');
    if (!y.isInt()) throw fail('operand 2 must be integer number but got floating-point number');
    if (!s.isInt()) throw fail('operand 3 must be integer number but got floating-point number');
    if (s.sign() <= 0) throw fail('step must be a positive integer');
    return range(x, y, s);
  });

  def(reg, 'and', 2, (a) => {
    const x = set(a, 0);
    const y = set(a, 1);
    return RSet.from([...x.values()].filter((v) => y.has(v)));
  });
  def(reg, 'or', 2, (a) => {
    const x = set(a, 0);
    const y = set(a, 1);
    return RSet.from([...x.values(), ...y.values()]);
  });
  def(reg, 'intersection', 1, (a) => {
    const s = set(a, 0);
    let acc: RSet | undefined;
    for (const x of s.values()) {
      if (!(x instanceof RSet)) throw typeErr(1, 'set of sets', a[0] as Value);
      acc = acc === undefined ? x : RSet.from([...acc.values()].filter((v) => x.has(v)));
    }
    return acc ?? new RSet();
  });
  def(reg, 'union', 1, (a) => {
    const s = set(a, 0);
    const out = new RSet();
    for (const x of s.values()) {
      if (!(x instanceof RSet)) throw typeErr(1, 'set of sets', a[0] as Value);
      for (const v of x.values()) out.add(v);
    }
    return out;
  });
  def(reg, 'internal.template_first', 1, (a) => {
    const xs = arr(a, 0);
    if (xs.length > 1) throw new BuiltinError('template-strings must not produce multiple outputs', 'eval_builtin_error', true);
    return xs[0];
  });
  def(reg, 'internal.member_2', 2, (a) => {
    const x = a[0] as Value;
    const c = a[1] as Value;
    if (Array.isArray(c)) return (c as readonly Value[]).some((v) => equal(v, x));
    if (c instanceof RSet) return c.has(x);
    if (c instanceof RObject) return [...c.entries()].some(([, v]) => equal(v, x));
    return false;
  });
  def(reg, 'internal.member_3', 3, (a) => {
    const key = a[0] as Value;
    const x = a[1] as Value;
    const c = a[2] as Value;
    if (Array.isArray(c)) {
      if (!(key instanceof Num)) return false;
      const i = key.toSafeInt();
      if (i === undefined) return false;
      const v = (c as readonly Value[])[i];
      return v !== undefined && equal(v, x);
    }
    if (c instanceof RObject) {
      const v = c.get(key);
      return v !== undefined && equal(v, x);
    }
    if (c instanceof RSet) return c.has(x) && equal(key, x);
    return false;
  });

  // aggregates
  def(reg, 'count', 1, (a) => {
    const v = a[0] as Value;
    if (typeof v === 'string') return n([...v].length);
    if (Array.isArray(v)) return n((v as readonly Value[]).length);
    if (v instanceof RObject || v instanceof RSet) return n(v.size);
    throw typeErr(1, 'one of {array, object, set, string}', v);
  });
  def(reg, 'sum', 1, (a) => {
    let acc = Num.int(0);
    for (const x of arrOrSet(a, 0)) {
      if (!(x instanceof Num)) throw typeErr(1, 'array of numbers', x);
      acc = acc.add(x);
    }
    return acc;
  });
  def(reg, 'product', 1, (a) => {
    let acc = Num.int(1);
    for (const x of arrOrSet(a, 0)) {
      if (!(x instanceof Num)) throw typeErr(1, 'array of numbers', x);
      acc = acc.mul(x);
    }
    return acc;
  });
  def(reg, 'max', 1, (a) => {
    const xs = arrOrSet(a, 0);
    if (xs.length === 0) return undefined;
    return xs.reduce((m, x) => (compare(x, m) > 0 ? x : m));
  });
  def(reg, 'min', 1, (a) => {
    const xs = arrOrSet(a, 0);
    if (xs.length === 0) return undefined;
    return xs.reduce((m, x) => (compare(x, m) < 0 ? x : m));
  });
  def(reg, 'sort', 1, (a) => arrOrSet(a, 0).sort(compare));
  def(reg, 'all', 1, (a) => arrOrSet(a, 0).every((x) => x === true));
  def(reg, 'any', 1, (a) => arrOrSet(a, 0).some((x) => x === true));

  // types
  def(reg, 'is_number', 1, (a) => a[0] instanceof Num);
  def(reg, 'is_string', 1, (a) => typeof a[0] === 'string');
  def(reg, 'is_boolean', 1, (a) => typeof a[0] === 'boolean');
  def(reg, 'is_array', 1, (a) => Array.isArray(a[0]));
  def(reg, 'is_set', 1, (a) => a[0] instanceof RSet);
  def(reg, 'is_object', 1, (a) => a[0] instanceof RObject);
  def(reg, 'is_null', 1, (a) => a[0] === null);
  def(reg, 'type_name', 1, (a) => typeName(a[0] as Value));

  def(reg, 'to_number', 1, (a) => {
    const v = a[0] as Value;
    if (v === null) return n(0);
    if (typeof v === 'boolean') return n(v ? 1 : 0);
    if (v instanceof Num) return v;
    if (typeof v === 'string') {
      const t = v.trim() === v ? v : '';
      const p = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) ? Num.parse(t) : undefined;
      if (p === undefined) {
        if (/^[+-]?(inf|infinity|nan)$/i.test(v)) throw fail(`invalid syntax`);
        throw fail(`strconv.ParseFloat: parsing ${JSON.stringify(v)}: invalid syntax`);
      }
      return p;
    }
    throw typeErr(1, 'one of {boolean, null, number, string}', v);
  });

  // bits
  const big = (a: Value[], i: number): bigint => {
    const x = number(a, i);
    const b = x.toBigInt();
    if (b === undefined || !x.isInt()) throw new BuiltinError(`operand ${i + 1} must be integer number but got floating-point number`, 'eval_type_error');
    return b;
  };
  def(reg, 'bits.or', 2, (a) => Num.int(big(a, 0) | big(a, 1)));
  def(reg, 'bits.and', 2, (a) => Num.int(big(a, 0) & big(a, 1)));
  def(reg, 'bits.xor', 2, (a) => Num.int(big(a, 0) ^ big(a, 1)));
  def(reg, 'bits.negate', 1, (a) => Num.int(~big(a, 0)));
  def(reg, 'bits.lsh', 2, (a) => {
    const s = big(a, 1);
    if (s < 0n) throw new BuiltinError('operand 2 must be an unsigned integer number but got a negative integer', 'eval_type_error');
    return Num.int(big(a, 0) << s);
  });
  def(reg, 'bits.rsh', 2, (a) => {
    const s = big(a, 1);
    if (s < 0n) throw new BuiltinError('operand 2 must be an unsigned integer number but got a negative integer', 'eval_type_error');
    return Num.int(big(a, 0) >> s);
  });

  // arrays
  def(reg, 'array.concat', 2, (a) => [...arr(a, 0), ...arr(a, 1)]);
  def(reg, 'array.slice', 3, (a) => {
    const xs = arr(a, 0);
    let s = int(a, 1);
    let e = int(a, 2);
    if (s < 0) s = 0;
    if (e > xs.length) e = xs.length;
    if (s > e) return [];
    return xs.slice(s, e);
  });
  def(reg, 'array.reverse', 1, (a) => [...arr(a, 0)].reverse());

  // objects
  def(reg, 'object.get', 3, (a) => {
    const o = a[0] as Value;
    const key = a[1] as Value;
    const dflt = a[2] as Value;
    if (!(o instanceof RObject)) throw typeErr(1, 'object', o);
    if (Array.isArray(key)) {
      let cur: Value | undefined = o;
      for (const k of key as readonly Value[]) {
        if (cur instanceof RObject) cur = cur.get(k);
        else if (Array.isArray(cur)) cur = k instanceof Num && k.toSafeInt() !== undefined ? (cur as readonly Value[])[k.toSafeInt() ?? -1] : undefined;
        else if (cur instanceof RSet) cur = cur.has(k) ? k : undefined;
        else cur = undefined;
        if (cur === undefined) return dflt;
      }
      return cur;
    }
    return o.get(key) ?? dflt;
  });
  def(reg, 'object.keys', 1, (a) => RSet.from(obj(a, 0).keys()));
  def(reg, 'object.remove', 2, (a) => {
    const o = obj(a, 0);
    const ks = a[1] as Value;
    let keys: Value[];
    if (Array.isArray(ks)) keys = [...(ks as readonly Value[])];
    else if (ks instanceof RSet) keys = [...ks.values()];
    else if (ks instanceof RObject) keys = ks.keys();
    else throw typeErr(2, 'one of {object, set, array}', ks);
    const out = o.copy();
    for (const k of keys) out.delete(k);
    return out;
  });
  def(reg, 'object.filter', 2, (a) => {
    const o = obj(a, 0);
    const ks = a[1] as Value;
    let keys: Value[];
    if (Array.isArray(ks)) keys = [...(ks as readonly Value[])];
    else if (ks instanceof RSet) keys = [...ks.values()];
    else if (ks instanceof RObject) keys = ks.keys();
    else throw typeErr(2, 'one of {object, set, array}', ks);
    const out = new RObject();
    for (const k of keys) {
      const v = o.get(k);
      if (v !== undefined) out.set(k, v);
    }
    return out;
  });
  def(reg, 'object.union', 2, (a) => mergeObjects(obj(a, 0), obj(a, 1)));
  def(reg, 'object.union_n', 1, (a) => {
    let acc = new RObject();
    for (const x of arr(a, 0)) {
      if (!(x instanceof RObject)) throw typeErr(1, 'array of objects', a[0] as Value);
      acc = mergeObjects(acc, x);
    }
    return acc;
  });
  def(reg, 'object.subset', 2, (a) => {
    const sup = a[0] as Value;
    const sub = a[1] as Value;
    if (sup instanceof RObject && sub instanceof RObject) return objSubset(sup, sub);
    if (sup instanceof RSet && sub instanceof RSet) return [...sub.values()].every((v) => sup.has(v));
    if (Array.isArray(sup) && sub instanceof RSet) return [...sub.values()].every((v) => (sup as readonly Value[]).some((x) => equal(x, v)));
    if (Array.isArray(sup) && Array.isArray(sub)) return arraySubseq(sup as readonly Value[], sub as readonly Value[]);
    if (!(sup instanceof RObject) && !(sup instanceof RSet) && !Array.isArray(sup)) throw typeErr(1, 'one of {object, set, array}', sup);
    throw typeErr(2, 'one of {object, set, array}', sub);
  });

  def(reg, 'json.filter', 2, (a) => {
    const o = obj(a, 0);
    const paths = jsonPaths(a, 1, 'json.filter');
    return filterPaths(o, paths);
  });
  def(reg, 'json.remove', 2, (a) => {
    const o = obj(a, 0);
    const paths = jsonPaths(a, 1, 'json.remove');
    let cur: Value = o;
    for (const p of paths) cur = removePath(cur, p);
    return cur;
  });
}

function range(x: Num, y: Num, s: Num): Value[] {
  const out: Value[] = [];
  let i = x;
  const up = x.cmp(y) <= 0;
  const step = up ? s : s.neg();
  for (let c = 0; ; c++) {
    if (up ? i.cmp(y) > 0 : i.cmp(y) < 0) break;
    out.push(i);
    i = i.add(step);
    if (c > 1_000_000) throw fail('range has more than 1000000 elements');
  }
  return out;
}

export function mergeObjects(a: RObject, b: RObject): RObject {
  const out = a.copy();
  for (const [k, v] of b.entries()) {
    const prev = out.get(k);
    if (prev instanceof RObject && v instanceof RObject) out.set(k, mergeObjects(prev, v));
    else out.set(k, v);
  }
  return out;
}

function objSubset(sup: RObject, sub: RObject): boolean {
  for (const [k, v] of sub.entries()) {
    const sv = sup.get(k);
    if (sv === undefined) return false;
    if (sv instanceof RObject && v instanceof RObject) {
      if (!objSubset(sv, v)) return false;
    } else if (sv instanceof RSet && v instanceof RSet) {
      if (![...v.values()].every((x) => sv.has(x))) return false;
    } else if (Array.isArray(sv) && Array.isArray(v)) {
      if (!arraySubseq(sv as readonly Value[], v as readonly Value[])) return false;
    } else if (!equal(sv, v)) return false;
  }
  return true;
}

function arraySubseq(sup: readonly Value[], sub: readonly Value[]): boolean {
  if (sub.length === 0) return true;
  for (let i = 0; i + sub.length <= sup.length; i++) {
    let ok = true;
    for (let j = 0; j < sub.length; j++) {
      if (!equal(sup[i + j] as Value, sub[j] as Value)) {
        ok = false;
        break;
      }
    }
    if (ok) return true;
  }
  return false;
}

function jsonPaths(a: Value[], i: number, _name: string): Value[][] {
  const v = a[i] as Value;
  let items: Value[];
  if (Array.isArray(v)) items = [...(v as readonly Value[])];
  else if (v instanceof RSet) items = [...v.values()];
  else throw new BuiltinError(`operand ${i + 1} must be one of {set, array} but got ${typeName(v)}`, 'eval_type_error');
  return items.map((p) => {
    if (typeof p === 'string') {
      const s = p.replace(/^\//, '');
      if (s === '') return [];
      return s.split('/').map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'));
    }
    if (Array.isArray(p)) return [...(p as readonly Value[])];
    throw new BuiltinError(`operand ${i + 1} must be one of {set, array} containing string paths or array of path segments but got ${typeName(p)}`, 'eval_type_error');
  });
}

interface PathTrie {
  end: boolean;
  kids: Map<string, { key: Value; node: PathTrie }>;
}

function filterPaths(o: Value, paths: Value[][]): Value {
  const root: PathTrie = { end: false, kids: new Map() };
  for (const p of paths) {
    let cur = root;
    for (const seg of p) {
      const k = keyOf(seg);
      let nx = cur.kids.get(k);
      if (nx === undefined) {
        nx = { key: seg, node: { end: false, kids: new Map() } };
        cur.kids.set(k, nx);
      }
      cur = nx.node;
    }
    cur.end = true;
  }
  return applyFilter(o, root) ?? new RObject();
}

function applyFilter(v: Value, t: PathTrie): Value | undefined {
  if (t.end) return v;
  if (v instanceof RObject) {
    const out = new RObject();
    for (const { key, node } of t.kids.values()) {
      const x = v.get(key);
      if (x === undefined) continue;
      const f = applyFilter(x, node);
      if (f !== undefined) out.set(key, f);
    }
    return out;
  }
  if (Array.isArray(v)) {
    const arrv = v as readonly Value[];
    const out: Value[] = [];
    for (const { key, node } of [...t.kids.values()].sort((p, q) => compare(idxOf(p.key), idxOf(q.key)))) {
      const i = idxOf(key);
      if (!(i instanceof Num)) continue;
      const x = arrv[i.toSafeInt() ?? -1];
      if (x === undefined) continue;
      const f = applyFilter(x, node);
      if (f !== undefined) out.push(f);
    }
    return out;
  }
  if (v instanceof RSet) {
    const out = new RSet();
    for (const { key, node } of t.kids.values()) {
      if (!v.has(key)) continue;
      const f = applyFilter(key, node);
      if (f !== undefined) out.add(f);
    }
    return out;
  }
  return undefined;
}

function idxOf(k: Value): Value {
  if (typeof k === 'string' && /^\d+$/.test(k)) return Num.int(BigInt(k));
  return k;
}

function removePath(v: Value, path: Value[]): Value {
  if (path.length === 0) return v;
  const [head, ...rest] = path as [Value, ...Value[]];
  if (v instanceof RObject) {
    const x = v.get(head);
    if (x === undefined) return v;
    const out = v.copy();
    if (rest.length === 0) out.delete(head);
    else out.set(head, removePath(x, rest));
    return out;
  }
  if (Array.isArray(v)) {
    const arrv: readonly Value[] = v as readonly Value[];
    const i = idxOf(head);
    if (!(i instanceof Num)) return arrv;
    const ii = i.toSafeInt();
    if (ii === undefined || ii < 0 || ii >= arrv.length) return arrv;
    if (rest.length === 0) return arrv.filter((_, j) => j !== ii);
    return arrv.map((x, j): Value => (j === ii ? removePath(x, rest) : x));
  }
  if (v instanceof RSet) {
    if (!v.has(head)) return v;
    if (rest.length === 0) return RSet.from([...v.values()].filter((x) => !equal(x, head)));
    return RSet.from([...v.values()].map((x) => (equal(x, head) ? removePath(x, rest) : x)));
  }
  return v;
}

export function jsonText(v: Value): string {
  return toJSON(v);
}
