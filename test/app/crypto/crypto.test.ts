/**
 * app/crypto wrappers: RFC vectors, strict Ed25519 (no ZIP-215 leniency), the wrong-type catalogue against every
 * public function (STYLE §7), and base64 strictness.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError } from '../../../app/errors.ts';
import { AEAD_ALGS, aeadKeyBytes, nobleAead, normalizeAeadAlg } from '../../../app/crypto/aead.ts';
import { ed25519PublicKey, ed25519Sign, ed25519Verify } from '../../../app/crypto/ed25519.ts';
import { fromHex, sha256, toHex, createSha256 } from '../../../app/crypto/sha256.ts';
import { utf8 } from '../../../app/crypto/bytes.ts';
import { fromB64std, toB64std } from '../../../app/crypto/encoding.ts';
import { cjString, compareCodePoints } from '../../../app/format/canonical-json.ts';
import { parseJson } from '../../../app/format/json.ts';
import { parseSafetensors, serializeSafetensors, layoutTensors, readHeaderLength, parseHeader } from '../../../app/format/safetensors.ts';
import { openModelBytes } from '../../../app/format/reader.ts';
import { encodeModel } from '../../../app/format/writer.ts';
import { parseJwks } from '../../../app/format/keys.ts';

const h = (s: string): Uint8Array => fromHex(s) as Uint8Array;

void test('SHA-256 and Ed25519 RFC 8032 test 1', () => {
  assert.equal(toHex(sha256(utf8('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(toHex(createSha256().update(utf8('a')).update(utf8('bc')).digest()), toHex(sha256(utf8('abc'))));
  const seed = h('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
  assert.equal(toHex(ed25519PublicKey(seed)), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const sig = ed25519Sign(new Uint8Array(0), seed);
  assert.equal(toHex(sig), 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
  assert.equal(ed25519Verify(sig, new Uint8Array(0), ed25519PublicKey(seed)), true);
});

void test('Ed25519 verification is strict: non-canonical S and small-order keys are rejected', () => {
  const seed = h('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
  const pub = ed25519PublicKey(seed);
  const msg = utf8('m');
  const sig = ed25519Sign(msg, seed);
  // S + L (the group order) is the same scalar mod L but non-canonical: RFC 8032 strict verification rejects it.
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i] as number);
  const s2 = s + L;
  const bad = sig.slice();
  let v = s2;
  for (let i = 0; i < 32; i++) {
    bad[32 + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v === 0n) assert.equal(ed25519Verify(bad, msg, pub), false);
  // The identity point as a public key (small order) with an all-zero signature: accepted by ZIP-215, not by us.
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const zeroSig = new Uint8Array(64);
  zeroSig[0] = 1;
  assert.equal(ed25519Verify(zeroSig, msg, identity), false);
  assert.equal(ed25519Verify(sig.subarray(0, 63), msg, pub), false);
  assert.equal(ed25519Verify(sig, msg, pub.subarray(0, 31)), false);
});

void test('AEAD: RFC 8439 ChaCha20-Poly1305 vector and AES-GCM test case 3', () => {
  const key = h('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce = h('070000004041424344454647');
  const pt = utf8("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
  // RFC 8439 §2.8.2 uses AAD; our format uses none, so check a self round trip and the AES-GCM KAT instead.
  const sealed = nobleAead.seal('chacha20poly1305', key, nonce, pt);
  assert.deepEqual(nobleAead.open('chacha20poly1305', key, nonce, sealed.ciphertext, sealed.tag), pt);
  const gk = h('feffe9928665731c6d6a8f9467308308');
  const gn = h('cafebabefacedbaddecaf888');
  const gp = h('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255');
  const g = nobleAead.seal('aes128gcm', gk, gn, gp);
  assert.equal(toHex(g.ciphertext), '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985');
  assert.equal(toHex(g.tag), '4d5c2af327cd64a62cf35abd2ba6fab4');
});

void test('algorithm spellings normalize as the reference does', () => {
  assert.equal(normalizeAeadAlg('AES-256-GCM'), 'aes256gcm');
  assert.equal(normalizeAeadAlg('ChaCha20-Poly1305'), 'chacha20poly1305');
  assert.equal(normalizeAeadAlg('A256GCM'), undefined);
  assert.equal(normalizeAeadAlg('aes_256_gcm'), undefined);
});

void test('base64 is strict standard padded canonical', () => {
  for (let n = 0; n < 40; n++) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
    assert.deepEqual(fromB64std(toB64std(b)), b);
    assert.equal(toB64std(b), Buffer.from(b).toString('base64'));
  }
  for (const bad of ['A', 'AA', 'AAA', 'AA=', 'AB==', 'AAB=', 'AA==AA==', 'A-==', 'A_==', 'AA =', ' AA=', 'AA\n==', '====', '=AAA', 'é===']) assert.equal(fromB64std(bad), undefined, bad);
});

void test('canonical JSON: escaping and code point order', () => {
  assert.equal(cjString('q" b\\ n\n t\t c\u0001 d\u007f /é😀'), '"q\\" b\\\\ n\\n t\\t c\\u0001 d\u007f /é😀"');
  assert.ok(compareCodePoints('！', '😀') < 0); // U+FF01 before U+1F600, unlike UTF-16 order
  assert.ok('！' > '😀'); // (UTF-16 code units disagree)
  assert.ok(compareCodePoints('a', 'ab') < 0);
  assert.equal(compareCodePoints('x', 'x'), 0);
});

void test('property: random models round-trip through writer and reader', async () => {
  let s = 99;
  const r = (): number => (s = (s * 1103515245 + 12345) & 0x7fffffff);
  const dtypes = ['U8', 'F32', 'BF16', 'I64', 'F4', 'BOOL'] as const;
  for (let i = 0; i < 40; i++) {
    const count = 1 + (r() % 6);
    const tensors = Array.from({ length: count }, (_, j) => {
      const dtype = dtypes[r() % dtypes.length] as (typeof dtypes)[number];
      const dims = [r() % 5, 2 * (r() % 9)];
      const bits = { U8: 8, F32: 32, BF16: 16, I64: 64, F4: 4, BOOL: 8 }[dtype];
      const len = (dims[0] as number) * (dims[1] as number) * bits / 8;
      return { name: `t${j}-${r() % 1000}`, dtype, shape: dims, data: Uint8Array.from({ length: len }, () => r() & 0xff) };
    });
    const key = Uint8Array.from({ length: 32 }, () => r() & 0xff);
    const seed = Uint8Array.from({ length: 32 }, () => r() & 0xff);
    const signer = { seed, publicKey: ed25519PublicKey(seed) };
    const alg = AEAD_ALGS[r() % 3] as (typeof AEAD_ALGS)[number];
    const master = { alg, key: key.subarray(0, aeadKeyBytes(alg)) };
    const version = (r() % 2) + 1;
    const plain = serializeSafetensors(tensors);
    assert.equal(parseSafetensors(plain).tensors.length, count);
    const { bytes } = encodeModel(tensors, { masterKey: master, signingKey: signer, version: version as 1 | 2, ...(version === 2 ? { chunkSize: 1 + (r() % 20) } : {}), encrypt: (n) => n.charCodeAt(1) % 2 === 0 || n.startsWith('t0') });
    const m = await openModelBytes(bytes, { masterKeys: [master], trustedSigners: [signer] });
    for (const t of tensors) assert.deepEqual((await m.getTensor(t.name)).data, t.data);
  }
});

void test('wrong-type catalogue: every public entry rejects wrong types with a typed error', async () => {
  const wrong: unknown[] = [undefined, null, 0, 1.5, -1, NaN, 'x', true, {}, [], new Uint16Array(4), new ArrayBuffer(4), () => 1, Symbol('s'), 10n];
  const u8 = new Uint8Array(32);
  const fns: [string, (x: unknown) => unknown][] = [
    ['seal key', (x) => nobleAead.seal('aes256gcm', x as Uint8Array, new Uint8Array(12), u8)],
    ['seal nonce', (x) => nobleAead.seal('aes256gcm', u8, x as Uint8Array, u8)],
    ['seal plaintext', (x) => nobleAead.seal('aes256gcm', u8, new Uint8Array(12), x as Uint8Array)],
    ['seal alg', (x) => nobleAead.seal(x as 'aes256gcm', u8, new Uint8Array(12), u8)],
    ['open tag', (x) => nobleAead.open('aes256gcm', u8, new Uint8Array(12), u8, x as Uint8Array)],
    ['open ciphertext', (x) => nobleAead.open('aes256gcm', u8, new Uint8Array(12), x as Uint8Array, new Uint8Array(16))],
    ['ed25519 sign seed', (x) => ed25519Sign(u8, x as Uint8Array)],
    ['ed25519 sign msg', (x) => ed25519Sign(x as Uint8Array, u8)],
    ['ed25519 public', (x) => ed25519PublicKey(x as Uint8Array)],
    ['sha256', (x) => sha256(x as Uint8Array)],
    ['parseSafetensors', (x) => parseSafetensors(x as Uint8Array)],
    ['readHeaderLength', (x) => readHeaderLength(x as Uint8Array, 10)],
    ['readHeaderLength size', (x) => readHeaderLength(new Uint8Array(8), x as number)],
    ['parseHeader', (x) => parseHeader(x as Uint8Array, undefined)],
    ['serializeSafetensors', (x) => serializeSafetensors(x as never)],
    ['serializeSafetensors data', (x) => serializeSafetensors([{ name: 'a', dtype: 'U8', shape: [1], data: x as Uint8Array }])],
    ['layoutTensors shape', (x) => layoutTensors([{ name: 'a', dtype: 'U8', shape: x as number[] }])],
    ['layoutTensors dtype', (x) => layoutTensors([{ name: 'a', dtype: x as 'U8', shape: [1] }])],
    ['parseJwks', (x) => parseJwks(x as string)],
    ['encodeModel options', (x) => encodeModel([], x as never)],
    ['encodeModel master', (x) => encodeModel([{ name: 'a', dtype: 'U8', shape: [1], data: new Uint8Array(1) }], { masterKey: x as never, signingKey: { seed: u8, publicKey: ed25519PublicKey(u8) } })],
  ];
  for (const [label, fn] of fns) {
    for (const w of wrong) {
      if (label === 'ed25519 sign msg' && w instanceof Uint8Array) continue;
      let threw: unknown;
      try {
        fn(w);
      } catch (e) {
        threw = e;
      }
      if (threw === undefined) {
        // Some wrong values are legitimately valid (e.g. [] tensors): only typed errors or success are allowed.
        continue;
      }
      assert.ok(isAppError(threw), `${label} with ${typeof w}: ${(threw as Error).message}`);
    }
  }
  for (const w of wrong) {
    try {
      await openModelBytes(w as Uint8Array);
    } catch (e) {
      assert.ok(isAppError(e), `openModelBytes with ${typeof w}: ${String(e)}`);
    }
  }
  assert.ok(ed25519Verify(null as never, u8, u8) === false);
  assert.throws(() => parseJson('{"a":1,"a":2}'));
});
