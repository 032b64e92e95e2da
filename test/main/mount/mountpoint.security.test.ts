/**
 * A caller-chosen FUSE mount point (`model-vault mount --at DIR`, `mount:start`'s `at`) must be private: a real,
 * empty folder of ours that no one else can write to, under folders no one else can write to unless they are sticky
 * (as /tmp is). Otherwise another local user could swap the folder a runtime reads for one holding weights of their
 * choice, or pre-create it and watch it. Every refusal is a typed AppError that says what to do, leaves nothing
 * mounted and nothing created; accepted folders mount for real (FUSE) and a folder we created is removed after.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, chmodSync, chownSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError } from '../../../app/errors.ts';
import { serializeJwk } from '../../../app/keys/jwk.ts';
import { generateMasterKey, generateSigningKey, publicHalf, type MasterKey, type SigningKey } from '../../../app/keys/key.ts';
import { runCli } from '../../../app/node/cli/main.ts';
import type { CliIo } from '../../../app/node/cli/types.ts';
import { packageModel } from '../../../app/node/format/package.ts';
import { fuseAvailable } from '../../../app/node/mount/fuse.ts';
import { MountManager, type StartOptions } from '../../../app/node/mount/manager.ts';
import { filePolicyEvaluator } from '../../../app/policy/file-policy.ts';
import { generateDemoModel } from '../../../resources/demo-model/generate.ts';

const ROOT = process.getuid?.() === 0;
const FUSE = fuseAvailable().available && existsSync('/dev/fuse');
const NOBODY = 65534;

let dir: string;
let packaged: string;
let master: MasterKey;
let signer: SigningKey;
let manager: MountManager;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mv-mountpoint-'));
  await generateDemoModel(join(dir, 'plain'), { shards: 1, layers: 1, hiddenSize: 16, vocabSize: 32 });
  master = generateMasterKey('aes256gcm');
  signer = generateSigningKey();
  packaged = join(dir, 'model.cryptotensors');
  await packageModel({ input: join(dir, 'plain'), output: packaged, masterKey: master, signingKey: signer as SigningKey & { seed: Uint8Array }, encrypt: 'all', version: 2, workers: 1 });
  manager = await MountManager.create({ env: { MODEL_VAULT_RUNTIME_DIR: join(dir, 'run') }, owner: 'cli' });
});

after(async () => {
  await manager.stopAll('shutdown');
  rmSync(dir, { recursive: true, force: true });
});

function options(at: string): StartOptions {
  return { model: packaged, mode: 'fuse', at, keys: { masterKeys: [master], trustedSigners: [publicHalf(signer)] }, policyEvaluator: filePolicyEvaluator };
}

/** A fresh folder under the test folder (mkdtemp's 0700, owned by us) with the given mode. */
function folder(name: string, mode: number): string {
  const d = join(dir, name);
  mkdirSync(d);
  chmodSync(d, mode);
  return d;
}

