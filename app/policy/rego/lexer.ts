/** Rego lexer: produces tokens with row:col positions and whether a newline precedes each token. */
import { RegoError } from './errors.ts';

export const TOKEN_KINDS = { ident: 'ident', number: 'number', string: 'string', template: 'template', punct: 'punct', eof: 'eof' } as const;
export type TokenKind = (typeof TOKEN_KINDS)[keyof typeof TOKEN_KINDS];

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** Decoded string value for string tokens. */
  readonly str?: string;
  /** Template parts: literal text or the tokens of an embedded expression. */
  readonly parts?: readonly (string | Token[])[];
  readonly raw?: boolean;
  readonly row: number;
  readonly col: number;
  readonly nl: boolean;
  readonly ws: boolean;
}

const NUMBER_RE = /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
const PUNCT2 = new Set([':=', '==', '!=', '<=', '>=']);
const PUNCT1 = new Set(['.', ',', ';', ':', '[', ']', '{', '}', '(', ')', '=', '<', '>', '+', '-', '*', '/', '%', '&', '|']);

export function lex(src: string, file: string): Token[] {
  const lx = new Lexer(src, file);
  const out: Token[] = [];
  for (;;) {
    const t = lx.next();
    out.push(t);
    if (t.kind === 'eof') return out;
  }
}

class Lexer {
  private pos = 0;
  private row = 1;
  private col = 1;
  constructor(
    private readonly src: string,
    private readonly file: string,
  ) {}

  private err(msg: string, row = this.row, col = this.col): RegoError {
    return new RegoError('rego_parse_error', msg, { file: this.file, row, col });
  }

  private advance(n = 1): void {
    for (let i = 0; i < n; i++) {
      if (this.src.charCodeAt(this.pos) === 10) {
        this.row++;
        this.col = 1;
      } else this.col++;
      this.pos++;
    }
  }

  next(): Token {
    let nl = false;
    let ws = false;
    // skip whitespace and comments
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined) break;
      if (c === '\n') {
        nl = true;
        ws = true;
        this.advance();
      } else if (c === ' ' || c === '\t' || c === '\r') {
        ws = true;
        this.advance();
      } else if (c === '#') {
        while (this.pos < this.src.length && this.src[this.pos] !== '\n') this.advance();
      } else break;
    }
    const row = this.row;
    const col = this.col;
    const c = this.src[this.pos];
    const base = { row, col, nl, ws };
    if (c === undefined) return { kind: 'eof', text: '', ...base };
    const cc = c.charCodeAt(0);
    if (isIdentStart(cc)) {
      const start = this.pos;
      let end = start + 1;
      while (end < this.src.length && isIdentPart(this.src.charCodeAt(end))) end++;
      this.col += end - start;
      this.pos = end;
      return { kind: 'ident', text: this.src.slice(start, end), ...base };
    }
    if (isDigit(cc) || (c === '.' && isDigit(this.src.charCodeAt(this.pos + 1)))) {
      NUMBER_RE.lastIndex = this.pos;
      const m = NUMBER_RE.exec(this.src);
      const text = m?.[0] ?? c;
      if (/^0\d/.test(text)) throw this.err('expected number, leading zeros are not allowed');
      this.advance(text.length);
      return { kind: 'number', text, ...base };
    }
    if (c === '"') {
      const { value, text } = this.readString();
      return { kind: 'string', text, str: value, ...base };
    }
    if (c === '`') {
      const start = this.pos;
      this.advance();
      while (this.pos < this.src.length && this.src[this.pos] !== '`') this.advance();
      if (this.pos >= this.src.length) throw this.err('unterminated raw string', row, col);
      this.advance();
      const text = this.src.slice(start, this.pos);
      return { kind: 'string', text, str: text.slice(1, -1), raw: true, ...base };
    }
    if (c === '$' && (this.src[this.pos + 1] === '"' || this.src[this.pos + 1] === '`')) {
      return this.readTemplate(base);
    }
    const n1 = this.src[this.pos + 1];
    const two = n1 === '=' ? c + n1 : '';
    if (two !== '' && PUNCT2.has(two)) {
      this.advance(2);
      return { kind: 'punct', text: two, ...base };
    }
    if (PUNCT1.has(c)) {
      this.advance();
      return { kind: 'punct', text: c, ...base };
    }
    throw this.err(`illegal token '${c}'`);
  }

  private readString(): { value: string; text: string } {
    const start = this.pos;
    const row = this.row;
    const col = this.col;
    this.advance();
    let value = '';
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined || c === '\n') throw this.err('non-terminated string', row, col);
      if (c === '"') {
        this.advance();
        break;
      }
      if (c === '\\') {
        value += this.readEscape(false);
        continue;
      }
      value += c;
      this.advance();
    }
    return { value, text: this.src.slice(start, this.pos) };
  }

  private readEscape(template: boolean): string {
    const e = this.src[this.pos + 1];
    switch (e) {
      case '"':
      case '\\':
      case '/':
        this.advance(2);
        return e;
      case 'b':
        this.advance(2);
        return '\b';
      case 'f':
        this.advance(2);
        return '\f';
      case 'n':
        this.advance(2);
        return '\n';
      case 'r':
        this.advance(2);
        return '\r';
      case 't':
        this.advance(2);
        return '\t';
      case 'u': {
        const hex = this.src.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw this.err('invalid escape sequence');
        this.advance(6);
        return String.fromCharCode(parseInt(hex, 16));
      }
      case '{':
        if (template) {
          this.advance(2);
          return '{';
        }
        throw this.err('invalid escape sequence');
      default:
        throw this.err('invalid escape sequence');
    }
  }

  private readTemplate(base: { row: number; col: number; nl: boolean; ws: boolean }): Token {
    const start = this.pos;
    const raw = this.src[this.pos + 1] === '`';
    const close = raw ? '`' : '"';
    this.advance(2);
    const parts: (string | Token[])[] = [];
    let lit = '';
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined || (!raw && c === '\n')) throw this.err('non-terminated string', base.row, base.col);
      if (c === close) {
        this.advance();
        break;
      }
      if (!raw && c === '\\') {
        lit += this.readEscape(true);
        continue;
      }
      if (raw && c === '\\' && this.src[this.pos + 1] === '{') {
        this.advance(2);
        lit += '{';
        continue;
      }
      if (c === '{') {
        if (lit !== '') parts.push(lit);
        lit = '';
        this.advance();
        const toks: Token[] = [];
        let depth = 0;
        for (;;) {
          const t = this.next();
          if (t.kind === 'eof') throw this.err('unterminated template expression', base.row, base.col);
          if (t.kind === 'punct' && (t.text === '{' || t.text === '[' || t.text === '(')) depth++;
          if (t.kind === 'punct' && (t.text === '}' || t.text === ']' || t.text === ')')) {
            if (depth === 0 && t.text === '}') break;
            depth--;
          }
          toks.push(t);
        }
        toks.push({ kind: 'eof', text: '', row: this.row, col: this.col, nl: false, ws: false });
        parts.push(toks);
        continue;
      }
      lit += c;
      this.advance();
    }
    if (lit !== '') parts.push(lit);
    return { kind: 'template', text: this.src.slice(start, this.pos), parts, raw, ...base };
  }
}
