/**
 * The mount services through the real router: mount:start (a task, local keys from MODEL_VAULT_KEYS and the trust
 * store) in HTTP mode, mount:list with the connection details (no token, no key bytes), mount:stop, and the host's
 * close hook (MountService.close) unmounting what is left.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateDemoModel } from '../../../resources/demo-model/generate.ts';
import { generateMasterKey, generateSigningKey, type SigningKey } from '../../../app/keys/key.ts';
import { serializeJwk } from '../../../app/keys/jwk.ts';
import { trustSigner, emptyTrustStore } from '../../../app/keys/trust.ts';
import { loadConfig } from '../../../app/node/config.ts';
import { packageModel } from '../../../app/node/format/package.ts';
import { trustStorePath } from '../../../app/node/keys/paths.ts';
import { updateTrustStore } from '../../../app/node/keys/trust-file.ts';
import { unwrap } from '../../../app/node/router.ts';
import { createServiceRouter } from '../../../app/node/services/index.ts';
import { MountService } from '../../../app/node/services/mount.ts';
import type { MountList, MountSummary } from '../../../app/ipc/ops/mount.ts';

test('mount services: start as a task, list, stop; closing the host unmounts the rest', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mv-mount-services-'));
  const master = generateMasterKey('aes256gcm');
  const signer = generateSigningKey();
  const env = { MODEL_VAULT_HOME: join(dir, 'home'), MODEL_VAULT_RUNTIME_DIR: join(dir, 'run'), MODEL_VAULT_KEYS: serializeJwk(master, { includeSecret: true }), MODEL_VAULT_STORE: 'file' };
  const mounts = new MountService({ env });
  try {
    await generateDemoModel(join(dir, 'plain'), { shards: 2 });
    const packaged = join(dir, 'model.cryptotensors');
    await packageModel({ input: join(dir, 'plain'), output: packaged, masterKey: master, signingKey: signer as SigningKey & { seed: Uint8Array }, encrypt: 'all', version: 2, workers: 1 });
    await updateTrustStore(trustStorePath(env), (t) => trustSigner(t.entries.length === 0 ? emptyTrustStore() : t, signer.publicKey, { kind: 'any' }));
    const router = createServiceRouter({ config: loadConfig(env), host: 'web', probeKeychain: () => Promise.resolve({ available: false, backend: 'test', reason: 'test' }), env, mounts });
    const phases: string[] = [];
    router.onProgress((e) => phases.push(e.phase));
    const started = unwrap(await router.dispatch('mount:start', { taskId: '00112233445566aa', model: packaged, mode: 'http', keySource: 'local' })) as MountSummary;
    assert.deepEqual(phases, ['keys', 'verify', 'mounted']);
    assert.equal(started.files.length, 9);
    assert.ok(started.url?.startsWith('http://127.0.0.1:'));
    const text = JSON.stringify(started);
    const token = readFileSync(started.tokenFile ?? '', 'utf8');
    assert.ok(!text.includes(token), 'the token is not in the IPC answer');
    assert.ok(!text.includes(Buffer.from(master.key).toString('base64')), 'no key bytes');
    const res = await fetch(`${started.url ?? ''}files/config.json`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array(readFileSync(join(dir, 'plain', 'config.json'))));

    const list = unwrap(await router.dispatch('mount:list', {})) as MountList;
    assert.deepEqual(list.mounts.map((m) => m.id), [started.id]);
    assert.equal(list.runtimeDir, join(dir, 'run'));
    unwrap(await router.dispatch('mount:stop', { id: started.id }));
    assert.deepEqual((unwrap(await router.dispatch('mount:list', {})) as MountList).mounts, []);
    await assert.rejects(fetch(`${started.url ?? ''}`), 'stopped');

    const second = unwrap(await router.dispatch('mount:start', { taskId: '00112233445566ab', model: packaged, mode: 'http', keySource: 'local' })) as MountSummary;
    await mounts.close();
    await assert.rejects(fetch(`${second.url ?? ''}`), 'the host close hook unmounted it');
    const refused = await router.dispatch('mount:start', { taskId: '00112233445566ac', model: packaged, mode: 'http', keySource: 'local' });
    assert.equal(refused.ok, false);
  } finally {
    await mounts.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
