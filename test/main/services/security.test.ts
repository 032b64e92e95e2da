/**
 * The security view's handlers called as functions (STYLE §7): inventory, keysets, the rotation wizard (dry run,
 * an interrupted rotation resumed, bundle export) and the audit viewer (verification, checkpoint, a tampered entry
 * named), on generated encrypted models in the encrypted file keystore. Nothing secret may appear in any answer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { toB64std, toB64url, toHex } from '../../../app/crypto/encoding.ts';
import type { ProgressEvent } from '../../../app/ipc/contract.ts';
import { parseRotationBundle, verifyRotationBundle } from '../../../app/keys/rotation-bundle.ts';
import { fingerprintOfPublicKey, type KeyMaterial } from '../../../app/keys/key.ts';
import { loadConfig } from '../../../app/node/config.ts';
import { FileKeyStore } from '../../../app/node/keys/file-keystore.ts';
import type { HandlerContext } from '../../../app/node/router.ts';
import { createSecurityHandlers } from '../../../app/node/services/security.ts';
import { verifyModel } from '../../../app/node/format/verify.ts';
import { FIXTURE_MODELS, makeKeys, makeModelFolder, removeDir, tempDir, type RotationKeys } from '../rotate/helpers.ts';
import { codeOf } from './helpers.ts';

let dir: string;
let folder: string;
let keys: RotationKeys;
let env: Record<string, string>;
let handlers: ReturnType<typeof createSecurityHandlers>;
const answers: unknown[] = [];

function ctx(onProgress?: (p: Omit<ProgressEvent, 'taskId' | 'channel'>, abort: () => void) => void): HandlerContext {
  const controller = new AbortController();
  return { taskId: '0123456789abcdef', signal: controller.signal, progress: (p) => onProgress?.(p, () => controller.abort()) };
}

async function call<T>(p: Promise<T>): Promise<T> {
  const v = await p;
  answers.push(v);
  return v;
}

before(async () => {
  dir = await tempDir('mv-security-svc-');
  keys = makeKeys();
  folder = await makeModelFolder(dir, keys);
  env = { MODEL_VAULT_HOME: join(dir, 'home'), MODEL_VAULT_PASSPHRASE: 'correct horse battery', MODEL_VAULT_SCRYPT_LOG_N: '10', MODEL_VAULT_ACTOR: 'sec-tester' };
  const store = await FileKeyStore.openOrCreate(join(dir, 'home', 'keystore.json'), env.MODEL_VAULT_PASSPHRASE as string, { params: { N: 1024, r: 8, p: 1 } });
  const meta = { createdAt: '2026-01-01T00:00:00.000Z', origin: 'imported' as const };
  for (const key of [keys.oldMaster, keys.oldSign, keys.newMaster]) await store.put({ key, meta });
  handlers = createSecurityHandlers({ config: loadConfig(env), host: 'web', probeKeychain: () => Promise.resolve({ available: false, backend: 'test', reason: 'not used in this test' }), env });
});

after(async () => {
  await removeDir(dir);
});

test('the inventory lists every stored key with its store and fingerprint', async () => {
  const inv = await call(handlers['security:keys']({}, ctx()));
  // Under CI the OS keychain is real and shared by the whole test session (other suites enroll device keys in it):
  // the file keystore's keys are exactly ours; whatever the keychain holds is listed as the keychain's.
  const fileKids = inv.keys.filter((k) => k.store === 'file').map((k) => k.kid).sort();
  assert.deepEqual(fileKids, ['enc-2025', 'enc-2026', 'sign-2025']);
  for (const k of inv.keys) {
    assert.ok(k.store === 'file' || k.store === 'keychain', `unexpected store ${k.store}`);
    assert.match(k.fingerprint, /^mvfp1:[0-9a-f]{32}$/);
  }
  const file = inv.stores.find((s) => s.kind === 'file');
  assert.equal(file?.locked, false);
});

test('create a key: stored in the file keystore, audited, listed', async () => {
  const row = await call(handlers['security:createKey']({ alg: 'ed25519', kid: 'sign-extra', label: 'spare', store: 'file' }, ctx()));
  assert.equal(row.kind, 'signing');
  assert.equal(row.label, 'spare');
  assert.equal(await codeOf(handlers['security:createKey']({ alg: 'aes256gcm', kid: 'sign-extra', store: 'file' }, ctx())), 'ALREADY_EXISTS');
  const inv = await call(handlers['security:keys']({}, ctx()));
  const extra = inv.keys.find((k) => k.kid === 'sign-extra');
  assert.equal(extra?.lastUsed?.action, 'keys.new');
});

test('scan finds the models, the keys they are under, and where those keys are', async () => {
  const scan = await call(handlers['security:scan']({ folder }, ctx()));
  assert.deepEqual(scan.models.map((m) => m.path).sort(), [...FIXTURE_MODELS].sort());
  assert.deepEqual(scan.masterKeys.map((k) => [k.kid, k.store, k.files]), [['enc-2025', 'file', 4]]);
  assert.deepEqual(scan.signingKeys.map((k) => [k.kid, k.canSign]), [['sign-2025', true]]);
  assert.equal(scan.unfinished, null);
  assert.equal(await codeOf(handlers['security:scan']({ folder: 'models' }, ctx())), 'VALIDATION');
});

test('the dry run shows what changes per file and changes nothing', async () => {
  const before = await readFile(join(folder, 'alpha.safetensors'));
  const plan = await call(handlers['security:plan']({ folder, newMasterKid: 'enc-2026' }, ctx()));
  assert.equal(plan.problems.length, 0);
  assert.equal(plan.totals.filesToRewrap, 4);
  assert.equal(plan.enc?.newKid, 'enc-2026');
  assert.deepEqual(plan.enc?.oldKids, ['enc-2025']);
  const beta = plan.files.find((f) => f.path === 'nested/beta.safetensors');
  assert.deepEqual([...(beta?.wrappedKeysChange ?? [])].sort(), ['lm_head.weight', 'model.embed_tokens.weight']);
  assert.ok((beta?.plainTensors ?? 0) > 0);
  assert.ok(plan.untouched.includes('README.md'));
  assert.deepEqual(await readFile(join(folder, 'alpha.safetensors')), before);
  assert.equal(await codeOf(handlers['security:plan']({ folder }, ctx())), 'VALIDATION');
  assert.equal(await codeOf(handlers['security:plan']({ folder, newMasterKid: 'nope-2030' }, ctx())), 'KEY_NOT_FOUND');
});

test('a cancelled rotation is shown as unfinished and resumes to the end; models verify under the new key', async () => {
  const seen: string[] = [];
  const cancelled = handlers['security:rotate']({ taskId: '0123456789abcdef', folder, newMasterKid: 'enc-2026' }, ctx((p, abort) => {
    seen.push(`${p.phase}:${p.done}/${p.total}`);
    if (p.phase === 'rewrap' && p.done === 1) abort();
  }));
  assert.equal(await codeOf(cancelled), 'CANCELLED');
  assert.ok(seen.includes('rewrap:0/4'), seen.join(' '));
  const scan = await call(handlers['security:scan']({ folder }, ctx()));
  const done = scan.unfinished?.filesDone ?? 0;
  assert.ok(done >= 1 && done < 4, `files done when cancelled: ${done}`);
  assert.equal(scan.unfinished?.newMasterKid, 'enc-2026');
  assert.equal(await codeOf(handlers['security:rotate']({ taskId: '0123456789abcdef', folder, newMasterKid: 'enc-2026' }, ctx())), 'ALREADY_EXISTS');

  const phases: string[] = [];
  const brokerPublic = x25519.getPublicKey(x25519.utils.randomSecretKey());
  const r = await call(handlers['security:rotate']({ taskId: '0123456789abcdef', folder, resume: true, brokerKeys: [`broker-1:${toB64std(brokerPublic)}`] }, ctx((p) => phases.push(p.phase))));
  assert.deepEqual(r.bundle.recipients, ['broker-1']);
  assert.equal(r.resumed, true);
  assert.deepEqual(r.models.map((m) => m.ok), [true, true, true]);
  assert.deepEqual([...new Set(phases)], ['plan', 'rewrap', 'verify', 'promote', 'bundle', 'done']);
  assert.deepEqual(r.steps.map((s) => s.phase), ['plan', 'rewrap', 'verify', 'promote', 'bundle', 'done']);
  // only the master key rotated: the new master key alone opens every model, still signed by the current signer
  for (const m of FIXTURE_MODELS) {
    const v = await verifyModel(join(folder, m), { masterKeys: [keys.newMaster], trustedSigners: [{ publicKey: keys.oldSign.publicKey }], parallel: false });
    assert.ok(v.ok, `${m}: ${JSON.stringify(v.problems)}`);
  }
  assert.equal(r.keysets.enc, 'active');
  assert.equal((await call(handlers['security:scan']({ folder }, ctx()))).unfinished, null);

  // the bundle: kept, exported, signed by the current signing key
  const out = await call(handlers['security:exportBundle']({ bundleId: r.bundle.bundleId, path: dir }, ctx()));
  assert.equal(out.path, join(dir, `rotation-${r.bundle.bundleId}.json`));
  const text = await readFile(out.path, 'utf8');
  assert.equal(createHash('sha256').update(text).digest('hex'), r.bundle.sha256);
  const verdict = verifyRotationBundle(parseRotationBundle(text), (pk) => fingerprintOfPublicKey(pk) === fingerprintOfPublicKey(keys.oldSign.publicKey));
  assert.equal(verdict.ok, true);
  assert.equal(await codeOf(handlers['security:exportBundle']({ bundleId: r.bundle.bundleId, path: dir }, ctx())), 'ALREADY_EXISTS');
  assert.equal(await codeOf(handlers['security:exportBundle']({ bundleId: r.bundle.bundleId, path: join(dir, 'no', 'such', 'b.json') }, ctx())), 'NOT_FOUND');

  // keysets: the old key is previous until retired
  const inv = await call(handlers['security:keys']({}, ctx()));
  assert.deepEqual(inv.keys.find((k) => k.kid === 'enc-2025')?.keysets.map((m) => m.state), ['previous']);
  assert.equal(inv.keys.find((k) => k.kid === 'enc-2026')?.lastUsed?.action, 'keys.promote');
  const retired = await call(handlers['security:keyset']({ kid: 'enc-2025', action: 'retire' }, ctx()));
  assert.equal(retired.state, 'retired');
  assert.equal(await codeOf(handlers['security:keyset']({ kid: 'enc-2026', action: 'retire' }, ctx())), 'VALIDATION');
});

test('the audit viewer: every act is there, verified; a checkpoint is signed; an edited entry is named', async () => {
  const cp = await call(handlers['security:checkpoint']({ signingKid: 'sign-2025' }, ctx()));
  const view = await call(handlers['security:audit']({}, ctx()));
  assert.equal(view.verification.ok, true, JSON.stringify(view.verification.problems));
  assert.equal(view.verification.checkpoints, 1);
  assert.equal(view.verification.unsignedTail, 0);
  assert.equal(view.verification.lastCheckpointSeq, cp.seq);
  assert.deepEqual(view.verification.signers.map((s) => [s.kid, s.ours]), [['sign-2025', true]]);
  for (const a of ['keys.new', 'keys.rotate.plan', 'keys.rotate.start', 'keys.rotate.complete', 'keys.rotate.bundle.export', 'keys.retire', 'audit.checkpoint']) assert.ok(view.actions.includes(a), a);
  assert.equal(view.entries[0]?.checkpoint, true, 'newest first');
  assert.ok(view.entries.every((e) => e.actor === 'sec-tester'));
  const failed = await call(handlers['security:audit']({ result: 'failed' }, ctx()));
  assert.ok(failed.entries.length >= 2 && failed.entries.every((e) => e.result === 'failed'));
  const retire = await call(handlers['security:audit']({ action: 'keys.retire' }, ctx()));
  assert.equal(retire.matched, 2);

  const path = join(env.MODEL_VAULT_HOME as string, 'audit.log');
  const lines = (await readFile(path, 'utf8')).split('\n');
  const i = lines.findIndex((l) => l.includes('"action":"keys.rotate.plan"'));
  lines[i] = (lines[i] as string).replace('"result":"ok"', '"result":"denied"');
  await writeFile(path, lines.join('\n'));
  const tampered = await call(handlers['security:audit']({ problemsOnly: true }, ctx()));
  assert.equal(tampered.verification.ok, false);
  const p = tampered.verification.problems.find((x) => x.entry === i + 1);
  assert.equal(p?.kind, 'edited');
  assert.equal(tampered.entries[0]?.entry, i + 1);
});

test('no answer carries key material in any encoding', () => {
  const text = JSON.stringify(answers);
  const secrets: Uint8Array[] = [keys.oldMaster.key, keys.newMaster.key, keys.oldSign.seed as Uint8Array, keys.newSign.seed as Uint8Array];
  for (const s of secrets) {
    for (const form of [toHex(s), toB64std(s), toB64url(s), toB64std(s).replace(/=+$/, '')]) assert.ok(!text.includes(form), 'a key leaked into an answer');
  }
  assert.ok(!text.includes('correct horse'));
  const k: KeyMaterial = keys.oldMaster;
  assert.equal(k.kind, 'master');
});
