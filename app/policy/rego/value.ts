/**
 * Rego values: null, boolean, Num, string, arrays (JS arrays), objects (RObject) and sets (RSet), with OPA's total
 * order (null < boolean < number < string < array < object < set) and hashing by a canonical key.
 */
import { Num } from './number.ts';

export type Value = null | boolean | Num | string | readonly Value[] | RObject | RSet;

/** Canonical key: equal values (in Rego's sense) give equal keys. */
export function keyOf(v: Value): string {
  if (v === null) return 'n';
  if (v === true) return 't';
  if (v === false) return 'f';
  if (typeof v === 'string') return `s${v.length}:${v}`;
  if (v instanceof Num) return `#${v.key()}`;
  if (v instanceof RObject) return v.key();
  if (v instanceof RSet) return v.key();
  let s = '[';
  for (const x of v) s += `${keyOf(x)},`;
  return `${s}]`;
}

export class RObject {
  private readonly map = new Map<string, [Value, Value]>();
  private cachedKey: string | undefined;
  private sortedCache: [Value, Value][] | undefined;

  static from(entries: Iterable<readonly [Value, Value]>): RObject {
    const o = new RObject();
    for (const [k, v] of entries) o.set(k, v);
    return o;
  }

  get size(): number {
    return this.map.size;
  }

  get(k: Value): Value | undefined {
    return this.map.get(keyOf(k))?.[1];
  }

  has(k: Value): boolean {
    return this.map.has(keyOf(k));
  }

  /** Mutating insert: only for objects under construction. */
  set(k: Value, v: Value): void {
    this.map.set(keyOf(k), [k, v]);
    this.cachedKey = undefined;
    this.sortedCache = undefined;
  }

  delete(k: Value): void {
    this.map.delete(keyOf(k));
    this.cachedKey = undefined;
    this.sortedCache = undefined;
  }

  entries(): IterableIterator<[Value, Value]> {
    return this.map.values();
  }

  keys(): Value[] {
    return [...this.map.values()].map((e) => e[0]);
  }

  /** Entries sorted by key in OPA's order. */
  sorted(): [Value, Value][] {
    if (this.sortedCache === undefined) this.sortedCache = [...this.map.values()].sort((a, b) => compare(a[0], b[0]));
    return this.sortedCache;
  }

  copy(): RObject {
    const o = new RObject();
    for (const [k, v] of this.map.values()) o.set(k, v);
    return o;
  }

  key(): string {
    if (this.cachedKey === undefined) {
      const parts = [...this.map.entries()].map(([k, e]) => `${k}=${keyOf(e[1])}`).sort();
      this.cachedKey = `{${parts.join(',')}}`;
    }
    return this.cachedKey;
  }
}

export class RSet {
  private readonly map = new Map<string, Value>();
  private cachedKey: string | undefined;
  private sortedCache: Value[] | undefined;

  static from(items: Iterable<Value>): RSet {
    const s = new RSet();
    for (const v of items) s.add(v);
    return s;
  }

  get size(): number {
    return this.map.size;
  }

  has(v: Value): boolean {
    return this.map.has(keyOf(v));
  }

  add(v: Value): void {
    const k = keyOf(v);
    if (this.map.has(k)) return;
    this.map.set(k, v);
    this.cachedKey = undefined;
    this.sortedCache = undefined;
  }

  values(): IterableIterator<Value> {
    return this.map.values();
  }

  sorted(): Value[] {
    if (this.sortedCache === undefined) this.sortedCache = [...this.map.values()].sort(compare);
    return this.sortedCache;
  }

  key(): string {
    if (this.cachedKey === undefined) this.cachedKey = `<${[...this.map.keys()].sort().join(',')}>`;
    return this.cachedKey;
  }
}

export function isArray(v: Value | undefined): v is readonly Value[] {
  return Array.isArray(v);
}

export type TypeName = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object' | 'set';

export function typeName(v: Value): TypeName {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'string') return 'string';
  if (v instanceof Num) return 'number';
  if (v instanceof RObject) return 'object';
  if (v instanceof RSet) return 'set';
  return 'array';
}

const RANK: Record<TypeName, number> = { null: 0, boolean: 1, number: 2, string: 3, array: 4, object: 5, set: 6 };

