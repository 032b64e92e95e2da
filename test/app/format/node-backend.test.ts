/**
 * The node:crypto bulk backend (main thread and worker pool) gives identical bytes to the @noble/ciphers path, and
 * the streaming packager's output opens with the pure (noble) reader to the same plaintext.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AEAD_ALGS, nobleAead, aeadKeyBytes } from '../../../app/crypto/aead.ts';
import { randomBytes } from '../../../app/crypto/random.ts';
import { isAppError } from '../../../app/errors.ts';
import { openModelBytes } from '../../../app/format/reader.ts';
import { serializeSafetensors } from '../../../app/format/safetensors.ts';
import { encryptTensor, decryptTensor } from '../../../app/format/tensor-cipher.ts';
import { nodeAead } from '../../../app/node/format/node-aead.ts';
import { AeadPool } from '../../../app/node/format/aead-pool.ts';
import { packageModel } from '../../../app/node/format/package.ts';
import { openModel } from '../../../app/node/format/open-model.ts';
import { MASTER_256, SIGNER, detBytes, sha256Hex } from './helpers.ts';

void test('node:crypto and noble produce identical ciphertext and tags, and open each other', () => {
  for (const alg of AEAD_ALGS) {
    for (const n of [0, 1, 15, 16, 17, 1000, 65537]) {
      const key = randomBytes(aeadKeyBytes(alg));
      const nonce = randomBytes(12);
      const pt = randomBytes(n);
      const a = nobleAead.seal(alg, key, nonce, pt);
      const b = nodeAead.seal(alg, key, nonce, pt);
      assert.deepEqual(a.ciphertext, b.ciphertext);
      assert.deepEqual(a.tag, b.tag);
      assert.deepEqual(nodeAead.open(alg, key, nonce, a.ciphertext, a.tag), pt);
      assert.deepEqual(nobleAead.open(alg, key, nonce, b.ciphertext, b.tag), pt);
      const bad = b.tag.slice();
      bad[0] = (bad[0] as number) ^ 1;
      assert.throws(() => nodeAead.open(alg, key, nonce, b.ciphertext, bad), (e: unknown) => isAppError(e) && e.code === 'DECRYPT_FAILED');
    }
  }
});

void test('worker-pool v2 chunk encryption equals the noble path, and opens', async () => {
  const pool = new AeadPool(2);
  try {
    for (const alg of AEAD_ALGS) {
      const dek = randomBytes(aeadKeyBytes(alg));
      const baseIv = randomBytes(12);
      baseIv[8] = 0; // keep the counter far from overflow for this test
      const pt = randomBytes(10_000);
      const ref = encryptTensor(nobleAead, { alg, chunked: true, chunkSize: 333 }, dek, pt, baseIv);
      const r = await pool.run({ op: 'seal', alg, key: dek.slice(), baseIv, firstIndex: 0, chunkSize: 333, data: pt.slice().buffer });
      assert.deepEqual(r.data, ref.ciphertext);
      assert.deepEqual(r.tags, ref.fields.tags);
      const o = await pool.run({ op: 'open', alg, key: dek.slice(), baseIv, firstIndex: 0, chunkSize: 333, data: r.data.slice().buffer, tags: (r.tags).slice().buffer });
      assert.deepEqual(o.data, pt);
      const tampered = r.data.slice();
      tampered[5000] = (tampered[5000] as number) ^ 0x80;
      await assert.rejects(pool.run({ op: 'open', alg, key: dek.slice(), baseIv, firstIndex: 0, chunkSize: 333, data: tampered.buffer, tags: (r.tags).slice().buffer }), (e: unknown) => isAppError(e) && e.code === 'DECRYPT_FAILED');
      assert.deepEqual(decryptTensor(nodeAead, { alg, chunked: true, chunkSize: 333 }, dek, { wrappedKey: new Uint8Array(0), keyIv: new Uint8Array(0), keyTag: new Uint8Array(0), ...ref.fields }, ref.ciphertext), pt);
    }
  } finally {
    await pool.close();
  }
});

function sampleModel(): { bytes: Uint8Array; tensors: { name: string; data: Uint8Array }[] } {
  const tensors = [
    { name: 'embed', dtype: 'F32' as const, shape: [300, 111], data: detBytes('embed', 300 * 111 * 4) },
    { name: 'bias', dtype: 'F16' as const, shape: [7], data: detBytes('bias', 14) },
    { name: 'empty1', dtype: 'F32' as const, shape: [0], data: new Uint8Array(0) },
    { name: 'empty2', dtype: 'U8' as const, shape: [0, 4], data: new Uint8Array(0) },
    { name: 'ids', dtype: 'I64' as const, shape: [5], data: detBytes('ids', 40) },
  ];
  return { bytes: serializeSafetensors(tensors, new Map([['format', 'pt']])), tensors };
}

void test('packageModel (streaming, workers) output opens with the noble reader and the node reader', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mv-pkg-'));
  try {
    const { bytes, tensors } = sampleModel();
    await writeFile(join(dir, 'in.safetensors'), bytes);
    for (const [version, chunkSize] of [[2, 1000], [2, 4096 * 3 + 1], [1, undefined]] as const) {
      const out = join(dir, `out-${version}-${chunkSize ?? 0}.safetensors`);
      const events: number[] = [];
      let lastTensors = [0, 0];
      const r = await packageModel({ input: join(dir, 'in.safetensors'), output: out, masterKey: MASTER_256, signingKey: SIGNER, version, ...(chunkSize === undefined ? {} : { chunkSize }), encrypt: ['embed', 'empty1', 'empty2', 'ids'], onProgress: (p) => { events.push(p.bytesDone); lastTensors = [p.tensorsDone, p.tensorsTotal]; }, workers: 2 });
      assert.equal(r.warnings.length, 0);
      const file = new Uint8Array(await readFile(out));
      for (const m of [await openModelBytes(file, { masterKeys: [MASTER_256], trustedSigners: [SIGNER] }), await openModel(out, { masterKeys: [MASTER_256], trustedSigners: [SIGNER] })]) {
        for (const t of tensors) assert.equal(sha256Hex((await m.getTensor(t.name)).data), sha256Hex(t.data), t.name);
        assert.equal(m.info('bias').encrypted, false);
        assert.equal(m.info('bias').unauthenticated, false);
        assert.equal(sha256Hex(await m.getSlice('embed', 999, 5001)), sha256Hex(tensors[0]?.data.subarray(999, 5001) as Uint8Array));
        await m.close();
      }
      assert.ok(events.length > 0);
      assert.deepEqual(lastTensors, [5, 5]);
    }
    assert.deepEqual((await readdir(dir)).filter((f) => f.includes('mv-tmp')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('packageModel cancellation leaves nothing behind; existing output is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mv-pkg-'));
  try {
    const { bytes } = sampleModel();
    await writeFile(join(dir, 'in.safetensors'), bytes);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(packageModel({ input: join(dir, 'in.safetensors'), output: join(dir, 'out.safetensors'), masterKey: MASTER_256, signingKey: SIGNER, signal: ac.signal }), (e: unknown) => isAppError(e) && e.code === 'CANCELLED');
    assert.deepEqual((await readdir(dir)).sort(), ['in.safetensors']);
    await assert.rejects(packageModel({ input: join(dir, 'in.safetensors'), output: join(dir, 'in.safetensors'), masterKey: MASTER_256, signingKey: SIGNER }), (e: unknown) => isAppError(e) && e.code === 'ALREADY_EXISTS');
    await assert.rejects(packageModel({ input: join(dir, 'in.safetensors'), output: join(dir, 'o.safetensors'), masterKey: MASTER_256, signingKey: SIGNER, encrypt: ['nope'] }), (e: unknown) => isAppError(e) && e.code === 'VALIDATION');
    assert.deepEqual((await readdir(dir)).sort(), ['in.safetensors']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
