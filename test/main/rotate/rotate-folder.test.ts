/**
 * Folder rotation: dry-run accuracy, a full rotation of several models (single files, a nested file, a sharded
 * folder), keysets staged then promoted, the signed bundle, resume after a failure, and the key-bytes scan over the
 * journal, the report, the bundle and the audit log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAppError } from '../../../app/errors.ts';
import { emptyKeyset, type Keyset, type KeysetPurpose } from '../../../app/keys/keyset.ts';
import { fingerprintOf, generateMasterKey, publicHalf } from '../../../app/keys/key.ts';
import { generateRecipientKeyPair, parseRotationBundle, unwrapKeyForRecipient, verifyRotationBundle } from '../../../app/keys/rotation-bundle.ts';
import { fingerprintOfPublicKey } from '../../../app/keys/key.ts';
import { AuditLog, verifyAuditLogFile } from '../../../app/node/audit/log.ts';
import { planRotation, readJournal, rotateFolder, type KeysetPort, type RotateOptions } from '../../../app/node/keys/rotate-folder.ts';
import { assertNoKeyBytes } from '../../app/keys/secret-scan.ts';
import { FIXTURE_MODELS, assertNeverBroken, makeKeys, makeModelFolder, removeDir, stateOf, tempDir, verifyUnder, type RotationKeys } from './helpers.ts';

function memoryKeysets(): KeysetPort & { sets: Map<KeysetPurpose, Keyset> } {
  const sets = new Map<KeysetPurpose, Keyset>();
  return {
    sets,
    update(purpose, change) {
      const next = change(sets.get(purpose) ?? emptyKeyset(purpose, 'acme'));
      sets.set(purpose, next);
      return Promise.resolve(next);
    },
  };
}

function options(keys: RotationKeys, extra: Partial<RotateOptions> = {}): RotateOptions {
  return {
    oldMasterKeys: [keys.oldMaster],
    newMasterKey: keys.newMaster,
    newSigningKey: keys.newSign,
    oldSigningKey: keys.oldSign,
    trustedSigners: [publicHalf(keys.oldSign)],
    ...extra,
  };
}

const allKeys = (k: RotationKeys) => [k.oldMaster, k.oldSign, k.newMaster, k.newSign];

async function withFolder(fn: (dir: string, folder: string, keys: RotationKeys) => Promise<void>): Promise<void> {
  const dir = await tempDir('mv-rot-');
  try {
    const keys = makeKeys();
    const folder = await makeModelFolder(dir, keys);
    await fn(dir, folder, keys);
  } finally {
    await removeDir(dir);
  }
}

void test('dry run: exactly which files, tensors and signatures change, and nothing is written', async () => {
  await withFolder(async (_dir, folder, keys) => {
    const before = (await readdir(folder, { recursive: true })).sort();
    const mtimes = await Promise.all(before.map(async (f) => (await stat(join(folder, f))).mtimeMs));
    const plan = await planRotation(folder, options(keys));
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(plan.models.map((m) => `${m.kind}:${m.path}`).sort(), ['file:alpha.safetensors', 'file:nested/beta.safetensors', 'folder:sharded']);
    assert.deepEqual(plan.otherFiles, ['README.md']);
    const sharded = plan.models.find((m) => m.path === 'sharded');
    assert.ok(sharded?.untouchedFiles.includes('sharded/config.json') && sharded.untouchedFiles.includes('sharded/tokenizer.json'));
    assert.equal(plan.files.length, 4);
    for (const f of plan.files) {
      assert.equal(f.status, 'rewrap');
      assert.equal(f.encKid, 'enc-2025');
      assert.equal(f.signer?.fingerprint, fingerprintOf(keys.oldSign));
      assert.equal(f.signatureChanges, true);
      assert.equal(f.wrappedKeysChange.length + f.plainTensors.length, f.tensors);
    }
    // beta encrypts only two tensors: only their wrapped keys change, the rest stays plaintext and untouched
    const beta = plan.files.find((f) => f.path === 'nested/beta.safetensors');
    assert.deepEqual([...(beta?.wrappedKeysChange ?? [])].sort(), ['lm_head.weight', 'model.embed_tokens.weight']);
    assert.ok((beta?.plainTensors.length ?? 0) > 0);
    assert.equal(plan.totals.filesToRewrap, 4);
    assert.equal(plan.totals.signaturesChanging, 4);
    assert.equal(plan.totals.wrappedKeysChanging, plan.files.reduce((a, f) => a + f.wrappedKeysChange.length, 0));
    assert.deepEqual(plan.enc?.oldKids, ['enc-2025']);
    assert.equal(plan.enc?.newKid, 'enc-2026');
    assert.equal(plan.sign?.newFingerprint, fingerprintOf(keys.newSign));
    // nothing written: same files, same times, no journal
    const after = (await readdir(folder, { recursive: true })).sort();
    assert.deepEqual(after, before);
    assert.deepEqual(await Promise.all(after.map(async (f) => (await stat(join(folder, f))).mtimeMs)), mtimes);
    assert.doesNotMatch(after.join('\n'), /model-vault-rotation/);
    // the plan reveals no key bytes
    assertNoKeyBytes(JSON.stringify(plan), allKeys(keys));
    // a wrong current key is reported per file, and the rotation refuses to start
    const wrong = { ...options(keys), oldMasterKeys: [generateMasterKey('aes256gcm', { kid: 'enc-2025' })] };
    const bad = await planRotation(folder, wrong);
    assert.equal(bad.problems.length, 4);
    assert.equal(bad.totals.filesToRewrap, 0);
    await assert.rejects(rotateFolder(folder, wrong), (e: unknown) => isAppError(e) && /4 file\(s\) cannot be rotated/.test(e.message));
    assert.deepEqual((await readdir(folder, { recursive: true })).sort(), before);
    // an untrusted signer likewise
    const untrusted = await planRotation(folder, { ...options(keys), trustedSigners: [publicHalf(keys.newSign)] }).catch((e: unknown) => e);
    assert.ok(isAppError(untrusted) ? untrusted.code === 'VALIDATION' : (untrusted as { problems: { code: string }[] }).problems.every((p) => p.code === 'BAD_SIGNATURE'));
  });
});

void test('rotation of a folder of models: rewrapped, data untouched, verified, keysets promoted, signed bundle, audited, no key bytes', async () => {
  await withFolder(async (dir, folder, keys) => {
    const dataBefore = new Map<string, Buffer>();
    const plan = await planRotation(folder, options(keys));
    for (const f of plan.files) {
      const bytes = await readFile(join(folder, f.path));
      dataBefore.set(f.path, bytes.subarray(bytes.length - f.dataBytesUntouched));
    }
    const configBefore = await readFile(join(folder, 'sharded', 'config.json'));
    const keysets = memoryKeysets();
    const broker = generateRecipientKeyPair('broker-1');
    const auditPath = join(dir, 'audit.log');
    const progress: string[] = [];
    const report = await rotateFolder(folder, options(keys, {
      keysets, audit: { log: new AuditLog(auditPath), actor: 'security-officer' }, brokerRecipients: [{ id: broker.id, publicKey: broker.publicKey }],
      bundleOut: join(dir, 'bundle.json'), producer: 'acme', onProgress: (p) => progress.push(p.phase),
    }));
    assert.equal(report.resumed, false);
    assert.equal(report.files.filter((f) => f.result === 'rewrapped').length, 4);
    assert.deepEqual(report.models.map((m) => m.ok), [true, true, true]);
    assert.ok(progress.includes('rewrap') && progress.at(-1) === 'done');
    // every model valid under the new keys alone, no longer under the old ones
    for (const m of FIXTURE_MODELS) {
      assert.ok(await verifyUnder(join(folder, m), keys, 'new'), m);
      assert.equal(await verifyUnder(join(folder, m), keys, 'old'), false, m);
    }
    // data sections byte-identical, other files untouched
    for (const [p, data] of dataBefore) {
      const bytes = await readFile(join(folder, p));
      assert.ok(bytes.subarray(bytes.length - data.length).equals(data), p);
    }
    assert.ok((await readFile(join(folder, 'sharded', 'config.json'))).equals(configBefore));
    // keysets: new keys active, old keys kept as previous (not retired)
    for (const [purpose, oldKid, newKid] of [['enc', 'enc-2025', 'enc-2026'], ['sign', 'sign-2025', 'sign-2026']] as const) {
      const ks = keysets.sets.get(purpose);
      assert.equal(ks?.entries.find((e) => e.kid === newKid)?.state, 'active');
      assert.equal(ks?.entries.find((e) => e.kid === oldKid)?.state, 'previous');
    }
    assert.deepEqual(report.keysets, { enc: 'active', sign: 'active' });
    // the bundle: signed by the old (continuity) and new key, verifiable, carries the new key for the broker
    const bundle = parseRotationBundle(await readFile(join(dir, 'bundle.json'), 'utf8'));
    const oldFp = fingerprintOf(keys.oldSign);
    const verdict = verifyRotationBundle(bundle, (pk) => fingerprintOfPublicKey(pk) === oldFp);
    assert.ok(verdict.ok, verdict.problems.join('; '));
    assert.equal(bundle.enc?.oldKid, 'enc-2025');
    assert.equal(bundle.enc?.newKid, 'enc-2026');
    assert.equal(bundle.sign?.newFingerprint, fingerprintOf(keys.newSign));
    assert.equal(bundle.models.length, 4);
    for (const m of bundle.models) assert.notEqual(m.oldHeaderSha256, m.newHeaderSha256);
    assert.equal(fingerprintOf(unwrapKeyForRecipient(bundle, broker)), fingerprintOf(keys.newMaster));
    // journal complete; audit log intact with every step
    const journal = await readJournal(report.journal);
    assert.equal(journal?.phase, 'complete');
    assert.ok(journal?.files.every((f) => f.state === 'done'));
    const auditText = await readFile(auditPath, 'utf8');
    assert.ok((await verifyAuditLogFile(auditPath)).ok);
    for (const a of ['keys.rotate.start', 'keys.stage', 'keys.rotate.file', 'keys.rotate.verify', 'keys.promote', 'keys.rotate.bundle', 'keys.rotate.complete']) assert.match(auditText, new RegExp(`"action":"${a.replace(/\./g, '\\.')}"`), a);
    // no key bytes in any encoding anywhere we wrote or returned
    for (const text of [auditText, await readFile(report.journal, 'utf8'), await readFile(join(dir, 'bundle.json'), 'utf8'), JSON.stringify(report)]) assertNoKeyBytes(text, allKeys(keys));
    // a rerun is a no-op that reports everything done
    const again = await rotateFolder(folder, options(keys));
    assert.equal(again.resumed, true);
    assert.ok(again.files.every((f) => f.result === 'already-done'));
  });
});

void test('resume after a failure mid-rotation: done files stay new, others old, the rerun completes, keys promoted only at the end', async () => {
  await withFolder(async (dir, folder, keys) => {
    const keysets = memoryKeysets();
    const auditPath = join(dir, 'audit.log');
    let n = 0;
    const failing = rotateFolder(folder, options(keys, {
      keysets, audit: { log: new AuditLog(auditPath), actor: 'so' },
      afterFile: () => {
        if (++n === 2) throw new Error('simulated crash after two files');
      },
    }));
    await assert.rejects(failing, /simulated crash/);
    const journal = await readJournal(join(folder, '.model-vault-rotation.json'));
    assert.equal(journal?.phase, 'rewrapping');
    assert.equal(journal?.files.filter((f) => f.state === 'done').length, 2);
    // staged, not promoted
    assert.equal(keysets.sets.get('enc')?.entries.find((e) => e.kid === 'enc-2026')?.state, 'staged');
    assert.equal(keysets.sets.get('enc')?.entries.find((e) => e.kid === 'enc-2025')?.state, 'active');
    const states = await assertNeverBroken(folder, keys, 'after the failure');
    assert.equal(Object.values(states).join(',').split(',').filter((s) => s === 'new').length, 2);
    // a different new key cannot take over an unfinished rotation
    const other = makeKeys();
    await assert.rejects(rotateFolder(folder, { ...options(keys), newMasterKey: other.newMaster }), (e: unknown) => isAppError(e) && e.code === 'VALIDATION' && /unfinished/.test(e.message));
    // the rerun completes
    const report = await rotateFolder(folder, options(keys, { keysets, audit: { log: new AuditLog(auditPath), actor: 'so' } }));
    assert.equal(report.resumed, true);
    assert.equal(report.files.filter((f) => f.result === 'rewrapped').length, 2);
    assert.equal(report.files.filter((f) => f.result === 'already-done').length, 2);
    for (const m of FIXTURE_MODELS) assert.equal(await stateOf(join(folder, m), keys), 'new', m);
    assert.equal(keysets.sets.get('enc')?.entries.find((e) => e.kid === 'enc-2026')?.state, 'active');
    assert.ok((await verifyAuditLogFile(auditPath)).ok);
    assert.match(await readFile(auditPath, 'utf8'), /"result":"failed"/);
  });
});

void test('signing-key-only and master-key-only rotations', async () => {
  await withFolder(async (_dir, folder, keys) => {
    const r1 = await rotateFolder(folder, { oldMasterKeys: [keys.oldMaster], newSigningKey: keys.newSign, oldSigningKey: keys.oldSign, trustedSigners: [publicHalf(keys.oldSign)] });
    assert.equal(r1.enc, null);
    assert.equal(r1.bundle.enc, undefined);
    const mixed = { ...keys, newMaster: keys.oldMaster };
    for (const m of FIXTURE_MODELS) assert.ok(await verifyUnder(join(folder, m), mixed, 'new'), m);
    const r2 = await rotateFolder(folder, { oldMasterKeys: [keys.oldMaster], newMasterKey: keys.newMaster, oldSigningKey: keys.newSign, trustedSigners: [publicHalf(keys.newSign)] });
    assert.equal(r2.sign, null);
    assert.equal(r2.files.filter((f) => f.result === 'rewrapped').length, 4);
    for (const m of FIXTURE_MODELS) assert.ok(await verifyUnder(join(folder, m), keys, 'new'), m);
  });
});

void test('a folder that is itself one sharded model: the journal goes beside it, the model still verifies', async () => {
  await withFolder(async (dir, folder, keys) => {
    const model = join(folder, 'sharded');
    const plan = await planRotation(model, options(keys));
    assert.deepEqual(plan.models.map((m) => `${m.kind}:${m.path}`), ['folder:.']);
    assert.equal(plan.journal, join(folder, '.sharded.model-vault-rotation.json'));
    const report = await rotateFolder(model, options(keys, { bundleOut: join(dir, 'b.json') }));
    assert.equal(report.files.filter((f) => f.result === 'rewrapped').length, 2);
    assert.ok(await verifyUnder(model, keys, 'new'));
    assert.doesNotMatch((await readdir(model)).join(','), /rotation/);
    assert.equal((await readJournal(plan.journal))?.phase, 'complete');
  });
});

void test('a lock left by a killed process (dead pid, or empty and old) does not block the audit log', async () => {
  await withFolder(async (dir, folder, keys) => {
    const auditPath = join(dir, 'audit.log');
    await writeFile(join(dir, 'audit.log.lock'), '');
    const old = new Date(Date.now() - 5000);
    await utimes(join(dir, 'audit.log.lock'), old, old);
    const started = performance.now();
    await rotateFolder(folder, options(keys, { newSigningKey: undefined, audit: { log: new AuditLog(auditPath), actor: 'so' } }));
    assert.ok(performance.now() - started < 9000, 'the empty stale lock was waited on');
    assert.ok((await verifyAuditLogFile(auditPath)).ok);
    await writeFile(join(dir, 'audit.log.lock'), '4194000'); // above the usual pid_max: no such process
    await assert.rejects(rotateFolder(folder, options(keys, { newMasterKey: makeKeys().newMaster, audit: { log: new AuditLog(auditPath), actor: 'so' } })), (e: unknown) => isAppError(e) && e.code !== 'IO_ERROR');
    assert.doesNotMatch((await readdir(dir)).join(','), /audit\.log\.lock/);
  });
});

void test('cancellation (AbortSignal) between files: CANCELLED, never broken, a rerun completes', async () => {
  await withFolder(async (_dir, folder, keys) => {
    const ac = new AbortController();
    await assert.rejects(rotateFolder(folder, options(keys, { signal: ac.signal, afterFile: () => ac.abort() })), (e: unknown) => isAppError(e) && e.code === 'CANCELLED' && /run it again to resume/.test(e.message));
    const journal = await readJournal(join(folder, '.model-vault-rotation.json'));
    assert.equal(journal?.files.filter((f) => f.state === 'done').length, 1);
    await assertNeverBroken(folder, keys, 'after cancel');
    const report = await rotateFolder(folder, options(keys));
    assert.equal(report.resumed, true);
    for (const m of FIXTURE_MODELS) assert.ok(await verifyUnder(join(folder, m), keys, 'new'), m);
  });
});
