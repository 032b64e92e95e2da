/**
 * Reads one tensor through a mount the way a runtime would, for `model-vault demo`: with Python's `safetensors`
 * (`safe_open`, numpy) when a Python with safetensors is found (MV_PYTHON, the project's .venv, or python3), else
 * with Node reading the mounted file (FUSE) or fetching it (HTTP) and parsing it as plain safetensors. The child
 * process is spawned asynchronously: the event loop keeps serving the mount while it reads.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../../errors.ts';
import { parseSafetensors } from '../../format/safetensors.ts';
import type { Env } from '../keys/paths.ts';
import { PROJECT_ROOT } from '../paths.ts';
import type { MountInfo } from './manager.ts';

export interface TensorRead {
  readonly reader: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

const PY = `
import base64, json, os, sys, urllib.request, urllib.parse
import safetensors
from safetensors import safe_open
from safetensors.numpy import load
where, shard, name = sys.argv[1], sys.argv[2], sys.argv[3]
if where.startswith("http://"):
    req = urllib.request.Request(where + "files/" + urllib.parse.quote(shard), headers={"Authorization": "Bearer " + os.environ["MV_TOKEN"]})
    with urllib.request.urlopen(req) as r:
        a = load(r.read())[name]
else:
    with safe_open(os.path.join(where, shard), framework="numpy") as f:
        a = f.get_tensor(name)
print(json.dumps({"version": safetensors.__version__, "dtype": str(a.dtype), "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}))
`;

function run(python: string, args: readonly string[], env: Record<string, string | undefined>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(python, ['-c', PY, ...args], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.once('error', () => resolve({ code: null, out: '' }));
    p.once('exit', (code) => resolve({ code, out }));
  });
}

export async function readThroughMount(info: MountInfo, token: string | undefined, shard: string, tensor: string, env: Env): Promise<TensorRead> {
  const where = info.mode === 'fuse' ? info.mountpoint : info.url;
  if (where === undefined || info.mode === 'keys') throw new AppError('VALIDATION', 'Only FUSE and HTTP mounts can be read through.');
  const candidates = [env.MV_PYTHON, join(PROJECT_ROOT, '.venv', 'bin', 'python'), 'python3'].filter((p): p is string => p !== undefined && p !== '' && (p === 'python3' || existsSync(p)));
  for (const python of candidates) {
    const r = await run(python, [where, shard, tensor], { ...env, ...(token === undefined ? {} : { MV_TOKEN: token }) });
    if (r.code !== 0) continue;
    const j = JSON.parse(r.out) as { version: string; dtype: string; shape: number[]; b64: string };
    return { reader: `Python safetensors ${j.version} (${info.mode === 'fuse' ? 'safe_open on the mounted file' : 'HTTP with the mount token'})`, dtype: j.dtype, shape: j.shape, data: new Uint8Array(Buffer.from(j.b64, 'base64')) };
  }
  let file: Uint8Array;
  if (info.mode === 'fuse') file = new Uint8Array(await readFile(join(where, shard)));
  else {
    const res = await fetch(`${where}files/${encodeURIComponent(shard)}`, { headers: { authorization: `Bearer ${token ?? ''}` } });
    if (!res.ok) throw new AppError('MOUNT_FAILED', `Reading through the HTTP mount failed (HTTP ${String(res.status)}).`);
    file = new Uint8Array(await res.arrayBuffer());
  }
  const h = parseSafetensors(file);
  const t = h.byName.get(tensor);
  if (t === undefined) throw new AppError('NOT_FOUND', 'No such tensor in the mounted file.');
  const data = file.slice(h.dataStart + t.begin, h.dataStart + t.end);
  file.fill(0);
  return { reader: `Node (${info.mode === 'fuse' ? 'reading the mounted file' : 'fetching over HTTP'}, parsed as plain safetensors)`, dtype: t.dtype, shape: t.shape.map(Number), data };
}
