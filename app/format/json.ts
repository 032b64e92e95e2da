/**
 * A strict JSON parser that mirrors serde_json where the CryptoTensors reference depends on it (spec §1.2), and is
 * stricter where our README says so:
 * - integers are kept as their exact decimal text (callers convert to bigint), never as lossy doubles;
 * - raw control characters in strings and lone UTF-16 surrogates (escaped) are rejected;
 * - duplicate object keys are rejected (W-11);
 * - only JSON whitespace around the value; nesting depth is bounded; no recursion on attacker-controlled depth
 *   beyond MAX_DEPTH.
 * Errors are plain `JsonSyntaxError`s (never carrying input text); callers map them to their own AppError code.
 */

export const MAX_JSON_DEPTH = 64;

export type JsonValue =
  | { readonly t: 'obj'; readonly members: readonly (readonly [string, JsonValue])[] }
  | { readonly t: 'arr'; readonly items: readonly JsonValue[] }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'num'; readonly raw: string }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'null' };

export type JsonObject = Extract<JsonValue, { t: 'obj' }>;

export class JsonSyntaxError extends Error {
  readonly kind: 'syntax' | 'duplicate';
  constructor(kind: 'syntax' | 'duplicate', message: string) {
    super(message);
    this.name = 'JsonSyntaxError';
    this.kind = kind;
  }
}

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

class Parser {
  private pos = 0;
  constructor(private readonly text: string) {}

  fail(what: string): never {
    throw new JsonSyntaxError('syntax', `${what} at character ${this.pos}`);
  }

  skipWs(): void {
    const s = this.text;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.pos++;
      else break;
    }
  }

  parseDocument(): JsonValue {
    this.skipWs();
    const v = this.parseValue(0);
    this.skipWs();
    if (this.pos !== this.text.length) this.fail('trailing characters');
    return v;
  }

  parseValue(depth: number): JsonValue {
    if (depth > MAX_JSON_DEPTH) this.fail('nesting too deep');
    const s = this.text;
    const c = s.charCodeAt(this.pos);
    switch (c) {
      case 0x7b /* { */:
        return this.parseObject(depth);
      case 0x5b /* [ */:
        return this.parseArray(depth);
      case 0x22 /* " */:
        return { t: 'str', v: this.parseString() };
      case 0x74 /* t */:
        return this.literal('true', { t: 'bool', v: true });
      case 0x66 /* f */:
        return this.literal('false', { t: 'bool', v: false });
      case 0x6e /* n */:
        return this.literal('null', { t: 'null' });
      default: {
        NUMBER_RE.lastIndex = this.pos;
        const m = NUMBER_RE.exec(s);
        if (m === null) this.fail('unexpected character');
        this.pos += m[0].length;
        return { t: 'num', raw: m[0] };
      }
    }
  }

  literal(word: string, value: JsonValue): JsonValue {
    if (!this.text.startsWith(word, this.pos)) this.fail('invalid literal');
    this.pos += word.length;
    return value;
  }

  parseObject(depth: number): JsonValue {
    this.pos++; // {
    const members: (readonly [string, JsonValue])[] = [];
    const seen = new Set<string>();
    this.skipWs();
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return { t: 'obj', members };
    }
    for (;;) {
      this.skipWs();
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail('expected a string key');
      const key = this.parseString();
      if (seen.has(key)) throw new JsonSyntaxError('duplicate', `duplicate key at character ${this.pos}`);
      seen.add(key);
      this.skipWs();
      if (this.text.charCodeAt(this.pos) !== 0x3a) this.fail('expected ":"');
      this.pos++;
      this.skipWs();
      members.push([key, this.parseValue(depth + 1)]);
      this.skipWs();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x7d) return { t: 'obj', members };
      this.pos--;
      this.fail('expected "," or "}"');
    }
  }

  parseArray(depth: number): JsonValue {
    this.pos++; // [
    const items: JsonValue[] = [];
    this.skipWs();
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return { t: 'arr', items };
    }
    for (;;) {
      this.skipWs();
      items.push(this.parseValue(depth + 1));
      this.skipWs();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x5d) return { t: 'arr', items };
      this.pos--;
      this.fail('expected "," or "]"');
    }
  }

  parseString(): string {
    const s = this.text;
    this.pos++; // opening quote
    let out = '';
    let runStart = this.pos;
    for (;;) {
      if (this.pos >= s.length) this.fail('unterminated string');
      const c = s.charCodeAt(this.pos);
      if (c === 0x22) {
        out += s.slice(runStart, this.pos);
        this.pos++;
        return out;
      }
      if (c < 0x20) this.fail('control character in string');
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += s.slice(runStart, this.pos);
      this.pos++;
      const e = s.charCodeAt(this.pos);
      this.pos++;
      switch (e) {
        case 0x22: out += '"'; break;
        case 0x5c: out += '\\'; break;
        case 0x2f: out += '/'; break;
        case 0x62: out += '\b'; break;
        case 0x66: out += '\f'; break;
        case 0x6e: out += '\n'; break;
        case 0x72: out += '\r'; break;
        case 0x74: out += '\t'; break;
        case 0x75: {
          const u = this.hex4();
          if (u >= 0xd800 && u <= 0xdbff) {
            if (s.charCodeAt(this.pos) !== 0x5c || s.charCodeAt(this.pos + 1) !== 0x75) this.fail('lone surrogate');
            this.pos += 2;
            const lo = this.hex4();
            if (lo < 0xdc00 || lo > 0xdfff) this.fail('lone surrogate');
            out += String.fromCharCode(u, lo);
          } else if (u >= 0xdc00 && u <= 0xdfff) {
            this.fail('lone surrogate');
          } else {
            out += String.fromCharCode(u);
          }
          break;
        }
        default:
          this.fail('invalid escape');
      }
      runStart = this.pos;
    }
  }

  hex4(): number {
    const h = this.text.slice(this.pos, this.pos + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail('invalid \\u escape');
    this.pos += 4;
    return parseInt(h, 16);
  }
}

/** Parses one JSON document. The text must already be valid UTF-16 from a strict UTF-8 decode. */
export function parseJson(text: string): JsonValue {
  return new Parser(text).parseDocument();
}

export const U64_MAX = (1n << 64n) - 1n;
const UINT_RE = /^(?:0|[1-9][0-9]*)$/;

/** A plain JSON unsigned integer in 0 … 2^64−1 (no sign, fraction, exponent or `-0`), else undefined. */
export function jsonU64(v: JsonValue): bigint | undefined {
  if (v.t !== 'num' || !UINT_RE.test(v.raw) || v.raw.length > 20) return undefined;
  const n = BigInt(v.raw);
  return n <= U64_MAX ? n : undefined;
}

export function getMember(obj: JsonObject, key: string): JsonValue | undefined {
  for (const [k, v] of obj.members) if (k === key) return v;
  return undefined;
}

/** `Array.isArray` without narrowing a typed readonly array to `any[]`. */
export function isArrayValue(value: unknown): boolean {
  return Array.isArray(value);
}
