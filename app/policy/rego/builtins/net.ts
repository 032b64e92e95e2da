/** net.cidr_* builtins (IPv4 and IPv6). Network lookups are refused elsewhere. */
import { RObject, RSet, type Value } from '../value.ts';
import { def, fail, n, str, typeErr, type Registry } from './util.ts';

export interface Net {
  readonly v6: boolean;
  readonly addr: bigint;
  readonly bits: number;
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let x = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p.startsWith('0'))) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    x = (x << 8n) | BigInt(v);
  }
  return x;
}

function parseV6(s: string): bigint | undefined {
  if (s.includes('%')) return undefined;
  let tail: bigint | undefined;
  let str6 = s;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    tail = parseV4(s.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    str6 = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const dbl = str6.split('::');
  if (dbl.length > 2) return undefined;
  const head = dbl[0] === '' ? [] : (dbl[0] ?? '').split(':');
  const rest = dbl.length === 2 ? (dbl[1] === '' ? [] : (dbl[1] ?? '').split(':')) : [];
  const groups = dbl.length === 2 ? [...head, ...new Array<string>(8 - head.length - rest.length).fill('0'), ...rest] : head;
  if (groups.length !== 8) return undefined;
  let x = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    x = (x << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail !== undefined) x = (x & ~0xffffffffn) | tail;
  return x;
}

export function parseIP(s: string): { v6: boolean; addr: bigint } | undefined {
  const v4 = parseV4(s);
  if (v4 !== undefined) return { v6: false, addr: v4 };
  const v6 = parseV6(s);
  if (v6 !== undefined) return { v6: true, addr: v6 };
  return undefined;
}

export function parseCIDR(s: string): Net | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const bitsS = s.slice(slash + 1);
  if (ip === undefined || !/^\d+$/.test(bitsS)) return undefined;
  const bits = Number(bitsS);
  const max = ip.v6 ? 128 : 32;
  if (bits > max) return undefined;
  return { v6: ip.v6, addr: ip.addr & mask(bits, max), bits };
}

function mask(bits: number, max: number): bigint {
  const all = (1n << BigInt(max)) - 1n;
  return all ^ ((1n << BigInt(max - bits)) - 1n);
}

function formatIP(v6: boolean, a: bigint): string {
  if (!v6) return [24n, 16n, 8n, 0n].map((s) => String((a >> s) & 255n)).join('.');
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((a >> BigInt(i * 16)) & 0xffffn));
  // longest run of zeros (length >= 2) becomes ::
  let bestS = -1;
  let bestL = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestL && j - i >= 2) {
      bestS = i;
      bestL = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestS < 0) return hex.join(':');
  return `${hex.slice(0, bestS).join(':')}::${hex.slice(bestS + bestL).join(':')}`;
}

function cidrOrIP(s: string): Net | undefined {
  const c = parseCIDR(s);
  if (c !== undefined) return c;
  const ip = parseIP(s);
  if (ip === undefined) return undefined;
  return { v6: ip.v6, addr: ip.addr, bits: ip.v6 ? 128 : 32 };
}

function contains(a: Net, b: Net): boolean {
  if (a.v6 !== b.v6) return false;
  const max = a.v6 ? 128 : 32;
  if (b.bits < a.bits) return false;
  return (b.addr & mask(a.bits, max)) === a.addr;
}

export function cidrContains(cidr: string, x: string): boolean | undefined {
  const a = parseCIDR(cidr);
  const b = cidrOrIP(x);
  if (a === undefined || b === undefined) return undefined;
  return contains(a, b);
}

