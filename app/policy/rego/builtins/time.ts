/** time.* builtins: nanosecond timestamps, Go layouts, IANA zones (via Intl), an injectable clock. */
import { Num } from '../number.ts';
import type { Value } from '../value.ts';
import { def, fail, n, number, str, typeErr, type Registry } from './util.ts';

const MIN_NS = -(1n << 63n);
const MAX_NS = (1n << 63n) - 1n;
const NS_PER_MS = 1_000_000n;
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** Civil date from days since the epoch (proleptic Gregorian). */
function civil(days: bigint): [number, number, number] {
  const z = days + 719468n;
  const era = (z >= 0n ? z : z - 146096n) / 146097n;
  const doe = z - era * 146097n;
  const yoe = (doe - doe / 1460n + doe / 36524n - doe / 146096n) / 365n;
  const y = yoe + era * 400n;
  const doy = doe - (365n * yoe + yoe / 4n - yoe / 100n);
  const mp = (5n * doy + 2n) / 153n;
  const d = doy - (153n * mp + 2n) / 5n + 1n;
  const m = mp < 10n ? mp + 3n : mp - 9n;
  return [Number(m <= 2n ? y + 1n : y), Number(m), Number(d)];
}

function daysFromCivil(y0: number, m: number, d: number): bigint {
  const y = BigInt(m <= 2 ? y0 - 1 : y0);
  const era = (y >= 0n ? y : y - 399n) / 400n;
  const yoe = y - era * 400n;
  const mm = BigInt(m);
  const doy = (153n * (mm > 2n ? mm - 3n : mm + 9n) + 2n) / 5n + BigInt(d) - 1n;
  const doe = yoe * 365n + yoe / 4n - yoe / 100n + doy;
  return era * 146097n + doe - 719468n;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

/** Offset of an IANA zone at an instant, in seconds east of UTC. */
export function zoneOffset(tz: string, ns: bigint): number {
  if (tz === '' || tz === 'UTC' || tz === 'Local') return 0;
  const ms = Number(floorDiv(ns, NS_PER_MS));
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', era: 'short' });
  } catch {
    throw fail(`unknown time zone ${tz}`);
  }
  const clampedMs = Math.max(-8.64e15, Math.min(8.64e15, ms));
  const parts = fmt.formatToParts(new Date(clampedMs));
  const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value ?? '0');
  let year = get('year');
  if (parts.find((p) => p.type === 'era')?.value === 'BC') year = 1 - year;
  const local = Number(daysFromCivil(year, get('month'), get('day'))) * 86400 + get('hour') * 3600 + get('minute') * 60 + get('second');
  return local - Math.floor(clampedMs / 1000);
}

interface Broken {
  year: number;
  month: number;
  day: number;
  hour: number;
  min: number;
  sec: number;
  nsec: number;
  wday: number;
  yday: number;
  offset: number;
}

function breakDown(ns: bigint, tz: string): Broken {
  const offset = zoneOffset(tz, ns);
  const secs = floorDiv(ns, 1_000_000_000n) + BigInt(offset);
  const nsec = Number(ns - floorDiv(ns, 1_000_000_000n) * 1_000_000_000n);
  const days = floorDiv(secs, 86400n);
  const rem = Number(secs - days * 86400n);
  const [year, month, day] = civil(days);
  const wday = Number((((days + 4n) % 7n) + 7n) % 7n);
  const yday = Number(days - daysFromCivil(year, 1, 1)) + 1;
  return { year, month, day, hour: Math.floor(rem / 3600), min: Math.floor((rem % 3600) / 60), sec: rem % 60, nsec, wday, yday, offset };
}

function checkRange(ns: bigint, msg = 'time outside of valid range'): bigint {
  if (ns < MIN_NS || ns > MAX_NS) throw fail(msg);
  return ns;
}

function nsArg(v: Value, pos: number): { ns: bigint; tz: string; layout?: string } {
  if (v instanceof Num) {
    const b = v.isInt() ? v.toBigInt() : v.floor().toBigInt();
    if (b === undefined || b < MIN_NS || b > MAX_NS) throw fail('timestamp too big');
    return { ns: b, tz: 'UTC' };
  }
  if (Array.isArray(v)) {
    const arr = v as readonly Value[];
    const x = arr[0];
    const tz = arr[1];
    if (!(x instanceof Num)) throw typeErr(pos, 'number', x ?? null);
    if (typeof tz !== 'string') throw typeErr(pos, 'string', tz ?? null);
    const b = x.isInt() ? x.toBigInt() : x.floor().toBigInt();
    if (b === undefined || b < MIN_NS || b > MAX_NS) throw fail('timestamp too big');
    const layout = arr[2];
    return { ns: b, tz, layout: typeof layout === 'string' ? layout : undefined };
  }
  throw typeErr(pos, 'one of {number, array}', v);
}

