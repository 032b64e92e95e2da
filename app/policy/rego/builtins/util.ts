/** Shared helpers for builtins: registry types and OPA-style operand checks. */
import { BuiltinError } from '../errors.ts';
import { Num } from '../number.ts';
import { RObject, RSet, typeName, type Value } from '../value.ts';

export interface BuiltinCtx {
  nowNs(): bigint;
  print(msg: string): void;
  note(msg: string): void;
  readonly strict: boolean;
  call(name: string, args: Value[]): Value | undefined;
  /** Per-evaluation memo (rand.intn consistency). */
  readonly memo: Map<string, Value>;
}

export interface Builtin {
  readonly arity: number;
  readonly fn?: (args: Value[], ctx: BuiltinCtx) => Value | undefined;
  /** Builtins with several outputs (walk). */
  readonly multi?: (args: Value[], ctx: BuiltinCtx) => Value[];
  readonly special?: 'print' | 'metadata';
}

export type Registry = Map<string, Builtin>;

export function def(reg: Registry, name: string, arity: number, fn: (args: Value[], ctx: BuiltinCtx) => Value | undefined): void {
  reg.set(name, { arity, fn });
}

export function typeErr(pos: number, expected: string, got: Value): BuiltinError {
  return new BuiltinError(`operand ${pos} must be ${expected} but got ${typeName(got)}`, 'eval_type_error');
}

export function str(args: Value[], i: number): string {
  const v = args[i] as Value;
  if (typeof v !== 'string') throw typeErr(i + 1, 'string', v);
  return v;
}

export function number(args: Value[], i: number): Num {
  const v = args[i] as Value;
  if (!(v instanceof Num)) throw typeErr(i + 1, 'number', v);
  return v;
}

export function int(args: Value[], i: number): number {
  const n = number(args, i);
  const x = n.toSafeInt();
  if (x === undefined) throw new BuiltinError(`operand ${i + 1} must be integer number but got floating-point number`, 'eval_type_error');
  return x;
}

export function bool(args: Value[], i: number): boolean {
  const v = args[i] as Value;
  if (typeof v !== 'boolean') throw typeErr(i + 1, 'boolean', v);
  return v;
}

export function arr(args: Value[], i: number): readonly Value[] {
  const v = args[i] as Value;
  if (!Array.isArray(v)) throw typeErr(i + 1, 'array', v);
  return v as readonly Value[];
}

export function obj(args: Value[], i: number): RObject {
  const v = args[i] as Value;
  if (!(v instanceof RObject)) throw typeErr(i + 1, 'object', v);
  return v;
}

export function set(args: Value[], i: number): RSet {
  const v = args[i] as Value;
  if (!(v instanceof RSet)) throw typeErr(i + 1, 'set', v);
  return v;
}

/** Elements of an array or set operand. */
export function arrOrSet(args: Value[], i: number, expected = 'one of {array, set}'): Value[] {
  const v = args[i] as Value;
  if (Array.isArray(v)) return [...(v as readonly Value[])];
  if (v instanceof RSet) return v.sorted();
  throw typeErr(i + 1, expected, v);
}

export function fail(msg: string): BuiltinError {
  return new BuiltinError(msg, 'eval_builtin_error');
}

export function n(x: number | bigint): Num {
  return Num.int(x);
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function fromUtf8(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

/** Number of Unicode code points. */
export function runeLen(s: string): number {
  let c = 0;
  for (const _ of s) c++;
  return c;
}
