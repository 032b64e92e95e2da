/**
 * The Node reader's worker path (openModel with the pool): whole tensors read and decrypted by workers from the
 * shared file descriptor (v1 and v2, every algorithm), plaintext tensors read and hashed there, read-ahead in data
 * order, parallel verifyAll. Same results as the pure reader; every tamper still raises its typed error, and a
 * read-ahead failure raises only when that tensor is asked for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAppError } from '../../../app/errors.ts';
import { openModelBytes } from '../../../app/format/reader.ts';
import { serializeSafetensors } from '../../../app/format/safetensors.ts';
import type { MasterKey } from '../../../app/format/keys.ts';
import { openModel } from '../../../app/node/format/open-model.ts';
import { packageModel } from '../../../app/node/format/package.ts';
import { MASTER_128, MASTER_256, MASTER_CHACHA, SIGNER, detBytes, sha256Hex } from './helpers.ts';

const TENSORS = [
  { name: 'a.embed', dtype: 'F32' as const, shape: [100, 70], data: detBytes('a', 100 * 70 * 4) },
  { name: 'b.bias', dtype: 'F16' as const, shape: [9], data: detBytes('b', 18) },
  { name: 'c.empty', dtype: 'F32' as const, shape: [0], data: new Uint8Array(0) },
  { name: 'd.proj', dtype: 'BF16' as const, shape: [33, 333], data: detBytes('d', 33 * 333 * 2) },
  { name: 'e.norm', dtype: 'F32' as const, shape: [1000], data: detBytes('e', 4000) },
  { name: 'f.head', dtype: 'U8' as const, shape: [12345], data: detBytes('f', 12345) },
];
const ENCRYPTED = ['a.embed', 'c.empty', 'd.proj', 'f.head'];

function codeIs(code: string): (e: unknown) => boolean {
  return (e: unknown) => isAppError(e) && e.code === code;
}

/** Absolute byte range of a tensor in a safetensors file. */
function rangeOf(file: Uint8Array, name: string): { begin: number; end: number } {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<string, { data_offsets: [number, number] }>;
  const t = header[name];
  if (t === undefined) throw new Error(`no tensor ${name}`);
  return { begin: 8 + n + t.data_offsets[0], end: 8 + n + t.data_offsets[1] };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mv-reader-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function packaged(dir: string, master: MasterKey, version: 1 | 2, chunkSize?: number): Promise<string> {
  const input = join(dir, 'in.safetensors');
  await writeFile(input, serializeSafetensors(TENSORS, new Map([['format', 'pt']])));
  const out = join(dir, `out-${master.alg}-${version}-${chunkSize ?? 0}.safetensors`);
  await packageModel({ input, output: out, masterKey: master, signingKey: SIGNER, version, ...(chunkSize === undefined ? {} : { chunkSize }), encrypt: ENCRYPTED, workers: 2 });
  return out;
}

void test('worker reads (v1, v2, every algorithm) equal the pure reader, in data order, random order and slices', async () => {
  await withDir(async (dir) => {
    for (const master of [MASTER_256, MASTER_128, MASTER_CHACHA]) {
        for (const [version, chunkSize] of [[2, 1000], [2, 4096], [1, undefined]] as const) {
          const path = await packaged(dir, master, version, chunkSize);
          const opts = { masterKeys: [master], trustedSigners: [SIGNER] };
          const pure = await openModelBytes(new Uint8Array(await readFile(path)), opts);
          const m = await openModel(path, { ...opts, bulkMinBytes: 1, workers: 2 });
          try {
            for (const name of m.offsetKeys()) assert.equal(sha256Hex((await m.getTensor(name)).data), sha256Hex((await pure.getTensor(name)).data), `${master.alg} v${version} ${name}`);
            for (const name of [...m.offsetKeys()].reverse()) assert.equal(sha256Hex((await m.getTensor(name)).data), sha256Hex((await pure.getTensor(name)).data), name);
            assert.equal(sha256Hex(await m.getSlice('d.proj', 1001, 17777)), sha256Hex((TENSORS[3]?.data as Uint8Array).subarray(1001, 17777)));
            await m.verifyAll();
          } finally {
            await m.close();
            await pure.close();
          }
        }
      }
  });
});

void test('a plain file read through the workers equals its bytes, with read-ahead on and off', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'plain.safetensors');
    await writeFile(path, serializeSafetensors(TENSORS, new Map()));
    for (const readAhead of [true, false]) {
      const m = await openModel(path, { bulkMinBytes: 1, readAhead });
      for (const t of TENSORS) assert.equal(sha256Hex((await m.getTensor(t.name)).data), sha256Hex(t.data), t.name);
      await m.close();
    }
  });
});

