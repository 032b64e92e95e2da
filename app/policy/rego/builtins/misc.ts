/** units, semver, uuid, crypto digests and HMACs, walk, graph, rand, array.flatten. */
import { hmac } from '@noble/hashes/hmac.js';
import { md5, sha1 } from '@noble/hashes/legacy.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { randomBytes } from '../../../crypto/random.ts';
import { BuiltinError } from '../errors.ts';
import { Num } from '../number.ts';
import { RObject, RSet, compare, keyOf, typeName, type Value } from '../value.ts';
import { hexEncode } from './encoding.ts';
import { arr, def, fail, int, n, obj, str, typeErr, utf8, type Registry } from './util.ts';

const DEC: Record<string, number> = { k: 3, m: 6, g: 9, t: 12, p: 15, e: 18 };
const BIN: Record<string, number> = { ki: 10, mi: 20, gi: 30, ti: 40, pi: 50, ei: 60 };

function splitAmount(s: string, name: string, what: string): [Num, string] {
  const x = s.replace(/"/g, '');
  if (/\s/.test(x)) throw fail(`${name}: spaces not allowed in resource strings`);
  const m = /^-?[0-9.]*(?:[eE][+-]?\d+)?/.exec(x);
  const numS = m?.[0] ?? '';
  if (numS === '') throw fail(`${name}: no ${what} provided`);
  const num = Num.parse(numS);
  if (num === undefined) throw fail(`${name}: could not parse ${what.replace(/^no /, '')} to a number`);
  return [num, x.slice(numS.length)];
}

export function registerMisc(reg: Registry): void {
  def(reg, 'units.parse', 1, (a) => {
    const x = str(a, 0).replace(/"/g, '');
    if (/\s/.test(x)) throw fail('spaces not allowed in resource strings');
    const m = /^-?[0-9.]*(?:[eE][+-]?\d+)?/.exec(x);
    const numS = m?.[0] ?? '';
    if (numS === '' || numS === '-') throw fail('no amount provided');
    const num = Num.parse(numS);
    if (num === undefined) throw fail('could not parse amount to a number');
    const unit = x.slice(numS.length);
    if (unit === '') return num;
    if (unit === 'm') return num.mul(Num.of(1n, -3));
    const lu = unit.toLowerCase();
    const b = BIN[lu];
    if (b !== undefined) return num.mul(Num.int(1n << BigInt(b)));
    const d = DEC[lu];
    if (d !== undefined && unit.length === 1) return num.mul(Num.of(1n, d));
    throw fail(`unit not recognized`);
  });
  def(reg, 'units.parse_bytes', 1, (a) => {
    const x = str(a, 0).replace(/"/g, '');
    if (/\s/.test(x)) throw fail('spaces not allowed in resource strings');
    const m = /^-?[0-9.]*(?:[eE][+-]?\d+)?/.exec(x);
    const numS = m?.[0] ?? '';
    if (numS === '') throw fail('no byte amount provided');
    const num = Num.parse(numS);
    if (num === undefined) throw fail('could not parse byte amount to a number');
    const unit = x.slice(numS.length).toLowerCase();
    let mult: Num;
    if (unit === '' || unit === 'b') mult = Num.int(1);
    else if (BIN[unit.replace(/b$/, '')] !== undefined && unit.includes('i')) mult = Num.int(1n << BigInt(BIN[unit.replace(/b$/, '')] ?? 0));
    else if (DEC[unit.replace(/b$/, '')] !== undefined && unit.replace(/b$/, '').length === 1) mult = Num.of(1n, DEC[unit.replace(/b$/, '')] ?? 0);
    else throw fail(`byte unit ${x.slice(numS.length)} not recognized`);
    return num.mul(mult).floor();
  });
  void splitAmount;

  def(reg, 'semver.is_valid', 1, (a) => {
    const v = a[0] as Value;
    return typeof v === 'string' && parseSemver(v) !== undefined;
  });
  def(reg, 'semver.compare', 2, (a) => {
    const x = parseSemver(str(a, 0));
    const y = parseSemver(str(a, 1));
    if (x === undefined) throw fail(`operand 1: string ${JSON.stringify(str(a, 0))} is not a valid SemVer`);
    if (y === undefined) throw fail(`operand 2: string ${JSON.stringify(str(a, 1))} is not a valid SemVer`);
    return n(cmpSemver(x, y));
  });

  def(reg, 'uuid.rfc4122', 1, (a, ctx) => {
    const key = `uuid.rfc4122:${str(a, 0)}`;
    const hit = ctx.memo.get(key);
    if (hit !== undefined) return hit;
    const b = randomBytes(16);
    b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
    b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
    const h = hexEncode(b);
    const id = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    ctx.memo.set(key, id);
    return id;
  });
  def(reg, 'uuid.parse', 1, (a) => parseUUID(str(a, 0)));

  const digest = (name: string, f: (b: Uint8Array) => Uint8Array): void => def(reg, name, 1, (a) => hexEncode(f(utf8(str(a, 0)))));
  digest('crypto.md5', md5);
  digest('crypto.sha1', sha1);
  digest('crypto.sha256', sha256);
  const mac = (name: string, h: Parameters<typeof hmac>[0]): void => def(reg, name, 2, (a) => hexEncode(hmac(h, utf8(str(a, 1)), utf8(str(a, 0)))));
  mac('crypto.hmac.md5', md5);
  mac('crypto.hmac.sha1', sha1);
  mac('crypto.hmac.sha256', sha256);
  mac('crypto.hmac.sha512', sha512);
  def(reg, 'crypto.hmac.equal', 2, (a) => {
    const x = utf8(str(a, 0));
    const y = utf8(str(a, 1));
    if (x.length !== y.length) return false;
    let d = 0;
    for (let i = 0; i < x.length; i++) d |= (x[i] ?? 0) ^ (y[i] ?? 0);
    return d === 0;
  });

  reg.set('walk', {
    arity: 1,
    multi: (a) => {
      const out: Value[] = [];
      const go = (path: Value[], v: Value): void => {
        out.push([path, v]);
        if (out.length > 1_000_000) throw fail('walk: too many nodes');
        if (Array.isArray(v)) (v as readonly Value[]).forEach((x, i) => go([...path, n(i)], x));
        else if (v instanceof RObject) for (const [k, x] of v.sorted()) go([...path, k], x);
        else if (v instanceof RSet) for (const x of v.sorted()) go([...path, x], x);
      };
      go([], a[0] as Value);
      return out;
    },
  });

  def(reg, 'graph.reachable', 2, (a) => {
    const g = obj(a, 0);
    const start = rootsOf(a[1] as Value);
    const seen = new RSet();
    const queue = [...start];
    while (queue.length > 0) {
      const x = queue.shift() as Value;
      if (seen.has(x)) continue;
      const edges = g.get(x);
      if (edges === undefined) continue;
      seen.add(x);
      for (const y of edgesOf(edges)) if (!seen.has(y)) queue.push(y);
    }
    return seen;
  });
  def(reg, 'graph.reachable_paths', 2, (a) => {
    const g = obj(a, 0);
    const out = new RSet();
    // depth-first with a global set of reached nodes: a path ends at a leaf, or where it meets a reached node
    // (which is kept on the path when it is itself a leaf)
    const reached = new Set<string>();
    const isLeaf = (y: Value): boolean => {
      const e = g.get(y);
      return e === undefined || edgesOf(e).every((z) => g.get(z) === undefined);
    };
    const go = (node: Value, path: Value[]): void => {
      const edges = g.get(node);
      if (edges === undefined) {
        if (path.length > 0) out.add(path);
        return;
      }
      const next = [...path, node];
      reached.add(keyOf(node));
      const succ = edgesOf(edges);
      if (succ.length === 0) {
        out.add(next);
        return;
      }
      for (const y of succ) {
        if (!reached.has(keyOf(y))) go(y, next);
        else out.add(isLeaf(y) && g.get(y) !== undefined ? [...next, y] : next);
      }
    };
    for (const r of rootsOf(a[1] as Value)) go(r, []);
    return out;
  });
  def(reg, 'rand.intn', 2, (a, ctx) => {
    const key = `rand.intn:${str(a, 0)}:${int(a, 1)}`;
    const hit = ctx.memo.get(key);
    if (hit !== undefined) return hit;
    const m = int(a, 1);
    if (m === 0) return n(0);
    const b = randomBytes(6);
    let x = 0;
    for (const y of b) x = x * 256 + y;
    const r = n(x % Math.abs(m));
    ctx.memo.set(key, r);
    return r;
  });
  def(reg, 'array.flatten', 1, (a) => {
    const out: Value[] = [];
    for (const x of arr(a, 0)) {
      if (Array.isArray(x)) out.push(...(x as readonly Value[]));
      else out.push(x);
    }
    return out;
  });
  void BuiltinError;
  void compare;
  void typeName;
  void typeErr;
}

function rootsOf(v: Value): Value[] {
  if (Array.isArray(v)) return [...(v as readonly Value[])];
  if (v instanceof RSet) return v.sorted();
  throw typeErr(2, 'one of {array, set}', v);
}

function edgesOf(v: Value): Value[] {
  if (Array.isArray(v)) return [...(v as readonly Value[])];
  if (v instanceof RSet) return v.sorted();
  if (v instanceof RObject) return v.keys();
  return [];
}

interface Semver {
  major: bigint;
  minor: bigint;
  patch: bigint;
  pre: string[];
}

function parseSemver(s: string): Semver | undefined {
  const m = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/.exec(s);
  if (m === null) return undefined;
  return { major: BigInt(m[1] ?? '0'), minor: BigInt(m[2] ?? '0'), patch: BigInt(m[3] ?? '0'), pre: m[4] === undefined ? [] : m[4].split('.') };
}

function cmpSemver(a: Semver, b: Semver): number {
  for (const k of ['major', 'minor', 'patch'] as const) if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  if (a.pre.length === 0 && b.pre.length === 0) return 0;
  if (a.pre.length === 0) return 1;
  if (b.pre.length === 0) return -1;
  for (let i = 0; i < Math.max(a.pre.length, b.pre.length); i++) {
    const x = a.pre[i];
    const y = b.pre[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) {
      const d = BigInt(x) - BigInt(y);
      if (d !== 0n) return d < 0n ? -1 : 1;
    } else if (xn) return -1;
    else if (yn) return 1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function parseUUID(s0: string): Value | undefined {
  let s = s0;
  if (s.startsWith('urn:uuid:')) s = s.slice(9);
  if (s.startsWith('{') && s.endsWith('}')) s = s.slice(1, -1);
  let hex: string;
  if (/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s)) hex = s.replace(/-/g, '');
  else if (/^[0-9a-fA-F]{32}$/.test(s)) hex = s;
  else return undefined;
  hex = hex.toLowerCase();
  const b = (i: number): number => parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  const version = b(6) >> 4;
  const v8 = b(8);
  const variant = (v8 & 0xc0) === 0x80 ? 'RFC4122' : (v8 & 0xe0) === 0xc0 ? 'Microsoft' : (v8 & 0x80) === 0 ? 'Reserved' : 'Future';
  const o = new RObject();
  o.set('version', n(version));
  o.set('variant', variant);
  if (version === 1 || version === 2) {
    const timeLow = BigInt(`0x${hex.slice(0, 8)}`);
    const timeMid = BigInt(`0x${hex.slice(8, 12)}`);
    const timeHi = BigInt(`0x${hex.slice(12, 16)}`) & 0x0fffn;
    const t = (timeHi << 48n) | (timeMid << 32n) | timeLow;
    // 100ns intervals since 1582-10-15 to Unix ns
    const unixNs = (t - 0x01b21dd213814000n) * 100n;
    o.set('time', Num.int(unixNs));
    const clockSeq = ((b(8) & 0x3f) << 8) | b(9);
    o.set('clocksequence', n(version === 2 ? (b(8) & 0x3f) << 8 : clockSeq));
    const node = hex.slice(20).match(/../g) ?? [];
    o.set('nodeid', node.join('-'));
    const first = parseInt(node[0] ?? '0', 16);
    o.set('macvariables', `${(first & 2) !== 0 ? 'local' : 'global'}:${(first & 1) !== 0 ? 'multicast' : 'unicast'}`);
    if (version === 2) {
      const dom = b(9);
      o.set('domain', dom === 0 ? 'Person' : dom === 1 ? 'Group' : dom === 2 ? 'Org' : `Domain${dom}`);
      o.set('id', n(Number(timeLow)));
    }
  }
  return o;
}
