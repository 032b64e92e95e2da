/**
 * The rotation wizard sends its signed bundle to the app's broker (`security:brokerTarget`, `security:pushBundle`)
 * against a real embedded broker on 127.0.0.1: a published sharded model is rotated with the new master key wrapped
 * for the broker, the bundle is pushed as signed, the broker verifies it and re-personalizes the active subscription,
 * and the push is in the app's audit log. Refused before anything is sent: a bundle not wrapped for this broker, a
 * folder changed since the rotation, a model of other files, a cancel; the broker refuses a bundle whose signature
 * was broken after it was kept.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as v from 'valibot';
import { SECURITY_OPERATIONS } from '../../../app/ipc/ops/security.ts';
import { headerBytesOf } from '../../../app/format/safetensors.ts';
import { loadConfig } from '../../../app/node/config.ts';
import { brokerBoxPub } from '../../../app/node/broker/profile.ts';
import { FileKeyStore } from '../../../app/node/keys/file-keystore.ts';
import type { HandlerContext } from '../../../app/node/router.ts';
import { brokerSessionOf } from '../../../app/node/services/broker-session.ts';
import type { ServiceDeps } from '../../../app/node/services/index.ts';
import { createSecurityHandlers } from '../../../app/node/services/security.ts';
import { bundleDir } from '../../../app/node/services/security/rotation.ts';
import { copyFolder, makeKeys, makeModelFolder, removeDir, tempDir, verifyUnder, type RotationKeys } from '../rotate/helpers.ts';
import { codeOf } from './helpers.ts';

let dir: string;
let keys: RotationKeys;
let deps: ServiceDeps;
let handlers: ReturnType<typeof createSecurityHandlers>;
const MODEL_ID = 'push-model';

function ctx(abortAt?: string): HandlerContext {
  const c = new AbortController();
  return { taskId: '0123456789abcdef', signal: c.signal, progress: (p) => (p.phase === abortAt ? c.abort() : undefined) };
}

async function shardHeaders(folder: string): Promise<{ path: string; header: Uint8Array }[]> {
  const out = [];
  for (const path of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) out.push({ path, header: headerBytesOf(new Uint8Array(await readFile(join(folder, path)))) });
  return out;
}

before(async () => {
  dir = await tempDir('mv-bundle-push-');
  keys = makeKeys();
  await makeModelFolder(dir, keys);
  const env = { MODEL_VAULT_HOME: join(dir, 'home'), MODEL_VAULT_STORE: 'file', MODEL_VAULT_PASSPHRASE: 'bundle push test pw', MODEL_VAULT_SCRYPT_LOG_N: '10', MODEL_VAULT_ACTOR: 'push-tester' };
  const store = await FileKeyStore.openOrCreate(join(dir, 'home', 'keystore.json'), env.MODEL_VAULT_PASSPHRASE, { params: { N: 1024, r: 8, p: 1 } });
  const meta = { createdAt: '2026-01-01T00:00:00.000Z', origin: 'imported' as const };
  for (const key of [keys.oldMaster, keys.oldSign, keys.newMaster]) await store.put({ key, meta });
  deps = { config: loadConfig(env), host: 'web', env, probeKeychain: () => Promise.resolve({ available: false, backend: 'test', reason: 'not used' }) };
  handlers = createSecurityHandlers(deps);
});

after(async () => {
  await brokerSessionOf(deps).close();
  await removeDir(dir);
});

test('send the rotation bundle to the broker: refused locally when it cannot work, accepted as signed, audited', { timeout: 120_000 }, async () => {
  const session = brokerSessionOf(deps);
  assert.equal((await handlers['security:brokerTarget']({}, ctx())).producer, null, 'no producer enrollment yet');
  await session.enroll('producer', { name: 'Acme', label: 'test' });
  const folder = join(dir, 'models', 'sharded'); // one published model: its shards by the names they were published under
  await copyFolder(folder, join(dir, 'copy'));
  const headers = await shardHeaders(folder);
  await session.withDevice('producer', ({ client, profile }) =>
    client.publish({ modelId: MODEL_ID, name: 'Push model', mode: 'open', durationDays: 30, deviceLimit: 2, graceDays: 0, files: headers, masterKey: { alg: 'aes256gcm', kid: 'enc-2025', key: keys.oldMaster.key }, signingSeed: keys.oldSign.seed as Uint8Array, brokerBoxPub: brokerBoxPub(profile) }),
  );
  await session.enroll('subscriber', { name: 'Bob', label: 'laptop' });
  const sub = await session.withDevice('subscriber', ({ client }) => client.subscribe(MODEL_ID));
  assert.equal(sub.status, 'active');
  const before = await session.withDevice('subscriber', ({ client }) => client.headers(sub.subscriptionId));

  const target = await handlers['security:brokerTarget']({}, ctx());
  assert.ok(target.producer !== null);
  assert.match(target.producer.recipient, new RegExp(`^${target.producer.brokerId}:[A-Za-z0-9+/]{43}=$`));

  // A rotation whose bundle is not wrapped for this broker: refused before anything is sent.
  const unwrapped = await handlers['security:rotate']({ taskId: '0123456789abcdef', folder: join(dir, 'copy'), newMasterKid: 'enc-2026' }, ctx());
  assert.equal(await codeOf(handlers['security:pushBundle']({ taskId: '0123456789abcdef', bundleId: unwrapped.bundle.bundleId, folder: join(dir, 'copy'), modelId: MODEL_ID }, ctx())), 'VALIDATION');

  // The real rotation, wrapped for the app's broker.
  // Through the contract's request schema, as the renderer sends it (broker ids contain a colon: `broker:<hex>`).
  const rotateReq = v.parse(SECURITY_OPERATIONS['security:rotate'].request, { taskId: '0123456789abcdef', folder, newMasterKid: 'enc-2026', brokerKeys: [target.producer.recipient] });
  const rotated = await handlers['security:rotate'](rotateReq, ctx());
  assert.deepEqual(rotated.bundle.recipients, [target.producer.brokerId]);
  const push = v.parse(SECURITY_OPERATIONS['security:pushBundle'].request, { taskId: '0123456789abcdef', bundleId: rotated.bundle.bundleId, folder, modelId: MODEL_ID });

  // Cancelled while checking the headers: nothing is sent (the broker still serves the old headers).
  assert.equal(await codeOf(handlers['security:pushBundle'](push, ctx('checking'))), 'CANCELLED');
  // The copy was rotated by the other bundle: its headers are not this bundle's.
  assert.equal(await codeOf(handlers['security:pushBundle']({ ...push, folder: join(dir, 'copy') }, ctx())), 'MANIFEST_MISMATCH');
  // A model this machine does not own at the broker.
  assert.equal(await codeOf(handlers['security:pushBundle']({ ...push, modelId: 'not-a-model' }, ctx())), 'NOT_FOUND');

  // The kept bundle with its signature broken: the broker verifies and refuses it.
  const kept = join(bundleDir(deps.config.dataDir), `${rotated.bundle.bundleId}.json`);
  const text = await readFile(kept, 'utf8');
  const tampered = text.replace(/"createdAt": "[^"]+"/, '"createdAt": "2020-01-01T00:00:00.000Z"');
  assert.notEqual(tampered, text);
  await writeFile(kept, tampered);
  assert.equal(await codeOf(handlers['security:pushBundle'](push, ctx())), 'BAD_SIGNATURE');
  await writeFile(kept, text);

  // Sent as signed: the broker imports the new key and re-personalizes the active subscription.
  const phases: string[] = [];
  const r = await handlers['security:pushBundle'](push, { taskId: '0123456789abcdef', signal: new AbortController().signal, progress: (p) => phases.push(p.phase) });
  assert.equal(r.modelId, MODEL_ID);
  assert.equal(r.resubscribed, 1);
  assert.deepEqual(r.files.map((f) => f.path).sort(), headers.map((h) => h.path));
  assert.deepEqual([...new Set(phases)], ['checking', 'sending', 'done']);
  assert.ok(await verifyUnder(folder, keys, 'both'));

  // The subscriber's personalized headers were rebuilt from the rotated ones.
  const synced = await session.withDevice('subscriber', ({ client }) => client.headers(sub.subscriptionId));
  assert.equal(synced.headers.length, 2);
  for (const h of synced.headers) assert.notEqual(h.headerB64u, before.headers.find((b) => b.path === h.path)?.headerB64u, `${h.path} was re-personalized`);

  // The app's audit log records every attempt: the push that worked, and the refusals.
  const log = await handlers['security:audit']({ action: 'keys.rotate.bundle.push' }, ctx());
  const results = log.entries.map((e) => e.result);
  assert.equal(results.filter((x) => x === 'ok').length, 1);
  assert.ok(results.filter((x) => x !== 'ok').length >= 4);
  const ok = log.entries.find((e) => e.result === 'ok');
  assert.equal(ok?.object, rotated.bundle.bundleId);
  assert.equal(ok?.details.model, MODEL_ID);
  assert.equal(ok?.details.resubscribed, 1);
});
