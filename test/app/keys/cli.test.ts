// The keys/audit CLI commands end to end with the encrypted file keystore (and the real keychain when a Secret
// Service is present), plus the scan that no key bytes appear in any output, error or audit entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commands } from '../../../app/node/cli/keys.ts';
import { parseArgs } from '../../../app/node/cli/args.ts';
import type { CliIo } from '../../../app/node/cli/types.ts';
import { toErrorInfo } from '../../../app/errors.ts';
import { FileKeyStore } from '../../../app/node/keys/file-keystore.ts';
import type { KeyMaterial } from '../../../app/keys/key.ts';
import { findKeyBytes } from './secret-scan.ts';

interface Run {
  code: number;
  out: string;
  err: string;
}

function makeEnv(): Record<string, string> {
  const home = mkdtempSync(join(tmpdir(), 'mv-cli-'));
  return { MODEL_VAULT_HOME: home, MODEL_VAULT_PASSPHRASE: 'keystore passphrase 1', MODEL_VAULT_BACKUP_PASSPHRASE: 'backup passphrase 22', MODEL_VAULT_SCRYPT_LOG_N: '10', MODEL_VAULT_ACTOR: 'tester', MODEL_VAULT_STORE: 'file' };
}

const transcript: string[] = [];

async function cli(env: Record<string, string>, argv: string[]): Promise<Run> {
  const args = parseArgs(argv);
  const cmd = commands
    .filter((c) => c.words.every((w, i) => args.positionals[i] === w))
    .sort((a, b) => b.words.length - a.words.length)[0];
  assert.ok(cmd, `no command for ${argv.join(' ')}`);
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n'), json: args.flags.json === true, isTty: false, env, cwd: process.cwd() };
  let code: number;
  try {
    code = await cmd.run({ ...args, positionals: args.positionals.slice(cmd.words.length) }, io);
  } catch (e) {
    const info = toErrorInfo(e);
    err += `error [${info.code}]: ${info.message}\n`;
    if (io.json) out += JSON.stringify({ ok: false, error: info }) + '\n';
    code = 1;
  }
  transcript.push(out, err);
  return { code, out, err };
}

