/**
 * Canonical JSON for the documents we sign or hash ourselves (rotation bundles, trust stores, audit entries):
 * object keys sorted by UTF-16 code units (as RFC 8785 JCS does), no whitespace, strings escaped by
 * `JSON.stringify`. Only strings, booleans, null, safe integers, arrays and plain objects are allowed: floats and
 * other types are refused, so every implementation produces the same bytes.
 *
 * Not used for the CryptoTensors header, which has its own canonical form (spec §1.6).
 */
import { BugError } from '../errors.ts';

export type CanonicalValue = string | number | boolean | null | readonly CanonicalValue[] | { readonly [key: string]: CanonicalValue | undefined };

export function canonicalJson(value: CanonicalValue | undefined): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new BugError('canonicalJson: only safe integers are allowed');
      return String(value);
    case 'object': {
      if (Array.isArray(value)) return '[' + (value as readonly CanonicalValue[]).map((v) => canonicalJson(v)).join(',') + ']';
      const obj = value as { readonly [key: string]: CanonicalValue | undefined };
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson(obj[k])).join(',') + '}';
    }
    default:
      throw new BugError(`canonicalJson: unsupported type ${typeof value}`);
  }
}
