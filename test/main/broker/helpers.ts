/** Shared fixtures for the broker tests: real servers on 127.0.0.1, SQLite always, PostgreSQL when MV_PG_URL is set. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { BrokerClient } from '../../../app/broker/client.ts';
import { seedSigner, signRequest, type DeviceSigner } from '../../../app/broker/request-signing.ts';
import { generateBoxKeyPair, type BoxKeyPair } from '../../../app/broker/seal.ts';
import { randomBytes } from '../../../app/crypto/random.ts';
import { toHex } from '../../../app/crypto/sha256.ts';
import { headerBytesOf } from '../../../app/format/safetensors.ts';
import { encodeModel } from '../../../app/format/writer.ts';
import { signingKeyFromSeed, type MasterKey } from '../../../app/format/keys.ts';
import { fetchHttpPort } from '../../../app/node/broker/http-port.ts';
import { kekFromBytes } from '../../../app/node/broker/kek.ts';
import { startBroker, type RunningBroker, type StartOptions } from '../../../app/node/broker/start.ts';
import type { Db } from '../../../app/node/broker/db.ts';
import { readAuditChain } from '../../../app/node/broker/service.ts';

export const BOOTSTRAP = 'bootstrap-secret-for-tests-only';

export interface DbTarget {
  readonly name: 'sqlite' | 'postgres';
  /** A fresh, empty database spec. */
  fresh(): Promise<{ spec: string; cleanup: () => Promise<void> }>;
}

