import { test } from 'node:test';
import { codeOf } from './helpers.ts';
import assert from 'node:assert/strict';
import { parseConfigKey, parseJwk, parseJwkOrSet, serializeJwk, serializeJwkSet, toReferenceJwk } from '../../../app/keys/jwk.ts';
import {
  describeKey,
  fingerprintOf,
  formatFingerprint,
  generateMasterKey,
  generateSigningKey,
  isFingerprint,
  isValidKid,
  makeMasterKey,
  makeSigningKey,
  normalizeMasterAlg,
  signBytes,
  verifyBytes,
  type MasterKey,
  type SigningKey,
} from '../../../app/keys/key.ts';
import { isAppError } from '../../../app/errors.ts';

// Spec §2.6 example keys.
const K_B64 = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';
const D_B64 = 'ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=';
const X_B64 = 'Kay64UG8yvCyLhqU000LxzYeUm0L/hLIl5S8kyKWbdc=';
const b64url = (s: string): string => Buffer.from(s, 'base64').toString('base64url');


void test('reference dialect: read and written back byte-exactly (spec §4.1, test-vectors-plan form)', () => {
  const enc = '{"kty":"oct","alg":"aes256gcm","kid":"ex-enc","k":"' + K_B64 + '"}';
  const sign = '{"kty":"okp","alg":"ed25519","kid":"ex-sign","x":"' + X_B64 + '","d":"' + D_B64 + '"}';
  const withJku = '{"kty":"oct","alg":"AES-256-GCM","kid":"ct-enc","jku":"file:///keys/ct.jwk","k":"' + K_B64 + '"}';
  for (const text of [enc, sign, withJku]) {
    const key = parseJwk(JSON.parse(text), { mode: 'creation' });
    assert.equal(serializeJwk(key, { includeSecret: true }), text);
  }
  const set = `{"keys":[${enc},${sign}]}`;
  const keys = parseJwkOrSet(set);
  assert.equal(serializeJwkSet(keys, { includeSecret: true }), set);
  const m = keys[0] as MasterKey;
  assert.equal(m.alg, 'aes256gcm');
  assert.deepEqual(m.key, Uint8Array.from({ length: 32 }, (_, i) => i));
  const s = keys[1] as SigningKey;
  assert.equal(Buffer.from(s.publicKey).toString('base64'), X_B64);
});

void test('public export never carries secrets', () => {
  const s = parseJwk({ kty: 'okp', alg: 'ed25519', kid: 'a', x: X_B64, d: D_B64 });
  assert.deepEqual(toReferenceJwk(s, { includeSecret: false }), { kty: 'okp', alg: 'ed25519', kid: 'a', x: X_B64 });
  const m = parseJwk({ kty: 'oct', alg: 'aes128gcm', k: 'AAECAwQFBgcICQoLDA0ODw==' });
  assert.deepEqual(toReferenceJwk(m, { includeSecret: false }), { kty: 'oct', alg: 'aes128gcm' });
});

void test('RFC 8037 / RFC 7517 JWKs are accepted on input and emitted in the reference dialect', () => {
  const s = parseJwk({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: 'rfc', x: b64url(X_B64), d: b64url(D_B64) });
  assert.equal(serializeJwk(s, { includeSecret: true }), `{"kty":"okp","alg":"ed25519","kid":"rfc","x":"${X_B64}","d":"${D_B64}"}`);
  const m = parseJwk({ kty: 'oct', alg: 'A256GCM', k: b64url(K_B64) });
  assert.equal(serializeJwk(m, { includeSecret: true }), `{"kty":"oct","alg":"aes256gcm","k":"${K_B64}"}`);
  // RFC 8032 test vector 1: the seed derives the given public key
  const v1 = parseJwk({ kty: 'OKP', crv: 'Ed25519', d: b64url(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex').toString('base64')), x: b64url(Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex').toString('base64')) });
  assert.equal(v1.kind, 'signing');
});