async function refused(at: string, code: string, message: RegExp): Promise<void> {
  await assert.rejects(manager.start(options(at)), (e: unknown) => {
    assert.ok(isAppError(e), 'a typed AppError');
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
  assert.deepEqual(manager.list(), [], 'nothing is left mounted');
  assert.deepEqual(readdirSync(join(dir, 'run', 'mounts')), [], 'no registry entry is left');
  assert.equal(readFileSync('/proc/mounts', 'utf8').includes(at), false, 'no FUSE mount is left');
}

test('a mount point under a folder other users can write to is refused, and not created', async () => {
  const open = folder('open', 0o777);
  await refused(join(open, 'mnt'), 'VALIDATION', /open is writable by other users.*chmod go-w.*leave out --at/);
  assert.deepEqual(readdirSync(open), [], 'the mount point was not created');
  const group = folder('group', 0o770);
  await refused(join(group, 'mnt'), 'VALIDATION', /writable by other users/);
  // Above the parent too: a private folder inside a world-writable one can be renamed away with its contents.
  const inner = join(open, 'private');
  mkdirSync(inner, { mode: 0o700 });
  await refused(join(inner, 'mnt'), 'VALIDATION', /open is writable by other users/);
  assert.deepEqual(readdirSync(inner), []);
});

test('a mount point that is writable by others, a symbolic link, not a folder, or not empty is refused', async () => {
  const parent = folder('parent', 0o700);
  const wide = join(parent, 'wide');
  mkdirSync(wide);
  chmodSync(wide, 0o777);
  await refused(wide, 'VALIDATION', /wide is writable by other users: remove their write permission/);
  const real = join(parent, 'real');
  mkdirSync(real, { mode: 0o700 });
  const link = join(parent, 'link');
  symlinkSync(real, link);
  await refused(link, 'VALIDATION', /is a symbolic link/);
  const file = join(parent, 'file');
  writeFileSync(file, 'x');
  await refused(file, 'VALIDATION', /is not a folder/);
  const full = join(parent, 'full');
  mkdirSync(full, { mode: 0o700 });
  writeFileSync(join(full, 'x'), 'x');
  await refused(full, 'VALIDATION', /is not empty/);
  await refused(join(parent, 'missing', 'mnt'), 'NOT_FOUND', /does not exist: create it private to you \(mkdir -m 700/);
  assert.equal(existsSync(join(parent, 'missing')), false);
});

test('a mount point or a folder above it owned by another user is refused', { skip: !ROOT && 'needs root to give a folder to another user' }, async () => {
  const theirs = folder('theirs', 0o755);
  chownSync(theirs, NOBODY, NOBODY);
  await refused(join(theirs, 'mnt'), 'VALIDATION', /theirs belongs to another user/);
  const parent = folder('mine', 0o700);
  const planted = join(parent, 'planted');
  mkdirSync(planted, { mode: 0o700 });
  chownSync(planted, NOBODY, NOBODY);
  await refused(planted, 'VALIDATION', /planted belongs to another user: give --at an empty folder of your own/);
});

test('private mount points mount: one we create is removed after, an existing one is kept (and unmounts by the path given); a sticky parent (as /tmp) is fine', { skip: !FUSE && 'FUSE is not available here' }, async () => {
  const sticky = folder('sticky', 0o1777);
  const created = join(sticky, 'mnt');
  const a = await manager.start(options(created));
  assert.equal(a.mountpoint, created);
  // Never a synchronous call on the mount point while mounted: this process serves it, and would deadlock.
  assert.deepEqual(await readdir(created), ['model.safetensors', ...readdirSync(packaged).filter((f) => f !== 'model.safetensors')].sort());
  await manager.stop(a.id);
  assert.equal(existsSync(created), false, 'the mount point we created is removed');

  // An existing private empty folder, reached through a symbolic link in its parent's path: mounted on the real path.
  const parent = folder('kept', 0o700);
  const existing = join(parent, 'mnt');
  mkdirSync(existing, { mode: 0o700 });
  symlinkSync(parent, join(dir, 'kept-link'));
  const b = await manager.start(options(join(dir, 'kept-link', 'mnt')));
  assert.equal(b.mountpoint, existing, 'the checked, real path is mounted');
  assert.ok(readFileSync('/proc/mounts', 'utf8').includes(existing));
  // `model-vault unmount FOLDER` finds it by the path given, symbolic link and all.
  let out = '';
  const io: CliIo = { out: (t) => (out += t), err: () => undefined, json: true, isTty: false, env: { MODEL_VAULT_RUNTIME_DIR: join(dir, 'run') }, cwd: dir };
  assert.equal(await runCli(['unmount', join('kept-link', 'mnt'), '--json'], io), 0);
  assert.deepEqual((JSON.parse(out) as { unmounted: unknown }).unmounted, [{ id: b.id, result: 'stopped' }]);
  assert.deepEqual(manager.list(), []);
  assert.deepEqual(readdirSync(existing), [], 'kept, empty');
  assert.equal(readFileSync('/proc/mounts', 'utf8').includes(existing), false);
});

test('model-vault mount --at refuses a shared folder with the typed error and exit code 1', async () => {
  const keyFile = join(dir, 'master.jwk');
  const trustFile = join(dir, 'signer.jwk');
  writeFileSync(keyFile, serializeJwk(master, { includeSecret: true }), { mode: 0o600 });
  writeFileSync(trustFile, serializeJwk(publicHalf(signer), { includeSecret: false }));
  const open = folder('cli-open', 0o777);
  let out = '';
  const io: CliIo = { out: (t) => (out += `${t}\n`), err: () => undefined, json: true, isTty: false, env: { MODEL_VAULT_HOME: join(dir, 'home'), MODEL_VAULT_RUNTIME_DIR: join(dir, 'run') }, cwd: dir };
  const code = await runCli(['mount', packaged, '--at', join(open, 'mnt'), '--key-file', keyFile, '--trust', trustFile, '--json'], io);
  assert.equal(code, 1);
  const doc = JSON.parse(out) as { ok: boolean; error: { code: string; message: string } };
  assert.equal(doc.ok, false);
  assert.equal(doc.error.code, 'VALIDATION');
  assert.match(doc.error.message, /writable by other users/);
  assert.deepEqual(readdirSync(open), []);
});