export const sqliteTarget: DbTarget = {
  name: 'sqlite',
  async fresh() {
    const dir = mkdtempSync(join(tmpdir(), 'mv-broker-'));
    return { spec: join(dir, 'broker.sqlite'), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  },
};

export const PG_SKIP_REASON = 'MV_PG_URL is not set: start PostgreSQL with `eval "$(scripts/ci/start-postgres.sh)"` to run the PostgreSQL half';

export const pgTarget: DbTarget | undefined = process.env.MV_PG_URL === undefined || process.env.MV_PG_URL === '' ? undefined : {
  name: 'postgres',
  async fresh() {
    const url = process.env.MV_PG_URL as string;
    const schema = 'mvtest_' + toHex(randomBytes(6));
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const sep = url.includes('?') ? '&' : '?';
    return {
      spec: `${url}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
      cleanup: async () => {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.query(`DROP SCHEMA ${schema} CASCADE`);
        await c.end();
      },
    };
  },
};

export const TARGETS: readonly DbTarget[] = pgTarget === undefined ? [sqliteTarget] : [sqliteTarget, pgTarget];

export interface Device {
  readonly seed: Uint8Array;
  readonly signer: DeviceSigner;
  readonly box: BoxKeyPair;
}

export function newDevice(): Device {
  const seed = randomBytes(32);
  return { seed, signer: seedSigner(seed), box: generateBoxKeyPair() };
}

export function clientFor(url: string, d: Device, now?: () => number): BrokerClient {
  return new BrokerClient({ baseUrl: url, http: fetchHttpPort(), signer: d.signer, ...(now === undefined ? {} : { now }) });
}

export function testKek(): ReturnType<typeof kekFromBytes> {
  return kekFromBytes(randomBytes(32));
}

export async function startTestBroker(spec: string, extra: Partial<StartOptions> = {}): Promise<RunningBroker> {
  return startBroker({ dbSpec: spec, kek: extra.kek ?? testKek(), bootstrapSecret: BOOTSTRAP, ratePerSecond: 10_000, rateBurst: 10_000, ...extra });
}

export interface TestModel {
  readonly files: { path: string; file: Uint8Array; header: Uint8Array }[];
  /** Plaintext of every tensor, by name. */
  readonly plain: Map<string, Uint8Array>;
  readonly masterKey: MasterKey;
  readonly signingSeed: Uint8Array;
}

/** The header bytes of a whole file (the format's own helper, under the name these tests use). */
export const headerOf = headerBytesOf;

/** A small encrypted two-shard model, with a release policy in the `remote` field. */
export function makeModel(opts: { remote?: string } = {}): TestModel {
  const masterKey: MasterKey = { alg: 'aes256gcm', kid: 'prod-enc-1', key: randomBytes(32) };
  const signingSeed = randomBytes(32);
  const signingKey = signingKeyFromSeed(signingSeed, { kid: 'prod-sign-1' });
  const plain = new Map<string, Uint8Array>();
  const files = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'].map((path, i) => {
    const tensors = [
      { name: `layer${i}.weight`, dtype: 'F32' as const, shape: [4, 4], data: randomBytes(64) },
      { name: `layer${i}.bias`, dtype: 'F32' as const, shape: [4], data: randomBytes(16) },
    ];
    for (const t of tensors) plain.set(t.name, t.data);
    const { bytes } = encodeModel(tensors, { masterKey, signingKey, version: 2, chunkSize: 32, ...(opts.remote === undefined ? {} : { policy: { remote: opts.remote } }) });
    return { path, file: bytes, header: headerOf(bytes) };
  });
  return { files, plain, masterKey, signingSeed };
}

export interface Scenario {
  readonly broker: RunningBroker;
  readonly producer: { device: Device; client: BrokerClient; identityId: string };
  readonly brokerSignPub: Uint8Array;
  readonly brokerBoxPub: Uint8Array;
}

export async function enrollProducer(broker: RunningBroker, now?: () => number): Promise<Scenario> {
  const device = newDevice();
  const client = clientFor(broker.url, device, now);
  const info = await client.info();
  const e = await client.enroll({ name: 'Producer One', role: 'producer', label: 'laptop', boxPub: device.box.publicKey, bootstrap: BOOTSTRAP });
  const b = (s: string): Uint8Array => Buffer.from(s, 'base64url');
  return { broker, producer: { device, client, identityId: e.identityId }, brokerSignPub: new Uint8Array(b(info.signPubB64u)), brokerBoxPub: new Uint8Array(b(info.boxPubB64u)) };
}

export async function publish(s: Scenario, modelId: string, model: TestModel, extra: { mode?: 'open' | 'approval'; policy?: string; durationDays?: number; deviceLimit?: number; graceDays?: number } = {}): Promise<void> {
  await s.producer.client.publish({
    modelId, name: `Model ${modelId}`, mode: extra.mode ?? 'open', durationDays: extra.durationDays ?? 30, deviceLimit: extra.deviceLimit ?? 2, graceDays: extra.graceDays ?? 3,
    ...(extra.policy === undefined ? {} : { policy: extra.policy }),
    files: model.files.map((f) => ({ path: f.path, header: f.header })),
    masterKey: { alg: 'aes256gcm', kid: model.masterKey.kid, key: model.masterKey.key }, signingSeed: model.signingSeed, brokerBoxPub: s.brokerBoxPub,
  });
}

export async function enrollSubscriber(url: string, name: string, now?: () => number): Promise<{ device: Device; client: BrokerClient; identityId: string }> {
  const device = newDevice();
  const client = clientFor(url, device, now);
  const e = await client.enroll({ name, role: 'subscriber', label: 'workstation', boxPub: device.box.publicKey });
  return { device, client, identityId: e.identityId };
}

export function headersMap(model: TestModel): Map<string, Uint8Array> {
  return new Map(model.files.map((f) => [f.path, f.header]));
}

/** Sends a request signed by `d`, optionally altered after signing (tampering tests). */
export async function rawRequest(url: string, d: Device, method: 'GET' | 'POST', path: string, body: unknown, opts: { timestamp?: number; headers?: Record<string, string>; unsigned?: boolean; alterBody?: (b: string) => string; alterPath?: string } = {}): Promise<{ status: number; json: { ok: boolean; error?: { code: string; message: string }; value?: unknown } }> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const bytes = new TextEncoder().encode(text);
  const auth = opts.unsigned === true ? {} : (opts.headers ?? signRequest(d.signer, method, path, bytes, opts.timestamp ?? Date.now()));
  const sent = opts.alterBody === undefined ? text : opts.alterBody(text);
  const res = await fetch(url + (opts.alterPath ?? path), { method, headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: sent }) });
  return { status: res.status, json: (await res.json()) as { ok: boolean; error?: { code: string; message: string }; value?: unknown } };
}

/**
 * The outcomes of one action in the broker's audit log, in order: `allow` for an ok entry, `sync` for a release
 * answered with headers to sync, else the error code the denial recorded.
 */
export async function auditOutcomes(db: Db, action: string): Promise<string[]> {
  const out: { time: string; outcome: string }[] = [];
  for await (const e of readAuditChain(db)) {
    if (e.action !== action) continue;
    out.push({ time: e.time, outcome: e.result === 'ok' ? (e.details?.outcome === 'sync' ? 'sync' : 'allow') : String(e.details?.code) });
  }
  return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0)).map((x) => x.outcome);
}