void test('invalid JWKs: every case fails with KEY_INVALID or KEY_ALG_MISMATCH', () => {
  const cases: [unknown, string][] = [
    [null, 'KEY_INVALID'],
    [[], 'KEY_INVALID'],
    ['{}', 'KEY_INVALID'],
    [{}, 'KEY_INVALID'],
    [{ kty: 'OCT', alg: 'aes256gcm', k: K_B64 }, 'KEY_INVALID'],
    [{ kty: 'oct', k: K_B64 }, 'KEY_INVALID'],
    [{ kty: 'oct', alg: '', k: K_B64 }, 'KEY_INVALID'],
    [{ kty: 'oct', alg: 'aes_256_gcm', k: K_B64 }, 'KEY_ALG_MISMATCH'],
    [{ kty: 'oct', alg: 'aes128gcm', k: K_B64 }, 'KEY_INVALID'],
    [{ kty: 'oct', alg: 'aes256gcm' }, 'KEY_INVALID'],
    [{ kty: 'oct', alg: 'aes256gcm', k: b64url(K_B64) }, 'KEY_INVALID'],
    [{ kty: 'oct', alg: 'aes256gcm', k: K_B64.slice(0, -1) }, 'KEY_INVALID'],
    [{ kty: 'oct', alg: 'aes256gcm', k: 42 }, 'KEY_INVALID'],
    [{ kty: 'oct', alg: 'aes256gcm', k: K_B64, kid: 7 }, 'KEY_INVALID'],
    [{ kty: 'okp', alg: 'ed25519' }, 'KEY_INVALID'],
    [{ kty: 'okp', alg: 'ed25519', d: D_B64 }, 'KEY_INVALID'],
    [{ kty: 'okp', alg: 'EdDSA', x: X_B64 }, 'KEY_ALG_MISMATCH'],
    [{ kty: 'okp', x: X_B64 }, 'KEY_INVALID'],
    [{ kty: 'okp', alg: 'ed25519', x: K_B64, d: D_B64 }, 'KEY_INVALID'],
    [{ kty: 'okp', alg: 'ed25519', x: 'AAAA' }, 'KEY_INVALID'],
    [{ kty: 'OKP', crv: 'X25519', x: b64url(X_B64) }, 'KEY_ALG_MISMATCH'],
    [{ kty: 'OKP', crv: 'Ed25519', x: X_B64 }, 'KEY_INVALID'],
    [{ kty: 'RSA', n: 'AQAB' }, 'KEY_INVALID'],
  ];
  for (const [value, code] of cases) assert.equal(codeOf(() => parseJwk(value)), code, JSON.stringify(value));
  assert.equal(codeOf(() => parseJwk({ kty: 'okp', alg: 'ed25519', x: X_B64 }, { mode: 'creation' })), 'KEY_INVALID');
  assert.equal(codeOf(() => parseJwkOrSet('not json')), 'KEY_INVALID');
});

void test('error messages never quote key material', () => {
  const secretish = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA';
  for (const value of [{ kty: 'oct', alg: 'aes256gcm', k: secretish }, { kty: 'okp', alg: 'ed25519', x: X_B64, d: secretish }, { kty: 'oct', alg: secretish, k: K_B64 }]) {
    try {
      parseJwk(value);
      assert.fail('should throw');
    } catch (e) {
      assert.ok(isAppError(e));
      assert.ok(!e.message.includes(secretish), e.message);
      assert.ok(!e.message.includes(K_B64));
    }
  }
});

void test('config-form dicts (§4.2): aliases, defaults, and no silent key generation (W-8)', () => {
  const m = parseConfigKey({ key: K_B64, kid: 'c' }, 'master');
  assert.equal(m.alg, 'aes256gcm');
  const s = parseConfigKey({ private: D_B64 }, 'signing');
  assert.equal(Buffer.from(s.publicKey).toString('base64'), X_B64);
  const v = parseConfigKey({ x: X_B64 }, 'signing');
  assert.equal(v.seed, undefined);
  assert.equal(codeOf(() => parseConfigKey({}, 'master')), 'KEY_INVALID');
  assert.equal(codeOf(() => parseConfigKey({}, 'signing')), 'KEY_INVALID');
  assert.equal(codeOf(() => parseConfigKey({ public: K_B64, private: D_B64 }, 'signing')), 'KEY_INVALID');
});

void test('alg normalization follows the reference (§3.1)', () => {
  assert.equal(normalizeMasterAlg('AES-128-GCM'), 'aes128gcm');
  assert.equal(normalizeMasterAlg('ChaCha20-Poly1305'), 'chacha20poly1305');
  assert.equal(normalizeMasterAlg('A256GCM'), undefined);
  assert.equal(normalizeMasterAlg('aes_256_gcm'), undefined);
});

