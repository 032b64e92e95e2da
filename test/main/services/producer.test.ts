/**
 * The producer services through the real router: staging an upload, scan, keys created on first use (encrypted file
 * keystore here; the keychain path is covered by the e2e run), package with progress, cancel through `task:cancel`
 * leaving nothing behind, verify, and publish to a real embedded broker on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { ProgressEvent } from '../../../app/ipc/contract.ts';
import type { PackageOutcome, ProducerKeys, ProducerModels, ScanSummary, VerifyView } from '../../../app/ipc/ops/producer.ts';
import { loadConfig } from '../../../app/node/config.ts';
import { createRouter, type Router } from '../../../app/node/router.ts';
import { BrokerSession } from '../../../app/node/services/broker-session.ts';
import { createHandlers } from '../../../app/node/services/index.ts';
import { generateDemoModel } from '../../../resources/demo-model/generate.ts';

async function setup(): Promise<{ home: string; router: Router; session: BrokerSession; done: () => Promise<void> }> {
  const home = await mkdtemp(join(tmpdir(), 'mv-producer-test-'));
  const env = { MODEL_VAULT_HOME: home, MODEL_VAULT_STORE: 'file', MODEL_VAULT_PASSPHRASE: 'correct horse battery staple', MODEL_VAULT_SCRYPT_LOG_N: '10' };
  const config = loadConfig(env);
  const session = new BrokerSession({ config, env });
  const handlers = createHandlers({ config, env, host: 'web', brokerSession: session, probeKeychain: async () => ({ available: false, backend: 'test', reason: 'file keystore in this test' }) });
  const router = createRouter(handlers);
  return {
    home,
    router,
    session,
    done: async () => {
      await session.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}

async function call<T>(router: Router, channel: string, request: unknown): Promise<T> {
  const r = await router.dispatch(channel, request);
  if (!r.ok) assert.fail(`${channel} failed: ${r.error.code} ${r.error.message}`);
  return r.value as T;
}

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      out.push(relative(dir, p));
    }
  }
  await walk(dir);
  return out;
}

const TASK = (n: number): string => n.toString(16).padStart(16, '0');

test('cancelling a running package task through task:cancel leaves no output and no temp files', async () => {
  const { home, router, done } = await setup();
  try {
    const model = join(home, 'input', 'big-model');
    await generateDemoModel(model, { shards: 3, hiddenSize: 512, layers: 6, vocabSize: 8000 });
    const before = await allFiles(home);
    await call<ProducerKeys>(router, 'producer:keys', { alg: 'aes256gcm' }); // keys exist before: only packaging is measured
    const taskId = TASK(1);
    let cancelled: Promise<unknown> | undefined;
    const events: ProgressEvent[] = [];
    const off = router.onProgress((e) => {
      if (e.taskId !== taskId) return;
      events.push(e);
      if (e.phase === 'packaging' && cancelled === undefined) cancelled = router.dispatch('task:cancel', { taskId });
    });
    const r = await router.dispatch('producer:package', { taskId, source: { kind: 'paths', paths: [model] }, name: 'Big model', encrypt: { mode: 'all' }, alg: 'aes256gcm', version: 2, policy: '' });
    off();
    assert.equal(r.ok, false);
    assert.equal(r.ok ? '' : r.error.code, 'CANCELLED');
    assert.deepEqual(await cancelled, { ok: true, value: { cancelled: true } });
    assert.ok(events.some((e) => e.phase === 'packaging' && e.total > 0), 'progress was reported before the cancel');
    const after = await allFiles(home);
    const added = after.filter((f) => !before.includes(f));
    // Only the producer's own record and keystore may appear (created by producer:keys); no package, no temp file.
    assert.deepEqual(added.filter((f) => !/^producer(\/state\.json(\.lock)?)?$/.test(f) && !/^keystore\.json/.test(f) && f !== 'keysets.json'), []);
    assert.equal(after.some((f) => f.includes('.mv-tmp-')), false);
    const state = JSON.parse(await readFile(join(home, 'producer', 'state.json'), 'utf8')) as { packages: unknown[] };
    assert.deepEqual(state.packages, []);
  } finally {
    await done();
  }
});

test('a staged upload is scanned, packaged with progress, verified, its staging removed, then published to the embedded broker', async () => {
  const { home, router, done } = await setup();
  try {
    const model = join(home, 'input', 'tiny');
    const generated = await generateDemoModel(model, { shards: 2 });
    // Upload as the browser does: chunks in order into a staging folder.
    const { stagingId, chunkBytes } = await call<{ stagingId: string; chunkBytes: number }>(router, 'producer:stageBegin', {});
    for (const f of generated.files) {
      const bytes = new Uint8Array(await readFile(join(model, f)));
      for (let offset = 0; offset < bytes.length || offset === 0; offset += chunkBytes) {
        await call(router, 'producer:stageWrite', { stagingId, path: `tiny/${f}`, offset, bytes: bytes.subarray(offset, offset + chunkBytes) });
        if (bytes.length === 0) break;
      }
    }
    const stagingDir = join(home, 'producer', 'staging', stagingId);
    assert.equal((await stat(stagingDir)).mode & 0o777, 0o700);
    const source = { kind: 'staged', stagingId };
    const scan = await call<ScanSummary>(router, 'producer:scan', { source });
    assert.equal(scan.name, 'tiny');
    assert.equal(scan.shards, 2);
    assert.equal(scan.tensors.length, generated.tensors);
    assert.ok(Object.keys(scan.dtypes).length >= 1);
    assert.ok(scan.files.some((f) => f.kind === 'other' && f.path === 'config.json'));

    // A broken access policy is refused before anything is written.
    const bad = await router.dispatch('producer:package', { taskId: TASK(2), source, name: 'tiny', encrypt: { mode: 'all' }, alg: 'aes256gcm', version: 2, policy: 'package modelvault\nallow if {' });
    assert.equal(bad.ok ? '' : bad.error.code, 'POLICY_INVALID');

    // One tensor from each shard: every shard needs an encrypted tensor to be signed.
    const picked = [...new Set(scan.tensors.map((t) => t.shard))].map((shard) => scan.tensors.find((t) => t.shard === shard)?.name as string);
    const events: ProgressEvent[] = [];
    const off = router.onProgress((e) => events.push(e));
    const policy = 'package modelvault\n\nimport rego.v1\n\ndefault allow := false\n\nallow if "analyst" in input.subscriber.roles\n';
    const pkg = await call<PackageOutcome>(router, 'producer:package', { taskId: TASK(3), source, name: 'Tiny Llama', encrypt: { mode: 'list', names: picked }, alg: 'chacha20poly1305', version: 2, policy });
    off();
    assert.equal(pkg.encryptedTensors, 2);
    assert.equal(pkg.report.ok, true, JSON.stringify(pkg.report.problems));
    assert.equal(pkg.report.signature, 'valid');
    assert.equal(pkg.report.signer?.trust, 'own');
    assert.equal(pkg.report.decrypted, true);
    assert.equal(pkg.report.encryption?.alg, 'chacha20poly1305');
    assert.equal(pkg.report.policy.access, policy);
    assert.ok(pkg.report.manifest?.ok);
    assert.ok(pkg.report.digests.total > 0 && pkg.report.digests.checked === pkg.report.digests.total);
    const last = events.filter((e) => e.phase === 'packaging').at(-1);
    assert.ok(last !== undefined && last.done === last.total && last.total > 0);
    await assert.rejects(stat(stagingDir), 'the staging folder is removed after packaging');

    // The report holds no key material: only kids and fingerprints.
    const keys = await call<ProducerKeys>(router, 'producer:keys', { alg: 'chacha20poly1305' });
    assert.equal(keys.created, false);
    assert.equal(pkg.report.signer?.fingerprint, keys.signer.fingerprint);
    const verify = await call<VerifyView>(router, 'model:verify', { taskId: TASK(4), path: pkg.output });
    assert.equal(verify.ok, true);

    await call(router, 'producer:enroll', { name: 'Acme Models', label: 'test machine' });
    const published = await call<{ modelId: string; files: unknown[] }>(router, 'producer:publish', { taskId: TASK(5), packageId: pkg.packageId, modelId: 'acme.tiny', mode: 'open', durationDays: 30, deviceLimit: 2, graceDays: 3 });
    assert.equal(published.modelId, 'acme.tiny');
    assert.equal(published.files.length, 2);
    const list = await call<ProducerModels>(router, 'producer:models', {});
    assert.equal(list.brokerNote, null);
    const m = list.models.find((x) => x.packageId === pkg.packageId);
    assert.equal(m?.publication?.modelId, 'acme.tiny');
    assert.ok((m?.audit.length ?? 0) > 0, 'the broker audit shows the publish');
  } finally {
    await done();
  }
});
