/**
 * The `model-vault broker …` commands end to end against a real broker on 127.0.0.1 (SQLite): enroll, publish from
 * a folder with JWK key files, subscribe, approve, sync, licences (online and offline), revoke, audit (remote and
 * `--db --verify`), and KEK rotation followed by a restart under the new KEK. Output never contains key bytes.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from '../../../app/crypto/random.ts';
import { masterKeyToJwk, signingKeyToJwk, signingKeyFromSeed } from '../../../app/format/keys.ts';
import { toB64url } from '../../../app/crypto/encoding.ts';
import { parseArgs } from '../../../app/node/cli/args.ts';
import { commands } from '../../../app/node/cli/broker.ts';
import { parseKekText } from '../../../app/node/broker/kek.ts';
import { startBroker } from '../../../app/node/broker/start.ts';
import { BOOTSTRAP, makeModel } from './helpers.ts';

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
  readonly json: Record<string, unknown>;
}

async function cli(home: string, argv: string[]): Promise<Run> {
  const args = parseArgs(argv);
  const words = args.positionals.slice(0, 2).join(' ');
  const cmd = commands.find((c) => c.words.join(' ') === words);
  assert.ok(cmd !== undefined, `no command ${words}`);
  let out = '';
  let err = '';
  const code = await cmd.run({ ...args, positionals: args.positionals.slice(2) }, {
    out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n'), json: args.flags.json === true, isTty: false, env: { MODEL_VAULT_HOME: home, MODEL_VAULT_PASSPHRASE: 'device keystore pw', MODEL_VAULT_SCRYPT_LOG_N: '10' }, cwd: home,
  });
  let json: Record<string, unknown> = {};
  if (args.flags.json === true) json = JSON.parse(out) as Record<string, unknown>;
  return { code, out, err, json };
}

test('broker CLI: producer → subscriber → sync → revoke → audit → KEK rotation', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mv-cli-'));
  const kekFile = join(dir, 'kek');
  const kekText = toB64url(randomBytes(32));
  writeFileSync(kekFile, kekText);
  writeFileSync(join(dir, 'bootstrap'), BOOTSTRAP);
  const dbPath = join(dir, 'broker.sqlite');
  let broker = await startBroker({ dbSpec: dbPath, kek: parseKekText(kekText), bootstrapSecret: BOOTSTRAP });
  const secrets: string[] = [];
  try {
    const model = makeModel();
    const modelDir = join(dir, 'model');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(modelDir);
    for (const f of model.files) writeFileSync(join(modelDir, f.path), f.file);
    writeFileSync(join(dir, 'master.jwk'), masterKeyToJwk(model.masterKey));
    writeFileSync(join(dir, 'signing.jwk'), signingKeyToJwk(signingKeyFromSeed(model.signingSeed, { kid: 'prod-sign-1' })));
    secrets.push(...(['hex', 'base64', 'base64url'] as const).flatMap((e) => [Buffer.from(model.masterKey.key).toString(e), Buffer.from(model.signingSeed).toString(e)]), kekText);

    const prodProfile = ['--profile', join(dir, 'producer.json')];
    const subProfile = ['--profile', join(dir, 'subscriber.json')];
    const outputs: string[] = [];
    const run = async (argv: string[]): Promise<Run> => {
      const r = await cli(dir, argv);
      outputs.push(r.out, r.err);
      return r;
    };

    const e1 = await run(['broker', 'enroll', '--broker', broker.url, '--name', 'Acme', '--role', 'producer', '--bootstrap-file', join(dir, 'bootstrap'), ...prodProfile, '--json']);
    assert.equal(e1.code, 0, e1.out);
    assert.equal(e1.json.admin, true);
    const pub = await run(['broker', 'publish', modelDir, '--model-id', 'acme-7b', '--master-key', join(dir, 'master.jwk'), '--signing-key', join(dir, 'signing.jwk'), '--mode', 'approval', ...prodProfile, '--json']);
    assert.equal(pub.code, 0, pub.out);
    assert.equal((pub.json.files as unknown[]).length, 2);

    const e2 = await run(['broker', 'enroll', '--broker', broker.url, '--name', 'Bob', '--role', 'subscriber', ...subProfile, '--json']);
    assert.equal(e2.code, 0, e2.out);
    const sub = await run(['broker', 'subscribe', 'acme-7b', ...subProfile, '--json']);
    const subscription = sub.json.subscription as { subscriptionId: string; status: string };
    assert.equal(subscription.status, 'pending');
    const appr = await run(['broker', 'subscribe', '--approve', subscription.subscriptionId, ...prodProfile, '--json']);
    assert.equal((appr.json.subscription as { status: string }).status, 'active');

    const out = join(dir, 'headers');
    const sync = await run(['broker', 'sync', '--out', out, ...subProfile, '--json']);
    assert.equal(sync.json.headersWritten, 2);
    assert.deepEqual(readdirSync(join(out, 'acme-7b')).sort(), model.files.map((f) => f.path + '.header').sort());
    const lic = await run(['broker', 'licences', ...subProfile, '--json']);
    assert.deepEqual((lic.json.licences as { status: string }[]).map((l) => l.status), ['valid']);

    const rev = await run(['broker', 'revoke', subscription.subscriptionId, '--reason', 'test', ...prodProfile, '--json']);
    assert.equal(rev.json.status, 'revoked');
    const audit = await run(['broker', 'audit', '--model', 'acme-7b', ...prodProfile, '--json']);
    assert.ok((audit.json.entries as unknown[]).length >= 3);

    // Offline: the broker is down; the cached licence is still listed, and reported revoked after the last sync.
    await run(['broker', 'sync', ...subProfile, '--json']);
    await broker.close();
    const off = await run(['broker', 'licences', ...subProfile, '--json']);
    assert.equal(off.json.offline, true);
    assert.match(off.err, /unreachable/);

    const verify = await run(['broker', 'audit', '--db', dbPath, '--verify', '--json']);
    assert.equal(verify.code, 0, verify.out);

    // KEK rotation: re-seal, restart with the new KEK, same broker identity; the old KEK no longer opens it.
    const newKekText = toB64url(randomBytes(32));
    writeFileSync(join(dir, 'kek2'), newKekText);
    secrets.push(newKekText);
    const rot = await run(['broker', 'rotate-kek', '--db', dbPath, '--old-kek-file', kekFile, '--kek-file', join(dir, 'kek2'), '--json']);
    assert.equal(rot.code, 0, rot.out);
    assert.ok((rot.json.resealed as number) >= 4);
    await assert.rejects(startBroker({ dbSpec: dbPath, kek: parseKekText(kekText) }), (e: unknown) => (e as { code?: string }).code === 'KEY_NOT_FOUND');
    broker = await startBroker({ dbSpec: dbPath, kek: parseKekText(newKekText), bootstrapSecret: BOOTSTRAP });
    assert.equal(broker.server.service.info().brokerId, e1.json.brokerId);

    // Nothing secret in any output, nor in the profile of another identity.
    const all = outputs.join('\n');
    for (const s of secrets) assert.ok(!all.includes(s), 'a secret leaked into CLI output');
    assert.ok(!readFileSync(join(dir, 'subscriber.json'), 'utf8').includes(kekText));

    // The profile files hold no private key: the device key is in the key store (keychain, else the file keystore).
    for (const f of ['producer.json', 'subscriber.json']) {
      const doc = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>;
      assert.equal(doc.version, 2);
      assert.deepEqual(Object.keys(doc).filter((k) => /seed|secret/i.test(k)), []);
      assert.match(String(doc.deviceKid), /^mv-device-dev_/);
      assert.ok(doc.keyStore === 'keychain' || doc.keyStore === 'file');
    }
    assert.equal(e2.json.keyStore, process.env.DBUS_SESSION_BUS_ADDRESS === undefined ? 'file' : 'keychain');

    // A profile written before the key store (version 1, seeds inside) is refused with what to do, and left alone.
    const old = JSON.stringify({ format: 'model-vault/broker-device', version: 1, brokerUrl: broker.url, signSeedB64u: 'x', boxSecretB64u: 'y' });
    writeFileSync(join(dir, 'old.json'), old);
    const refused = await run(['broker', 'sync', '--profile', join(dir, 'old.json'), '--json']).then(() => undefined, (e: unknown) => e as { code?: string; message?: string });
    assert.equal(refused?.code, 'UNSUPPORTED');
    assert.match(refused?.message ?? '', /enroll this device again/);
    assert.equal(readFileSync(join(dir, 'old.json'), 'utf8'), old);
  } finally {
    await broker.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
