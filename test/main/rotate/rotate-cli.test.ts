/**
 * `model-vault keys rotate` end to end: dry run by default (nothing written), --json plan, apply with --generate
 * (the new key is stored in the file keystore first), keysets promoted, signed bundle with a broker recipient,
 * M-of-N approval shares, resume of an interrupted rotation, and a scan of every output, the journal, the bundle and the audit log for key
 * bytes in any encoding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAppError } from '../../../app/errors.ts';
import { serializeJwk } from '../../../app/keys/jwk.ts';
import { fingerprintOf, fingerprintOfPublicKey, makeMasterKey, publicHalf, type KeyMaterial } from '../../../app/keys/key.ts';
import { combineShares, decodeShare } from '../../../app/keys/shamir.ts';
import { toB64std } from '../../../app/crypto/encoding.ts';
import { generateRecipientKeyPair, parseRotationBundle, unwrapKeyForRecipient, verifyRotationBundle } from '../../../app/keys/rotation-bundle.ts';
import { verifyAuditLogFile } from '../../../app/node/audit/log.ts';
import { FileKeyStore } from '../../../app/node/keys/file-keystore.ts';
import { loadKeysets } from '../../../app/node/keys/keyset-file.ts';
import { rotateFolder } from '../../../app/node/keys/rotate-folder.ts';
import { parseArgs } from '../../../app/node/cli/args.ts';
import { commands } from '../../../app/node/cli/rotate.ts';
import type { CliIo } from '../../../app/node/cli/types.ts';
import { assertNoKeyBytes } from '../../app/keys/secret-scan.ts';
import { FIXTURE_MODELS, assertNeverBroken, makeKeys, makeModelFolder, removeDir, tempDir, verifyUnder } from './helpers.ts';

const PASSPHRASE = 'correct horse battery staple rotation';

async function cli(dir: string, argv: string[], json: boolean): Promise<{ code: number | string; out: string; err: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const env = { MODEL_VAULT_HOME: join(dir, 'home'), MODEL_VAULT_STORE: 'file', MODEL_VAULT_PASSPHRASE: PASSPHRASE, MODEL_VAULT_SCRYPT_LOG_N: '10', MODEL_VAULT_ACTOR: 'security-officer' };
  const io: CliIo = { out: (t) => stdout.push(t), err: (t) => stderr.push(t), json, isTty: false, env, cwd: dir };
  const cmd = commands.find((c) => c.words.join(' ') === 'keys rotate');
  assert.ok(cmd !== undefined);
  let code: number | string;
  try {
    code = await cmd.run(parseArgs(argv), io);
  } catch (e) {
    code = isAppError(e) ? e.code : 'THROWN';
    stderr.push(isAppError(e) ? e.message : String(e));
  }
  return { code, out: stdout.join('\n'), err: stderr.join('\n') };
}

void test('keys rotate: dry run by default, apply with --generate, bundle for the broker, resume, no key bytes anywhere', async () => {
  const dir = await tempDir('mv-rot-cli-');
  try {
    const keys = makeKeys();
    const folder = await makeModelFolder(dir, keys);
    const jwk = async (name: string, k: KeyMaterial): Promise<void> => writeFile(join(dir, name), serializeJwk(k, { includeSecret: true }), { mode: 0o600 });
    await jwk('old.jwk', keys.oldMaster);
    await jwk('old-sign.jwk', keys.oldSign);
    await jwk('new.jwk', keys.newMaster);
    await jwk('new-sign.jwk', keys.newSign);
    const outputs: string[] = [];
    const common = ['models', '--old-key', 'old.jwk', '--old-sign-key', 'old-sign.jwk', '--sign-key', 'new-sign.jwk'];

    // 1. the default is the dry run: a plan, nothing changed
    const before = (await readdir(folder, { recursive: true })).sort();
    const dry = await cli(dir, [...common, '--generate'], false);
    outputs.push(dry.out, dry.err);
    assert.equal(dry.code, 0, dry.err);
    assert.match(dry.out, /Dry run: nothing was changed/);
    assert.match(dry.out, /alpha\.safetensors: rewrap \d+ wrapped key/);
    assert.match(dry.out, /sharded\/config\.json/);
    assert.deepEqual((await readdir(folder, { recursive: true })).sort(), before);
    const dryJson = await cli(dir, [...common, '--new-key', 'new.jwk', '--dry-run', '--yes'], true);
    outputs.push(dryJson.out, dryJson.err);
    const pj = JSON.parse(dryJson.out) as { dryRun: boolean; plan: { totals: { filesToRewrap: number; signaturesChanging: number } } };
    assert.equal(pj.dryRun, true);
    assert.equal(pj.plan.totals.filesToRewrap, 4);
    assert.equal(pj.plan.totals.signaturesChanging, 4);
    for (const m of FIXTURE_MODELS) assert.ok(await verifyUnder(join(folder, m), keys, 'old'), m);

    // 2. apply with a generated master key, a broker recipient and a bundle file
    const broker = generateRecipientKeyPair('broker-eu');
    const applied = await cli(dir, [...common, '--generate', '--yes', '--bundle-out', 'bundle.json', '--broker-key', `${broker.id}:${toB64std(broker.publicKey)}`, '--owner', 'acme', '--approval', '2/3', '--shares-dir', 'shares'], true);
    outputs.push(applied.out, applied.err);
    assert.equal(applied.code, 0, applied.err);
    const rj = JSON.parse(applied.out) as { generated: boolean; report: { enc: { newKid: string; newFingerprint: string }; keysets: { enc: string; sign: string } } };
    assert.equal(rj.generated, true);
    assert.deepEqual(rj.report.keysets, { enc: 'active', sign: 'active' });
    const store = await FileKeyStore.open(join(dir, 'home', 'keystore.json'), { passphrase: PASSPHRASE });
    const stored = await store.get(rj.report.enc.newKid);
    assert.ok(stored !== undefined && stored.key.kind === 'master');
    const generated = stored.key;
    assert.equal(fingerprintOf(generated), rj.report.enc.newFingerprint);
    const rotated = { ...keys, newMaster: generated };
    for (const m of FIXTURE_MODELS) {
      assert.ok(await verifyUnder(join(folder, m), rotated, 'new'), m);
      assert.equal(await verifyUnder(join(folder, m), keys, 'old'), false, m);
    }
    const bundleText = await readFile(join(dir, 'bundle.json'), 'utf8');
    const bundle = parseRotationBundle(bundleText);
    assert.ok(verifyRotationBundle(bundle, (pk) => fingerprintOfPublicKey(pk) === fingerprintOf(keys.oldSign)).ok);
    assert.equal(fingerprintOf(unwrapKeyForRecipient(bundle, broker)), fingerprintOf(generated));
    assert.equal(bundle.producer, 'acme');
    // M-of-N approval: three share files, any two rebuild the new key; the bundle records 2/3 only
    assert.deepEqual(bundle.approval, { threshold: 2, total: 3 });
    const shareFiles = (await readdir(join(dir, 'shares'))).sort();
    assert.equal(shareFiles.length, 3);
    const two = await Promise.all(shareFiles.slice(1).map(async (f) => decodeShare(await readFile(join(dir, 'shares', f), 'utf8'))));
    const rebuilt = combineShares(two);
    assert.equal(fingerprintOf(makeMasterKey('aes256gcm', rebuilt.secret)), fingerprintOf(generated));
    assertNoKeyBytes(bundleText, [rebuilt.secret]);
    const keysets = await loadKeysets(join(dir, 'home', 'keysets.json'));
    const enc = keysets.keysets.find((k) => k.purpose === 'enc' && k.owner === 'acme');
    assert.equal(enc?.entries.find((e) => e.kid === rj.report.enc.newKid)?.state, 'active');
    assert.equal(enc?.entries.find((e) => e.kid === 'enc-2025')?.state, 'previous');

    // a second rotation names the current key by its keystore kid (kids and JWK files are both accepted)
    const again = await cli(dir, ['models', '--old-key', rj.report.enc.newKid, '--old-sign-key', 'new-sign.jwk', '--generate', '--yes', '--owner', 'acme'], true);
    outputs.push(again.out, again.err);
    assert.equal(again.code, 0, again.err);
    const aj = JSON.parse(again.out) as { report: { enc: { newKid: string }; sign: unknown } };
    assert.equal(aj.report.sign, null);
    const third = (await (await FileKeyStore.open(join(dir, 'home', 'keystore.json'), { passphrase: PASSPHRASE })).get(aj.report.enc.newKid))?.key;
    assert.ok(third?.kind === 'master');
    for (const m of FIXTURE_MODELS) assert.ok(await verifyUnder(join(folder, m), { ...keys, newMaster: third }, 'new'), m);
    const enc2 = (await loadKeysets(join(dir, 'home', 'keysets.json'))).keysets.find((k) => k.purpose === 'enc' && k.owner === 'acme');
    assert.deepEqual(enc2?.entries.map((e) => e.state), ['previous', 'previous', 'active']);

    // 3. resume: an interrupted rotation (second folder) is refused without --resume and finished with it
    const folder2 = await makeModelFolder(join(dir, 'second'), keys);
    let n = 0;
    await assert.rejects(rotateFolder(folder2, { oldMasterKeys: [keys.oldMaster], newMasterKey: keys.newMaster, newSigningKey: keys.newSign, oldSigningKey: keys.oldSign, trustedSigners: [publicHalf(keys.oldSign)], afterFile: () => {
      if (++n === 1) throw new Error('simulated power loss');
    } }));
    await assertNeverBroken(folder2, keys, 'interrupted');
    const args2 = ['second/models', '--old-key', 'old.jwk', '--old-sign-key', 'old-sign.jwk', '--new-key', 'new.jwk', '--sign-key', 'new-sign.jwk'];
    const refused = await cli(dir, [...args2, '--yes'], false);
    outputs.push(refused.out, refused.err);
    assert.equal(refused.code, 'ALREADY_EXISTS');
    assert.match(refused.err, /--resume/);
    const resumed = await cli(dir, [...args2, '--resume'], false);
    outputs.push(resumed.out, resumed.err);
    assert.equal(resumed.code, 0, resumed.err);
    assert.match(resumed.out, /Resumed and completed/);
    for (const m of FIXTURE_MODELS) assert.ok(await verifyUnder(join(folder2, m), keys, 'new'), m);

    // 4. the audit log is intact and nothing anywhere holds key bytes
    const auditPath = join(dir, 'home', 'audit.log');
    assert.ok((await verifyAuditLogFile(auditPath)).ok);
    const auditText = await readFile(auditPath, 'utf8');
    assert.match(auditText, /"action":"keys\.rotate\.plan"/);
    assert.match(auditText, /"action":"keys\.new"/);
    assert.match(auditText, /"action":"keys\.rotate\.complete"/);
    const all = [keys.oldMaster, keys.oldSign, keys.newMaster, keys.newSign, generated, third];
    for (const text of [...outputs, auditText, bundleText, await readFile(join(folder, '.model-vault-rotation.json'), 'utf8'), await readFile(join(folder2, '.model-vault-rotation.json'), 'utf8')]) assertNoKeyBytes(text, all);
  } finally {
    await removeDir(dir);
  }
});

void test('keys rotate: usage errors exit cleanly and name the fix', async () => {
  const dir = await tempDir('mv-rot-cli-');
  try {
    const r1 = await cli(dir, ['models'], false);
    assert.equal(r1.code, 'VALIDATION');
    assert.match(r1.err, /--old-key is required/);
    await writeFile(join(dir, 'old.jwk'), serializeJwk(makeKeys().oldMaster, { includeSecret: true }));
    const r2 = await cli(dir, ['models', '--old-key', 'old.jwk', '--new-key', 'old.jwk'], false);
    assert.equal(r2.code, 'VALIDATION');
    assert.match(r2.err, /--old-sign-key or --trust/);
  } finally {
    await removeDir(dir);
  }
});