/** Go layout tokens, longest first. */
const TOKENS = ['January', 'Monday', '2006', '-07:00:00', 'Z07:00:00', '-07:00', 'Z07:00', '-0700', 'Z0700', '-07', 'Z07', 'Jan', 'Mon', 'MST', '002', '__2', '_2', '01', '02', '03', '04', '05', '06', '15', 'PM', 'pm', '1', '2', '3', '4', '5'];

type Tok = { lit: string } | { tok: string } | { frac: string };

function tokenize(layout: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  let lit = '';
  while (i < layout.length) {
    const fm = /^[.,](0+|9+)(?![0-9])/.exec(layout.slice(i));
    if (fm !== null && (out.length > 0 || lit !== '') && /5$/.test(lit === '' ? tokText(out[out.length - 1]) : '')) {
      out.push({ frac: fm[0] });
      i += fm[0].length;
      continue;
    }
    const t = TOKENS.find((x) => layout.startsWith(x, i));
    if (t !== undefined) {
      if (lit !== '') out.push({ lit });
      lit = '';
      out.push({ tok: t });
      i += t.length;
      continue;
    }
    lit += layout[i] ?? '';
    i++;
  }
  if (lit !== '') out.push({ lit });
  return out;
}

function tokText(t: Tok | undefined): string {
  if (t === undefined) return '';
  return 'tok' in t ? t.tok : '';
}

const pad = (x: number, w: number): string => String(Math.abs(x)).padStart(w, '0');

export function formatTime(ns: bigint, tz: string, layout: string): string {
  const b = breakDown(ns, tz);
  let out = '';
  for (const t of tokenize(layout)) {
    if ('lit' in t) {
      out += t.lit;
      continue;
    }
    if ('frac' in t) {
      const digits = t.frac.length - 1;
      let f = String(b.nsec).padStart(9, '0').slice(0, digits);
      if (t.frac[1] === '9') {
        f = f.replace(/0+$/, '');
        if (f !== '') out += t.frac[0] + f;
      } else out += t.frac[0] + f;
      continue;
    }
    const off = b.offset;
    const sign = off < 0 ? '-' : '+';
    const oh = Math.floor(Math.abs(off) / 3600);
    const om = Math.floor((Math.abs(off) % 3600) / 60);
    const os = Math.abs(off) % 60;
    switch (t.tok) {
      case '2006':
        out += b.year < 0 ? `-${pad(b.year, 4)}` : pad(b.year, 4);
        break;
      case '06':
        out += pad(b.year % 100, 2);
        break;
      case 'January':
        out += MONTHS[b.month - 1] ?? '';
        break;
      case 'Jan':
        out += (MONTHS[b.month - 1] ?? '').slice(0, 3);
        break;
      case '01':
        out += pad(b.month, 2);
        break;
      case '1':
        out += String(b.month);
        break;
      case 'Monday':
        out += DAYS[b.wday] ?? '';
        break;
      case 'Mon':
        out += (DAYS[b.wday] ?? '').slice(0, 3);
        break;
      case '02':
        out += pad(b.day, 2);
        break;
      case '_2':
        out += String(b.day).padStart(2, ' ');
        break;
      case '2':
        out += String(b.day);
        break;
      case '002':
        out += pad(b.yday, 3);
        break;
      case '__2':
        out += String(b.yday).padStart(3, ' ');
        break;
      case '15':
        out += pad(b.hour, 2);
        break;
      case '03':
        out += pad(b.hour % 12 === 0 ? 12 : b.hour % 12, 2);
        break;
      case '3':
        out += String(b.hour % 12 === 0 ? 12 : b.hour % 12);
        break;
      case '04':
        out += pad(b.min, 2);
        break;
      case '4':
        out += String(b.min);
        break;
      case '05':
        out += pad(b.sec, 2);
        break;
      case '5':
        out += String(b.sec);
        break;
      case 'PM':
        out += b.hour >= 12 ? 'PM' : 'AM';
        break;
      case 'pm':
        out += b.hour >= 12 ? 'pm' : 'am';
        break;
      case 'MST':
        out += off === 0 ? 'UTC' : `${sign}${pad(oh, 2)}${om !== 0 ? pad(om, 2) : ''}`;
        break;
      case 'Z07:00:00':
      case 'Z07:00':
      case 'Z0700':
      case 'Z07':
      case '-07:00:00':
      case '-07:00':
      case '-0700':
      case '-07': {
        if (t.tok.startsWith('Z') && off === 0) {
          out += 'Z';
          break;
        }
        const tk = t.tok.replace('Z', '-');
        if (tk === '-07:00:00') out += `${sign}${pad(oh, 2)}:${pad(om, 2)}:${pad(os, 2)}`;
        else if (tk === '-07:00') out += `${sign}${pad(oh, 2)}:${pad(om, 2)}`;
        else if (tk === '-0700') out += `${sign}${pad(oh, 2)}${pad(om, 2)}`;
        else out += `${sign}${pad(oh, 2)}`;
        break;
      }
      default:
        out += t.tok;
    }
  }
  return out;
}

