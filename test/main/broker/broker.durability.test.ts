/**
 * Durability (issue 6 "Must hold"): kill -9 the broker process during a load run, restart it on the same database:
 * no acknowledged subscription, licence, key release or audit entry is lost, and the audit chain verifies.
 * SQLite always; PostgreSQL when MV_PG_URL is set. Bounded load (the machine is shared): 24 subscribers, 8 at a time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError } from '../../../app/errors.ts';
import { randomBytes } from '../../../app/crypto/random.ts';
import { verifyAuditChain, type AuditEntry } from '../../../app/broker/audit-chain.ts';
import { toB64url } from '../../../app/crypto/encoding.ts';
import { openDb } from '../../../app/node/broker/db.ts';
import { readAuditChain, verifyBrokerAudit } from '../../../app/node/broker/service.ts';
import { BOOTSTRAP, PG_SKIP_REASON, TARGETS, clientFor, enrollSubscriber, headersMap, makeModel, newDevice, pgTarget } from './helpers.ts';

const CHILD = new URL('./serve-child.ts', import.meta.url).pathname;
const SUBSCRIBERS = 24;
const CONCURRENCY = 8;
const KILL_AFTER_ACKS = 10;

interface Child {
  readonly proc: ChildProcess;
  readonly url: string;
}

async function startChild(dbSpec: string, dir: string): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, '--db', dbSpec, '--port', '0', '--kek-file', join(dir, 'kek'), '--bootstrap-file', join(dir, 'bootstrap'), '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, MODEL_VAULT_HOME: dir },
  });
  const stdout = proc.stdout;
  assert.ok(stdout !== null);
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: stdout });
    rl.once('line', (l) => resolve(l));
    proc.once('exit', (code) => reject(new Error(`the broker exited early with code ${String(code)}`)));
  });
  const info = JSON.parse(line) as { ok: boolean; url: string };
  assert.equal(info.ok, true);
  return { proc, url: info.url };
}

async function kill9(c: Child): Promise<void> {
  const exited = new Promise<void>((resolve) => c.proc.once('exit', () => resolve()));
  c.proc.kill('SIGKILL');
  await exited;
}

if (pgTarget === undefined) test('durability on PostgreSQL', { skip: PG_SKIP_REASON }, () => undefined);

for (const target of TARGETS) {
  describe(`broker durability (${target.name})`, () => {
    test('kill -9 during a load run loses no acknowledged subscription, licence or audit entry', { timeout: 180_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mv-durable-'));
      writeFileSync(join(dir, 'kek'), toB64url(randomBytes(32)), { mode: 0o600 });
      writeFileSync(join(dir, 'bootstrap'), BOOTSTRAP, { mode: 0o600 });
      const fresh = await target.fresh();
      let child = await startChild(fresh.spec, dir);
      try {
        // Producer and model, acknowledged before the load starts.
        const prodDevice = newDevice();
        const producer = clientFor(child.url, prodDevice);
        const info = await producer.info();
        await producer.enroll({ name: 'P', role: 'producer', label: 'p', boxPub: prodDevice.box.publicKey, bootstrap: BOOTSTRAP });
        const model = makeModel();
        await producer.publish({
          modelId: 'durable-1', name: 'Durable', mode: 'open', durationDays: 30, deviceLimit: 2, graceDays: 1,
          files: model.files.map((f) => ({ path: f.path, header: f.header })), masterKey: { alg: 'aes256gcm', kid: model.masterKey.kid, key: model.masterKey.key }, signingSeed: model.signingSeed,
          brokerBoxPub: new Uint8Array(Buffer.from(info.boxPubB64u, 'base64url')),
        });

        // Load: subscribers enroll, subscribe and release keys; kill -9 once KILL_AFTER_ACKS subscriptions are acknowledged.
        const acked: { subscriptionId: string; licenceId: string; identityId: string; releases: number }[] = [];
        let killed: Promise<void> | undefined;
        let next = 0;
        const url = child.url;
        const victim = child;
        const worker = async (): Promise<void> => {
          while (next < SUBSCRIBERS) {
            next++;
            try {
              const s = await enrollSubscriber(url, `S${next}`);
              const sub = await s.client.subscribe('durable-1');
              assert.ok(sub.licence !== null);
              const rec = { subscriptionId: sub.subscriptionId, licenceId: sub.licence.licenceId, identityId: s.identityId, releases: 0 };
              acked.push(rec);
              if (acked.length >= KILL_AFTER_ACKS && killed === undefined) killed = kill9(victim);
              await s.client.releaseKey('durable-1', headersMap(model), {}, s.device.box);
              rec.releases++;
            } catch (e) {
              if (!(isAppError(e) && (e.code === 'BROKER_UNREACHABLE' || e.code === 'BROKER_REJECTED' || e.code === 'IO_ERROR'))) throw e;
            }
          }
        };
        await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
        assert.ok(killed !== undefined, 'the broker was killed during the run');
        await killed;
        assert.ok(acked.length >= KILL_AFTER_ACKS);

        // Restart on the same database.
        child = await startChild(fresh.spec, dir);
        const db = await openDb({ spec: fresh.spec });
        try {
          for (const a of acked) {
            const s = await db.get('SELECT status FROM subscriptions WHERE id = ?', [a.subscriptionId]);
            assert.equal(s?.status, 'active', `subscription ${a.subscriptionId} survived`);
            const l = await db.get('SELECT id FROM licences WHERE id = ?', [a.licenceId]);
            assert.ok(l !== undefined, `licence ${a.licenceId} survived`);
          }
          const entries: AuditEntry[] = [];
          for await (const e of readAuditChain(db)) entries.push(e);
          const verdict = verifyAuditChain(entries, { brokerSignPub: new Uint8Array(Buffer.from(info.signPubB64u, 'base64url')) });
          assert.equal(verdict.ok, true, JSON.stringify(verdict));
          // The same check over the stored lines, with each chain's recorded head: nothing acknowledged was cut off.
          const stored = await verifyBrokerAudit(db, { brokerSignPub: new Uint8Array(Buffer.from(info.signPubB64u, 'base64url')) });
          assert.equal(stored.ok, true, JSON.stringify(stored.ok ? '' : stored.problem));
          for (const a of acked) {
            assert.ok(entries.some((e) => e.action === 'subscription.request' && e.result === 'ok' && e.details?.subscription === a.subscriptionId), `audit of ${a.subscriptionId}`);
            const releases = entries.filter((e) => e.action === 'release.key' && e.result === 'ok' && e.details?.subscription === a.subscriptionId && e.details.outcome === undefined).length;
            assert.ok(releases >= a.releases, `audit of the key releases of ${a.subscriptionId}`);
          }
        } finally {
          await db.close();
        }
        // The restarted broker keeps its keys and serves the acknowledged subscriptions.
        const again = await clientFor(child.url, prodDevice).info();
        assert.equal(again.brokerId, info.brokerId);
      } finally {
        if (child.proc.exitCode === null) await kill9(child);
        await fresh.cleanup();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