void test('tampered ciphertext fails with DECRYPT_FAILED when asked for, not earlier through read-ahead', async () => {
  await withDir(async (dir) => {
    for (const version of [1, 2] as const) {
      const path = await packaged(dir, MASTER_256, version, version === 2 ? 1000 : undefined);
      const file = new Uint8Array(await readFile(path));
      const r = rangeOf(file, 'd.proj');
      const at = r.begin + Math.floor((r.end - r.begin) / 2);
      file[at] = (file[at] as number) ^ 0x01;
      const bad = join(dir, `bad-${version}.safetensors`);
      await writeFile(bad, file);
      const opts = { masterKeys: [MASTER_256], trustedSigners: [SIGNER], bulkMinBytes: 1 };
      const m = await openModel(bad, opts);
      assert.equal(sha256Hex((await m.getTensor('a.embed')).data), sha256Hex(TENSORS[0]?.data as Uint8Array));
      await m.getTensor('b.bias'); // starts the read-ahead of c.empty
      await m.getTensor('c.empty'); // starts the read-ahead of d.proj, which fails silently
      await assert.rejects(m.getTensor('d.proj'), codeIs('DECRYPT_FAILED'));
      await assert.rejects(m.getTensor('d.proj'), codeIs('DECRYPT_FAILED')); // a retry re-reads and fails again
      assert.equal(sha256Hex((await m.getTensor('e.norm')).data), sha256Hex(TENSORS[4]?.data as Uint8Array));
      await assert.rejects(m.verifyAll(), codeIs('DECRYPT_FAILED'));
      await m.close();
    }
  });
});

void test('a modified digested plaintext tensor fails with DIGEST_MISMATCH through the workers', async () => {
  await withDir(async (dir) => {
    const path = await packaged(dir, MASTER_256, 2, 4096);
    const file = new Uint8Array(await readFile(path));
    const r = rangeOf(file, 'e.norm');
    file[r.end - 1] = (file[r.end - 1] as number) ^ 0x80;
    const bad = join(dir, 'bad.safetensors');
    await writeFile(bad, file);
    const m = await openModel(bad, { masterKeys: [MASTER_256], trustedSigners: [SIGNER], bulkMinBytes: 1 });
    try {
      await m.getTensor('c.empty');
      await m.getTensor('d.proj'); // read-ahead of e.norm
      await assert.rejects(m.getTensor('e.norm'), codeIs('DIGEST_MISMATCH'));
      await assert.rejects(m.getSlice('e.norm', 0, 4), codeIs('DIGEST_MISMATCH'));
      await assert.rejects(m.verifyAll(), codeIs('DIGEST_MISMATCH'));
    } finally {
      await m.close();
    }
  });
});

void test('close() waits for a pending read-ahead; the handle then refuses reads', async () => {
  await withDir(async (dir) => {
    const path = await packaged(dir, MASTER_CHACHA, 2, 1000);
    const m = await openModel(path, { masterKeys: [MASTER_CHACHA], trustedSigners: [SIGNER], bulkMinBytes: 1 });
    await m.getTensor('a.embed');
    const pending = m.getTensor('b.bias'); // read-ahead of c.empty starts
    await m.close();
    await pending;
    await assert.rejects(m.getTensor('c.empty'), codeIs('VALIDATION'));
  });
});
