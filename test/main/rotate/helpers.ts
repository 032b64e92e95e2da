/**
 * Fixtures for the folder-rotation tests: a folder with several packaged demo models (two single files, one of them
 * nested, and one sharded model folder with its config/tokenizer files) under an "old" master and signing key.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDemoModel } from '../../../resources/demo-model/generate.ts';
import { packageModel } from '../../../app/node/format/package.ts';
import { verifyModel } from '../../../app/node/format/verify.ts';
import { generateMasterKey, generateSigningKey, type MasterKey, type SigningKey } from '../../../app/keys/key.ts';
import type { SigningKey as CodecSigningKey } from '../../../app/format/keys.ts';

export interface RotationKeys {
  readonly oldMaster: MasterKey;
  readonly oldSign: SigningKey;
  readonly newMaster: MasterKey;
  readonly newSign: SigningKey;
}

export function makeKeys(): RotationKeys {
  return {
    oldMaster: generateMasterKey('aes256gcm', { kid: 'enc-2025' }),
    oldSign: generateSigningKey({ kid: 'sign-2025' }),
    newMaster: generateMasterKey('aes256gcm', { kid: 'enc-2026' }),
    newSign: generateSigningKey({ kid: 'sign-2026' }),
  };
}

export function codecSigner(k: SigningKey): CodecSigningKey {
  assert.ok(k.seed !== undefined);
  return { publicKey: k.publicKey, seed: k.seed, ...(k.kid === undefined ? {} : { kid: k.kid }) };
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** The models of the fixture folder, relative paths (a folder model is its folder). */
export const FIXTURE_MODELS = ['alpha.safetensors', 'nested/beta.safetensors', 'sharded'] as const;

const SMALL = { hiddenSize: 32, layers: 1, vocabSize: 64 } as const;

/** Builds the fixture folder `<dir>/models` (plus a README beside the models) under the old keys. */
export async function makeModelFolder(dir: string, keys: RotationKeys): Promise<string> {
  const src = join(dir, 'src');
  const out = join(dir, 'models');
  await mkdir(join(out, 'nested'), { recursive: true });
  const common = { masterKey: keys.oldMaster, signingKey: codecSigner(keys.oldSign), chunkSize: 4096, workers: 1 } as const;
  await generateDemoModel(join(src, 'a'), { ...SMALL, shards: 1, seed: 1 });
  await packageModel({ ...common, input: join(src, 'a', 'model.safetensors'), output: join(out, 'alpha.safetensors') });
  await generateDemoModel(join(src, 'b'), { ...SMALL, shards: 1, seed: 2 });
  await packageModel({ ...common, input: join(src, 'b', 'model.safetensors'), output: join(out, 'nested', 'beta.safetensors'), encrypt: ['model.embed_tokens.weight', 'lm_head.weight'] });
  await generateDemoModel(join(src, 'c'), { ...SMALL, shards: 2, seed: 3 });
  await packageModel({ ...common, input: join(src, 'c'), output: join(out, 'sharded') });
  await rm(src, { recursive: true, force: true });
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(out, 'README.md'), 'models for the rotation tests\n');
  return out;
}

export async function copyFolder(from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true });
}

type Which = 'old' | 'new';

function keysFor(keys: RotationKeys, which: Which | 'both'): { masterKeys: MasterKey[]; trustedSigners: { publicKey: Uint8Array }[] } {
  if (which === 'old') return { masterKeys: [keys.oldMaster], trustedSigners: [{ publicKey: keys.oldSign.publicKey }] };
  if (which === 'new') return { masterKeys: [keys.newMaster], trustedSigners: [{ publicKey: keys.newSign.publicKey }] };
  return { masterKeys: [keys.oldMaster, keys.newMaster], trustedSigners: [{ publicKey: keys.oldSign.publicKey }, { publicKey: keys.newSign.publicKey }] };
}

export async function verifyUnder(path: string, keys: RotationKeys, which: Which | 'both'): Promise<boolean> {
  const r = await verifyModel(path, { ...keysFor(keys, which), parallel: false });
  return r.ok;
}

/** Which keys a file opens under: 'old', 'new', or 'broken'. */
export async function stateOf(path: string, keys: RotationKeys): Promise<Which | 'broken'> {
  if (await verifyUnder(path, keys, 'old')) return 'old';
  if (await verifyUnder(path, keys, 'new')) return 'new';
  return 'broken';
}

/**
 * The must-hold check: every single-file model is valid under the old keys or the new ones; every shard of a
 * folder model likewise, and the folder (manifest, files, every shard) verifies with both keys. Returns the states.
 */
export async function assertNeverBroken(folder: string, keys: RotationKeys, label: string): Promise<Record<string, string>> {
  const states: Record<string, string> = {};
  for (const m of FIXTURE_MODELS) {
    const path = join(folder, m);
    if (m.endsWith('.safetensors')) {
      states[m] = await stateOf(path, keys);
      assert.notEqual(states[m], 'broken', `${label}: ${m} is broken`);
      continue;
    }
    const shards = (await readdir(path)).filter((f) => f.endsWith('.safetensors')).sort();
    const per = [];
    for (const s of shards) per.push(await stateOf(join(path, s), keys));
    states[m] = per.join(',');
    assert.ok(!per.includes('broken'), `${label}: a shard of ${m} is broken (${states[m]})`);
    assert.ok(await verifyUnder(path, keys, 'both'), `${label}: the folder model ${m} does not verify`);
  }
  return states;
}
