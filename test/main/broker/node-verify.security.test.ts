/**
 * The broker's hot-path Ed25519 verifier (node:crypto / OpenSSL, `app/node/broker/node-verify.ts`) against the
 * project's strict reference (noble, `zip215: false`) on edge vectors built here from the curve itself:
 * - it never accepts a signature the strict reference rejects (node ⇒ noble, on every vector);
 * - both reject: S ≥ L (scalar malleability), a non-canonical R or A encoding (y ≥ p), small-order public keys
 *   (all eight torsion points, with the signature that would fool a cofactored check), junk lengths;
 * - both accept honest signatures, including the legal corner r = 0 (R = identity, canonically encoded);
 * - node is stricter in two cases only a key holder can produce and no honest signer does: a public key with a
 *   torsion component (refused outright, so such a device cannot even enroll) and an R with a torsion component
 *   (OpenSSL's cofactorless equation). Refusing more never lets a forged request through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { randomBytes } from '../../../app/crypto/random.ts';
import { nobleVerifier } from '../../../app/broker/request-signing.ts';
import { nodeVerifier, nodeVerifierAsync } from '../../../app/node/broker/node-verify.ts';

type Point = InstanceType<typeof ed25519.Point>;
const P = ed25519.Point;
const N = P.Fn.ORDER;
const FIELD_P = 2n ** 255n - 19n;

function leBytes(x: bigint, len = 32): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = Number((x >> BigInt(8 * i)) & 0xffn);
  return out;
}
function leNum(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i] as number);
  return x;
}
const mod = (x: bigint): bigint => ((x % N) + N) % N;
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

/** S = r + H(R ‖ A ‖ M)·a mod L, over the given encodings of R and A (which may be crafted). */
function signRaw(a: bigint, aBytes: Uint8Array, r: bigint, rBytes: Uint8Array, msg: Uint8Array): Uint8Array {
  const k = mod(leNum(sha512(cat(rBytes, aBytes, msg))));
  return cat(rBytes, leBytes(mod(r + k * a)));
}

/** A point of order 8: the torsion component of a random curve point (Q − [1/8]([8]Q)), retried until order 8. */
function order8Point(): Point {
  const inv8 = P.Fn.inv(8n);
  for (;;) {
    let q: Point;
    try {
      q = P.fromBytes(randomBytes(32), false);
    } catch {
      continue;
    }
    const t = q.subtract(q.clearCofactor().multiplyUnsafe(inv8));
    if (!t.multiplyUnsafe(4n).is0()) return t;
  }
}

interface Vector {
  readonly name: string;
  readonly sig: Uint8Array;
  readonly msg: Uint8Array;
  readonly pub: Uint8Array;
  readonly node: boolean;
  /** Expected strict-noble result; undefined where only node ⇒ noble is asserted. */
  readonly noble?: boolean;
}

