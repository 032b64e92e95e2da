/** regex.* (RE2 syntax translated to JavaScript RegExp) and glob.* builtins. */
import { RSet, type Value } from '../value.ts';
import { arr, def, fail, int, n, str, typeErr, type Registry } from './util.ts';

const cache = new Map<string, RegExp>();

/** Translates an RE2 pattern into a JavaScript RegExp (unicode mode); throws a builtin error if invalid. */
export function re2(pattern: string, global = false): RegExp {
  const key = `${global ? 'g' : ''}:${pattern}`;
  const hit = cache.get(key);
  if (hit !== undefined) {
    hit.lastIndex = 0;
    return hit;
  }
  let src = pattern;
  let flags = global ? 'gu' : 'u';
  const lead = /^\(\?([imsU]+)\)/.exec(src);
  if (lead !== null) {
    src = src.slice(lead[0].length);
    for (const f of lead[1] ?? '') if (f === 'i' || f === 'm' || f === 's') flags += f;
  }
  src = src
    .replace(/\(\?P</g, '(?<')
    .replace(/\\z/g, '$(?![\\s\\S])')
    .replace(/\\A/g, '^')
    .replace(/\[\[:alpha:\]\]/g, '[A-Za-z]')
    .replace(/\[\[:digit:\]\]/g, '[0-9]')
    .replace(/\[\[:alnum:\]\]/g, '[A-Za-z0-9]')
    .replace(/\[\[:space:\]\]/g, '[\\t\\n\\v\\f\\r ]')
    .replace(/\[\[:upper:\]\]/g, '[A-Z]')
    .replace(/\[\[:lower:\]\]/g, '[a-z]')
    .replace(/\[\[:punct:\]\]/g, '[!-\\/:-@\\[-`{-~]')
    .replace(/\[\[:xdigit:\]\]/g, '[0-9A-Fa-f]')
    .replace(/\[\[:word:\]\]/g, '[0-9A-Za-z_]');
  if (/\(\?[=!<][^P]/.test(src) && !/\(\?<[A-Za-z]/.test(src)) throw fail(`error parsing regexp: invalid or unsupported Perl syntax: \`${pattern.slice(pattern.indexOf('(?'), pattern.indexOf('(?') + 3)}\``);
  if (/\\[1-9]/.test(src)) throw fail(`error parsing regexp: invalid escape sequence: \`${/\\[1-9]/.exec(src)?.[0] ?? ''}\``);
  let re: RegExp;
  try {
    re = new RegExp(src, flags);
  } catch {
    try {
      re = new RegExp(src, flags.replace('u', ''));
    } catch (e) {
      throw fail(`error parsing regexp: ${e instanceof Error ? e.message : 'invalid'}`);
    }
  }
  if (cache.size > 500) cache.clear();
  cache.set(key, re);
  return re;
}

/** Go-style replacement expansion: $1, ${1}, $name, ${name}, $$. */
function expand(repl: string, m: RegExpExecArray): string {
  return repl.replace(/\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g, (_all, tok: string, braced: string | undefined, bare: string | undefined) => {
    if (tok === '$') return '$';
    const name = braced ?? bare ?? '';
    if (/^\d+$/.test(name)) return m[Number(name)] ?? '';
    return m.groups?.[name] ?? '';
  });
}

export function registerRegex(reg: Registry): void {
  def(reg, 'regex.match', 2, (a) => re2(str(a, 0)).test(str(a, 1)));
  def(reg, 're_match', 2, (a) => re2(str(a, 0)).test(str(a, 1)));
  def(reg, 'regex.is_valid', 1, (a) => {
    const p = a[0] as Value;
    if (typeof p !== 'string') return false;
    try {
      re2(p);
      return true;
    } catch {
      return false;
    }
  });
  def(reg, 'regex.split', 2, (a) => {
    const re = re2(str(a, 0), true);
    const s = str(a, 1);
    const out: Value[] = [];
    let last = 0;
    for (const m of s.matchAll(re)) {
      if (m[0] === '' && (m.index === 0 || m.index === s.length)) continue;
      out.push(s.slice(last, m.index));
      last = m.index + m[0].length;
    }
    out.push(s.slice(last));
    return out;
  });
  def(reg, 'regex.find_n', 3, (a) => {
    const re = re2(str(a, 0), true);
    const s = str(a, 1);
    const lim = int(a, 2);
    const out: Value[] = [];
    for (const m of s.matchAll(re)) {
      if (lim >= 0 && out.length >= lim) break;
      out.push(m[0]);
    }
    return out;
  });
  def(reg, 'regex.find_all_string_submatch_n', 3, (a) => {
    const re = re2(str(a, 0), true);
    const s = str(a, 1);
    const lim = int(a, 2);
    const out: Value[] = [];
    for (const m of s.matchAll(re)) {
      if (lim >= 0 && out.length >= lim) break;
      out.push([...m].map((x) => x ?? ''));
    }
    return out;
  });
  def(reg, 'regex.replace', 3, (a) => {
    const s = str(a, 0);
    const re = re2(str(a, 1), true);
    const repl = str(a, 2);
    return s.replace(re, (...args: unknown[]) => {
      const groups = args.filter((x): x is string | undefined => typeof x === 'string' || x === undefined);
      const named = args[args.length - 1];
      const m = Object.assign([...groups.slice(0, groups.length - 1)], { index: 0, input: s, groups: typeof named === 'object' ? (named as Record<string, string>) : undefined }) as unknown as RegExpExecArray;
      return expand(repl, m);
    });
  });
  def(reg, 'regex.template_match', 4, (a) => {
    const tpl = str(a, 0);
    const s = str(a, 1);
    const open = str(a, 2);
    const close = str(a, 3);
    let src = '^';
    let i = 0;
    while (i < tpl.length) {
      const o = tpl.indexOf(open, i);
      if (o < 0) {
        src += escapeRe(tpl.slice(i));
        break;
      }
      src += escapeRe(tpl.slice(i, o));
      const c = tpl.indexOf(close, o + open.length);
      if (c < 0) throw fail(`unbalanced braces in template`);
      src += `(?:${tpl.slice(o + open.length, c)})`;
      i = c + close.length;
    }
    src += '$';
    return re2(src).test(s);
  });
  def(reg, 'glob.quote_meta', 1, (a) => str(a, 0).replace(/[*?\\[\]{}]/g, (c) => `\\${c}`));
  def(reg, 'glob.match', 3, (a) => {
    const pattern = str(a, 0);
    const d = a[1] as Value;
    let delims: string[];
    if (d === null) delims = [];
    else if (Array.isArray(d)) {
      delims = (d as readonly Value[]).map((x) => {
        if (typeof x !== 'string') throw typeErr(2, 'array of strings', d);
        return x;
      });
      if (delims.length === 0) delims = ['.'];
    } else throw typeErr(2, 'array', d);
    return globRe(pattern, delims).test(str(a, 2));
  });
  void arr;
  void n;
  void RSet;
  registerGlobsMatch(reg);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

const globCache = new Map<string, RegExp>();

/** gobwas/glob semantics: * (no separators), ** (anything), ?, [..], [!..], {a,b}, \ escapes. */
export function globRe(pattern: string, delims: string[]): RegExp {
  const key = `${delims.join('\u0000')}\u0001${pattern}`;
  const hit = globCache.get(key);
  if (hit !== undefined) return hit;
  const sep = delims.map(escapeRe).join('');
  const notSep = sep === '' ? '[\\s\\S]' : `[^${sep}]`;
  let src = '';
  let depth = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '\\') {
      i++;
      src += escapeRe(pattern[i] ?? '');
    } else if (c === '*') {
      if (pattern[i + 1] === '*') {
        src += '[\\s\\S]*';
        i++;
      } else src += `${notSep}*`;
    } else if (c === '?') src += notSep;
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw fail('unexpected end of input');
      let body = pattern.slice(i + 1, end);
      const neg = body.startsWith('!');
      if (neg) body = body.slice(1);
      src += `[${neg ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else if (c === '{') {
      depth++;
      src += '(?:';
    } else if (c === '}' && depth > 0) {
      depth--;
      src += ')';
    } else if (c === ',' && depth > 0) src += '|';
    else src += escapeRe(c);
  }
  if (depth !== 0) throw fail('unexpected end of input');
  const re = new RegExp(`^${src}$`, 'u');
  if (globCache.size > 500) globCache.clear();
  globCache.set(key, re);
  return re;
}

// ------------------------------------------------------------------ regex.globs_match

interface CharSet {
  readonly any: boolean;
  readonly negate: boolean;
  readonly ranges: readonly (readonly [number, number])[];
}

interface GlobTok {
  readonly set: CharSet;
  readonly kind: 'one' | 'star' | 'opt';
}

function inSet(s: CharSet, c: number): boolean {
  if (s.any) return true;
  const hit = s.ranges.some(([lo, hi]) => c >= lo && c <= hi);
  return s.negate ? !hit : hit;
}

function overlap(a: CharSet, b: CharSet): boolean {
  const cands = new Set<number>();
  for (let c = 0; c < 128; c++) cands.add(c);
  for (const s of [a, b]) for (const [lo, hi] of s.ranges) for (const c of [lo, hi, lo + 1, hi - 1]) cands.add(c);
  for (const c of cands) if (c >= 0 && inSet(a, c) && inSet(b, c)) return true;
  return false;
}

/** Tokens of the glob-like regex dialect of regex.globs_match: literals, `.`, classes, `*`, `+`, `?`. */
function globTokens(p: string): GlobTok[] {
  const out: GlobTok[] = [];
  const chars = [...p];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? '';
    let set: CharSet;
    if (c === '.') set = { any: true, negate: false, ranges: [] };
    else if (c === '\\') {
      i++;
      const e = chars[i];
      if (e === undefined) throw fail('invalid glob pattern: trailing backslash');
      const cp = e.codePointAt(0) ?? 0;
      set = { any: false, negate: false, ranges: [[cp, cp]] };
    } else if (c === '[') {
      let j = i + 1;
      let negate = false;
      if (chars[j] === '^') {
        negate = true;
        j++;
      }
      const ranges: [number, number][] = [];
      while (j < chars.length && chars[j] !== ']') {
        let a = chars[j] ?? '';
        if (a === '\\') a = chars[++j] ?? '';
        const lo = a.codePointAt(0) ?? 0;
        if (chars[j + 1] === '-' && chars[j + 2] !== undefined && chars[j + 2] !== ']') {
          const hi = (chars[j + 2] ?? '').codePointAt(0) ?? 0;
          ranges.push([lo, hi]);
          j += 3;
        } else {
          ranges.push([lo, lo]);
          j++;
        }
      }
      if (j >= chars.length) throw fail('invalid glob pattern: unterminated character class');
      i = j;
      set = { any: false, negate, ranges };
    } else if (c === '*' || c === '+' || c === '?') {
      throw fail(`invalid glob pattern: quantifier ${c} without a preceding token`);
    } else {
      const cp = c.codePointAt(0) ?? 0;
      set = { any: false, negate: false, ranges: [[cp, cp]] };
    }
    const q = chars[i + 1];
    if (q === '*') {
      out.push({ set, kind: 'star' });
      i++;
    } else if (q === '+') {
      out.push({ set, kind: 'one' }, { set, kind: 'star' });
      i++;
    } else if (q === '?') {
      out.push({ set, kind: 'opt' });
      i++;
    } else out.push({ set, kind: 'one' });
  }
  return out;
}

/** Whether some string matches both glob-like patterns. */
export function globsIntersect(p1: string, p2: string): boolean {
  const a = globTokens(p1);
  const b = globTokens(p2);
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (b.length + 1) + j;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    memo.set(key, false);
    let r = false;
    const ta = a[i];
    const tb = b[j];
    if (ta === undefined && tb === undefined) r = true;
    if (!r && ta !== undefined && ta.kind !== 'one') r = go(i + 1, j);
    if (!r && tb !== undefined && tb.kind !== 'one') r = go(i, j + 1);
    if (!r && ta !== undefined && tb !== undefined && overlap(ta.set, tb.set)) {
      const ni = ta.kind === 'star' ? i : i + 1;
      const nj = tb.kind === 'star' ? j : j + 1;
      if (ni !== i || nj !== j) r = go(ni, nj);
    }
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

export function registerGlobsMatch(reg: Registry): void {
  def(reg, 'regex.globs_match', 2, (a) => globsIntersect(str(a, 0), str(a, 1)));
}
