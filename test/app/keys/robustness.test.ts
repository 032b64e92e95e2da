// STYLE §7 for the key code: a wrong-type catalogue run against every public parser/constructor, random-bytes
// parser tests that accept only our error codes, and byte-flip tamper tests over the serialized forms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError, type ErrorCode } from '../../../app/errors.ts';
import { parseConfigKey, parseJwk, parseJwkOrSet, serializeJwk } from '../../../app/keys/jwk.ts';
import { decodeShare, encodeShare, splitSecret, combineShares } from '../../../app/keys/shamir.ts';
import { parseEnvelope } from '../../../app/keys/passphrase-envelope.ts';
import { parseRotationBundle } from '../../../app/keys/rotation-bundle.ts';
import { parseTrustStore } from '../../../app/keys/trust.ts';
import { parseKeyset } from '../../../app/keys/keyset.ts';
import { decodeStoredKey } from '../../../app/keys/keystore.ts';
import { fromB64std, fromB64url, fromHex } from '../../../app/crypto/encoding.ts';
import { generateMasterKey, generateSigningKey, makeMasterKey, makeSigningKey, verifyBytes } from '../../../app/keys/key.ts';
import { parseEntry } from '../../../app/node/audit/entry.ts';
import { verifyAuditLog } from '../../../app/node/audit/verify.ts';

const WRONG_TYPES: unknown[] = [undefined, null, 0, 1, -1, 1.5, NaN, Infinity, 2n ** 64n, '', 'x', true, false, [], [1], {}, { kty: 1 }, new Uint8Array(0), new Uint8Array(33), new Uint16Array(16), () => 1, Symbol('s'), new Date(0), new Map()];

function onlyOurCodes(fn: () => unknown, allowed: readonly ErrorCode[], label: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isAppError(e), `${label}: threw a non-AppError ${String(e)}`);
    assert.ok(allowed.includes(e.code), `${label}: unexpected code ${e.code}`);
  }
}

void test('wrong-type catalogue: parsers and constructors fail only with our codes', () => {
  for (const v of WRONG_TYPES) {
    const label = typeof v === 'symbol' ? 'symbol' : typeof v === 'bigint' ? 'bigint' : JSON.stringify(v) ?? String(v);
    onlyOurCodes(() => parseJwk(v), ['KEY_INVALID', 'KEY_ALG_MISMATCH'], `parseJwk(${label})`);
    onlyOurCodes(() => parseConfigKey(v, 'master'), ['KEY_INVALID', 'KEY_ALG_MISMATCH'], `parseConfigKey(${label})`);
    onlyOurCodes(() => parseConfigKey(v, 'signing'), ['KEY_INVALID', 'KEY_ALG_MISMATCH'], `parseConfigKey(${label})`);
    onlyOurCodes(() => parseKeyset(v), ['VALIDATION'], `parseKeyset(${label})`);
    onlyOurCodes(() => makeMasterKey('aes256gcm', v as Uint8Array), ['KEY_INVALID'], `makeMasterKey(${label})`);
    onlyOurCodes(() => makeSigningKey({ seed: v as Uint8Array }), ['KEY_INVALID'], `makeSigningKey(seed ${label})`);
    onlyOurCodes(() => makeSigningKey({ publicKey: v as Uint8Array }), ['KEY_INVALID'], `makeSigningKey(pk ${label})`);
    assert.equal(verifyBytes(v as Uint8Array, new Uint8Array(1), new Uint8Array(64)), false);
    onlyOurCodes(() => splitSecret(v as Uint8Array, 2, 3), ['VALIDATION'], `splitSecret(${label})`);
    onlyOurCodes(() => splitSecret(new Uint8Array(16), v as number, 3), ['VALIDATION'], `splitSecret(M ${label})`);
    if (typeof v === 'string') {
      for (const f of [fromB64std, fromB64url, fromHex]) f(v);
      onlyOurCodes(() => decodeShare(v), ['KEY_INVALID'], `decodeShare(${label})`);
    }
  }
});

function randomText(rnd: () => number, len: number, alphabet: string): string {
  let s = '';
  for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
  return s;
}

void test('random input to every text parser yields our error codes only', () => {
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const jsonish = '{}[]":,0123456789abcdefkxyd-_=+/ \\ntruefalsenull';
  const samples = [
    '{"kty":"oct","alg":"aes256gcm","k":"',
    '{"keys":[{"kty":"okp","alg":"ed25519","x":"',
    '{"format":"model-vault/keystore","version":1,"kdf":{"name":"scrypt","N":1024,"r":8,"p":1,"salt":"',
    '{"format":"model-vault/rotation-bundle","version":1,',
    '{"version":1,"entries":[{',
    '{"v":1,"seq":1,',
  ];
  for (let i = 0; i < 1500; i++) {
    const text = (samples[i % samples.length] as string).slice(0, Math.floor(rnd() * 60)) + randomText(rnd, Math.floor(rnd() * 80), jsonish);
    onlyOurCodes(() => parseJwkOrSet(text), ['KEY_INVALID', 'KEY_ALG_MISMATCH'], 'parseJwkOrSet');
    onlyOurCodes(() => parseEnvelope(text, 'model-vault/keystore', 'x'), ['VALIDATION'], 'parseEnvelope');
    onlyOurCodes(() => parseRotationBundle(text), ['VALIDATION'], 'parseRotationBundle');
    onlyOurCodes(() => parseTrustStore(text), ['VALIDATION'], 'parseTrustStore');
    onlyOurCodes(() => decodeStoredKey(text, 'k'), ['KEY_INVALID', 'KEY_ALG_MISMATCH'], 'decodeStoredKey');
    onlyOurCodes(() => decodeShare('mvshare1-' + randomText(rnd, Math.floor(rnd() * 200), 'ABCDEFabcdef0123456789-_')), ['KEY_INVALID'], 'decodeShare');
    assert.doesNotThrow(() => parseEntry(text));
    assert.doesNotThrow(() => verifyAuditLog(text + '\n' + text));
  }
});

void test('byte flips: every single-bit change of a serialized JWK is rejected or changes the key', () => {
  const keys = [generateMasterKey(), generateSigningKey()];
  for (const key of keys) {
    const text = serializeJwk(key, { includeSecret: true });
    for (let i = 0; i < text.length; i++) {
      for (const bit of [1, 2, 32]) {
        const flipped = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ bit) + text.slice(i + 1);
        try {
          const got = parseJwk(JSON.parse(flipped));
          // accepted: must differ somewhere visible (key bytes, kid, alg spelling)
          assert.notEqual(serializeJwk(got, { includeSecret: true }), text);
        } catch (e) {
          assert.ok(e instanceof SyntaxError || isAppError(e), String(e));
        }
      }
    }
  }
});

void test('byte flips in a share string never rebuild a wrong key silently', () => {
  const secret = new Uint8Array(32).map((_, i) => i * 7);
  const shares = splitSecret(secret, 2, 2).map(encodeShare);
  const s0 = shares[0]!;
  for (let i = 9; i < s0.length; i++) {
    const flipped = s0.slice(0, i) + String.fromCharCode(s0.charCodeAt(i) ^ 1) + s0.slice(i + 1);
    try {
      const r = combineShares([decodeShare(flipped), decodeShare(shares[1]!)]);
      assert.deepEqual(r.secret, secret); // only possible if the flip hit the MAC field, which is then reported
      assert.deepEqual(r.rejected, [1]);
    } catch (e) {
      assert.ok(isAppError(e) && e.code === 'KEY_INVALID', String(e));
    }
  }
});
