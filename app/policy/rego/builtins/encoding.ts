/** Encoding builtins: base64, base64url, hex, urlquery, json. */
import { BuiltinError } from '../errors.ts';
import { Num } from '../number.ts';
import { RObject, RSet, equal, toJSON, typeName, type Value } from '../value.ts';
import { arr, bool, def, fail, fromUtf8, obj, str, typeErr, utf8, type Registry } from './util.ts';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function b64encode(bytes: Uint8Array, alphabet = B64, pad = true): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i] ?? 0;
    const b1 = bytes[i + 1];
    const b2 = bytes[i + 2];
    const x = (b0 << 16) | ((b1 ?? 0) << 8) | (b2 ?? 0);
    out += alphabet[(x >> 18) & 63] ?? '';
    out += alphabet[(x >> 12) & 63] ?? '';
    out += b1 === undefined ? (pad ? '=' : '') : (alphabet[(x >> 6) & 63] ?? '');
    out += b2 === undefined ? (pad ? '=' : '') : (alphabet[x & 63] ?? '');
  }
  return out;
}

/** Strict decoding (Go StdEncoding / URLEncoding); `padOptional` accepts unpadded input. Returns undefined if invalid. */
export function b64decode(s: string, alphabet = B64, padOptional = false): Uint8Array | undefined {
  let t = s.replace(/[\r\n]/g, '');
  if (padOptional && t.length % 4 !== 0) t += '='.repeat((4 - (t.length % 4)) % 4);
  if (t.length % 4 !== 0) return undefined;
  const out: number[] = [];
  for (let i = 0; i < t.length; i += 4) {
    const cs = t.slice(i, i + 4);
    const vals: number[] = [];
    let padCount = 0;
    for (let j = 0; j < 4; j++) {
      const ch = cs[j] ?? '';
      if (ch === '=') {
        if (i + 4 !== t.length || j < 2) return undefined;
        padCount++;
        vals.push(0);
        continue;
      }
      if (padCount > 0) return undefined;
      const v = alphabet.indexOf(ch);
      if (v < 0) return undefined;
      vals.push(v);
    }
    const x = ((vals[0] ?? 0) << 18) | ((vals[1] ?? 0) << 12) | ((vals[2] ?? 0) << 6) | (vals[3] ?? 0);
    out.push((x >> 16) & 255);
    if (padCount < 2) out.push((x >> 8) & 255);
    if (padCount < 1) out.push(x & 255);
  }
  return new Uint8Array(out);
}

export function b64urlDecodeLoose(s: string): Uint8Array | undefined {
  return b64decode(s, B64URL, true);
}

export function b64urlEncodeNoPad(b: Uint8Array): string {
  return b64encode(b, B64URL, false);
}