const RFC3339 = '2006-01-02T15:04:05Z07:00';
const RFC3339NANO = '2006-01-02T15:04:05.999999999Z07:00';

const NAMED_LAYOUTS: Record<string, string> = {
  ANSIC: 'Mon Jan _2 15:04:05 2006',
  UnixDate: 'Mon Jan _2 15:04:05 MST 2006',
  RubyDate: 'Mon Jan 02 15:04:05 -0700 2006',
  RFC822: '02 Jan 06 15:04 MST',
  RFC822Z: '02 Jan 06 15:04 -0700',
  RFC850: 'Monday, 02-Jan-06 15:04:05 MST',
  RFC1123: 'Mon, 02 Jan 2006 15:04:05 MST',
  RFC1123Z: 'Mon, 02 Jan 2006 15:04:05 -0700',
  RFC3339,
  RFC3339Nano: RFC3339NANO,
  Kitchen: '3:04PM',
  Stamp: 'Jan _2 15:04:05',
  StampMilli: 'Jan _2 15:04:05.000',
  StampMicro: 'Jan _2 15:04:05.000000',
  StampNano: 'Jan _2 15:04:05.000000000',
  DateTime: '2006-01-02 15:04:05',
  DateOnly: '2006-01-02',
  TimeOnly: '15:04:05',
};

