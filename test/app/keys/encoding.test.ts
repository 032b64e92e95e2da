import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromB64std, fromB64url, fromHex, toB64std, toB64url, toHex } from '../../../app/crypto/encoding.ts';

void test('b64std matches Node for random lengths and round-trips', () => {
  for (let n = 0; n < 70; n++) {
    const bytes = new Uint8Array(n).map((_, i) => (i * 37 + n) & 0xff);
    const text = toB64std(bytes);
    assert.equal(text, Buffer.from(bytes).toString('base64'));
    assert.deepEqual(fromB64std(text), bytes);
    const url = toB64url(bytes);
    assert.equal(url, Buffer.from(bytes).toString('base64url'));
    assert.deepEqual(fromB64url(url), bytes);
    assert.equal(toHex(bytes), Buffer.from(bytes).toString('hex'));
    assert.deepEqual(fromHex(toHex(bytes)), bytes);
  }
});

void test('b64std is strict (R-B64): padding required, canonical, no url alphabet, no whitespace', () => {
  for (const bad of ['AAECAw', 'AAF=', 'AA==AA==', 'AAEC Aw==', 'AA-_', '=AAA', 'A===', 'AAECAw=\n', 'ü===']) {
    assert.equal(fromB64std(bad), undefined, bad);
  }
  assert.deepEqual(fromB64std(''), new Uint8Array(0));
});

void test('b64url is strict: no padding, canonical, no std alphabet', () => {
  for (const bad of ['AAECAw==', 'AAF', 'AA+/', 'A']) assert.equal(fromB64url(bad), undefined, bad);
});

void test('fromHex rejects odd length and non-hex', () => {
  assert.equal(fromHex('abc'), undefined);
  assert.equal(fromHex('zz'), undefined);
});