export function hexEncode(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

function hexDecode(s: string): Uint8Array | undefined {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Go url.QueryEscape. */
export function queryEscape(s: string): string {
  let out = '';
  for (const b of utf8(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function queryUnescape(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? '';
    if (c === '%') {
      const h = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) throw fail(`invalid URL escape "${s.slice(i, i + 3)}"`);
      bytes.push(parseInt(h, 16));
      i += 2;
    } else if (c === '+') bytes.push(32);
    else for (const b of utf8(c)) bytes.push(b);
  }
  return fromUtf8(new Uint8Array(bytes));
}

/** Parses JSON text into a Rego value with exact numbers. */
export function parseJSON(text: string): Value {
  const p = new JsonParser(text);
  const v = p.value();
  p.ws();
  if (p.i !== text.length) throw new Error('invalid character after top-level value');
  return v;
}

class JsonParser {
  i = 0;
  constructor(private readonly s: string) {}
  ws(): void {
    while (this.i < this.s.length && ' \t\n\r'.includes(this.s[this.i] ?? '')) this.i++;
  }
  value(): Value {
    this.ws();
    const c = this.s[this.i];
    if (c === '{') {
      this.i++;
      const o = new RObject();
      this.ws();
      if (this.s[this.i] === '}') {
        this.i++;
        return o;
      }
      for (;;) {
        this.ws();
        if (this.s[this.i] !== '"') throw new Error('expected string key');
        const k = this.string();
        this.ws();
        if (this.s[this.i] !== ':') throw new Error('expected :');
        this.i++;
        o.set(k, this.value());
        this.ws();
        if (this.s[this.i] === ',') {
          this.i++;
          continue;
        }
        if (this.s[this.i] === '}') {
          this.i++;
          return o;
        }
        throw new Error('expected , or }');
      }
    }
    if (c === '[') {
      this.i++;
      const a: Value[] = [];
      this.ws();
      if (this.s[this.i] === ']') {
        this.i++;
        return a;
      }
      for (;;) {
        a.push(this.value());
        this.ws();
        if (this.s[this.i] === ',') {
          this.i++;
          continue;
        }
        if (this.s[this.i] === ']') {
          this.i++;
          return a;
        }
        throw new Error('expected , or ]');
      }
    }
    if (c === '"') return this.string();
    if (this.s.startsWith('true', this.i)) {
      this.i += 4;
      return true;
    }
    if (this.s.startsWith('false', this.i)) {
      this.i += 5;
      return false;
    }
    if (this.s.startsWith('null', this.i)) {
      this.i += 4;
      return null;
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.i, this.i + 1000));
    if (m === null) throw new Error(`invalid character ${JSON.stringify(c ?? '')} looking for beginning of value`);
    this.i += m[0].length;
    const n = Num.parse(m[0]);
    if (n === undefined) throw new Error('bad number');
    return n;
  }
  string(): string {
    const start = this.i;
    this.i++;
    let esc = false;
    while (this.i < this.s.length) {
      const c = this.s[this.i];
      if (esc) esc = false;
      else if (c === '\\') esc = true;
      else if (c === '"') break;
      this.i++;
    }
    if (this.i >= this.s.length) throw new Error('unterminated string');
    this.i++;
    return JSON.parse(this.s.slice(start, this.i)) as string;
  }
}

function marshalIndent(v: Value, prefix: string, indent: string, level: number): string {
  const nl = (l: number): string => `\n${prefix}${indent.repeat(l)}`;
  if (Array.isArray(v) || v instanceof RSet) {
    const items = v instanceof RSet ? v.sorted() : (v as readonly Value[]);
    if (items.length === 0) return '[]';
    return `[${items.map((x) => nl(level + 1) + marshalIndent(x, prefix, indent, level + 1)).join(',')}${nl(level)}]`;
  }
  if (v instanceof RObject) {
    if (v.size === 0) return '{}';
    const entries = v.sorted().map(([k, x]) => [typeof k === 'string' ? k : toJSON(k), x] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return `{${entries.map(([k, x]) => `${nl(level + 1)}${JSON.stringify(k)}: ${marshalIndent(x, prefix, indent, level + 1)}`).join(',')}${nl(level)}}`;
  }
  return toJSON(v);
}

export function registerEncoding(reg: Registry): void {
  def(reg, 'base64.encode', 1, (a) => b64encode(utf8(str(a, 0))));
  def(reg, 'base64.decode', 1, (a) => {
    const b = b64decode(str(a, 0));
    if (b === undefined) throw fail('illegal base64 data at input byte 0');
    return fromUtf8(b);
  });
  def(reg, 'base64.is_valid', 1, (a) => b64decode(str(a, 0)) !== undefined);
  def(reg, 'base64url.encode', 1, (a) => b64encode(utf8(str(a, 0)), B64URL, true));
  def(reg, 'base64url.encode_no_pad', 1, (a) => b64encode(utf8(str(a, 0)), B64URL, false));
  def(reg, 'base64url.decode', 1, (a) => {
    const b = b64decode(str(a, 0), B64URL, true);
    if (b === undefined) throw fail('illegal base64 data at input byte 0');
    return fromUtf8(b);
  });
  def(reg, 'hex.encode', 1, (a) => hexEncode(utf8(str(a, 0))));
  def(reg, 'hex.decode', 1, (a) => {
    const s = str(a, 0);
    const b = hexDecode(s);
    if (b === undefined) {
      const bad = [...s].findIndex((c) => !/[0-9a-fA-F]/.test(c));
      if (bad >= 0) throw fail(`encoding/hex: invalid byte: U+${(s.codePointAt(bad) ?? 0).toString(16).toUpperCase().padStart(4, '0')} ${JSON.stringify(s[bad] ?? '').replace(/"/g, "'")}`);
      throw fail('encoding/hex: odd length hex string');
    }
    return fromUtf8(b);
  });
  def(reg, 'urlquery.encode', 1, (a) => queryEscape(str(a, 0)));
  def(reg, 'urlquery.decode', 1, (a) => queryUnescape(str(a, 0)));
  def(reg, 'urlquery.encode_object', 1, (a) => {
    const o = obj(a, 0);
    const parts: string[] = [];
    const keys = o.keys().map((k) => {
      if (typeof k !== 'string') throw typeErr(1, 'object[string: string|array|set]', a[0] as Value);
      return k;
    });
    keys.sort();
    for (const k of keys) {
      const v = o.get(k) as Value;
      if (typeof v === 'string') parts.push(`${queryEscape(k)}=${queryEscape(v)}`);
      else if (Array.isArray(v) || v instanceof RSet) {
        for (const x of v instanceof RSet ? v.sorted() : (v as readonly Value[])) {
          if (typeof x !== 'string') throw typeErr(1, 'object[string: string|array|set]', a[0] as Value);
          parts.push(`${queryEscape(k)}=${queryEscape(x)}`);
        }
      } else throw typeErr(1, 'object[string: string|array|set]', a[0] as Value);
    }
    return parts.join('&');
  });
  def(reg, 'urlquery.decode_object', 1, (a) => {
    const s = str(a, 0);
    const o = new RObject();
    for (const part of s.split(/[&]/)) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const k = queryUnescape(eq < 0 ? part : part.slice(0, eq));
      const v = eq < 0 ? '' : queryUnescape(part.slice(eq + 1));
      const prev = o.get(k);
      o.set(k, [...(Array.isArray(prev) ? (prev as readonly Value[]) : []), v]);
    }
    return o;
  });
  def(reg, 'json.marshal', 1, (a) => toJSON(a[0] as Value));
  def(reg, 'json.marshal_with_options', 2, (a) => {
    const o = obj(a, 1);
    let prefix = '';
    let indent = '\t';
    let pretty = false;
    for (const [k, v] of o.entries()) {
      if (k === 'prefix') {
        if (typeof v !== 'string') throw typeErr(2, 'string', v);
        prefix = v;
        pretty = true;
      } else if (k === 'indent') {
        if (typeof v !== 'string') throw typeErr(2, 'string', v);
        indent = v;
        pretty = true;
      } else if (k === 'pretty') {
        if (typeof v !== 'boolean') throw typeErr(2, 'boolean', v);
        pretty = v;
      } else throw fail(`object contained unknown key ${typeof k === 'string' ? JSON.stringify(k) : toJSON(k)}`);
    }
    if (!pretty) return toJSON(a[0] as Value);
    return prefix + marshalIndent(a[0] as Value, prefix, indent, 0);
  });
  def(reg, 'json.unmarshal', 1, (a) => {
    try {
      return parseJSON(str(a, 0));
    } catch (e) {
      if (e instanceof BuiltinError) throw e;
      throw fail(e instanceof Error ? e.message : 'invalid JSON');
    }
  });
  def(reg, 'json.is_valid', 1, (a) => {
    const v = a[0] as Value;
    if (typeof v !== 'string') return false;
    try {
      parseJSON(v);
      return true;
    } catch {
      return false;
    }
  });
  def(reg, 'json.patch', 2, (a) => {
    let doc = a[0] as Value;
    for (const op of arr(a, 1)) {
      if (!(op instanceof RObject)) throw typeErr(2, 'array of objects', a[1] as Value);
      const r = applyPatch(doc, op);
      if (r === undefined) return undefined;
      doc = r;
    }
    return doc;
  });
  void bool;
  void typeName;
}

function pathOf(v: Value | undefined): Value[] | undefined {
  if (typeof v === 'string') {
    if (v === '') return [];
    return v
      .replace(/^\//, '')
      .split('/')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  }
  if (Array.isArray(v)) return [...(v as readonly Value[])];
  return undefined;
}

function getAt(doc: Value, path: Value[]): Value | undefined {
  let cur: Value | undefined = doc;
  for (const seg of path) {
    if (cur instanceof RObject) cur = cur.get(seg);
    else if (Array.isArray(cur)) {
      const i = typeof seg === 'string' && /^(0|[1-9]\d*)$/.test(seg) ? Number(seg) : seg instanceof Num ? (seg.toSafeInt() ?? -1) : -1;
      cur = (cur as readonly Value[])[i];
    } else if (cur instanceof RSet) cur = cur.has(seg) ? seg : undefined;
    else return undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

function modify(doc: Value, path: Value[], f: (parent: Value, last: Value) => Value | undefined): Value | undefined {
  if (path.length === 0) return undefined;
  const [head, ...rest] = path as [Value, ...Value[]];
  if (rest.length === 0) return f(doc, head);
  if (doc instanceof RObject) {
    const child = doc.get(head);
    if (child === undefined) return undefined;
    const nv = modify(child, rest, f);
    if (nv === undefined) return undefined;
    const o = doc.copy();
    o.set(head, nv);
    return o;
  }
  if (Array.isArray(doc)) {
    const arrv = doc as readonly Value[];
    const i = typeof head === 'string' && /^(0|[1-9]\d*)$/.test(head) ? Number(head) : head instanceof Num ? (head.toSafeInt() ?? -1) : -1;
    const child = arrv[i];
    if (child === undefined) return undefined;
    const nv = modify(child, rest, f);
    if (nv === undefined) return undefined;
    return arrv.map((x, j) => (j === i ? nv : x));
  }
  if (doc instanceof RSet) {
    if (!doc.has(head)) return undefined;
    const nv = modify(head, rest, f);
    if (nv === undefined) return undefined;
    return RSet.from([...doc.values()].map((x) => (equal(x, head) ? nv : x)));
  }
  return undefined;
}

function addAt(doc: Value, path: Value[], value: Value): Value | undefined {
  if (path.length === 0) return value;
  return modify(doc, path, (parent, last) => {
    if (parent instanceof RObject) {
      const o = parent.copy();
      o.set(last, value);
      return o;
    }
    if (Array.isArray(parent)) {
      const arrv = [...(parent as readonly Value[])];
      if (last === '-') {
        arrv.push(value);
        return arrv;
      }
      const i = typeof last === 'string' && /^(0|[1-9]\d*)$/.test(last) ? Number(last) : last instanceof Num ? (last.toSafeInt() ?? -1) : -1;
      if (i < 0 || i > arrv.length) return undefined;
      arrv.splice(i, 0, value);
      return arrv;
    }
    if (parent instanceof RSet) {
      if (!equal(last, value)) return undefined; // a set member's path segment is the member itself
      const s = RSet.from(parent.values());
      s.add(value);
      return s;
    }
    return undefined;
  });
}

function removeAt(doc: Value, path: Value[]): Value | undefined {
  return modify(doc, path, (parent, last) => {
    if (parent instanceof RObject) {
      if (!parent.has(last)) return undefined;
      const o = parent.copy();
      o.delete(last);
      return o;
    }
    if (Array.isArray(parent)) {
      const arrv = [...(parent as readonly Value[])];
      const i = typeof last === 'string' && /^(0|[1-9]\d*)$/.test(last) ? Number(last) : last instanceof Num ? (last.toSafeInt() ?? -1) : -1;
      if (i < 0 || i >= arrv.length) return undefined;
      arrv.splice(i, 1);
      return arrv;
    }
    if (parent instanceof RSet) {
      if (!parent.has(last)) return undefined;
      return RSet.from([...parent.values()].filter((x) => !equal(x, last)));
    }
    return undefined;
  });
}

function applyPatch(doc: Value, op: RObject): Value | undefined {
  const kind = op.get('op');
  const path = pathOf(op.get('path'));
  if (path === undefined) return undefined;
  switch (kind) {
    case 'add': {
      const v = op.get('value');
      if (v === undefined) return undefined;
      return addAt(doc, path, v);
    }
    case 'remove':
      return removeAt(doc, path);
    case 'replace': {
      const v = op.get('value');
      if (v === undefined) return undefined;
      if (getAt(doc, path) === undefined) return undefined;
      const r = removeAt(doc, path);
      if (r === undefined) return path.length === 0 ? v : undefined;
      return addAt(r, path, v);
    }
    case 'move': {
      const from = pathOf(op.get('from'));
      if (from === undefined) return undefined;
      const v = getAt(doc, from);
      if (v === undefined) return undefined;
      const r = removeAt(doc, from);
      if (r === undefined) return undefined;
      return addAt(r, path, v);
    }
    case 'copy': {
      const from = pathOf(op.get('from'));
      if (from === undefined) return undefined;
      const v = getAt(doc, from);
      if (v === undefined) return undefined;
      return addAt(doc, path, v);
    }
    case 'test': {
      const v = op.get('value');
      const cur = getAt(doc, path);
      if (v === undefined || cur === undefined || !equal(v, cur)) return undefined;
      return doc;
    }
    default:
      return undefined;
  }
}
