/**
 * The subscriber's verify task can be cancelled while the tensors are being decrypted (not only between phases):
 * `task:cancel` sent when the first tensor has been decrypted ends the task as CANCELLED before the last tensor,
 * records no verification, leaves the imported copy as it was, and a later verify still passes. Real broker on
 * 127.0.0.1 (SQLite), real key store, the router's own cancel path.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Channel, ProgressEvent, Result } from '../../../app/ipc/contract.ts';
import type { ImportedModel, LicenceRow, SubscriberVerifyView } from '../../../app/ipc/ops/subscriber.ts';
import { loadConfig } from '../../../app/node/config.ts';
import { createRouter } from '../../../app/node/router.ts';
import { BrokerSession } from '../../../app/node/services/broker-session.ts';
import { createHandlers } from '../../../app/node/services/index.ts';
import { BOOTSTRAP, sqliteTarget, startTestBroker, testKek } from '../broker/helpers.ts';
import { publishFixture } from './subscriber-fixture.ts';

const keychain = process.env.DBUS_SESSION_BUS_ADDRESS !== undefined;

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (d.isFile()) out[join(d.parentPath, d.name).slice(dir.length + 1)] = readFileSync(join(d.parentPath, d.name)).toString('base64');
  }
  return out;
}

test('subscriber verify: a cancel during decryption ends the task as cancelled and leaves nothing behind', { timeout: 120_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'mv-verify-cancel-'));
  const db = await sqliteTarget.fresh();
  const broker = await startTestBroker(db.spec, { kek: testKek() });
  const env = { MODEL_VAULT_HOME: home, MODEL_VAULT_BROKER_URL: broker.url, MODEL_VAULT_PASSPHRASE: 'verify cancel test pw', MODEL_VAULT_SCRYPT_LOG_N: '10', MODEL_VAULT_TRUST: join(home, 'trust.json') };
  const config = loadConfig(env);
  const session = new BrokerSession({ config, env });
  const router = createRouter(createHandlers({ config, host: 'web', env, brokerSession: session, probeKeychain: async () => ({ available: keychain, backend: 'test' }) }));
  async function call<T>(channel: Channel, request: Record<string, unknown>): Promise<T> {
    const r = (await router.dispatch(channel, request)) as Result<T>;
    if (!r.ok) throw Object.assign(new Error(r.error.message), { code: r.error.code });
    return r.value;
  }
  try {
    const model = await publishFixture(home, broker.url, BOOTSTRAP, { mode: 'open' });
    await call('subscriber:enroll', { name: 'Bob', label: 'workstation' });
    const sub = await call<LicenceRow>('subscriber:subscribe', { modelId: model.modelId });
    assert.equal(sub.status, 'active');
    const imported = await call<ImportedModel>('subscriber:import', { taskId: '00000000000000a1', source: { kind: 'paths', paths: [model.packaged] }, subscriptionId: sub.subscriptionId });
    const before = snapshot(imported.path);

    // Cancel through the router as the renderer does, as soon as the first tensor has been decrypted.
    const taskId = '00000000000000b2';
    const decrypting: ProgressEvent[] = [];
    const phases: string[] = [];
    const stop = router.onProgress((e) => {
      if (e.taskId !== taskId) return;
      phases.push(e.phase);
      if (e.phase !== 'decrypting') return;
      decrypting.push(e);
      if (decrypting.length === 1) void router.dispatch('task:cancel', { taskId });
    });
    const r = await router.dispatch('subscriber:verify', { taskId, localId: imported.localId });
    stop();
    assert.equal(r.ok, false);
    assert.equal(r.ok ? 'ok' : r.error.code, 'CANCELLED');
    assert.ok(phases.includes('key-release'), 'the key was released before the cancel');
    assert.ok(decrypting.length >= 1, 'decryption had started');
    // The cancel lands before the next tensor: the first shard was not even finished (the fixture has 2 shards of
    // several tensors each), and the task never reached its end.
    const first = decrypting[0];
    assert.ok(first !== undefined && first.total > 1, 'the first shard has several tensors');
    assert.ok(decrypting.length < first.total, `stopped after ${decrypting.length} of ${first.total} tensors of the first shard`);
    assert.ok(!phases.includes('done'));

    // Nothing left behind: no verification recorded, the copy unchanged (the cancel wrote nothing).
    const models = await call<ImportedModel[]>('subscriber:models', {});
    assert.equal(models.find((m) => m.localId === imported.localId)?.lastVerified, null);
    assert.deepEqual(snapshot(imported.path), before);

    // The next verification runs to the end and passes.
    const v = await call<SubscriberVerifyView>('subscriber:verify', { taskId: '00000000000000c3', localId: imported.localId });
    assert.equal(v.report.ok, true, JSON.stringify(v.report.problems));
    assert.equal(v.report.decrypted, true);
    assert.equal(v.licence?.keyRelease, 'granted');
  } finally {
    await session.close();
    await broker.close();
    await db.cleanup();
    rmSync(home, { recursive: true, force: true });
  }
});
