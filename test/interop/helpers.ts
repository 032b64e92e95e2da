/** Interop helpers: the reference Python (MV_PYTHON or <repo>/.venv/bin/python) driven through ref_tool.py. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { toB64std } from '../../app/crypto/encoding.ts';
import type { MasterKey, SigningKey } from '../../app/format/keys.ts';
import type { Dtype } from '../../app/format/dtype.ts';
import { detBytes } from '../app/format/helpers.ts';

const REPO = join(import.meta.dirname, '../..');

export function pythonPath(): string {
  const p = process.env.MV_PYTHON ?? join(REPO, '.venv/bin/python');
  if (!existsSync(p)) throw new Error(`interop tests need the reference Python at ${p} (set MV_PYTHON or create .venv from test/interop/requirements.txt)`);
  return p;
}

export type JobResult = { ok: true; tensors?: Record<string, string>; metadata?: Record<string, string> | null } | { ok: false; error: string };

export function runJobs(jobs: readonly object[]): JobResult[] {
  const r = spawnSync(pythonPath(), [join(import.meta.dirname, 'ref_tool.py')], { input: JSON.stringify(jobs), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`ref_tool.py failed (${String(r.status)}): ${r.stderr}`);
  return JSON.parse(r.stdout) as JobResult[];
}

export interface Row {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly nbytes: number;
}

export function row(name: string, dtype: Dtype, shape: readonly number[], bits: number): Row {
  return { name, dtype, shape, nbytes: (shape.reduce((a, b) => a * b, 1) * bits) / 8 };
}

export function withData(rows: readonly Row[]): { name: string; dtype: Dtype; shape: readonly number[]; data: Uint8Array }[] {
  return rows.map((r) => ({ name: r.name, dtype: r.dtype, shape: r.shape, data: detBytes(r.name, r.nbytes, r.dtype === 'BOOL') }));
}

export function jwkKeys(master: MasterKey, signer: SigningKey): { enc: Record<string, string>; sign: Record<string, string> } {
  return {
    enc: { alg: master.alg, k: toB64std(master.key), ...(master.kid === undefined ? {} : { kid: master.kid }) },
    sign: { alg: 'ed25519', x: toB64std(signer.publicKey), d: toB64std(signer.seed), ...(signer.kid === undefined ? {} : { kid: signer.kid }) },
  };
}

export function refConfig(master: MasterKey, signer: SigningKey, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const k = jwkKeys(master, signer);
  return { enc_key: k.enc, sign_key: k.sign, ...extra };
}
