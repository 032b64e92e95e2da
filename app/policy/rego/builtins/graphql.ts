/**
 * graphql.* builtins: a GraphQL lexer and parser for executable and schema documents producing the same AST shape
 * OPA returns, plus schema and query validation for the common rules. Errors follow OPA's message format
 * ("<message> in GraphQL string at location <line>:<col>").
 */
import { fromJS, toJS, type JsonValue, type Value } from '../value.ts';
import { def, fail, typeErr, type Registry } from './util.ts';
import { RObject } from '../value.ts';

// ------------------------------------------------------------------ lexer

type Kind = 'Name' | 'Int' | 'Float' | 'String' | 'BlockString' | 'Punct' | 'EOF' | 'Invalid';

interface Tok {
  kind: Kind;
  value: string;
  line: number;
  col: number;
}

class GqlError extends Error {
  constructor(
    msg: string,
    readonly line: number,
    readonly col: number,
  ) {
    super(msg);
  }
}

function tokDesc(t: Tok): string {
  switch (t.kind) {
    case 'EOF':
      return '<EOF>';
    case 'Invalid':
      return '<Invalid>';
    case 'Punct':
      return t.value;
    default:
      return `${t.kind} ${JSON.stringify(t.value)}`;
  }
}

function blockStringValue(raw: string): string {
  const lines = raw.split(/\r\n|[\n\r]/);
  let common: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i] ?? '';
    const indent = l.length - l.replace(/^[ \t]*/, '').length;
    if (indent < l.length && (common === undefined || indent < common)) common = indent;
  }
  if (common !== undefined) for (let i = 1; i < lines.length; i++) lines[i] = (lines[i] ?? '').slice(common);
  while (lines.length > 0 && /^[ \t]*$/.test(lines[0] ?? '')) lines.shift();
  while (lines.length > 0 && /^[ \t]*$/.test(lines[lines.length - 1] ?? '')) lines.pop();
  return lines.join('\n');
}

function lexAll(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const push = (kind: Kind, value: string, start: number, l = line, ls = lineStart): void => {
    out.push({ kind, value, line: l, col: start - ls + 1 });
  };
  while (i < src.length) {
    const c = src[i] ?? '';
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === '\r') {
      i++;
      if (src[i] === '\n') i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === ',' || c === '\ufeff') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n' && src[i] !== '\r') i++;
      continue;
    }
    const start = i;
    if (src.startsWith('...', i)) {
      push('Punct', '...', start);
      i += 3;
      continue;
    }
    if ('!$&()=:@[]{}|'.includes(c)) {
      push('Punct', c, start);
      i++;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < src.length && /[A-Za-z0-9_]/.test(src[j] ?? '')) j++;
      push('Name', src.slice(i, j), start);
      i = j;
      continue;
    }
    if (/[-0-9]/.test(c)) {
      const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(src.slice(i));
      if (m === null) {
        push('Invalid', c, start);
        return out;
      }
      push(m[2] !== undefined || m[3] !== undefined ? 'Float' : 'Int', m[0], start);
      i += m[0].length;
      continue;
    }
    if (src.startsWith('"""', i)) {
      const l0 = line;
      const ls0 = lineStart;
      let j = i + 3;
      let raw = '';
      for (;;) {
        if (j >= src.length) throw new GqlError('Unexpected <Invalid>', line, j - lineStart + 1);
        if (src.startsWith('"""', j)) break;
        if (src.startsWith('\\"""', j)) {
          raw += '"""';
          j += 4;
          continue;
        }
        const ch = src[j] ?? '';
        if (ch === '\n' || (ch === '\r' && src[j + 1] !== '\n')) {
          line++;
          lineStart = j + 1;
        }
        raw += ch;
        j++;
      }
      out.push({ kind: 'BlockString', value: blockStringValue(raw), line: l0, col: start - ls0 + 1 });
      i = j + 3;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let v = '';
      for (;;) {
        const ch = src[j];
        if (ch === undefined || ch === '\n' || ch === '\r') throw new GqlError('Unterminated string.', line, j - lineStart + 1);
        if (ch === '"') break;
        if (ch === '\\') {
          const e = src[j + 1] ?? '';
          const map: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
          if (map[e] !== undefined) {
            v += map[e];
            j += 2;
            continue;
          }
          if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(src.slice(j + 2, j + 6))) {
            v += String.fromCharCode(parseInt(src.slice(j + 2, j + 6), 16));
            j += 6;
            continue;
          }
          throw new GqlError(`Invalid character escape sequence: \\${e}.`, line, j - lineStart + 1);
        }
        v += ch;
        j++;
      }
      push('String', v, start + 1);
      i = j + 1;
      continue;
    }
    push('Invalid', c, start);
    return out;
  }
  out.push({ kind: 'EOF', value: '', line, col: i - lineStart + 1 });
  return out;
}

