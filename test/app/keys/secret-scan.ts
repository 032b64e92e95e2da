/** Test helper: asserts that no key's secret bytes appear in a text, in any common encoding. */
import assert from 'node:assert/strict';
import type { KeyMaterial } from '../../../app/keys/key.ts';

export function secretEncodings(bytes: Uint8Array): string[] {
  const b = Buffer.from(bytes);
  const std = b.toString('base64');
  const url = b.toString('base64url');
  const hex = b.toString('hex');
  const out = [std, std.replace(/=+$/, ''), url, hex, hex.toUpperCase(), b.toString('latin1')];
  // also the middle of the encodings, in case of a different alignment or a truncated print
  for (const e of [std, url, hex]) if (e.length > 24) out.push(e.slice(4, 24));
  return out;
}

export function secretsOf(keys: readonly KeyMaterial[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const k of keys) {
    if (k.kind === 'master') out.push(k.key);
    else if (k.seed !== undefined) out.push(k.seed);
  }
  return out;
}

export function findKeyBytes(text: string, keys: readonly KeyMaterial[] | readonly Uint8Array[]): string | undefined {
  const secrets = (keys as readonly (KeyMaterial | Uint8Array)[]).flatMap((k) => (k instanceof Uint8Array ? [k] : secretsOf([k])));
  for (const s of secrets) for (const enc of secretEncodings(s)) if (text.includes(enc)) return `found an encoding of key bytes (${enc.length} characters)`;
  return undefined;
}

export function assertNoKeyBytes(text: string, keys: readonly KeyMaterial[] | readonly Uint8Array[]): void {
  const hit = findKeyBytes(text, keys);
  assert.equal(hit, undefined, hit);
}
