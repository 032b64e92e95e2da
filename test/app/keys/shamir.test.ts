import { test } from 'node:test';
import { codeOf } from './helpers.ts';
import assert from 'node:assert/strict';
import { combineShares, decodeShare, encodeShare, gfInv, gfMul, splitSecret, type ShamirShare } from '../../../app/keys/shamir.ts';
import { isAppError } from '../../../app/errors.ts';
import { randomBytes } from '../../../app/crypto/random.ts';


function* combos<T>(items: readonly T[], k: number, start = 0, acc: T[] = []): Generator<T[]> {
  if (acc.length === k) {
    yield acc.slice();
    return;
  }
  for (let i = start; i < items.length; i++) {
    acc.push(items[i] as T);
    yield* combos(items, k, i + 1, acc);
    acc.pop();
  }
}

void test('GF(256): known AES products and inverses', () => {
  assert.equal(gfMul(0x57, 0x83), 0xc1); // FIPS-197 §4.2 example
  assert.equal(gfMul(0x57, 0x13), 0xfe);
  for (let a = 1; a < 256; a++) assert.equal(gfMul(a, gfInv(a)), 1, `inverse of ${a}`);
  assert.equal(gfInv(0), 0);
});

void test('every M-subset of N shares rebuilds the secret (several M, N)', () => {
  for (const [m, n] of [[2, 2], [2, 3], [3, 5], [4, 6]] as const) {
    const secret = randomBytes(32);
    const shares = splitSecret(secret, m, n, '{"alg":"aes256gcm"}');
    assert.equal(shares.length, n);
    for (const subset of combos(shares, m)) {
      const r = combineShares(subset);
      assert.deepEqual(r.secret, secret);
      assert.deepEqual(r.rejected, []);
      assert.equal(r.meta, '{"alg":"aes256gcm"}');
    }
    // more than M also works
    assert.deepEqual(combineShares(shares).secret, secret);
  }
});

void test('fewer than M shares are refused, and M-1 shares interpolate to something else', () => {
  const secret = randomBytes(32);
  const shares = splitSecret(secret, 3, 5);
  for (const subset of combos(shares, 2)) assert.equal(codeOf(() => combineShares(subset)), 'KEY_INVALID');
  // Force interpolation with M-1 shares by lying about the threshold: the commitment check rejects the result.
  const lying = shares.slice(0, 2).map((s) => ({ ...s, threshold: 2 }));
  assert.equal(codeOf(() => combineShares(lying)), 'KEY_INVALID');
});

void test('a tampered share is detected; with spare shares it is named and survived', () => {
  const secret = randomBytes(16);
  const shares = splitSecret(secret, 2, 4);
  for (let byte = 0; byte < 16; byte++) {
    const bad: ShamirShare = { ...shares[1]!, value: shares[1]!.value.map((v, i) => (i === byte ? v ^ 0x01 : v)) };
    assert.equal(codeOf(() => combineShares([shares[0]!, bad])), 'KEY_INVALID');
    const r = combineShares([shares[0]!, bad, shares[2]!]);
    assert.deepEqual(r.secret, secret);
    assert.deepEqual(r.rejected, [2]);
  }
  // a forged MAC or commitment is caught too
  const forgedMac = { ...shares[0]!, mac: new Uint8Array(32) };
  assert.deepEqual(combineShares([forgedMac, shares[1]!]).rejected, [1]);
  const forgedCommit = { ...shares[0]!, commitment: new Uint8Array(32) };
  assert.equal(codeOf(() => combineShares([forgedCommit, shares[1]!])), 'KEY_INVALID');
});

void test('shares from different splits, duplicates, and bad parameters are refused', () => {
  const a = splitSecret(randomBytes(32), 2, 3);
  const b = splitSecret(randomBytes(32), 2, 3);
  assert.equal(codeOf(() => combineShares([a[0]!, b[1]!])), 'KEY_INVALID');
  assert.equal(codeOf(() => combineShares([a[0]!, a[0]!])), 'KEY_INVALID');
  assert.equal(codeOf(() => combineShares([])), 'VALIDATION');
  for (const [m, n] of [[1, 3], [4, 3], [2, 256], [2.5, 3]]) assert.equal(codeOf(() => splitSecret(randomBytes(32), m!, n!)), 'VALIDATION');
  assert.equal(codeOf(() => splitSecret(new Uint8Array(0), 2, 3)), 'VALIDATION');
});

void test('text form round-trips; every single-character change is rejected or detected', () => {
  const secret = randomBytes(32);
  const shares = splitSecret(secret, 2, 3, 'kid=mv-enc-1');
  const texts = shares.map(encodeShare);
  assert.deepEqual(combineShares(texts.map(decodeShare)).secret, secret);
  const t = texts[0]!;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  for (let i = 'mvshare1-'.length; i < t.length; i += 3) {
    const c = t[i]!;
    const repl = alphabet[(alphabet.indexOf(c) + 1) % 64]!;
    const mutated = t.slice(0, i) + repl + t.slice(i + 1);
    let ok = false;
    try {
      const r = combineShares([decodeShare(mutated), decodeShare(texts[1]!)]);
      ok = r.rejected.length === 0 && Buffer.from(r.secret).equals(Buffer.from(secret));
    } catch (e) {
      assert.ok(isAppError(e), String(e));
    }
    assert.equal(ok, false, `mutation at ${i} went unnoticed`);
  }
  for (const bad of ['', 'mvshare1-', 'mvshare2-AAAA', 'mvshare1-!!!!', 'mvshare1-' + 'A'.repeat(40)]) assert.equal(codeOf(() => decodeShare(bad)), 'KEY_INVALID');
});
