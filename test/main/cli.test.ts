import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../app/node/cli/main.ts';
import type { CliIo } from '../../app/node/cli/types.ts';
import { APP_VERSION } from '../../app/version.ts';

const BIN = fileURLToPath(new URL('../../bin/model-vault.mjs', import.meta.url));

function capture(argv: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`), json: argv.includes('--json'), isTty: false, env: { MODEL_VAULT_HOME: '/tmp/mv-cli-test', ...env }, cwd: process.cwd() };
  return runCli(argv, io).then((code) => ({ code, out, err }));
}

test('--help lists every command, --version prints the version', async () => {
  const help = await capture(['--help']);
  assert.equal(help.code, 0);
  for (const word of ['status', 'ui', 'demo']) assert.match(help.out, new RegExp(`model-vault ${word}`));
  assert.equal((await capture(['--version'])).out.trim(), `model-vault ${APP_VERSION}`);
  assert.deepEqual(JSON.parse((await capture(['--version', '--json'])).out) as unknown, { name: 'Model Vault', version: APP_VERSION });
});

test('no command prints help and exits 2; an unknown command exits 2 with a hint', async () => {
  assert.equal((await capture([])).code, 2);
  const r = await capture(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown command 'frobnicate'.*--help/);
  const j = await capture(['frobnicate', '--json']);
  assert.deepEqual((JSON.parse(j.out) as { error: { code: string } }).error.code, 'VALIDATION');
});

test('status --json prints exactly one JSON document', async () => {
  const r = await capture(['status', '--json']);
  assert.equal(r.code, 0);
  const doc = JSON.parse(r.out) as { ok: boolean; status: { dataDir: string; broker: { mode: string }; keychain: { available: boolean; backend: string } } };
  assert.equal(doc.ok, true);
  assert.equal(doc.status.dataDir, '/tmp/mv-cli-test');
  assert.equal(doc.status.broker.mode, 'embedded');
  assert.equal(typeof doc.status.keychain.available, 'boolean');
});

test('a bad environment is a typed error with a next step, not a crash', async () => {
  const r = await capture(['status'], { MODEL_VAULT_BROKER_URL: 'http://broker.example.com' });
  assert.equal(r.code, 1);
  assert.match(r.err, /^error \[VALIDATION\]: MODEL_VAULT_BROKER_URL must use https/m);
});

test('ui rejects a bad port with a usage error', async () => {
  const r = await capture(['ui', '--port', 'http']);
  assert.equal(r.code, 2);
  assert.match(r.err, /usage: model-vault ui/);
});

test('the installed bin runs the demo and writes the demo model', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mv-demo-'));
  const r = spawnSync(process.execPath, [BIN, 'demo', '--dir', dir, '--json'], { encoding: 'utf8', env: { ...process.env, MODEL_VAULT_HOME: join(dir, 'home') } });
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { ok: boolean; steps: { step: string; ok: boolean; detail: Record<string, unknown> }[] };
  assert.equal(doc.ok, true);
  assert.ok(doc.steps.every((s) => s.ok));
  const byName = (prefix: string) => doc.steps.find((s) => s.step.startsWith(prefix))?.detail;
  assert.equal(byName('Verify:')?.ok, true);
  assert.equal(byName('Tamper check')?.refused, true);
  assert.equal(byName('Tamper check')?.code, 'MANIFEST_MISMATCH');
  assert.deepEqual(byName('Verify again'), { newKeyOk: true, oldKeyRefused: true });
  assert.deepEqual(byName('Key release'), { synced: 2, personalOk: true, keysDistinct: true, producerKeyRefused: true, subscriberKeyRefusedOnOriginal: true });
  assert.equal(byName('Enroll a subscriber')?.status, 'active');
  assert.equal(byName('Mount the subscriber copy')?.licensed, true);
  assert.equal(byName('Mount the subscriber copy')?.files, 9);
  assert.equal(byName('Read a tensor through the mount')?.identical, true);
  assert.equal(doc.steps.length, 13);
  assert.deepEqual(readdirSync(join(dir, 'run', 'mounts')), [], 'the demo unmounted: no registry entry left');
  const rotation = byName('Rotate the master key');
  assert.equal(rotation?.filesRewrapped, 2);
  assert.equal(rotation?.subscriberKeyUnchanged, true);
  assert.equal(rotation?.resynced, 2);
  // Nothing secret on the screen: the key files' secret members never appear in the narration or the JSON.
  for (const name of ['producer-master.jwk', 'producer-signing.jwk', 'producer-master-2.jwk']) {
    const jwk = JSON.parse(readFileSync(join(dir, 'keys', name), 'utf8')) as { k?: string; d?: string };
    const secret = jwk.k ?? jwk.d ?? '';
    assert.ok(secret.length >= 20);
    for (const form of [secret, Buffer.from(secret, 'base64').toString('hex'), Buffer.from(secret, 'base64').toString('base64url')]) {
      assert.ok(!r.stdout.includes(form) && !r.stderr.includes(form), `${name}: secret printed`);
    }
    assert.equal(statSync(join(dir, 'keys', name)).mode & 0o777, 0o600);
  }
  assert.match(r.stderr, /\[1\/\d+\] Check this installation/);
  const files = readdirSync(join(dir, 'demo-model')).sort();
  assert.deepEqual(files, ['LICENSE', 'README.md', 'config.json', 'generation_config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'tokenizer.json', 'tokenizer_config.json']);
});