void test('fingerprints: stable, kind- and alg-separated, never the key; kids follow the convention', () => {
  const bytes = new Uint8Array(32).fill(7);
  const a = makeMasterKey('aes256gcm', bytes, { kid: 'one' });
  const b = makeMasterKey('aes256gcm', bytes, { kid: 'two' });
  const c = makeMasterKey('chacha20poly1305', bytes);
  assert.equal(fingerprintOf(a), fingerprintOf(b));
  assert.notEqual(fingerprintOf(a), fingerprintOf(c));
  assert.ok(isFingerprint(fingerprintOf(a)));
  assert.match(formatFingerprint(fingerprintOf(a)), /^mvfp1:([0-9a-f]{4} ){7}[0-9a-f]{4}$/);
  const g = generateMasterKey('aes128gcm', { now: new Date('2026-11-21T00:00:00Z') });
  assert.match(g.kid!, /^mv-enc-20261121-[0-9a-f]{8}$/);
  assert.ok(fingerprintOf(g).slice(6).startsWith(g.kid!.slice(-8)));
  const info = describeKey(g);
  assert.deepEqual(Object.keys(info).sort(), ['alg', 'fingerprint', 'kid', 'kind', 'verifyOnly']);
  for (const kid of ['a', 'mv-enc-1', 'ex.sign:2@x+y_z']) assert.ok(isValidKid(kid));
  for (const kid of ['', '-a', 'a b', 'a/b', 'x'.repeat(129), 'é']) assert.ok(!isValidKid(kid));
});

void test('signing keys: sign and strict verify', () => {
  const k = generateSigningKey();
  const msg = new TextEncoder().encode('hello');
  const sig = signBytes(k, msg);
  assert.ok(verifyBytes(k.publicKey, msg, sig));
  const bad = sig.slice();
  bad[0]! ^= 1;
  assert.ok(!verifyBytes(k.publicKey, msg, bad));
  assert.ok(!verifyBytes(k.publicKey, msg, sig.subarray(0, 63)));
  assert.ok(!verifyBytes(new Uint8Array(32), msg, sig));
  assert.match(k.kid!, /^mv-sign-\d{8}-[0-9a-f]{8}$/);
});

void test('vectors: RFC 8032 test 1 and the spec §2.6 header signature, through our JWK parsing', () => {
  // RFC 8032 §7.1 TEST 1 (empty message)
  const k1 = makeSigningKey({ seed: Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex') });
  assert.equal(Buffer.from(k1.publicKey).toString('hex'), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const sig1 = signBytes(k1, new Uint8Array(0));
  assert.equal(Buffer.from(sig1).toString('hex'), 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
  assert.ok(verifyBytes(k1.publicKey, new Uint8Array(0), sig1));
  // spec §2.6: the example signing key (reference dialect) signs the 641-byte canonical header
  const sign = parseJwk({ kty: 'okp', alg: 'ed25519', kid: 'ex-sign', x: X_B64, d: D_B64 }, { mode: 'creation' }) as SigningKey;
  const message = new TextEncoder().encode("{\"__metadata__\":{\"__crypto_keys__\":\"{\\\"chunk_size\\\":8,\\\"enc\\\":{\\\"alg\\\":\\\"aes256gcm\\\",\\\"kid\\\":\\\"ex-enc\\\",\\\"kty\\\":\\\"oct\\\"},\\\"sign\\\":{\\\"alg\\\":\\\"ed25519\\\",\\\"kid\\\":\\\"ex-sign\\\",\\\"kty\\\":\\\"okp\\\"},\\\"version\\\":\\\"2\\\"}\",\"__encryption__\":\"{\\\"w\\\":{\\\"wrapped_key\\\":\\\"6Lp8xd1M8DmWy/VDdsjEUuJjpKkvyVXVD3gG41cOC+c=\\\",\\\"key_iv\\\":\\\"ZGVmZ2hpamtsbW5v\\\",\\\"key_tag\\\":\\\"xtv8GGgc1dlIdosn2vEr7w==\\\",\\\"base_iv\\\":\\\"yMnKy8zNzs/Q0dLT\\\",\\\"tags\\\":\\\"lRWyCzUEZyBw4fX7aGGpEv0TdKEUTmG9wyyu/VQRUjM=\\\"}}\",\"__policy__\":\"{\\\"local\\\":\\\"package model\\\\nallow = true\\\",\\\"remote\\\":\\\"package model\\\\nallow = true\\\"}\",\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}");
  assert.equal(message.length, 641);
  assert.equal(Buffer.from(signBytes(sign, message)).toString('base64'), 'FOXu6SeoDr6MGEkX1FXm1F2/yRzkH9sSIuxpKDmjIgVnthq0CVZK+Ey1/+pyJOtYy+q+kVFpymV+ok1wIWfdDg==');
  // a non-canonical S (S + L) is rejected by strict verification (spec W-14)
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const s = BigInt('0x' + Buffer.from(sig1.subarray(32)).reverse().toString('hex')) + L;
  const sHex = s.toString(16).padStart(64, '0');
  const malleable = new Uint8Array([...sig1.subarray(0, 32), ...Buffer.from(sHex, 'hex').reverse()]);
  assert.equal(verifyBytes(k1.publicKey, new Uint8Array(0), malleable), false);
});