export function registerNet(reg: Registry): void {
  def(reg, 'net.cidr_contains', 2, (a) => {
    const c = str(a, 0);
    const x = str(a, 1);
    const net = parseCIDR(c);
    if (net === undefined) throw fail(`invalid CIDR address: ${c}`);
    const other = cidrOrIP(x);
    if (other === undefined) throw fail(`invalid CIDR or IP: ${x}`);
    return contains(net, other);
  });
  def(reg, 'net.cidr_intersects', 2, (a) => {
    const x = parseCIDR(str(a, 0));
    const y = parseCIDR(str(a, 1));
    if (x === undefined) throw fail(`invalid CIDR address: ${str(a, 0)}`);
    if (y === undefined) throw fail(`invalid CIDR address: ${str(a, 1)}`);
    return contains(x, y) || contains(y, x);
  });
  def(reg, 'net.cidr_is_valid', 1, (a) => {
    const v = a[0] as Value;
    return typeof v === 'string' && parseCIDR(v) !== undefined;
  });
  def(reg, 'net.cidr_expand', 1, (a) => {
    const s = str(a, 0);
    const c = parseCIDR(s);
    if (c === undefined) throw fail(`invalid CIDR address: ${s}`);
    const max = c.v6 ? 128 : 32;
    const count = 1n << BigInt(max - c.bits);
    if (count > 65536n) throw fail(`CIDR ${s} is too large to expand`);
    const out = new RSet();
    for (let i = 0n; i < count; i++) out.add(formatIP(c.v6, c.addr + i));
    return out;
  });
  def(reg, 'net.cidr_contains_matches', 2, (a) => {
    const xs = collection(a, 0);
    const ys = collection(a, 1);
    const out = new RSet();
    for (const [ki, ci] of xs) {
      const net = parseCIDR(ci);
      if (net === undefined) throw fail(`invalid CIDR address: ${ci}`);
      for (const [kj, cj] of ys) {
        const other = cidrOrIP(cj);
        if (other === undefined) throw fail(`invalid CIDR or IP: ${cj}`);
        if (contains(net, other)) out.add([ki, kj]);
      }
    }
    return out;
  });
  def(reg, 'net.cidr_merge', 1, (a) => {
    const v = a[0] as Value;
    let items: Value[];
    if (Array.isArray(v)) items = [...(v as readonly Value[])];
    else if (v instanceof RSet) items = [...v.values()];
    else throw typeErr(1, 'one of {array, set}', v);
    const nets: Net[] = [];
    for (const it of items) {
      if (typeof it !== 'string') throw typeErr(1, 'array of strings', v);
      const c = parseCIDR(it);
      if (c !== undefined) {
        nets.push(c);
        continue;
      }
      const ip = parseIP(it);
      if (ip === undefined) throw fail(`IPv${it.includes(':') ? '6' : '4'} invalid: needs prefix length`);
      if (ip.v6) throw fail('IPv6 invalid: needs prefix length');
      // Go's classful default mask for a bare IPv4 address
      const first = Number(ip.addr >> 24n);
      const bits = first < 128 ? 8 : first < 192 ? 16 : first < 224 ? 24 : -1;
      if (bits < 0) throw fail('IPv4 invalid: needs prefix length');
      nets.push({ v6: false, addr: ip.addr & mask(bits, 32), bits });
    }
    const out = new RSet();
    for (const fam of [false, true]) {
      for (const m of merge(nets.filter((x) => x.v6 === fam))) out.add(`${formatIP(m.v6, m.addr)}/${m.bits}`);
    }
    return out;
  });
  void RObject;
  void n;
}

function collection(a: Value[], i: number): [Value, string][] {
  const v = a[i] as Value;
  if (typeof v === 'string') return [[v, v]];
  const out: [Value, string][] = [];
  const take = (k: Value, x: Value): void => {
    if (typeof x === 'string') out.push([k, x]);
    else if (Array.isArray(x) && typeof (x as readonly Value[])[0] === 'string') out.push([k, (x as readonly Value[])[0] as string]);
    else throw typeErr(i + 1, 'string', x);
  };
  if (Array.isArray(v)) (v as readonly Value[]).forEach((x, j) => take(n(j), x));
  else if (v instanceof RSet) for (const x of v.values()) take(x, x);
  else if (v instanceof RObject) for (const [k, x] of v.entries()) take(k, x);
  else throw typeErr(i + 1, 'one of {string, array, set, object}', v);
  return out;
}

function merge(nets: Net[]): Net[] {
  if (nets.length === 0) return [];
  const max = nets[0]?.v6 === true ? 128 : 32;
  // remove contained networks, then repeatedly join siblings
  let list = [...nets].sort((x, y) => (x.addr < y.addr ? -1 : x.addr > y.addr ? 1 : x.bits - y.bits));
  const kept: Net[] = [];
  for (const x of list) {
    const last = kept[kept.length - 1];
    if (last !== undefined && contains(last, x)) continue;
    kept.push(x);
  }
  list = kept;
  let changed = true;
  while (changed) {
    changed = false;
    const out: Net[] = [];
    for (const x of list) {
      const last = out[out.length - 1];
      if (last !== undefined && last.bits === x.bits && last.bits > 0) {
        const parentBits = last.bits - 1;
        const pm = mask(parentBits, max);
        if ((last.addr & pm) === (x.addr & pm) && last.addr !== x.addr) {
          out[out.length - 1] = { v6: x.v6, addr: last.addr & pm, bits: parentBits };
          changed = true;
          continue;
        }
      }
      if (last !== undefined && contains(last, x)) continue;
      out.push(x);
    }
    list = out;
  }
  return list;
}
