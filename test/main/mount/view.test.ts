/**
 * The mount view (app/node/mount/model-view.ts) and its chunk cache: the plain view equals the original plain file
 * tensor for tensor; a changed or added side file refuses the mount; a flipped ciphertext byte fails exactly the
 * reads that touch its chunk; the cache stays within its budget; HTTP Range parsing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateDemoModel } from '../../../resources/demo-model/generate.ts';
import { parseSafetensors, readHeaderLength } from '../../../app/format/safetensors.ts';
import { generateMasterKey, generateSigningKey, publicHalf, type SigningKey } from '../../../app/keys/key.ts';
import { packageModel } from '../../../app/node/format/package.ts';
import { ChunkCache } from '../../../app/node/mount/chunk-cache.ts';
import { parseRange } from '../../../app/node/mount/http.ts';
import { openMountView } from '../../../app/node/mount/model-view.ts';

async function packaged(dir: string) {
  await generateDemoModel(join(dir, 'plain'), { shards: 2 });
  const master = generateMasterKey('aes256gcm');
  const signer = generateSigningKey();
  const out = join(dir, 'enc');
  await packageModel({ input: join(dir, 'plain'), output: out, masterKey: master, signingKey: signer as SigningKey & { seed: Uint8Array }, encrypt: 'all', version: 2, chunkSize: 4096, workers: 1 });
  return { out, opts: { masterKeys: [master], trustedSigners: [publicHalf(signer)], ignorePolicy: true, cacheBytes: 16 * 1024 } };
}

test('mount view: plain safetensors equal to the original, bounded cache; tampering refused or failing reads', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mv-mount-view-'));
  try {
    const { out, opts } = await packaged(dir);
    const view = await openMountView(out, opts);
    const shard = 'model-00001-of-00002.safetensors';
    const f = view.file(shard);
    assert.ok(f !== undefined);
    const bytes = new Uint8Array(f.size);
    // Odd-sized reads crossing header, tensor and chunk boundaries.
    for (let pos = 0; pos < f.size; ) {
      const n = await view.read(shard, pos, bytes.subarray(pos, Math.min(f.size, pos + 3001)));
      assert.ok(n > 0);
      pos += n;
    }
    const plain = new Uint8Array(readFileSync(join(dir, 'plain', shard)));
    const a = parseSafetensors(bytes);
    const b = parseSafetensors(plain);
    for (const t of a.tensors) {
      const o = b.byName.get(t.name);
      assert.ok(o !== undefined);
      assert.deepEqual(bytes.subarray(a.dataStart + t.begin, a.dataStart + t.end), plain.subarray(b.dataStart + o.begin, b.dataStart + o.end), t.name);
    }
    assert.ok(view.cacheStats().peakBytes <= 16 * 1024 + 4096, `cache bounded (peak ${view.cacheStats().peakBytes})`);
    assert.equal(await view.read(shard, f.size, new Uint8Array(10)), 0, 'EOF');
    await view.close();

    // A flipped ciphertext byte: the read covering its chunk fails, others still work.
    const path = join(out, shard);
    const enc = new Uint8Array(readFileSync(path));
    const dataStart = 8 + readHeaderLength(enc.subarray(0, 8), enc.length);
    const flipAt = dataStart + 10_000;
    enc[flipAt] = (enc[flipAt] ?? 0) ^ 1;
    writeFileSync(path, enc);
    const tampered = await openMountView(out, opts);
    // Data offsets are the same in the plain view (the header differs): the view's byte dataStart + 10 000.
    await assert.rejects(tampered.read(shard, a.dataStart + 10_000, new Uint8Array(16)), (e: unknown) => (e as { code?: string }).code === 'DECRYPT_FAILED');
    assert.equal(await tampered.read(shard, 0, new Uint8Array(8)), 8, 'the header is still readable');
    await tampered.close();
    enc[flipAt] = (enc[flipAt] ?? 0) ^ 1;
    writeFileSync(path, enc);

    // Side files must match the signed manifest.
    appendFileSync(join(out, 'config.json'), '\n');
    await assert.rejects(openMountView(out, opts), (e: unknown) => (e as { code?: string }).code === 'MANIFEST_MISMATCH');
    writeFileSync(join(out, 'config.json'), readFileSync(join(dir, 'plain', 'config.json')));
    writeFileSync(join(out, 'extra.py'), 'print(1)\n');
    await assert.rejects(openMountView(out, opts), (e: unknown) => (e as { code?: string }).code === 'MANIFEST_MISMATCH');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('chunk cache: LRU within budget, shared loads, zeroed on eviction', async () => {
  const cache = new ChunkCache(300);
  let loads = 0;
  const load = (n: number) => () => {
    loads++;
    return Promise.resolve(new Uint8Array(100).fill(n));
  };
  const kept: Uint8Array[] = [];
  await Promise.all([cache.with('a', 100, load(1), (d) => kept.push(d)), cache.with('a', 100, load(1), (d) => kept.push(d))]);
  assert.equal(loads, 1, 'concurrent reads of one chunk share one load');
  for (const k of ['b', 'c', 'd']) await cache.with(k, 100, load(2), () => undefined);
  assert.ok(cache.stats().peakBytes <= 300 + 100);
  assert.equal(cache.stats().evictions, 1);
  assert.ok(kept[0]?.every((x) => x === 0), 'the evicted chunk was zeroed');
  cache.close();
  assert.equal(cache.stats().bytes, 0);
});

test('HTTP Range parsing', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 10 });
  assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 100 });
  assert.deepEqual(parseRange('bytes=-5', 100), { start: 95, end: 100 });
  assert.deepEqual(parseRange('bytes=50-500', 100), { start: 50, end: 100 });
  assert.equal(parseRange(undefined, 100), undefined);
  for (const bad of ['bytes=100-', 'bytes=5-2', 'bytes=-0', 'items=0-1', 'bytes=0-1,3-4', 'bytes=-']) assert.equal(parseRange(bad, 100), null, bad);
});
