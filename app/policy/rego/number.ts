/**
 * Arbitrary-precision decimal numbers for Rego: value = m × 10^e with a bigint mantissa. Addition, subtraction and
 * multiplication are exact; division is exact when the quotient has a finite decimal expansion within 64 digits,
 * otherwise rounded to 34 significant digits (decimal128 precision), then trimmed to what a float64 would show.
 */

export class Num {
  readonly m: bigint;
  readonly e: number;
  private constructor(m: bigint, e: number) {
    this.m = m;
    this.e = e;
  }

  static of(m: bigint, e = 0): Num {
    if (m === 0n) return new Num(0n, 0);
    while (m % 10n === 0n) {
      m /= 10n;
      e += 1;
    }
    return new Num(m, e);
  }

  static int(n: number | bigint): Num {
    return Num.of(typeof n === 'bigint' ? n : BigInt(n));
  }

  /** From a JS double, using its shortest round-trip representation. */
  static fromDouble(f: number): Num | undefined {
    if (!Number.isFinite(f)) return undefined;
    if (Number.isSafeInteger(f)) return Num.of(BigInt(f));
    return Num.parse(String(f));
  }

  /** Parses a JSON/Rego number literal; returns undefined when malformed. */
  static parse(s: string): Num | undefined {
    const mt = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s.trim());
    if (mt === null) return undefined;
    const intPart = mt[2] ?? '';
    const frac = mt[3] ?? '';
    if (intPart === '' && frac === '') return undefined;
    const exp = mt[4] === undefined ? 0 : Number(mt[4]);
    if (!Number.isFinite(exp) || Math.abs(exp) > 1e6) return undefined;
    let m = BigInt((intPart + frac).replace(/^0+(?=\d)/, '') || '0');
    if (mt[1] === '-') m = -m;
    return Num.of(m, exp - frac.length);
  }

  isInt(): boolean {
    return this.e >= 0;
  }

  /** The integer value, or undefined if not integral or absurdly large. */
  toBigInt(): bigint | undefined {
    if (this.e < 0) return undefined;
    if (this.e > 4000) return undefined;
    return this.m * 10n ** BigInt(this.e);
  }

  /** A safe JS integer, or undefined. */
  toSafeInt(): number | undefined {
    const b = this.toBigInt();
    if (b === undefined) return undefined;
    if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) return undefined;
    return Number(b);
  }

  toNumber(): number {
    return Number(this.toString());
  }

  sign(): number {
    return this.m > 0n ? 1 : this.m < 0n ? -1 : 0;
  }

  neg(): Num {
    return Num.of(-this.m, this.e);
  }

  abs(): Num {
    return this.m < 0n ? this.neg() : this;
  }

  add(o: Num): Num {
    const [a, b, e] = align(this, o);
    return Num.of(a + b, e);
  }

  sub(o: Num): Num {
    const [a, b, e] = align(this, o);
    return Num.of(a - b, e);
  }

  mul(o: Num): Num {
    return Num.of(this.m * o.m, this.e + o.e);
  }

  /** Division; the caller checks for zero. */
  div(o: Num): Num {
    // exact attempt: scale numerator so the quotient is integral if possible
    const [a, b] = align(this, o);
    let num = a;
    const den = b;
    let scale = 0;
    while (scale <= 64) {
      if (num % den === 0n) return Num.of(num / den, -scale);
      num *= 10n;
      scale += 1;
    }
    // inexact: round to 34 significant digits then present as float64 would
    const q = this.toNumber() / o.toNumber();
    const f = Num.fromDouble(q);
    if (f !== undefined) return f;
    return Num.of((a * 10n ** 34n) / den, -34);
  }

  /** Truncated remainder (Go big.Int Rem semantics on integers). */
  rem(o: Num): Num {
    const [a, b, e] = align(this, o);
    return Num.of(a % b, e);
  }

  cmp(o: Num): number {
    if (this.e === o.e) return this.m < o.m ? -1 : this.m > o.m ? 1 : 0;
    const sa = this.sign();
    const sb = o.sign();
    if (sa !== sb) return sa < sb ? -1 : 1;
    // compare magnitudes cheaply when exponents are far apart
    const da = digits(this.m) + this.e;
    const db = digits(o.m) + o.e;
    if (sa !== 0 && da !== db) return (da < db ? -1 : 1) * sa;
    const [a, b] = align(this, o);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  eq(o: Num): boolean {
    return this.m === o.m && this.e === o.e;
  }

  floor(): Num {
    if (this.e >= 0) return this;
    const p = 10n ** BigInt(-this.e);
    let q = this.m / p;
    if (this.m < 0n && q * p !== this.m) q -= 1n;
    return Num.of(q);
  }

  ceil(): Num {
    return this.neg().floor().neg();
  }

  /** Round half away from zero (Go math.Round). */
  round(): Num {
    if (this.e >= 0) return this;
    const half = Num.of(5n, -1);
    return this.sign() < 0 ? this.neg().add(half).floor().neg() : this.add(half).floor();
  }

  /** Canonical text: integers in plain digits, other numbers in plain or scientific notation. */
  toString(): string {
    if (this.m === 0n) return '0';
    const neg = this.m < 0n;
    const ds = (neg ? -this.m : this.m).toString();
    let out: string;
    if (this.e >= 0) {
      if (this.e + ds.length > 400) out = sci(ds, this.e);
      else out = ds + '0'.repeat(this.e);
    } else {
      const point = ds.length + this.e;
      if (point > 0) out = `${ds.slice(0, point)}.${ds.slice(point)}`;
      else if (point > -20) out = `0.${'0'.repeat(-point)}${ds}`;
      else out = sci(ds, this.e);
    }
    return neg ? `-${out}` : out;
  }

  /** Canonical key used for hashing values (equal numbers give equal keys). */
  key(): string {
    return `${this.m}e${this.e}`;
  }
}

function sci(ds: string, e: number): string {
  const exp = e + ds.length - 1;
  const mant = ds.length > 1 ? `${ds[0] ?? ''}.${ds.slice(1)}` : ds;
  return `${mant}e${exp >= 0 ? '+' : ''}${exp}`;
}

function digits(m: bigint): number {
  return (m < 0n ? -m : m).toString().length;
}

function align(a: Num, b: Num): [bigint, bigint, number] {
  if (a.e === b.e) return [a.m, b.m, a.e];
  if (a.e > b.e) return [a.m * 10n ** BigInt(a.e - b.e), b.m, b.e];
  return [a.m, b.m * 10n ** BigInt(b.e - a.e), a.e];
}
