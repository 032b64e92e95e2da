import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { FileKeyStore } from '../../../app/node/keys/file-keystore.ts';
import { writeFileAtomic } from '../../../app/node/atomic.ts';
import { generateMasterKey, generateSigningKey, type MasterKey, type SigningKey } from '../../../app/keys/key.ts';
import { isAppError } from '../../../app/errors.ts';
import { assertNoKeyBytes } from './secret-scan.ts';

const FAST = { N: 2 ** 10, r: 8, p: 1 };
const PW = 'a long enough passphrase';
const meta = { createdAt: '2026-11-21T20:00:00.000Z', origin: 'generated' as const };
const tmp = (): string => mkdtempSync(join(tmpdir(), 'mv-ks-'));
const code = (c: string) => (e: unknown) => isAppError(e) && e.code === c;

void test('create, put, get, list (locked too), delete; file is 0600 and holds no key bytes', async () => {
  const path = join(tmp(), 'sub', 'keystore.json');
  const store = await FileKeyStore.create(path, PW, { params: FAST });
  const m = generateMasterKey();
  const s = generateSigningKey();
  await store.put({ key: m, meta });
  await store.put({ key: s, meta: { ...meta, label: 'signing' } });
  if (process.platform !== 'win32') {
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
  }
  assertNoKeyBytes(await fs.readFile(path, 'utf8'), [m, s]);
  const again = await FileKeyStore.open(path, { passphrase: PW });
  assert.deepEqual(((await again.get(m.kid!))?.key as MasterKey).key, m.key);
  assert.deepEqual(((await again.get(s.kid!))?.key as SigningKey).seed, s.seed);
  const locked = await FileKeyStore.open(path);
  assert.deepEqual((await locked.list()).map((k) => k.kid).sort(), [m.kid, s.kid].sort());
  await assert.rejects(locked.get(m.kid!), code('KEYSTORE_LOCKED'));
  await assert.rejects(locked.put({ key: generateMasterKey(), meta }), code('KEYSTORE_LOCKED'));
  await assert.rejects(store.put({ key: m, meta }), code('ALREADY_EXISTS'));
  assert.equal(await again.delete(m.kid!), true);
  assert.equal(await store.get(m.kid!), undefined);
  assert.equal(await store.delete(m.kid!), false);
  await assert.rejects(FileKeyStore.create(path, PW, { params: FAST }), code('ALREADY_EXISTS'));
});

void test('wrong passphrase, tampering and a missing file are reported with their own codes', async () => {
  const dir = tmp();
  const path = join(dir, 'keystore.json');
  const store = await FileKeyStore.create(path, PW, { params: FAST });
  await store.put({ key: generateMasterKey(), meta });
  await assert.rejects(FileKeyStore.open(path, { passphrase: 'wrong passphrase!' }), code('PASSPHRASE_WRONG'));
  const doc = JSON.parse(await fs.readFile(path, 'utf8')) as { public: { keys: { kid: string }[] } };
  doc.public.keys[0]!.kid = 'renamed';
  writeFileSync(path, JSON.stringify(doc));
  await assert.rejects(FileKeyStore.open(path, { passphrase: PW }), code('PASSPHRASE_WRONG'));
  await assert.rejects(FileKeyStore.open(join(dir, 'nope.json')), code('NOT_FOUND'));
  writeFileSync(path, '{"format":"model-vault/keystore"');
  await assert.rejects(FileKeyStore.open(path), code('VALIDATION'));
});

void test('passphrase change re-encrypts; the old passphrase stops working', async () => {
  const path = join(tmp(), 'keystore.json');
  const store = await FileKeyStore.create(path, PW, { params: FAST });
  const m = generateMasterKey();
  await store.put({ key: m, meta });
  await store.changePassphrase('another long passphrase');
  await assert.rejects(FileKeyStore.open(path, { passphrase: PW }), code('PASSPHRASE_WRONG'));
  const s2 = await FileKeyStore.open(path, { passphrase: 'another long passphrase' });
  assert.deepEqual(((await s2.get(m.kid!))?.key as MasterKey).key, m.key);
  await assert.rejects(store.changePassphrase('short'), code('VALIDATION'));
});

void test('concurrent writers in two processes lose no key (file lock + atomic rename)', async () => {
  const path = join(tmp(), 'keystore.json');
  await FileKeyStore.create(path, PW, { params: FAST });
  const mod = new URL('../../../app/node/keys/file-keystore.ts', import.meta.url).pathname;
  const keyMod = new URL('../../../app/keys/key.ts', import.meta.url).pathname;
  const script = `const { FileKeyStore } = await import(${JSON.stringify(mod)}); const { generateMasterKey } = await import(${JSON.stringify(keyMod)});
    const s = await FileKeyStore.open(${JSON.stringify(path)}, { passphrase: ${JSON.stringify(PW)} });
    for (let i = 0; i < 5; i++) await s.put({ key: generateMasterKey(), meta: { createdAt: '', origin: 'generated' } });`;
  const run = (): Promise<number | null> =>
    new Promise((resolve) => {
      const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'inherit' });
      c.on('exit', resolve);
    });
  assert.deepEqual(await Promise.all([run(), run()]), [0, 0]);
  const store = await FileKeyStore.open(path, { passphrase: PW });
  assert.equal((await store.list()).length, 10);
});

void test('atomic write replaces content and leaves no temp files', async () => {
  const dir = tmp();
  const p = join(dir, 'f.json');
  await writeFileAtomic(p, 'one');
  await writeFileAtomic(p, 'two');
  assert.equal(await fs.readFile(p, 'utf8'), 'two');
  assert.deepEqual(await fs.readdir(dir), ['f.json']);
  await assert.rejects(writeFileAtomic(join(dir, 'missing', 'x'), 'y'), code('IO_ERROR'));
});