/** Parses a value with a Go layout; returns ns since the epoch. */
export function parseTime(layout: string, value: string): bigint {
  const toks = tokenize(layout);
  let i = 0;
  let year = 1;
  let month = 1;
  let day = 1;
  let hour = 0;
  let min = 0;
  let sec = 0;
  let nsec = 0;
  let pm: boolean | undefined;
  let offset: number | undefined;
  const bad = (): never => {
    throw fail(`parsing time ${JSON.stringify(value)} as ${JSON.stringify(layout)}: cannot parse ${JSON.stringify(value.slice(i))} as ${JSON.stringify(layout)}`);
  };
  const num = (min0: number, max0: number): number => {
    const m = new RegExp(`^\\d{${min0},${max0}}`).exec(value.slice(i));
    if (m === null) return bad();
    i += m[0].length;
    return Number(m[0]);
  };
  for (let ti = 0; ti < toks.length; ti++) {
    const t = toks[ti] as Tok;
    if ('lit' in t) {
      if (!value.startsWith(t.lit, i)) bad();
      i += t.lit.length;
      continue;
    }
    if ('frac' in t) {
      const m = /^[.,](\d+)/.exec(value.slice(i));
      if (m === null) {
        if (t.frac[1] === '9') continue;
        bad();
      }
      const digits = m?.[1] ?? '';
      i += 1 + digits.length;
      nsec = Number(digits.slice(0, 9).padEnd(9, '0'));
      continue;
    }
    switch (t.tok) {
      case '2006': {
        const m = /^-?\d{4}/.exec(value.slice(i));
        if (m === null) bad();
        year = Number(m?.[0]);
        i += m?.[0].length ?? 0;
        break;
      }
      case '06': {
        const y = num(2, 2);
        year = y >= 69 ? 1900 + y : 2000 + y;
        break;
      }
      case 'January':
      case 'Jan': {
        const names = t.tok === 'Jan' ? MONTHS.map((x) => x.slice(0, 3)) : MONTHS;
        const idx = names.findIndex((x) => value.slice(i, i + x.length).toLowerCase() === x.toLowerCase());
        if (idx < 0) bad();
        month = idx + 1;
        i += (names[idx] ?? '').length;
        break;
      }
      case 'Monday':
      case 'Mon': {
        const names = t.tok === 'Mon' ? DAYS.map((x) => x.slice(0, 3)) : DAYS;
        const idx = names.findIndex((x) => value.slice(i, i + x.length).toLowerCase() === x.toLowerCase());
        if (idx < 0) bad();
        i += (names[idx] ?? '').length;
        break;
      }
      case '01':
        month = num(2, 2);
        break;
      case '1':
        month = num(1, 2);
        break;
      case '02':
        day = num(2, 2);
        break;
      case '_2':
        if (value[i] === ' ') i++;
        day = num(1, 2);
        break;
      case '2':
        day = num(1, 2);
        break;
      case '002':
      case '__2':
        num(1, 3);
        break;
      case '15':
        hour = num(1, 2);
        break;
      case '03':
        hour = num(2, 2);
        break;
      case '3':
        hour = num(1, 2);
        break;
      case '04':
        min = num(2, 2);
        break;
      case '4':
        min = num(1, 2);
        break;
      case '05':
      case '5': {
        sec = num(t.tok === '05' ? 2 : 1, 2);
        // fractional seconds directly after seconds even when the layout has none
        const next = toks[ti + 1];
        if ((next === undefined || !('frac' in next)) && /^[.,]\d/.test(value.slice(i))) {
          const m = /^[.,](\d+)/.exec(value.slice(i));
          const digits = m?.[1] ?? '';
          i += 1 + digits.length;
          nsec = Number(digits.slice(0, 9).padEnd(9, '0'));
        }
        break;
      }
      case 'PM':
      case 'pm': {
        const s = value.slice(i, i + 2).toUpperCase();
        if (s !== 'AM' && s !== 'PM') bad();
        pm = s === 'PM';
        i += 2;
        break;
      }
      case 'MST': {
        const m = /^[A-Z]{3,5}|^[+-]\d{2,4}/.exec(value.slice(i));
        if (m === null) bad();
        i += m?.[0].length ?? 0;
        if (m?.[0] === 'UTC' || m?.[0] === 'GMT') offset = 0;
        break;
      }
      default: {
        // zone offsets
        if (t.tok.startsWith('Z') && value[i] === 'Z') {
          i++;
          offset = 0;
          break;
        }
        const m = /^([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?/.exec(value.slice(i));
        if (m === null) bad();
        const sgn = m?.[1] === '-' ? -1 : 1;
        const oh = Number(m?.[2] ?? '0');
        const om = Number(m?.[3] ?? '0');
        const os = Number(m?.[4] ?? '0');
        if (oh > 24 || om > 59 || os > 59) bad();
        offset = sgn * (oh * 3600 + om * 60 + os);
        i += m?.[0].length ?? 0;
      }
    }
  }
  if (i !== value.length) throw fail(`parsing time ${JSON.stringify(value)}: extra text: ${JSON.stringify(value.slice(i))}`);
  if (pm !== undefined) {
    if (hour > 12) bad();
    if (pm && hour < 12) hour += 12;
    if (!pm && hour === 12) hour = 0;
  }
  const dim = [31, year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (month < 1 || month > 12) throw fail(`parsing time ${JSON.stringify(value)}: month out of range`);
  if (day < 1 || day > (dim[month - 1] ?? 31)) throw fail(`parsing time ${JSON.stringify(value)}: day out of range`);
  if (hour > 23 || min > 59 || sec > 59) throw fail(`parsing time ${JSON.stringify(value)}: hour out of range`);
  const secs = daysFromCivil(year, month, day) * 86400n + BigInt(hour * 3600 + min * 60 + sec) - BigInt(offset ?? 0);
  return checkRange(secs * 1_000_000_000n + BigInt(nsec));
}

/** Go time.ParseDuration. */
export function parseDuration(s: string): bigint {
  const orig = s;
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    neg = s.startsWith('-');
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw fail(`time: invalid duration ${JSON.stringify(orig)}`);
  const units: Record<string, bigint> = { ns: 1n, us: 1000n, 'µs': 1000n, 'μs': 1000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };
  let total = Num.int(0);
  while (s !== '') {
    const m = /^(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/.exec(s);
    if (m === null || m[1] === '' || m[1] === '.') {
      if (/^(\d*\.?\d*)$/.test(s)) throw fail(`time: missing unit in duration ${JSON.stringify(orig)}`);
      const um = /^\d*\.?\d*([^\d.]+)/.exec(s);
      if (um !== null && m === null && um[1] !== undefined && !/^(ns|us|µs|μs|ms|s|m|h)/.test(um[1])) throw fail(`time: unknown unit ${JSON.stringify(um[1].replace(/\d.*$/, ''))} in duration ${JSON.stringify(orig)}`);
      throw fail(`time: invalid duration ${JSON.stringify(orig)}`);
    }
    const v = Num.parse(m[1] ?? '0') ?? Num.int(0);
    total = total.add(v.mul(Num.int(units[m[2] ?? 'ns'] ?? 1n)));
    s = s.slice(m[0].length);
  }
  const r = total.floor().toBigInt() ?? 0n;
  if (r > MAX_NS) throw fail(`time: invalid duration ${JSON.stringify(orig)}`);
  return neg ? -r : r;
}

function addDate(ns: bigint, years: number, months: number, days: number): bigint {
  const b = breakDown(ns, 'UTC');
  let y = b.year + years;
  let m = b.month + months;
  y += Math.floor((m - 1) / 12);
  m = ((((m - 1) % 12) + 12) % 12) + 1;
  // Go normalizes overflowing days (e.g. Jan 31 + 1 month = Mar 3)
  const dayCount = daysFromCivil(y, m, 1) + BigInt(b.day - 1 + days);
  const secs = dayCount * 86400n + BigInt(b.hour * 3600 + b.min * 60 + b.sec);
  return secs * 1_000_000_000n + BigInt(b.nsec);
}

function diff(a: bigint, atz: string, c: bigint, ctz: string): Value {
  let x = breakDown(a, atz);
  let y = breakDown(c, ctz);
  if (a > c) [x, y] = [y, x];
  // both in the first argument's location, as Go does via t2.In(t1.Location())
  let year = y.year - x.year;
  let month = y.month - x.month;
  let day = y.day - x.day;
  let hour = y.hour - x.hour;
  let min = y.min - x.min;
  let sec = y.sec - x.sec;
  if (sec < 0) {
    sec += 60;
    min--;
  }
  if (min < 0) {
    min += 60;
    hour--;
  }
  if (hour < 0) {
    hour += 24;
    day--;
  }
  if (day < 0) {
    // days in the earlier date's month, as Go's time.Date(y1, M1, 32) normalisation gives
    const dim = Number(daysFromCivil(x.month === 12 ? x.year + 1 : x.year, x.month === 12 ? 1 : x.month + 1, 1) - daysFromCivil(x.year, x.month, 1));
    day += dim;
    month--;
  }
  if (month < 0) {
    month += 12;
    year--;
  }
  return [n(year), n(month), n(day), n(hour), n(min), n(sec)];
}

export function registerTime(reg: Registry): void {
  def(reg, 'time.now_ns', 0, (_a, ctx) => Num.int(ctx.nowNs()));
  def(reg, 'test.sleep', 1, (a) => {
    str(a, 0);
    return null;
  });
  def(reg, 'time.parse_rfc3339_ns', 1, (a) => {
    const s = str(a, 0);
    return Num.int(parseTime(RFC3339, s));
  });
  def(reg, 'time.parse_ns', 2, (a) => {
    const layout = str(a, 0);
    return Num.int(parseTime(NAMED_LAYOUTS[layout] ?? layout, str(a, 1)));
  });
  def(reg, 'time.parse_duration_ns', 1, (a) => Num.int(parseDuration(str(a, 0))));
  def(reg, 'time.date', 1, (a) => {
    const { ns, tz } = nsArg(a[0] as Value, 1);
    const b = breakDown(ns, tz);
    return [n(b.year), n(b.month), n(b.day)];
  });
  def(reg, 'time.clock', 1, (a) => {
    const { ns, tz } = nsArg(a[0] as Value, 1);
    const b = breakDown(ns, tz);
    return [n(b.hour), n(b.min), n(b.sec)];
  });
  def(reg, 'time.weekday', 1, (a) => {
    const { ns, tz } = nsArg(a[0] as Value, 1);
    return DAYS[breakDown(ns, tz).wday] ?? '';
  });
  def(reg, 'time.add_date', 4, (a) => {
    const x = number(a, 0).toBigInt();
    if (x === undefined) throw fail('time outside of valid range');
    const ys = number(a, 1).toSafeInt() ?? 0;
    const ms = number(a, 2).toSafeInt() ?? 0;
    const ds = number(a, 3).toSafeInt() ?? 0;
    return Num.int(checkRange(addDate(x, ys, ms, ds)));
  });
  def(reg, 'time.diff', 2, (a) => {
    const x = nsArg(a[0] as Value, 1);
    const y = nsArg(a[1] as Value, 2);
    return diff(x.ns, x.tz, y.ns, x.tz === y.tz ? y.tz : x.tz);
  });
  def(reg, 'time.format', 1, (a) => {
    const { ns, tz, layout } = nsArg(a[0] as Value, 1);
    const l = layout === undefined ? RFC3339NANO : (NAMED_LAYOUTS[layout] ?? layout);
    return formatTime(ns, tz, l);
  });
}