// ------------------------------------------------------------------ AST (gqlparser's JSON shape)

type Obj = { [k: string]: JsonValue };

const LOCATIONS = new Set(['QUERY', 'MUTATION', 'SUBSCRIPTION', 'FIELD', 'FRAGMENT_DEFINITION', 'FRAGMENT_SPREAD', 'INLINE_FRAGMENT', 'VARIABLE_DEFINITION', 'SCHEMA', 'SCALAR', 'OBJECT', 'FIELD_DEFINITION', 'ARGUMENT_DEFINITION', 'INTERFACE', 'UNION', 'ENUM', 'ENUM_VALUE', 'INPUT_OBJECT', 'INPUT_FIELD_DEFINITION']);

const VK = { Variable: 0, Int: 1, Float: 2, String: 3, Block: 4, Boolean: 5, Null: 6, Enum: 7, List: 8, Object: 9 } as const;

class Parser {
  private i = 0;
  /** Source positions of produced nodes (not part of the output). */
  readonly pos = new WeakMap<object, [number, number]>();
  constructor(private readonly toks: Tok[]) {}

  private get t(): Tok {
    return this.toks[this.i] ?? (this.toks[this.toks.length - 1] as Tok);
  }

  private next(): Tok {
    const t = this.t;
    if (this.i < this.toks.length - 1) this.i++;
    if (t.kind === 'Invalid') throw new GqlError('Unexpected <Invalid>', t.line, t.col);
    return t;
  }

  private peekP(v: string): boolean {
    return this.t.kind === 'Punct' && this.t.value === v;
  }

  private peekKw(v: string): boolean {
    return this.t.kind === 'Name' && this.t.value === v;
  }

  private unexpected(t: Tok = this.t): GqlError {
    return new GqlError(`Unexpected ${tokDesc(t)}`, t.line, t.col);
  }

  private expectP(v: string): Tok {
    if (this.t.kind === 'Invalid') throw this.unexpected();
    if (!this.peekP(v)) throw new GqlError(`Expected ${v}, found ${tokDesc(this.t)}`, this.t.line, this.t.col);
    return this.next();
  }

  private skipP(v: string): boolean {
    if (this.peekP(v)) {
      this.next();
      return true;
    }
    return false;
  }

  private expectKw(v: string): void {
    if (this.t.kind === 'Invalid') throw this.unexpected();
    if (!this.peekKw(v)) throw new GqlError(`Expected ${JSON.stringify(v)}, found ${tokDesc(this.t)}`, this.t.line, this.t.col);
    this.next();
  }

  private name(): string {
    if (this.t.kind === 'Invalid') throw this.unexpected();
    if (this.t.kind !== 'Name') throw new GqlError(`Expected Name, found ${tokDesc(this.t)}`, this.t.line, this.t.col);
    return this.next().value;
  }

  private mark<T extends object>(o: T, t: Tok): T {
    this.pos.set(o, [t.line, t.col]);
    return o;
  }

  /** At least one item between open and close. */
  private some<T>(open: string, close: string, f: () => T): T[] {
    this.expectP(open);
    const out: T[] = [];
    if (this.peekP(close)) throw new GqlError(`expected at least one definition, found ${tokDesc(this.t)}`, this.t.line, this.t.col);
    while (!this.skipP(close)) out.push(f());
    return out;
  }

  /** Zero or more items when the open token is present. */
  private many<T>(open: string, close: string, f: () => T): T[] | undefined {
    if (!this.peekP(open)) return undefined;
    this.next();
    const out: T[] = [];
    while (!this.skipP(close)) out.push(f());
    return out.length === 0 ? undefined : out;
  }

  // ---------------------------------------------------------------- executable documents

  queryDocument(): Obj {
    const ops: Obj[] = [];
    const frags: Obj[] = [];
    while (this.t.kind !== 'EOF') {
      if (this.peekP('{')) ops.push(this.operation());
      else if (this.t.kind === 'Name') {
        const v = this.t.value;
        if (v === 'query' || v === 'mutation' || v === 'subscription') ops.push(this.operation());
        else if (v === 'fragment') frags.push(this.fragmentDefinition());
        else throw this.unexpected();
      } else throw this.unexpected();
    }
    const doc: Obj = {};
    if (ops.length > 0) doc.Operations = ops;
    if (frags.length > 0) doc.Fragments = frags;
    return doc;
  }