void test('keys: new, list, show, export (backup, public, plaintext file), import, delete, trust, untrust; audit show/verify; no key bytes anywhere', async () => {
  const env = makeEnv();
  const enc = await cli(env, ['keys', 'new', '--alg', 'aes256gcm', '--kid', 'acme-enc-1', '--json']);
  assert.equal(enc.code, 0, enc.err);
  assert.equal((JSON.parse(enc.out) as { key: { kid: string } }).key.kid, 'acme-enc-1');
  assert.equal((await cli(env, ['keys', 'new', '--alg', 'ed25519', '--kid', 'acme-sign-1', '--label', 'release'])).code, 0);
  assert.equal((await cli(env, ['keys', 'new', '--alg', 'chacha20poly1305'])).code, 0);
  const keystore = join(env.MODEL_VAULT_HOME!, 'keystore.json');
  if (process.platform !== 'win32') assert.equal(statSync(keystore).mode & 0o777, 0o600);

  const list = await cli(env, ['keys', 'list', '--json']);
  const listed = JSON.parse(list.out) as { keys: { kid: string; fingerprint: string }[] };
  assert.equal(listed.keys.length, 3);
  // listing works without the passphrase (the key list is public, authenticated)
  const locked = await cli({ ...env, MODEL_VAULT_PASSPHRASE: '' }, ['keys', 'list']);
  assert.equal(locked.code, 0, locked.err);
  assert.match(locked.out, /acme-enc-1/);
  assert.match((await cli({ ...env, MODEL_VAULT_PASSPHRASE: '' }, ['keys', 'export', 'acme-enc-1'])).err, /KEYSTORE_LOCKED/);
  assert.match((await cli({ ...env, MODEL_VAULT_PASSPHRASE: 'wrong passphrase' }, ['keys', 'show', 'acme-sign-1'])).err, /PASSPHRASE_WRONG/);

  const show = await cli(env, ['keys', 'show', 'acme-sign-1', '--json']);
  assert.equal((JSON.parse(show.out) as { publicJwk: { kty: string } }).publicJwk.kty, 'okp');

  const dir = mkdtempSync(join(tmpdir(), 'mv-cli-out-'));
  const backup = join(dir, 'backup.json');
  assert.equal((await cli(env, ['keys', 'export', 'acme-enc-1', 'acme-sign-1', '--out', backup])).code, 0);
  const pub = await cli(env, ['keys', 'export', 'acme-sign-1', '--public']);
  assert.equal(pub.code, 0, pub.err);
  assert.match(pub.out, /"kty":"okp"/);
  assert.doesNotMatch(pub.out, /"d":/);
  const printedBackup = await cli(env, ['keys', 'export', 'acme-enc-1', '--json']);
  assert.equal(printedBackup.code, 0);
  const noOut = await cli(env, ['keys', 'export', 'acme-enc-1', '--plaintext']);
  assert.equal(noOut.code, 1);
  assert.match(noOut.err, /only to a file/);
  const plain = join(dir, 'plain.jwks');
  const pl = await cli(env, ['keys', 'export', 'acme-enc-1', 'acme-sign-1', '--plaintext', '--out', plain]);
  assert.equal(pl.code, 0);
  assert.match(pl.err, /WARNING: this output contains secret key material/);

  // the real key bytes, read back through the keystore
  const store = await FileKeyStore.open(keystore, { passphrase: env.MODEL_VAULT_PASSPHRASE! });
  const keys: KeyMaterial[] = [];
  for (const k of listed.keys) keys.push((await store.get(k.kid))!.key);
  // sanity: the scanner finds the keys where they are supposed to be (the plaintext file)
  assert.ok(findKeyBytes(readFileSync(plain, 'utf8'), keys) !== undefined);

  // import into a second home: backup (with passphrase), wrong passphrase, plaintext JWK Set, duplicates
  const env2 = makeEnv();
  const wrong = await cli({ ...env2, MODEL_VAULT_BACKUP_PASSPHRASE: 'not the passphrase' }, ['keys', 'import', backup]);
  assert.match(wrong.err, /PASSPHRASE_WRONG/);
  const imp = await cli(env2, ['keys', 'import', backup, '--json']);
  assert.equal(imp.code, 0, imp.err);
  assert.equal((JSON.parse(imp.out) as { imported: unknown[] }).imported.length, 2);
  assert.match((await cli(env2, ['keys', 'import', plain])).err, /ALREADY_EXISTS/);
  assert.equal((await cli(env2, ['keys', 'import', plain, '--force'])).code, 0);
  const rfc = join(dir, 'rfc.jwk');
  writeFileSync(rfc, JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A' }));
  const rfcImp = await cli(env2, ['keys', 'import', rfc, '--kid', 'rfc8032-test-1', '--json']);
  assert.equal(rfcImp.code, 0, rfcImp.err);
  const bad = join(dir, 'bad.jwk');
  writeFileSync(bad, JSON.stringify({ kty: 'oct', alg: 'aes256gcm', k: Buffer.from((keys[0] as { key: Uint8Array }).key).toString('base64url') }));
  const badImp = await cli(env2, ['keys', 'import', bad]);
  assert.match(badImp.err, /KEY_INVALID/);

  // trust / untrust
  const sign = listed.keys.find((k) => k.kid === 'acme-sign-1')!;
  const t1 = await cli(env, ['keys', 'trust', 'acme-sign-1', '--scope', 'producer:acme', '--json']);
  assert.equal((JSON.parse(t1.out) as { status: string }).status, 'trusted', t1.err);
  const pubFile = join(dir, 'pub.jwk');
  writeFileSync(pubFile, pub.out);
  const t2 = await cli(env2, ['keys', 'trust', pubFile, '--scope', 'model:acme/llama', '--json']);
  assert.equal((JSON.parse(t2.out) as { fingerprint: string }).fingerprint, sign.fingerprint);
  const u1 = await cli(env, ['keys', 'untrust', sign.fingerprint, '--scope', 'producer:acme', '--json']);
  assert.equal((JSON.parse(u1.out) as { status: string }).status, 'known-untrusted');
  const tl = await cli(env, ['keys', 'trust', '--json']);
  assert.equal((JSON.parse(tl.out) as { entries: unknown[] }).entries.length, 1);

  // delete needs --yes
  assert.equal((await cli(env, ['keys', 'delete', 'acme-enc-1'])).code, 1);
  assert.equal((await cli(env, ['keys', 'delete', 'acme-enc-1', '--yes'])).code, 0);
  assert.match((await cli(env, ['keys', 'show', 'acme-enc-1'])).err, /KEY_NOT_FOUND/);
  assert.match((await cli(env, ['keys', 'new', '--alg', 'A256GCM'])).err, /usage:/);
  assert.match((await cli(env, ['keys', 'new', '--kid', 'bad kid'])).err, /VALIDATION/);

  // the audit log recorded every command, including failures and denials, and verifies
  const show2 = await cli(env, ['audit', 'show', '--json', '--limit', '1000']);
  const entries = (JSON.parse(show2.out) as { entries: { action: string; result: string }[] }).entries;
  const actions = new Set(entries.map((e) => e.action));
  for (const a of ['keys.new', 'keys.list', 'keys.show', 'keys.export', 'keys.delete', 'keys.trust', 'keys.untrust']) assert.ok(actions.has(a), a);
  assert.ok(entries.some((e) => e.result === 'denied'));
  assert.ok(entries.some((e) => e.result === 'failed'));
  const v = await cli(env, ['audit', 'verify', '--json']);
  assert.equal(v.code, 0, v.out);
  const human = await cli(env, ['audit', 'verify']);
  assert.match(human.out, /^OK: \d+ entries/);

  // tamper: edit one entry in the middle → exit 3, says where
  const logPath = join(env.MODEL_VAULT_HOME!, 'audit.log');
  const lines = readFileSync(logPath, 'utf8').trimEnd().split('\n');
  lines[2] = lines[2]!.replace('"actor":"tester"', '"actor":"mallory"');
  writeFileSync(logPath, lines.join('\n') + '\n');
  const tampered = await cli(env, ['audit', 'verify']);
  assert.equal(tampered.code, 3);
  assert.match(tampered.out, /entry 3: \[edited\]/);

  // the scan: no key bytes in any output, error, or audit entry, in any encoding
  const audits = [readFileSync(logPath, 'utf8'), readFileSync(join(env2.MODEL_VAULT_HOME!, 'audit.log'), 'utf8')];
  const rfcSeed = Buffer.from('nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A', 'base64url');
  for (const text of [...transcript, ...audits]) {
    const hit = findKeyBytes(text, [...keys.map((k) => k), rfcSeed] as never);
    assert.equal(hit, undefined, `${hit ?? ''} in: ${text.slice(0, 200)}`);
  }
});

const SKIP = (process.env.DBUS_SESSION_BUS_ADDRESS ?? '') === '' ? 'DBUS_SESSION_BUS_ADDRESS is unset: run under dbus-run-session with an unlocked gnome-keyring' : false;

void test('keys new/list/show/delete against the real keychain (default store)', { skip: SKIP }, async () => {
  const env = { ...makeEnv(), MODEL_VAULT_STORE: '' };
  delete (env as Record<string, string>).MODEL_VAULT_STORE;
  const kid = `cli-test-${process.pid}`;
  const r = await cli(env, ['keys', 'new', '--kid', kid, '--json']);
  assert.equal(r.code, 0, r.err);
  assert.equal((JSON.parse(r.out) as { key: { store: string } }).key.store, 'keychain');
  assert.match((await cli(env, ['keys', 'list'])).out, new RegExp(kid));
  assert.equal((await cli(env, ['keys', 'delete', kid, '--yes'])).code, 0);
});

void test('audit checkpoints are signed with MODEL_VAULT_AUDIT_KID and checked against --trusted-signer', async () => {
  const env = makeEnv();
  const created = await cli(env, ['keys', 'new', '--alg', 'ed25519', '--kid', 'audit-key', '--json']);
  const fp = (JSON.parse(created.out) as { key: { fingerprint: string } }).key.fingerprint;
  const env2 = { ...env, MODEL_VAULT_AUDIT_KID: 'audit-key', MODEL_VAULT_AUDIT_CHECKPOINT_EVERY: '2' };
  for (let i = 0; i < 4; i++) assert.equal((await cli(env2, ['keys', 'new', '--kid', `k-${i}`])).code, 0);
  const v = await cli(env2, ['audit', 'verify', '--json', '--trusted-signer', fp]);
  const report = JSON.parse(v.out) as { ok: boolean; checkpoints: number };
  assert.equal(v.code, 0, v.out);
  assert.ok(report.checkpoints >= 2);
  const other = await cli(env2, ['audit', 'verify', '--trusted-signer', 'mvfp1:' + '0'.repeat(32)]);
  assert.equal(other.code, 3);
  assert.match(other.out, /untrusted-checkpoint/);
  const head = (JSON.parse((await cli(env2, ['audit', 'verify', '--json'])).out) as { head: { seq: number; hash: string } }).head;
  const logPath = join(env.MODEL_VAULT_HOME!, 'audit.log');
  const lines = readFileSync(logPath, 'utf8').trimEnd().split('\n');
  writeFileSync(logPath, lines.slice(0, -2).join('\n') + '\n');
  const cut = await cli(env2, ['audit', 'verify', '--head', `${head.seq}:${head.hash}`]);
  assert.equal(cut.code, 3);
  assert.match(cut.out, /\[truncated\]/);
});

void test('keys split / combine: any 2 of 3 share files rebuild the key elsewhere; a tampered share is caught', async () => {
  const env = makeEnv();
  const created = JSON.parse((await cli(env, ['keys', 'new', '--kid', 'split-me', '--json'])).out) as { key: { fingerprint: string } };
  const dir = mkdtempSync(join(tmpdir(), 'mv-shares-'));
  const split = await cli(env, ['keys', 'split', 'split-me', '--threshold', '2', '--shares', '3', '--out-dir', dir, '--json']);
  assert.equal(split.code, 0, split.err);
  const files = (JSON.parse(split.out) as { files: string[] }).files;
  assert.equal(files.length, 3);
  if (process.platform !== 'win32') assert.equal(statSync(files[0]!).mode & 0o777, 0o600);
  for (const pair of [[0, 1], [0, 2], [1, 2]]) {
    const env2 = makeEnv();
    const r = await cli(env2, ['keys', 'combine', files[pair[0]!]!, files[pair[1]!]!, '--json']);
    assert.equal(r.code, 0, r.err);
    assert.equal((JSON.parse(r.out) as { fingerprint: string }).fingerprint, created.key.fingerprint);
  }
  assert.match((await cli(makeEnv(), ['keys', 'combine', files[0]!])).err, /KEY_INVALID/);
  // tamper with one share's value
  const text = readFileSync(files[1]!, 'utf8').trim();
  const body = Buffer.from(text.slice('mvshare1-'.length), 'base64url');
  body[body.length - 70]! ^= 0x01;
  writeFileSync(files[1]!, 'mvshare1-' + body.toString('base64url') + '\n');
  assert.match((await cli(makeEnv(), ['keys', 'combine', files[0]!, files[1]!])).err, /KEY_INVALID/);
  const spare = await cli(makeEnv(), ['keys', 'combine', files[0]!, files[1]!, files[2]!, '--json']);
  assert.equal(spare.code, 0, spare.err);
  assert.deepEqual((JSON.parse(spare.out) as { rejectedShares: number[] }).rejectedShares, [2]);
  assert.match(spare.err, /share\(s\) 2 failed their integrity check/);
  assert.match((await cli(env, ['keys', 'split', 'split-me', '--threshold', '2', '--shares', '3'])).err, /--out-dir/);
  const key = (await (await FileKeyStore.open(join(env.MODEL_VAULT_HOME!, 'keystore.json'), { passphrase: env.MODEL_VAULT_PASSPHRASE! })).get('split-me'))!.key;
  for (const t of [...transcript, readFileSync(join(env.MODEL_VAULT_HOME!, 'audit.log'), 'utf8')]) assert.equal(findKeyBytes(t, [key]), undefined);
});

void test('keys stage → promote → retire; old keys cannot be deleted until retired', async () => {
  const env = makeEnv();
  for (const kid of ['enc-1', 'enc-2']) assert.equal((await cli(env, ['keys', 'new', '--kid', kid])).code, 0);
  assert.equal((await cli(env, ['keys', 'new', '--kid', 'enc-128', '--alg', 'aes128gcm'])).code, 0);
  const st = await cli(env, ['keys', 'stage', 'enc-1', '--owner', 'acme', '--json']);
  assert.equal((JSON.parse(st.out) as { state: string }).state, 'staged', st.err);
  assert.equal((await cli(env, ['keys', 'promote', 'enc-1', '--owner', 'acme'])).code, 0);
  assert.match((await cli(env, ['keys', 'stage', 'enc-128', '--owner', 'acme'])).err, /KEY_ALG_MISMATCH/);
  assert.equal((await cli(env, ['keys', 'stage', 'enc-2', '--owner', 'acme'])).code, 0);
  assert.equal((await cli(env, ['keys', 'promote', 'enc-2', '--owner', 'acme'])).code, 0);
  const ks = JSON.parse((await cli(env, ['keys', 'keysets', '--json'])).out) as { keysets: { owner: string; entries: { kid: string; state: string }[] }[] };
  assert.deepEqual(
    ks.keysets[0]!.entries.map((e) => [e.kid, e.state]),
    [
      ['enc-1', 'previous'],
      ['enc-2', 'active'],
    ],
  );
  assert.match((await cli(env, ['keys', 'delete', 'enc-1', '--yes'])).err, /previous in the enc keyset of acme/);
  assert.match((await cli(env, ['keys', 'retire', 'enc-2', '--owner', 'acme'])).err, /active and cannot be retired/);
  assert.equal((await cli(env, ['keys', 'retire', 'enc-1', '--owner', 'acme'])).code, 0);
  assert.equal((await cli(env, ['keys', 'delete', 'enc-1', '--yes'])).code, 0);
  assert.match((await cli(env, ['keys', 'promote', 'nope', '--owner', 'acme'])).err, /KEY_NOT_FOUND/);
});

void test('keys passphrase re-encrypts the file keystore', async () => {
  const env = makeEnv();
  assert.equal((await cli(env, ['keys', 'new', '--kid', 'pp-1'])).code, 0);
  assert.match((await cli(env, ['keys', 'passphrase'])).err, /usage:/);
  const r = await cli({ ...env, MODEL_VAULT_NEW_PASSPHRASE: 'the new keystore passphrase' }, ['keys', 'passphrase', '--json']);
  assert.equal(r.code, 0, r.err);
  assert.match((await cli(env, ['keys', 'show', 'pp-1'])).err, /PASSPHRASE_WRONG/);
  assert.equal((await cli({ ...env, MODEL_VAULT_PASSPHRASE: 'the new keystore passphrase' }, ['keys', 'show', 'pp-1'])).code, 0);
  assert.doesNotMatch(transcript.join(''), /the new keystore passphrase/);
  assert.doesNotMatch(readFileSync(join(env.MODEL_VAULT_HOME!, 'audit.log'), 'utf8'), /keystore passphrase/);
});
