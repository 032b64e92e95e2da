/**
 * Canonical JSON "CJ" (spec §1.6): serde_json compact output. Strings escape exactly `"`, `\`, and U+0000–U+001F
 * (short forms for \b \t \n \f \r, else lowercase \u00xx); nothing else. `JSON.stringify` matches this for every
 * well-formed string, and our parser rejects lone surrogates, so it is used directly. Sorting is by code point
 * (= UTF-8 byte order), never by UTF-16 code unit.
 */

export function cjString(value: string): string {
  return JSON.stringify(value);
}

/** Compares by Unicode code point (equivalently by UTF-8 bytes). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // A surrogate (D800–DFFF) encodes a code point ≥ U+10000, which sorts after every BMP character.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** `{"k":"v",…}` with keys sorted by code point. */
export function cjStringMap(map: ReadonlyMap<string, string>): string {
  const keys = [...map.keys()].sort(compareCodePoints);
  return '{' + keys.map((k) => cjString(k) + ':' + cjString(map.get(k) as string)).join(',') + '}';
}