  private operation(): Obj {
    const start = this.t;
    if (this.peekP('{')) return this.mark({ Name: '', Operation: 'query', SelectionSet: this.selectionSet() }, start);
    const op = this.next().value;
    const o: Obj = { Operation: op, Name: '' };
    if (this.t.kind === 'Name') o.Name = this.next().value;
    const vars = this.many('(', ')', () => this.variableDefinition());
    if (vars !== undefined) o.VariableDefinitions = vars;
    const dirs = this.directives(false);
    if (dirs !== undefined) o.Directives = dirs;
    o.SelectionSet = this.selectionSet();
    return this.mark(o, start);
  }

  private variableDefinition(): Obj {
    const start = this.t;
    this.expectP('$');
    const o: Obj = { Variable: this.name(), Used: false };
    this.expectP(':');
    o.Type = this.type();
    if (this.skipP('=')) o.DefaultValue = this.value(true);
    const dirs = this.directives(true);
    if (dirs !== undefined) o.Directives = dirs;
    return this.mark(o, start);
  }

  private selectionSet(): JsonValue[] {
    if (!this.peekP('{')) throw new GqlError(`Expected {, found ${tokDesc(this.t)}`, this.t.line, this.t.col);
    return this.some('{', '}', () => this.selection());
  }

  private selection(): Obj {
    if (this.peekP('...')) return this.fragment();
    return this.field();
  }

  private field(): Obj {
    const start = this.t;
    let name = this.name();
    let alias = name;
    if (this.skipP(':')) {
      alias = name;
      name = this.name();
    }
    const o: Obj = { Alias: alias, Name: name };
    const args = this.many('(', ')', () => this.argument(false));
    if (args !== undefined) o.Arguments = args;
    const dirs = this.directives(false);
    if (dirs !== undefined) o.Directives = dirs;
    if (this.peekP('{')) o.SelectionSet = this.selectionSet();
    return this.mark(o, start);
  }

  private argument(isConst: boolean): Obj {
    const start = this.t;
    const n = this.name();
    this.expectP(':');
    return this.mark({ Name: n, Value: this.value(isConst) }, start);
  }

  private fragment(): Obj {
    const start = this.t;
    this.expectP('...');
    if (this.t.kind === 'Name' && this.t.value !== 'on') {
      const o: Obj = { Name: this.next().value };
      const dirs = this.directives(false);
      if (dirs !== undefined) o.Directives = dirs;
      return this.mark(o, start);
    }
    const o: Obj = { TypeCondition: '' };
    if (this.peekKw('on')) {
      this.next();
      o.TypeCondition = this.name();
    }
    const dirs = this.directives(false);
    if (dirs !== undefined) o.Directives = dirs;
    o.SelectionSet = this.selectionSet();
    return this.mark(o, start);
  }

  private fragmentDefinition(): Obj {
    const start = this.t;
    this.expectKw('fragment');
    if (this.peekKw('on')) throw this.unexpected();
    const o: Obj = { Name: this.name() };
    const vars = this.many('(', ')', () => this.variableDefinition());
    if (vars !== undefined) o.VariableDefinition = vars;
    this.expectKw('on');
    o.TypeCondition = this.name();
    const dirs = this.directives(false);
    if (dirs !== undefined) o.Directives = dirs;
    o.SelectionSet = this.selectionSet();
    return this.mark(o, start);
  }

  private value(isConst: boolean): Obj {
    const t = this.t;
    const v = (kind: number, raw: string): Obj => this.mark({ Raw: raw, Kind: kind, ExpectedTypeHasDefault: false }, t);
    if (this.peekP('[')) {
      this.next();
      const children: JsonValue[] = [];
      while (!this.skipP(']')) {
        if (this.t.kind === 'EOF') throw this.unexpected();
        children.push({ Name: '', Value: this.value(isConst) });
      }
      const o = v(VK.List, '');
      if (children.length > 0) o.Children = children;
      return o;
    }
    if (this.peekP('{')) {
      this.next();
      const children: JsonValue[] = [];
      while (!this.skipP('}')) {
        if (this.t.kind === 'EOF') throw this.unexpected();
        const n = this.name();
        this.expectP(':');
        children.push({ Name: n, Value: this.value(isConst) });
      }
      const o = v(VK.Object, '');
      if (children.length > 0) o.Children = children;
      return o;
    }
    if (this.peekP('$')) {
      if (isConst) throw this.unexpected();
      this.next();
      return v(VK.Variable, this.name());
    }
    switch (t.kind) {
      case 'Int':
        this.next();
        return v(VK.Int, t.value);
      case 'Float':
        this.next();
        return v(VK.Float, t.value);
      case 'String':
        this.next();
        return v(VK.String, t.value);
      case 'BlockString':
        this.next();
        return v(VK.Block, t.value);
      case 'Name':
        this.next();
        if (t.value === 'true' || t.value === 'false') return v(VK.Boolean, t.value);
        if (t.value === 'null') return v(VK.Null, t.value);
        return v(VK.Enum, t.value);
      default:
        throw this.unexpected();
    }
  }

