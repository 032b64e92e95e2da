/**
 * Mount benchmark (not a test): sequential read throughput through a mount (FUSE when available, else HTTP) against
 * direct decryption of the same file, and the chunk cache's memory bound under 4 parallel readers. Prints one JSON
 * line with `--json`:
 *   {"mode", "bytes", "direct_mb_s", "mount_mb_s", "ratio", "target_ratio", "cache": {"budget", "peak", "readers", "bounded"}}
 *
 *   npm run bench:mount -- --json [--mb 128] [--cache-mb 16]
 *
 * Target (issue 8): ratio ≥ 0.5; the peak stays within the budget plus one chunk in flight per reader.
 * The readers run in this process through async file reads (libuv's thread pool), never a synchronous child.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from '../../app/crypto/random.ts';
import { serializeSafetensors } from '../../app/format/safetensors.ts';
import { generateMasterKey, generateSigningKey, publicHalf, type SigningKey } from '../../app/keys/key.ts';
import { openModel } from '../../app/node/format/open-model.ts';
import { packageModel } from '../../app/node/format/package.ts';
import { fuseAvailable } from '../../app/node/mount/fuse.ts';
import { MountManager } from '../../app/node/mount/manager.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const json = args.includes('--json');
const totalMb = flag('mb', 128);
const cacheMb = flag('cache-mb', 16);
const CHUNK = 1 << 20;

async function readSequential(path: string): Promise<number> {
  const h = await fs.open(path, 'r');
  const buf = Buffer.alloc(CHUNK);
  let total = 0;
  try {
    for (;;) {
      const { bytesRead } = await h.read(buf, 0, buf.length, total);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
  } finally {
    await h.close();
  }
  return total;
}

async function readHttp(url: string, token: string): Promise<number> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  let total = 0;
  const reader = res.body?.getReader();
  for (;;) {
    const r = await reader?.read();
    if (r === undefined || r.done) break;
    total += (r.value as Uint8Array).length;
  }
  return total;
}

async function main(): Promise<void> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'mv-bench-mount-'));
  const manager = await MountManager.create({ env: { MODEL_VAULT_RUNTIME_DIR: join(dir, 'run') }, owner: 'cli' });
  try {
    const tensors = Array.from({ length: 8 }, (_, i) => ({ name: `layer.${i}.weight`, dtype: 'F32' as const, shape: [BigInt((totalMb * 1024 * 1024) / 8 / 4)], data: randomBytes((totalMb * 1024 * 1024) / 8) }));
    await fs.mkdir(join(dir, 'plain'));
    await fs.writeFile(join(dir, 'plain', 'model.safetensors'), serializeSafetensors(tensors));
    await fs.writeFile(join(dir, 'plain', 'config.json'), '{}');
    const master = generateMasterKey('aes256gcm');
    const signer = generateSigningKey();
    const packaged = join(dir, 'model.cryptotensors');
    await packageModel({ input: join(dir, 'plain'), output: packaged, masterKey: master, signingKey: signer as SigningKey & { seed: Uint8Array }, encrypt: 'all', version: 2 });
    await fs.rm(join(dir, 'plain'), { recursive: true });
    const keys = { masterKeys: [master], trustedSigners: [publicHalf(signer)] };

    // Direct decryption: every tensor through the reader (worker pool for chunked tensors), as `verify` does.
    const handle = await openModel(join(packaged, 'model.safetensors'), { ...keys, ignorePolicy: true });
    let t0 = performance.now();
    let bytes = 0;
    for (const n of handle.offsetKeys()) {
      const t = await handle.getTensor(n);
      bytes += t.data.length;
    }
    const directS = (performance.now() - t0) / 1000;
    await handle.close();

    const mode = fuseAvailable().available ? 'fuse' : 'http';
    const m = await manager.start({ model: packaged, mode, keys, cacheBytes: cacheMb * 1024 * 1024 });
    const token = manager.httpToken(m.id) ?? '';
    const read = (): Promise<number> => (mode === 'fuse' ? readSequential(join(m.mountpoint ?? '', 'model.safetensors')) : readHttp(`${m.url ?? ''}files/model.safetensors`, token));
    t0 = performance.now();
    const mountBytes = await read();
    const mountS = (performance.now() - t0) / 1000;
    await Promise.all([read(), read(), read(), read()]);
    const stats = manager.cacheStats(m.id);
    const chunk = 2 * 1024 * 1024;
    const result = {
      mode,
      bytes,
      direct_mb_s: Number((bytes / 1e6 / directS).toFixed(1)),
      mount_mb_s: Number((mountBytes / 1e6 / mountS).toFixed(1)),
      ratio: Number((bytes / directS === 0 ? 0 : mountBytes / mountS / (bytes / directS)).toFixed(2)),
      target_ratio: 0.5,
      cache: { budget: stats?.budgetBytes ?? 0, peak: stats?.peakBytes ?? 0, readers: 4, bounded: (stats?.peakBytes ?? Infinity) <= (stats?.budgetBytes ?? 0) + 4 * chunk },
    };
    if (json) process.stdout.write(JSON.stringify(result) + '\n');
    else process.stdout.write(`${mode}: direct ${result.direct_mb_s} MB/s, through the mount ${result.mount_mb_s} MB/s (ratio ${result.ratio}, target ≥ 0.5); cache peak ${result.cache.peak} of ${result.cache.budget} bytes with 4 readers (${result.cache.bounded ? 'bounded' : 'NOT bounded'})\n`);
  } finally {
    await manager.stopAll('shutdown');
    await fs.rm(dir, { recursive: true, force: true });
  }
}

await main();