function vectors(): Vector[] {
  const out: Vector[] = [];
  const msg = randomBytes(48);
  const { scalar: a, point: A, pointBytes: aBytes } = ed25519.utils.getExtendedPublicKey(randomBytes(32));
  const t8 = order8Point();
  for (let i = 0; i < 8; i++) {
    const m = randomBytes(i * 9);
    const seed = randomBytes(32);
    out.push({ name: `honest ${i}`, sig: ed25519.sign(m, seed), msg: m, pub: ed25519.getPublicKey(seed), node: true, noble: true });
  }
  const seed = randomBytes(32);
  const pub = ed25519.getPublicKey(seed);
  const sig = ed25519.sign(msg, seed);
  const sPlusL = cat(sig.subarray(0, 32), leBytes(leNum(sig.subarray(32)) + N));
  out.push({ name: 'S + L (non-canonical scalar)', sig: sPlusL, msg, pub, node: false, noble: false });
  const sHigh = sig.slice();
  sHigh[63] = (sHigh[63] as number) | 0x80;
  out.push({ name: 'S with the top bit set', sig: sHigh, msg, pub, node: false, noble: false });
  // r = 0: R is the identity. Canonical encoding (y = 1) is a legal signature; y = p + 1 encodes the same point.
  const idCanonical = P.ZERO.toBytes();
  out.push({ name: 'r = 0, R = identity (canonical)', sig: signRaw(a, aBytes, 0n, idCanonical, msg), msg, pub: aBytes, node: true, noble: true });
  out.push({ name: 'r = 0, R = identity encoded as y = p + 1', sig: signRaw(a, aBytes, 0n, leBytes(FIELD_P + 1n), msg), msg, pub: aBytes, node: false, noble: false });
  // Small-order public keys: every torsion point T_j (and its sign-flipped encoding), with R = T_i, S = 0, which a
  // cofactored check accepts for any message.
  let t: Point = P.ZERO;
  for (let j = 0; j < 8; j++, t = t.add(t8)) {
    out.push({ name: `small-order key ${j}`, sig: cat(t8.toBytes(), new Uint8Array(32)), msg, pub: t.toBytes(), node: false, noble: false });
    out.push({ name: `small-order key ${j}, R = identity`, sig: cat(idCanonical, new Uint8Array(32)), msg, pub: t.toBytes(), node: false, noble: false });
  }
  // Non-canonical public key encodings: y = p + k (k < 19, both x signs) wherever that decodes to a point.
  for (let k = 0n; k < 19n; k++) {
    for (const sign of [0n, 1n]) {
      const enc = leBytes((FIELD_P + k) | (sign << 255n));
      out.push({ name: `public key y = p + ${k}, sign ${sign}`, sig: signRaw(a, enc, 0n, idCanonical, msg), msg, pub: enc, node: false, noble: false });
    }
  }
  // Torsion components only a key holder can add: node refuses, noble's cofactored check may accept.
  const mixed = A.add(t8).toBytes();
  out.push({ name: 'public key with a torsion component', sig: signRaw(a, mixed, 7n, P.BASE.multiply(7n).toBytes(), msg), msg, pub: mixed, node: false });
  out.push({ name: 'R with a torsion component', sig: signRaw(a, aBytes, 11n, P.BASE.multiply(11n).add(t8).toBytes(), msg), msg, pub: aBytes, node: false });
  // Junk.
  out.push({ name: 'short signature', sig: sig.subarray(1), msg, pub, node: false, noble: false });
  out.push({ name: 'short key', sig, msg, pub: pub.subarray(1), node: false, noble: false });
  out.push({ name: 'all-zero key and signature', sig: new Uint8Array(64), msg, pub: new Uint8Array(32), node: false, noble: false });
  out.push({ name: 'other message', sig, msg: cat(msg, Uint8Array.of(0)), pub, node: false, noble: false });
  return out;
}

test('node:crypto Ed25519 verification never accepts what strict noble rejects, on edge vectors', () => {
  for (let round = 0; round < 3; round++) {
    for (const v of vectors()) {
      const node = nodeVerifier(v.sig, v.msg, v.pub);
      const noble = nobleVerifier(v.sig, v.msg, v.pub);
      assert.equal(node, v.node, `node: ${v.name}`);
      if (v.noble !== undefined) assert.equal(noble, v.noble, `noble: ${v.name}`);
      assert.ok(!node || noble, `node accepted what noble rejects: ${v.name}`);
    }
  }
});

test('the verifier answers the same for a key seen before (the per-key cache keeps refusals)', () => {
  const v = vectors().filter((x) => x.name.startsWith('small-order') || x.name.startsWith('honest'));
  for (const x of [...v, ...v]) assert.equal(nodeVerifier(x.sig, x.msg, x.pub), x.node, x.name);
});

test('the thread-pool verifier (what the broker serves with) answers exactly as the synchronous one on every edge vector', async () => {
  for (const v of vectors()) assert.equal(await nodeVerifierAsync(v.sig, v.msg, v.pub), v.node, v.name);
  // many at once, interleaved valid and invalid, each answer to its own request
  const vs = vectors();
  const answers = await Promise.all(Array.from({ length: 200 }, (_x, i) => {
    const v = vs[i % vs.length] as (typeof vs)[number];
    return nodeVerifierAsync(v.sig, v.msg, v.pub).then((ok) => ok === v.node);
  }));
  assert.ok(answers.every(Boolean));
});