  private type(): Obj {
    const start = this.t;
    let o: Obj;
    if (this.skipP('[')) {
      const elem = this.type();
      this.expectP(']');
      o = { NamedType: '', Elem: elem, NonNull: false };
    } else o = { NamedType: this.name(), NonNull: false };
    if (this.skipP('!')) o.NonNull = true;
    return this.mark(o, start);
  }

  private directives(isConst: boolean): Obj[] | undefined {
    const out: Obj[] = [];
    while (this.peekP('@')) {
      const start = this.t;
      this.next();
      const o: Obj = { Name: this.name(), Location: '' };
      const args = this.many('(', ')', () => this.argument(isConst));
      if (args !== undefined) o.Arguments = args;
      out.push(this.mark(o, start));
    }
    return out.length === 0 ? undefined : out;
  }

  // ---------------------------------------------------------------- schema documents

  schemaDocument(): Obj {
    const doc: { [k: string]: Obj[] } = {};
    const add = (k: string, o: Obj): void => {
      (doc[k] ??= []).push(o);
    };
    while (this.t.kind !== 'EOF') {
      let description = '';
      let descTok: Tok | undefined;
      if (this.t.kind === 'String' || this.t.kind === 'BlockString') {
        descTok = this.next();
        description = descTok.value;
      }
      if (this.t.kind !== 'Name') throw this.unexpected();
      switch (this.t.value) {
        case 'scalar':
        case 'type':
        case 'interface':
        case 'union':
        case 'enum':
        case 'input':
          add('Definitions', this.typeDefinition(description, false));
          break;
        case 'schema':
          add('Schema', this.schemaDefinition(description, false));
          break;
        case 'directive':
          add('Directives', this.directiveDefinition(description));
          break;
        case 'extend': {
          if (descTok !== undefined) throw this.unexpected(descTok);
          this.next();
          if (this.t.kind !== 'Name') throw this.unexpected();
          if (this.peekKw('schema')) add('SchemaExtension', this.schemaDefinition('', true));
          else add('Extensions', this.typeDefinition('', true));
          break;
        }
        default:
          throw this.unexpected();
      }
    }
    return doc;
  }

  private schemaDefinition(description: string, ext: boolean): Obj {
    const start = this.t;
    this.expectKw('schema');
    const o: Obj = { Description: description };
    const dirs = this.directives(true);
    if (dirs !== undefined) o.Directives = dirs;
    if (ext && !this.peekP('{')) {
      if (dirs === undefined) throw this.unexpected();
      return this.mark(o, start);
    }
    o.OperationTypes = this.some('{', '}', () => {
      const t = this.t;
      const op = this.name();
      if (op !== 'query' && op !== 'mutation' && op !== 'subscription') throw this.unexpected(t);
      this.expectP(':');
      return this.mark({ Operation: op, Type: this.name() }, t);
    });
    return this.mark(o, start);
  }

  private directiveDefinition(description: string): Obj {
    const start = this.t;
    this.expectKw('directive');
    this.expectP('@');
    const o: Obj = { Description: description, Name: this.name() };
    const args = this.many('(', ')', () => this.inputValue());
    if (args !== undefined) o.Arguments = args;
    o.IsRepeatable = false;
    if (this.peekKw('repeatable')) {
      this.next();
      o.IsRepeatable = true;
    }
    this.expectKw('on');
    this.skipP('|');
    const locs: JsonValue[] = [];
    const loc = (): void => {
      const t = this.t;
      const n = this.name();
      if (!LOCATIONS.has(n)) throw this.unexpected(t);
      locs.push(n);
    };
    loc();
    while (this.skipP('|')) loc();
    o.Locations = locs;
    return this.mark(o, start);
  }

  private inputValue(): Obj {
    const start = this.t;
    let description = '';
    if (this.t.kind === 'String' || this.t.kind === 'BlockString') description = this.next().value;
    const o: Obj = { Description: description, Name: this.name() };
    this.expectP(':');
    o.Type = this.type();
    if (this.skipP('=')) o.DefaultValue = this.value(true);
    const dirs = this.directives(true);
    if (dirs !== undefined) o.Directives = dirs;
    return this.mark(o, start);
  }

  private fieldDefinition(): Obj {
    const start = this.t;
    let description = '';
    if (this.t.kind === 'String' || this.t.kind === 'BlockString') description = this.next().value;
    const o: Obj = { Description: description, Name: this.name() };
    const args = this.many('(', ')', () => this.inputValue());
    if (args !== undefined) o.Arguments = args;
    this.expectP(':');
    o.Type = this.type();
    const dirs = this.directives(true);
    if (dirs !== undefined) o.Directives = dirs;
    return this.mark(o, start);
  }