export function compare(a: Value, b: Value): number {
  const ta = typeName(a);
  const tb = typeName(b);
  if (ta !== tb) return RANK[ta] - RANK[tb];
  switch (ta) {
    case 'null':
      return 0;
    case 'boolean':
      return a === b ? 0 : a === false ? -1 : 1;
    case 'number':
      return (a as Num).cmp(b as Num);
    case 'string':
      return cmpStr(a as string, b as string);
    case 'array': {
      const x = a as readonly Value[];
      const y = b as readonly Value[];
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compare(x[i] as Value, y[i] as Value);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    case 'object': {
      const x = (a as RObject).sorted();
      const y = (b as RObject).sorted();
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const ex = x[i] as [Value, Value];
        const ey = y[i] as [Value, Value];
        const c = compare(ex[0], ey[0]);
        if (c !== 0) return c;
        const d = compare(ex[1], ey[1]);
        if (d !== 0) return d;
      }
      return x.length - y.length;
    }
    case 'set': {
      const x = (a as RSet).sorted();
      const y = (b as RSet).sorted();
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compare(x[i] as Value, y[i] as Value);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
  }
}

/** Byte-wise (UTF-8 order) string comparison, as Go compares strings. */
export function cmpStr(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) {
      // surrogates (>= 0xD800) encode code points above U+FFFF, which sort after U+E000..U+FFFF in UTF-8
      const sa = ca >= 0xd800 && ca <= 0xdfff;
      const sb = cb >= 0xd800 && cb <= 0xdfff;
      if (sa !== sb) return sa ? (cb >= 0xe000 ? 1 : 1) : -1;
      return ca - cb;
    }
  }
  return a.length - b.length;
}

export function equal(a: Value, b: Value): boolean {
  if (a === b) return true;
  const ta = typeName(a);
  if (ta !== typeName(b)) return false;
  if (ta === 'string' || ta === 'boolean' || ta === 'null') return false;
  if (ta === 'number') return (a as Num).eq(b as Num);
  return keyOf(a) === keyOf(b);
}

/** Converts JSON-shaped JS data (as from JSON.parse or a YAML loader) to a Rego value. */
export function fromJS(x: unknown): Value {
  if (x === null || x === undefined) return null;
  if (typeof x === 'boolean' || typeof x === 'string') return x;
  if (typeof x === 'number') return Num.fromDouble(x) ?? null;
  if (typeof x === 'bigint') return Num.int(x);
  if (x instanceof Num || x instanceof RObject || x instanceof RSet) return x;
  if (Array.isArray(x)) return x.map(fromJS);
  if (x instanceof Map) {
    const o = new RObject();
    for (const [k, v] of x as Map<unknown, unknown>) o.set(fromJS(k), fromJS(v));
    return o;
  }
  if (x instanceof Set) return RSet.from([...(x as Set<unknown>)].map(fromJS));
  if (typeof x === 'object') {
    const o = new RObject();
    for (const [k, v] of Object.entries(x)) o.set(k, fromJS(v));
    return o;
  }
  return null;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** Converts to plain JSON data: sets become sorted arrays, non-string keys are serialized. */
export function toJS(v: Value): JsonValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (v instanceof Num) return v.toNumber();
  if (v instanceof RSet) return v.sorted().map(toJS);
  if (v instanceof RObject) {
    const out: { [k: string]: JsonValue } = {};
    for (const [k, x] of v.sorted()) out[typeof k === 'string' ? k : toJSON(k)] = toJS(x);
    return out;
  }
  return v.map(toJS);
}

/** JSON text with exact numbers (sets as sorted arrays). */
export function toJSON(v: Value): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return jsonString(v);
  if (v instanceof Num) return v.toString();
  if (v instanceof RSet) return `[${v.sorted().map(toJSON).join(',')}]`;
  if (v instanceof RObject) {
    return `{${v
      .sorted()
      .map(([k, x]) => `${jsonString(typeof k === 'string' ? k : toJSON(k))}:${toJSON(x)}`)
      .join(',')}}`;
  }
  return `[${v.map(toJSON).join(',')}]`;
}

/** Go encoding/json style string escaping (escapes <, >, & like Go). */
export function jsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i] ?? '';
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Rego's textual form of a value (sets as {…}, empty set as set()). */
export function toRegoString(v: Value): string {
  if (v === null || typeof v === 'boolean' || v instanceof Num) return toJSON(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof RSet) return v.size === 0 ? 'set()' : `{${v.sorted().map(toRegoString).join(', ')}}`;
  if (v instanceof RObject) return `{${v.sorted().map(([k, x]) => `${toRegoString(k)}: ${toRegoString(x)}`).join(', ')}}`;
  return `[${v.map(toRegoString).join(', ')}]`;
}

export function num(n: number | bigint): Num {
  return Num.int(n);
}

export { Num };
