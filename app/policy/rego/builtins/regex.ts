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