  private typeDefinition(description: string, ext: boolean): Obj {
    const start = this.t;
    const kw = this.next().value;
    const kinds: Record<string, string> = { scalar: 'SCALAR', type: 'OBJECT', interface: 'INTERFACE', union: 'UNION', enum: 'ENUM', input: 'INPUT_OBJECT' };
    const o: Obj = { Kind: kinds[kw] ?? 'SCALAR', Description: description, Name: this.name(), BuiltIn: false };
    let hasBody = false;
    if (kw === 'type' || kw === 'interface') {
      if (this.peekKw('implements')) {
        this.next();
        this.skipP('&');
        const ifs: JsonValue[] = [this.name()];
        while (this.skipP('&')) ifs.push(this.name());
        o.Interfaces = ifs;
        hasBody = true;
      }
    }
    const dirs = this.directives(true);
    if (dirs !== undefined) {
      o.Directives = dirs;
      hasBody = true;
    }
    if (kw === 'type' || kw === 'interface') {
      if (this.peekP('{')) {
        o.Fields = this.some('{', '}', () => this.fieldDefinition());
        hasBody = true;
      }
    } else if (kw === 'input') {
      if (this.peekP('{')) {
        o.Fields = this.some('{', '}', () => this.inputValue());
        hasBody = true;
      }
    } else if (kw === 'enum') {
      if (this.peekP('{')) {
        o.EnumValues = this.some('{', '}', () => {
          const t = this.t;
          let d = '';
          if (this.t.kind === 'String' || this.t.kind === 'BlockString') d = this.next().value;
          const nt = this.t;
          const n = this.name();
          if (n === 'true' || n === 'false' || n === 'null') throw new GqlError(`${n} is reserved and cannot be used for an enum value`, nt.line, nt.col);
          const ev: Obj = { Description: d, Name: n };
          const ds = this.directives(true);
          if (ds !== undefined) ev.Directives = ds;
          return this.mark(ev, t);
        });
        hasBody = true;
      }
    } else if (kw === 'union') {
      if (this.skipP('=')) {
        this.skipP('|');
        const types: JsonValue[] = [this.name()];
        while (this.skipP('|')) types.push(this.name());
        o.Types = types;
        hasBody = true;
      }
    }
    if (ext && !hasBody) throw this.unexpected();
    return this.mark(o, start);
  }
}

// ------------------------------------------------------------------ schema model and validation

interface Schema {
  types: Map<string, Obj>;
  query?: string;
  mutation?: string;
  subscription?: string;
  directives: Map<string, Obj>;
}

const BUILTIN_SCALARS = ['Int', 'Float', 'String', 'Boolean', 'ID'];
const BUILTIN_DIRECTIVES: Record<string, string[]> = { deprecated: ['reason'], include: ['if'], skip: ['if'], specifiedBy: ['url'], oneOf: [], defer: ['if', 'label'] };

function arr(o: Obj, k: string): Obj[] {
  const v = o[k];
  return Array.isArray(v) ? (v as Obj[]) : [];
}

