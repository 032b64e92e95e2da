/** Rotation on files: rewrapModel keeps the data section byte-identical; reencryptModel draws fresh DEKs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAppError } from '../../../app/errors.ts';
import { parseModelHeader } from '../../../app/format/reader.ts';
import { PREFIX_BYTES, readHeaderLength } from '../../../app/format/safetensors.ts';
import { encodeModel } from '../../../app/format/writer.ts';
import { openModel } from '../../../app/node/format/open-model.ts';
import { reencryptModel, rewrapModel } from '../../../app/node/format/rotate.ts';
import { MASTER_256, SIGNER, SIGNER2, detBytes, seq, sha256Hex } from './helpers.ts';

const NEW = { ...MASTER_256, kid: 'rot-enc', key: seq(0x40, 32) };
const A = detBytes('a', 4096);

function split(bytes: Uint8Array): { header: ReturnType<typeof parseModelHeader>; data: Uint8Array } {
  const n = readHeaderLength(bytes, bytes.length);
  return { header: parseModelHeader(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + n), bytes.length), data: bytes.subarray(PREFIX_BYTES + n) };
}

void test('rewrapModel and reencryptModel on a file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mv-rot-'));
  try {
    const path = join(dir, 'm.safetensors');
    const policy = { local: 'package model\nallow := true' };
    await writeFile(path, encodeModel([{ name: 'a', dtype: 'U8', shape: [4096], data: A }, { name: 'b', dtype: 'U8', shape: [3], data: seq(1, 3) }], { masterKey: MASTER_256, signingKey: SIGNER, chunkSize: 1000, encrypt: ['a'], policy }).bytes);
    const before = new Uint8Array(await readFile(path));
    await assert.rejects(rewrapModel(path, { old: { masterKeys: [MASTER_256], trustedSigners: [SIGNER2] }, signingKey: SIGNER2, masterKey: NEW }), (e: unknown) => isAppError(e) && e.code === 'BAD_SIGNATURE');
    assert.deepEqual(new Uint8Array(await readFile(path)), before); // a failed rewrap leaves the file untouched
    await rewrapModel(path, { old: { masterKeys: [MASTER_256], trustedSigners: [SIGNER] }, signingKey: SIGNER2, masterKey: NEW });
    const after = new Uint8Array(await readFile(path));
    assert.deepEqual(split(after).data, split(before).data);
    assert.deepEqual(split(after).header.crypto?.entries.get('a')?.tags, split(before).header.crypto?.entries.get('a')?.tags);
    assert.equal(split(after).header.crypto?.policy.local, policy.local);
    const m = await openModel(path, { masterKeys: [NEW], trustedSigners: [SIGNER2] });
    assert.equal(sha256Hex((await m.getTensor('a')).data), sha256Hex(A));
    await m.close();

    await reencryptModel(path, { old: { masterKeys: [NEW], trustedSigners: [SIGNER2] }, masterKey: { alg: 'chacha20poly1305', kid: 'cc', key: seq(0x90, 32) }, signingKey: SIGNER, version: 1 });
    const re = new Uint8Array(await readFile(path));
    assert.notDeepEqual(split(re).data, split(after).data);
    assert.equal(split(re).header.crypto?.keys.alg, 'chacha20poly1305');
    assert.equal(split(re).header.crypto?.policy.local, policy.local);
    assert.deepEqual([...(split(re).header.crypto?.entries.keys() ?? [])], ['a']);
    const m2 = await openModel(path, { masterKeys: [{ alg: 'chacha20poly1305', kid: 'cc', key: seq(0x90, 32) }], trustedSigners: [SIGNER] });
    assert.equal(sha256Hex((await m2.getTensor('a')).data), sha256Hex(A));
    assert.deepEqual((await m2.getTensor('b')).data, seq(1, 3));
    await m2.close();
    assert.deepEqual((await readdir(dir)).sort(), ['m.safetensors']); // no temporaries (plaintext included) left
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('reencryptModel streams from the decrypting reader: no plaintext temporary, v1 → v2 and v2 → v1, tensors larger than a block', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mv-reenc-'));
  const { watch } = await import('node:fs');
  try {
    const path = join(dir, 'big.safetensors');
    const big = detBytes('big', 20 * 1024 * 1024 + 3); // spans three 8 MiB read blocks
    await writeFile(path, encodeModel([{ name: 'big', dtype: 'U8', shape: [big.length], data: big }, { name: 'small', dtype: 'U8', shape: [5], data: seq(7, 5) }], { masterKey: MASTER_256, signingKey: SIGNER, version: 1, policy: { local: 'package model\nallow := true' } }).bytes);
    const created = new Set<string>();
    const watcher = watch(dir, (_event, name) => {
      if (name !== null) created.add(name);
    });
    try {
      await reencryptModel(path, { old: { masterKeys: [MASTER_256], trustedSigners: [SIGNER] }, masterKey: NEW, signingKey: SIGNER, version: 2, chunkSize: 1024 * 1024 });
      const m = await openModel(path, { masterKeys: [NEW], trustedSigners: [SIGNER] });
      assert.equal(sha256Hex((await m.getTensor('big')).data), sha256Hex(big));
      assert.deepEqual((await m.getTensor('small')).data, seq(7, 5));
      await m.close();
      await reencryptModel(path, { old: { masterKeys: [NEW], trustedSigners: [SIGNER] }, masterKey: MASTER_256, signingKey: SIGNER, version: 1 });
      const m2 = await openModel(path, { masterKeys: [MASTER_256], trustedSigners: [SIGNER] });
      assert.equal(sha256Hex((await m2.getTensor('big')).data), sha256Hex(big));
      await m2.close();
    } finally {
      watcher.close();
    }
    // Only the model itself and the atomic output's temporaries (ciphertext) ever appeared: no plain file.
    const others = [...created].filter((n) => n !== 'big.safetensors');
    assert.ok(others.every((n) => n.startsWith('.big.safetensors.mv-tmp-')), others.join(', '));
    assert.ok(others.length <= 2, `one temporary per re-encryption, saw ${others.length}`);
    assert.deepEqual((await readdir(dir)).sort(), ['big.safetensors']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
