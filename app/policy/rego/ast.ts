/** Rego abstract syntax tree. */
import type { Location } from './errors.ts';
import type { Value } from './value.ts';

export type Term =
  | { readonly type: 'scalar'; readonly value: Value; readonly loc: Location }
  | { readonly type: 'var'; readonly name: string; readonly loc: Location }
  | { readonly type: 'ref'; readonly head: Term; readonly path: readonly Term[]; readonly loc: Location }
  | { readonly type: 'array'; readonly items: readonly Term[]; readonly loc: Location }
  | { readonly type: 'set'; readonly items: readonly Term[]; readonly loc: Location }
  | { readonly type: 'object'; readonly items: readonly (readonly [Term, Term])[]; readonly loc: Location }
  | { readonly type: 'arraycompr'; readonly term: Term; readonly body: Body; readonly loc: Location }
  | { readonly type: 'setcompr'; readonly term: Term; readonly body: Body; readonly loc: Location }
  | { readonly type: 'objectcompr'; readonly key: Term; readonly value: Term; readonly body: Body; readonly loc: Location }
  | { readonly type: 'call'; readonly op: string; readonly opRef: Term | undefined; readonly args: readonly Term[]; readonly loc: Location }
  | { readonly type: 'template'; readonly parts: readonly (string | Term)[]; readonly loc: Location };

export interface With {
  readonly target: Term;
  readonly value: Term;
  readonly loc: Location;
}

export type Expr =
  | { readonly type: 'term'; readonly term: Term; negated: boolean; withs: readonly With[]; readonly loc: Location }
  | { readonly type: 'some'; readonly vars: readonly string[]; negated: boolean; withs: readonly With[]; readonly loc: Location }
  | { readonly type: 'somein'; readonly key: Term | undefined; readonly value: Term; readonly coll: Term; negated: boolean; withs: readonly With[]; readonly loc: Location }
  | { readonly type: 'every'; readonly key: Term | undefined; readonly value: Term; readonly domain: Term; readonly body: Body; negated: boolean; withs: readonly With[]; readonly loc: Location };

export type Body = Expr[];

export type RuleKind = 'complete' | 'multi' | 'func';

export interface ElseClause {
  readonly value: Term;
  readonly body: Body;
  readonly loc: Location;
}

export interface Rule {
  /** The head reference after the package: first element is the name (a string scalar), then the path terms. */
  readonly ref: readonly Term[];
  readonly kind: RuleKind;
  readonly key: Term | undefined;
  readonly value: Term | undefined;
  readonly args: readonly Term[] | undefined;
  readonly isDefault: boolean;
  readonly assign: boolean;
  body: Body;
  readonly elses: readonly ElseClause[];
  readonly loc: Location;
  readonly module: Module;
  /** METADATA annotations (rule scope). */
  readonly annotations?: Value;
}

export interface Import {
  readonly path: readonly string[];
  readonly alias: string;
  readonly loc: Location;
}

export interface Module {
  readonly file: string;
  readonly pkg: readonly string[];
  readonly imports: Import[];
  readonly rules: Rule[];
  /** METADATA annotations of the package. */
  readonly annotations?: Value;
}