function strs(o: Obj, k: string): string[] {
  const v = o[k];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function s(o: Obj, k: string): string {
  const v = o[k];
  return typeof v === 'string' ? v : '';
}

function namedType(t: JsonValue | undefined): string {
  if (t === null || t === undefined || typeof t !== 'object' || Array.isArray(t)) return '';
  const n = t.NamedType;
  if (typeof n === 'string' && n !== '') return n;
  return namedType(t.Elem);
}

function typeString(t: JsonValue | undefined): string {
  if (t === null || t === undefined || typeof t !== 'object' || Array.isArray(t)) return '';
  const inner = typeof t.NamedType === 'string' && t.NamedType !== '' ? t.NamedType : `[${typeString(t.Elem)}]`;
  return `${inner}${t.NonNull === true ? '!' : ''}`;
}

function err(msg: string, o?: object, pos?: WeakMap<object, [number, number]>): GqlError {
  const p = o !== undefined ? pos?.get(o) : undefined;
  return new GqlError(msg, p?.[0] ?? 0, p?.[1] ?? 0);
}

function loadSchema(doc: Obj, pos: WeakMap<object, [number, number]>): Schema {
  const types = new Map<string, Obj>();
  for (const n of BUILTIN_SCALARS) types.set(n, { Kind: 'SCALAR', Name: n, Description: '', BuiltIn: true });
  for (const d of arr(doc, 'Definitions')) {
    const name = s(d, 'Name');
    if (types.has(name)) throw err(`Cannot redeclare type ${name}.`, d, pos);
    types.set(name, { ...d });
  }
  for (const e of arr(doc, 'Extensions')) {
    const name = s(e, 'Name');
    const base = types.get(name);
    if (base === undefined) {
      types.set(name, { ...e });
      continue;
    }
    if (base.Kind !== e.Kind) throw err(`Cannot extend type ${name} because the base type is a ${s(base, 'Kind')}, not ${s(e, 'Kind')}.`, e, pos);
    for (const k of ['Interfaces', 'Directives', 'Fields', 'Types', 'EnumValues']) {
      const extra = e[k];
      if (Array.isArray(extra)) base[k] = [...(Array.isArray(base[k]) ? base[k] : []), ...extra];
    }
  }
  const directives = new Map<string, Obj>();
  for (const d of arr(doc, 'Directives')) directives.set(s(d, 'Name'), d);
  const sc: Schema = { types, directives };
  const schemas = [...arr(doc, 'Schema'), ...arr(doc, 'SchemaExtension')];
  for (const sd of schemas) {
    for (const ot of arr(sd, 'OperationTypes')) {
      const tname = s(ot, 'Type');
      if (!types.has(tname)) throw err(`Schema root ${s(ot, 'Operation')} refers to a type ${tname} that does not exist.`, ot, pos);
      const op = s(ot, 'Operation');
      if (op === 'query') sc.query = tname;
      else if (op === 'mutation') sc.mutation = tname;
      else if (op === 'subscription') sc.subscription = tname;
    }
  }
  if (arr(doc, 'Schema').length === 0) {
    if (types.has('Query')) sc.query = 'Query';
    if (types.has('Mutation')) sc.mutation = 'Mutation';
    if (types.has('Subscription')) sc.subscription = 'Subscription';
  }
  const isInput = (n: string): boolean => {
    const t = types.get(n);
    return t !== undefined && (t.Kind === 'SCALAR' || t.Kind === 'ENUM' || t.Kind === 'INPUT_OBJECT');
  };
  const isOutput = (n: string): boolean => {
    const t = types.get(n);
    return t !== undefined && t.Kind !== 'INPUT_OBJECT';
  };
  for (const [name, t] of types) {
    if (t.BuiltIn === true) continue;
    if (name.startsWith('__')) throw err(`Name "${name}" must not begin with "__", which is reserved by GraphQL introspection.`, t, pos);
    const kind = t.Kind;
    if (kind === 'OBJECT' || kind === 'INTERFACE') {
      const fields = arr(t, 'Fields');
      const seen = new Set<string>();
      for (const f of fields) {
        const fname = s(f, 'Name');
        if (seen.has(fname)) throw err(`Field ${name}.${fname} can only be defined once.`, f, pos);
        seen.add(fname);
        const ft = namedType(f.Type);
        if (!types.has(ft)) throw err(`Undefined type ${ft}.`, f, pos);
        if (!isOutput(ft)) throw err(`${ft} is a non output type.`, f, pos);
        for (const a of arr(f, 'Arguments')) {
          const at = namedType(a.Type);
          if (!types.has(at)) throw err(`Undefined type ${at}.`, a, pos);
          if (!isInput(at)) throw err(`${at} is a non input type.`, a, pos);
        }
      }
      const ifaces = strs(t, 'Interfaces');
      for (const i of ifaces) {
        const it = types.get(i);
        if (it === undefined) throw err(`Undefined type "${i}".`, t, pos);
        if (it.Kind !== 'INTERFACE') throw err(`${name} must only implement Interface types, it cannot implement ${i}.`, t, pos);
        for (const sub of strs(it, 'Interfaces')) if (!ifaces.includes(sub)) throw err(`Type ${name} cannot implement ${i} because it would create a circular reference or is missing ${sub}.`, t, pos);
        for (const f of arr(it, 'Fields')) {
          const mine = fields.find((x) => s(x, 'Name') === s(f, 'Name'));
          if (mine === undefined) throw err(`For ${name} to implement ${i} it must have a field called ${s(f, 'Name')}.`, t, pos);
        }
      }
    } else if (kind === 'INPUT_OBJECT') {
      for (const f of arr(t, 'Fields')) {
        const ft = namedType(f.Type);
        if (!types.has(ft)) throw err(`Undefined type ${ft}.`, f, pos);
        if (!isInput(ft)) throw err(`${ft} is a non input type.`, f, pos);
      }
    } else if (kind === 'UNION') {
      for (const m of strs(t, 'Types')) {
        const mt = types.get(m);
        if (mt === undefined) throw err(`Undefined type "${m}".`, t, pos);
        if (mt.Kind !== 'OBJECT') throw err(`${m} is not an object type.`, t, pos);
      }
    } else if (kind === 'ENUM') {
      const seen = new Set<string>();
      for (const v of arr(t, 'EnumValues')) {
        if (seen.has(s(v, 'Name'))) throw err(`Enum value ${name}.${s(v, 'Name')} can only be defined once.`, v, pos);
        seen.add(s(v, 'Name'));
      }
    }
  }
  return sc;
}

// ------------------------------------------------------------------ query validation

function validateQuery(doc: Obj, sc: Schema, pos: WeakMap<object, [number, number]>): void {
  const frags = new Map<string, Obj>();
  for (const f of arr(doc, 'Fragments')) frags.set(s(f, 'Name'), f);
  const usedFrags = new Set<string>();
  for (const op of arr(doc, 'Operations')) {
    const opKind = s(op, 'Operation');
    const rootName = opKind === 'query' ? sc.query : opKind === 'mutation' ? sc.mutation : sc.subscription;
    if (rootName === undefined) throw err(`Schema does not support operation type "${opKind}"`, op, pos);
    const defined = new Map<string, Obj>();
    for (const v of arr(op, 'VariableDefinitions')) {
      const vt = namedType(v.Type);
      const t = sc.types.get(vt);
      if (t === undefined) throw err(`Unknown type "${vt}".`, v, pos);
      if (t.Kind !== 'SCALAR' && t.Kind !== 'ENUM' && t.Kind !== 'INPUT_OBJECT') throw err(`Variable "$${s(v, 'Variable')}" cannot be non-input type "${typeString(v.Type)}".`, v, pos);
      defined.set(s(v, 'Variable'), v);
    }
    const used = new Set<string>();
    const visitedFrags = new Set<string>();
    const useValue = (v: JsonValue | undefined): void => {
      if (v === null || v === undefined || typeof v !== 'object' || Array.isArray(v)) return;
      if (v.Kind === VK.Variable && typeof v.Raw === 'string') {
        if (!defined.has(v.Raw)) throw err(`Variable "$${v.Raw}" is not defined.`, v, pos);
        used.add(v.Raw);
      }
      for (const c of Array.isArray(v.Children) ? (v.Children as Obj[]) : []) useValue(c.Value);
    };
    const dirs = (o: Obj): void => {
      for (const d of arr(o, 'Directives')) {
        const name = s(d, 'Name');
        if (BUILTIN_DIRECTIVES[name] === undefined && !sc.directives.has(name)) throw err(`Unknown directive "@${name}".`, d, pos);
        for (const a of arr(d, 'Arguments')) useValue(a.Value);
      }
    };
    dirs(op);
    const visit = (sel: Obj[], typeName: string): void => {
      const t = sc.types.get(typeName);
      if (t === undefined) throw err(`Unknown type "${typeName}".`, undefined, pos);
      for (const x of sel) {
        dirs(x);
        if (typeof x.Alias === 'string') {
          const fname = s(x, 'Name');
          if (fname === '__typename') continue;
          if (fname === '__schema' || fname === '__type') {
            for (const a of arr(x, 'Arguments')) useValue(a.Value);
            continue;
          }
          const fdef = arr(t, 'Fields').find((f) => s(f, 'Name') === fname);
          if (fdef === undefined) {
            if (t.Kind === 'UNION' || t.Kind === 'INTERFACE' || t.Kind === 'OBJECT') throw err(`Cannot query field "${fname}" on type "${typeName}".`, x, pos);
            throw err(`Cannot query field "${fname}" on type "${typeName}".`, x, pos);
          }
          const argDefs = arr(fdef, 'Arguments');
          for (const a of arr(x, 'Arguments')) {
            if (!argDefs.some((d) => s(d, 'Name') === s(a, 'Name'))) throw err(`Unknown argument "${s(a, 'Name')}" on field "${typeName}.${fname}".`, a, pos);
            useValue(a.Value);
          }
          for (const d of argDefs) {
            const ty = d.Type;
            const required = ty !== null && typeof ty === 'object' && !Array.isArray(ty) && ty.NonNull === true && d.DefaultValue === undefined;
            if (required && !arr(x, 'Arguments').some((a) => s(a, 'Name') === s(d, 'Name'))) {
              throw err(`Field "${fname}" argument "${s(d, 'Name')}" of type "${typeString(ty)}" is required, but it was not provided`, x, pos);
            }
          }
          const ftName = namedType(fdef.Type);
          const ft = sc.types.get(ftName);
          const leaf = ft === undefined || ft.Kind === 'SCALAR' || ft.Kind === 'ENUM';
          const sub = arr(x, 'SelectionSet');
          if (leaf && sub.length > 0) throw err(`Field "${fname}" must not have a selection since type "${typeString(fdef.Type)}" has no subfields.`, x, pos);
          if (!leaf && sub.length === 0) throw err(`Field "${fname}" of type "${typeString(fdef.Type)}" must have a selection of subfields. Did you mean "${fname} { ... }"?`, x, pos);
          if (sub.length > 0) visit(sub, ftName);
        } else if (typeof x.TypeCondition === 'string') {
          const tc = x.TypeCondition === '' ? typeName : x.TypeCondition;
          if (!sc.types.has(tc)) throw err(`Unknown type "${tc}".`, x, pos);
          visit(arr(x, 'SelectionSet'), tc);
        } else {
          const fname = s(x, 'Name');
          const f = frags.get(fname);
          if (f === undefined) throw err(`Unknown fragment "${fname}".`, x, pos);
          usedFrags.add(fname);
          if (visitedFrags.has(fname)) continue;
          visitedFrags.add(fname);
          const tc = s(f, 'TypeCondition');
          if (!sc.types.has(tc)) throw err(`Unknown type "${tc}".`, f, pos);
          dirs(f);
          visit(arr(f, 'SelectionSet'), tc);
        }
      }
    };
    visit(arr(op, 'SelectionSet'), rootName);
    for (const [name, v] of defined) if (!used.has(name)) throw err(`Variable "$${name}" is never used${s(op, 'Name') !== '' ? ` in operation "${s(op, 'Name')}"` : ''}.`, v, pos);
  }
  for (const [name, f] of frags) if (!usedFrags.has(name)) throw err(`Fragment "${name}" is never used.`, f, pos);
}

// ------------------------------------------------------------------ builtins

function wrap(e: unknown): never {
  if (e instanceof GqlError) throw fail(`${e.message} in GraphQL string at location ${e.line}:${e.col}`);
  throw e;
}

function parseQueryText(src: string): { doc: Obj; pos: WeakMap<object, [number, number]> } {
  const p = new Parser(lexAll(src));
  return { doc: p.queryDocument(), pos: p.pos };
}

function parseSchemaText(src: string): { doc: Obj; pos: WeakMap<object, [number, number]> } {
  const p = new Parser(lexAll(src));
  return { doc: p.schemaDocument(), pos: p.pos };
}

/** A query or schema argument: GraphQL text or an AST object. */
function docArg(v: Value, i: number, schema: boolean): { doc: Obj; pos: WeakMap<object, [number, number]> } {
  if (typeof v === 'string') return schema ? parseSchemaText(v) : parseQueryText(v);
  if (v instanceof RObject) return { doc: toJS(v) as Obj, pos: new WeakMap() };
  throw typeErr(i + 1, 'one of {string, object}', v);
}

export function registerGraphql(reg: Registry): void {
  def(reg, 'graphql.parse_query', 1, (a) => {
    try {
      const v = a[0] as Value;
      if (typeof v !== 'string') throw typeErr(1, 'string', v);
      return fromJS(parseQueryText(v).doc);
    } catch (e) {
      return wrap(e);
    }
  });
  def(reg, 'graphql.parse_schema', 1, (a) => {
    try {
      const v = a[0] as Value;
      if (typeof v !== 'string') throw typeErr(1, 'string', v);
      return fromJS(parseSchemaText(v).doc);
    } catch (e) {
      return wrap(e);
    }
  });
  def(reg, 'graphql.schema_is_valid', 1, (a) => {
    try {
      const { doc, pos } = docArg(a[0] as Value, 0, true);
      loadSchema(doc, pos);
      return true;
    } catch (e) {
      if (e instanceof GqlError) return false;
      throw e;
    }
  });
  def(reg, 'graphql.is_valid', 2, (a) => {
    try {
      const q = docArg(a[0] as Value, 0, false);
      const sd = docArg(a[1] as Value, 1, true);
      validateQuery(q.doc, loadSchema(sd.doc, sd.pos), q.pos);
      return true;
    } catch (e) {
      if (e instanceof GqlError) return false;
      throw e;
    }
  });
  def(reg, 'graphql.parse', 2, (a) => {
    try {
      const q = docArg(a[0] as Value, 0, false);
      const sd = docArg(a[1] as Value, 1, true);
      validateQuery(q.doc, loadSchema(sd.doc, sd.pos), q.pos);
      return [fromJS(q.doc), fromJS(sd.doc)];
    } catch (e) {
      return wrap(e);
    }
  });
  def(reg, 'graphql.parse_and_verify', 2, (a) => {
    try {
      const q = docArg(a[0] as Value, 0, false);
      const sd = docArg(a[1] as Value, 1, true);
      validateQuery(q.doc, loadSchema(sd.doc, sd.pos), q.pos);
      return [true, fromJS(q.doc), fromJS(sd.doc)];
    } catch (e) {
      if (e instanceof GqlError) return [false, new RObject(), new RObject()];
      throw e;
    }
  });
}
