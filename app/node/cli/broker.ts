/**
 * `model-vault broker serve|enroll|publish|subscribe|licences|revoke|sync|audit|rotate-kek` (issue 6 item 7), all
 * with `--json`. The device profile (device keys, the pinned broker keys) lives in a 0600 JSON file under the data
 * directory (`--profile` to choose another); nothing secret is ever printed.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { usageError } from './usage.ts';
import { basename, dirname, join } from 'node:path';
import * as v from 'valibot';
import { AppError, isAppError } from '../../errors.ts';
import { normalizeAeadAlg } from '../../crypto/aead.ts';
import { wipe } from '../../crypto/bytes.ts';
import { randomBytes } from '../../crypto/random.ts';
import { BrokerClient } from '../../broker/client.ts';
import { checkLicenceOffline, newerRevocationList, verifyRevocationList, type RevocationList } from '../../broker/documents.ts';
import { verifyAuditChain, type AuditEntry } from '../../broker/audit-chain.ts';
import { seedSigner } from '../../broker/request-signing.ts';
import { boxPublicKey } from '../../broker/seal.ts';
import { parseJwks } from '../../format/keys.ts';
import { PREFIX_BYTES, readHeaderLength } from '../../format/safetensors.ts';
import { fromB64url, toB64url } from '../../crypto/encoding.ts';
import { loadConfig } from '../config.ts';
import { openDb } from '../broker/db.ts';
import { fetchHttpPort } from '../broker/http-port.ts';
import { loadKek, newKekText, openSecret, parseKekText, sealSecret, type Kek } from '../broker/kek.ts';
import { readAuditChain } from '../broker/service.ts';
import { startBroker } from '../broker/start.ts';
import { stringFlag } from './args.ts';
import { type CliCommand, type CliIo, type ParsedArgs, EXIT } from './types.ts';


// ---- the device profile ---------------------------------------------------------------------------------------------

const ProfileSchema = v.strictObject({
  format: v.literal('model-vault/broker-device'),
  version: v.literal(1),
  brokerUrl: v.string(),
  brokerId: v.string(),
  brokerSignPubB64u: v.string(),
  brokerBoxPubB64u: v.string(),
  identityId: v.string(),
  role: v.picklist(['producer', 'subscriber']),
  deviceId: v.string(),
  signSeedB64u: v.string(),
  boxSecretB64u: v.string(),
});
type Profile = v.InferOutput<typeof ProfileSchema>;

function profilePath(args: ParsedArgs, io: CliIo): string {
  return stringFlag(args, 'profile') ?? join(loadConfig(io.env).dataDir, 'broker', 'device.json');
}

function writePrivate(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${toB64url(randomBytes(6))}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

function loadProfile(args: ParsedArgs, io: CliIo): Profile {
  const path = profilePath(args, io);
  if (!existsSync(path)) throw new AppError('NOT_FOUND', 'This machine has no broker device profile. Run `model-vault broker enroll` first (or pass --profile).');
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new AppError('VALIDATION', 'The broker device profile is not valid JSON. Enroll again with a new --profile.');
  }
  const r = v.safeParse(ProfileSchema, json);
  if (!r.success) throw new AppError('VALIDATION', 'The broker device profile is malformed. Enroll again with a new --profile.');
  return r.output;
}

function bytes(text: string, what: string): Uint8Array {
  const b = fromB64url(text);
  if (b === undefined) throw new AppError('VALIDATION', `The ${what} in the broker profile is malformed.`);
  return b;
}

function clientOf(p: Profile): BrokerClient {
  return new BrokerClient({ baseUrl: p.brokerUrl, http: fetchHttpPort(), signer: seedSigner(bytes(p.signSeedB64u, 'device key')) });
}

function print(io: CliIo, value: Record<string, unknown>, human: string): number {
  io.out(io.json ? JSON.stringify({ ok: true, ...value }) : human);
  return EXIT.OK;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new AppError('NOT_FOUND', `Cannot read the ${what} file. Check the path.`, { cause: e });
  }
}

function intFlag(args: ParsedArgs, name: string, dflt: number, usage: string): number {
  const s = stringFlag(args, name);
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) throw usageError(usage, `--${name} must be a non-negative integer`);
  return n;
}

// ---- serve --------------------------------------------------------------------------------------------------------

const SERVE_USAGE = 'broker serve [--db <sqlite path | postgres URL>] [--port N] [--kek-file P] [--bootstrap-file P] [--no-open-enrollment] [--json]';

const serve: CliCommand = {
  words: ['broker', 'serve'],
  usage: SERVE_USAGE,
  summary: 'Run the key broker on 127.0.0.1 (SQLite by default, PostgreSQL with a postgres:// URL).',
  help: [
    'Flags:',
    '  --db <path|url>        SQLite file (default <data dir>/broker.sqlite) or postgres://user:pw@host/db',
    '  --port N               TCP port on 127.0.0.1 (default 8443; 0 picks a free one)',
    '  --kek-file P           the key-encryption key (32 bytes base64url); else MV_BROKER_KEK_FILE or MV_BROKER_KEK',
    '  --new-kek-file P       create a new KEK file (0600) and use it',
    '  --bootstrap-file P     the admin secret that enrolls the first producer; else MV_BROKER_BOOTSTRAP',
    '  --no-open-enrollment   subscribers need an invite too',
    'Environment: MV_BROKER_SQLITE_SYNC=full also survives power loss (default: survives a killed process).',
    'With --json, one line {"ok":true,"url":…,"port":…,"db":…,"brokerId":…} is printed once listening.',
  ].join('\n'),
  async run(args, io) {
    const config = loadConfig(io.env);
    const dbSpec = stringFlag(args, 'db') ?? join(config.dataDir, 'broker.sqlite');
    if (!/^postgres(ql)?:\/\//.test(dbSpec) && dbSpec !== ':memory:') mkdirSync(dirname(dbSpec), { recursive: true });
    const newKek = stringFlag(args, 'new-kek-file');
    if (newKek !== undefined) {
      if (existsSync(newKek)) throw new AppError('ALREADY_EXISTS', 'The --new-kek-file exists already; use --kek-file to load it.');
      writePrivate(newKek, newKekText() + '\n');
    }
    const kek = loadKek({ file: newKek ?? stringFlag(args, 'kek-file'), env: io.env });
    const bootFile = stringFlag(args, 'bootstrap-file');
    const bootstrapSecret = bootFile !== undefined ? readText(bootFile, 'bootstrap').trim() : io.env.MV_BROKER_BOOTSTRAP;
    const port = intFlag(args, 'port', 8443, SERVE_USAGE);
    if (port > 65535) throw usageError(SERVE_USAGE, '--port must be at most 65535');
    const sync = io.env.MV_BROKER_SQLITE_SYNC === 'full' ? 'full' : 'normal';
    const broker = await startBroker({ dbSpec, kek, bootstrapSecret, port, sqliteSync: sync, openSubscriberEnrollment: args.flags['no-open-enrollment'] !== true });
    const info = broker.server.service.info();
    print(io, { url: broker.url, port: broker.port, db: broker.dbKind, brokerId: info.brokerId }, `broker ${info.brokerId} listening on ${broker.url} (${broker.dbKind})`);
    await new Promise<void>((resolve) => {
      const stop = (): void => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await broker.close();
    return EXIT.OK;
  },
};

// ---- enroll -------------------------------------------------------------------------------------------------------

const ENROLL_USAGE = 'broker enroll --broker <url> --name <name> --role producer|subscriber [--bootstrap-file P | --invite CODE] [--label L] [--profile P] [--json]';

const enroll: CliCommand = {
  words: ['broker', 'enroll'],
  usage: ENROLL_USAGE,
  summary: 'Create this device’s keys and enroll it with a broker (the first producer uses the bootstrap secret).',
  async run(args, io) {
    const url = stringFlag(args, 'broker') ?? io.env.MODEL_VAULT_BROKER_URL;
    const name = stringFlag(args, 'name');
    const role = stringFlag(args, 'role');
    if (url === undefined || name === undefined || (role !== 'producer' && role !== 'subscriber')) throw usageError(ENROLL_USAGE, '--broker, --name and --role are required');
    const path = profilePath(args, io);
    if (existsSync(path)) throw new AppError('ALREADY_EXISTS', 'This profile is already enrolled. Use another --profile to enroll a second identity.');
    const seed = randomBytes(32);
    const boxSecret = randomBytes(32);
    try {
      const signer = seedSigner(seed);
      const client = new BrokerClient({ baseUrl: url, http: fetchHttpPort(), signer });
      const info = await client.info();
      const bootFile = stringFlag(args, 'bootstrap-file');
      const invite = stringFlag(args, 'invite');
      const e = await client.enroll({
        name, role, label: stringFlag(args, 'label') ?? 'cli', boxPub: boxPublicKey(boxSecret),
        ...(bootFile === undefined ? {} : { bootstrap: readText(bootFile, 'bootstrap').trim() }), ...(invite === undefined ? {} : { invite }),
      });
      const profile: Profile = {
        format: 'model-vault/broker-device', version: 1, brokerUrl: url.replace(/\/$/, ''), brokerId: info.brokerId, brokerSignPubB64u: info.signPubB64u, brokerBoxPubB64u: info.boxPubB64u,
        identityId: e.identityId, role: e.role, deviceId: e.deviceId, signSeedB64u: toB64url(seed), boxSecretB64u: toB64url(boxSecret),
      };
      writePrivate(path, JSON.stringify(profile, null, 2) + '\n');
      return print(io, { identityId: e.identityId, deviceId: e.deviceId, role: e.role, admin: e.admin, brokerId: info.brokerId, profile: path }, `enrolled ${e.role} ${e.identityId} (device ${e.deviceId}) with ${info.brokerId}; profile ${path}`);
    } finally {
      wipe(seed, boxSecret);
    }
  },
};

// ---- publish ------------------------------------------------------------------------------------------------------

const PUBLISH_USAGE = 'broker publish <file|dir> --model-id ID --master-key <jwk file> --signing-key <jwk file> [--mode open|approval] [--duration-days N] [--device-limit N] [--grace-days N] [--policy <rego file>] [--json]';

function readHeaderBytes(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = statSync(path).size;
    const prefix = Buffer.alloc(PREFIX_BYTES);
    readSync(fd, prefix, 0, PREFIX_BYTES, 0);
    const n = readHeaderLength(new Uint8Array(prefix), size);
    const out = Buffer.alloc(PREFIX_BYTES + n);
    readSync(fd, out, 0, out.length, 0);
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  } finally {
    closeSync(fd);
  }
}

const publishCmd: CliCommand = {
  words: ['broker', 'publish'],
  usage: PUBLISH_USAGE,
  summary: 'Upload a model’s headers, policy and keys (sealed to the broker) so subscribers can get personalized copies.',
  async run(args, io) {
    const target = args.positionals[0];
    const modelId = stringFlag(args, 'model-id');
    const mkFile = stringFlag(args, 'master-key');
    const skFile = stringFlag(args, 'signing-key');
    if (target === undefined || modelId === undefined || mkFile === undefined || skFile === undefined) throw usageError(PUBLISH_USAGE, 'a model path, --model-id, --master-key and --signing-key are required');
    const p = loadProfile(args, io);
    const files = statSync(target).isDirectory() ? readdirSync(target).filter((f) => f.endsWith('.safetensors')).sort().map((f) => ({ path: f, full: join(target, f) })) : [{ path: basename(target), full: target }];
    if (files.length === 0) throw new AppError('NOT_FOUND', 'No .safetensors files in that folder.');
    const mk = parseJwks(readText(mkFile, 'master key')).find((k) => k.kind === 'master');
    const sk = parseJwks(readText(skFile, 'signing key')).find((k) => k.kind === 'signing');
    if (mk?.kind !== 'master' || sk?.kind !== 'signing') throw new AppError('KEY_NOT_FOUND', 'The key files must hold a master key (oct) and an Ed25519 signing key with its private part (okp with d).');
    const alg = normalizeAeadAlg(mk.key.alg);
    if (alg === undefined) throw new AppError('KEY_INVALID', 'Unsupported master key algorithm.');
    const mode = stringFlag(args, 'mode') ?? 'open';
    if (mode !== 'open' && mode !== 'approval') throw usageError(PUBLISH_USAGE, '--mode must be open or approval');
    const policyFile = stringFlag(args, 'policy');
    const r = await clientOf(p).publish({
      modelId, name: stringFlag(args, 'name') ?? modelId, mode, durationDays: intFlag(args, 'duration-days', 365, PUBLISH_USAGE), deviceLimit: intFlag(args, 'device-limit', 2, PUBLISH_USAGE), graceDays: intFlag(args, 'grace-days', 7, PUBLISH_USAGE),
      ...(policyFile === undefined ? {} : { policy: readText(policyFile, 'policy') }),
      files: files.map((f) => ({ path: f.path, header: readHeaderBytes(f.full) })),
      masterKey: { alg, key: mk.key.key, ...(mk.key.kid === undefined ? {} : { kid: mk.key.kid }) }, signingSeed: sk.key.seed, brokerBoxPub: bytes(p.brokerBoxPubB64u, 'broker key'),
    });
    return print(io, { modelId: r.modelId, files: r.files, resubscribed: r.resubscribed }, `published ${r.modelId}: ${r.files.length} file(s); ${r.resubscribed} active subscription(s) re-personalized`);
  },
};

// ---- subscribe, licences, revoke, sync ------------------------------------------------------------------------------

const SUBSCRIBE_USAGE = 'broker subscribe <modelId> | --approve <subscriptionId> | --add-device <deviceId> --subscription <id> [--json]';

const subscribe: CliCommand = {
  words: ['broker', 'subscribe'],
  usage: SUBSCRIBE_USAGE,
  summary: 'Subscribe to a model (subscribers), approve a pending subscription (producers), or add a device.',
  async run(args, io) {
    const p = loadProfile(args, io);
    const client = clientOf(p);
    const approve = stringFlag(args, 'approve');
    const addDevice = stringFlag(args, 'add-device');
    let view;
    if (approve !== undefined) view = await client.approve(approve);
    else if (addDevice !== undefined) {
      const sub = stringFlag(args, 'subscription');
      if (sub === undefined) throw usageError(SUBSCRIBE_USAGE, '--add-device needs --subscription');
      view = await client.addSubscriptionDevice(sub, addDevice);
    } else {
      const modelId = args.positionals[0];
      if (modelId === undefined) throw usageError(SUBSCRIBE_USAGE, 'a model id is required');
      view = await client.subscribe(modelId);
    }
    return print(io, { subscription: { ...view, licence: view.licence === null ? null : { licenceId: view.licence.licenceId, notAfter: view.licence.notAfter } } }, `subscription ${view.subscriptionId} to ${view.modelId}: ${view.status}${view.expiresAt === null ? '' : `, until ${new Date(view.expiresAt).toISOString()}`}`);
  },
};

function cacheDir(args: ParsedArgs, io: CliIo): string {
  return join(dirname(profilePath(args, io)), 'cache');
}

function cachedRevocations(dir: string, brokerPub: Uint8Array): RevocationList | undefined {
  const f = join(dir, 'revocations.json');
  if (!existsSync(f)) return undefined;
  try {
    return verifyRevocationList(JSON.parse(readFileSync(f, 'utf8')), brokerPub);
  } catch {
    return undefined;
  }
}

const SYNC_USAGE = 'broker sync [--out <dir>] [--json]';

const syncCmd: CliCommand = {
  words: ['broker', 'sync'],
  usage: SYNC_USAGE,
  summary: 'Pull licences, personalized headers and the revocation list; cache them for offline use.',
  async run(args, io) {
    const p = loadProfile(args, io);
    const client = clientOf(p);
    const brokerPub = bytes(p.brokerSignPubB64u, 'broker key');
    const dir = cacheDir(args, io);
    const r = await client.sync();
    const list = newerRevocationList(cachedRevocations(dir, brokerPub), verifyRevocationList(r.revocations, brokerPub));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'revocations.json'), JSON.stringify(list));
    writeFileSync(join(dir, 'licences.json'), JSON.stringify(r.subscriptions.flatMap((s) => (s.licence === null ? [] : [s.licence]))));
    const out = stringFlag(args, 'out');
    let written = 0;
    if (out !== undefined) {
      for (const s of r.subscriptions.filter((x) => x.status === 'active')) {
        const h = await client.headers(s.subscriptionId);
        for (const f of h.headers) {
          const target = join(out, s.modelId, f.path + '.header');
          mkdirSync(dirname(target), { recursive: true });
          writeFileSync(target, bytes(f.headerB64u, 'header'));
          written++;
        }
      }
    }
    return print(io, { subscriptions: r.subscriptions.length, revocationSeq: list.seq, headersWritten: written }, `synced ${r.subscriptions.length} subscription(s), revocation list #${list.seq}${out === undefined ? '' : `, ${written} header(s) written to ${out}`}`);
  },
};

const licences: CliCommand = {
  words: ['broker', 'licences'],
  usage: 'broker licences [--offline] [--json]',
  summary: 'List this identity’s licences and their offline validity (sync first unless --offline).',
  async run(args, io) {
    const p = loadProfile(args, io);
    const brokerPub = bytes(p.brokerSignPubB64u, 'broker key');
    const dir = cacheDir(args, io);
    let docs: unknown[] = [];
    let revocations = cachedRevocations(dir, brokerPub);
    let offline = args.flags.offline === true;
    if (!offline) {
      try {
        const r = await clientOf(p).sync();
        revocations = newerRevocationList(revocations, verifyRevocationList(r.revocations, brokerPub));
        docs = r.subscriptions.flatMap((s) => (s.licence === null ? [] : [s.licence]));
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        writeFileSync(join(dir, 'revocations.json'), JSON.stringify(revocations));
        writeFileSync(join(dir, 'licences.json'), JSON.stringify(docs));
      } catch (e) {
        if (!isAppError(e) || e.code !== 'BROKER_UNREACHABLE') throw e;
        io.err('broker unreachable: showing the cached licences');
        offline = true;
      }
    }
    if (offline) docs = existsSync(join(dir, 'licences.json')) ? (JSON.parse(readFileSync(join(dir, 'licences.json'), 'utf8')) as unknown[]) : [];
    const rows = docs.map((d) => {
      try {
        const { licence, verdict } = checkLicenceOffline(d, { brokerPub, deviceId: p.deviceId, now: Date.now(), revocations });
        return { licenceId: licence.licenceId, model: licence.model, subscriptionId: licence.subscriptionId, notAfter: licence.notAfter, graceSeconds: licence.graceSeconds, devices: licence.devices.length, status: verdict };
      } catch (e) {
        const { licenceId: id, model } = d as { licenceId?: unknown; model?: unknown };
        return { licenceId: typeof id === 'string' ? id : '?', model: typeof model === 'string' ? model : '?', status: isAppError(e) ? e.code : 'INVALID' };
      }
    });
    return print(io, { offline, licences: rows }, rows.length === 0 ? 'no licences' : rows.map((r) => `${r.licenceId}  ${r.model}  ${r.status}`).join('\n'));
  },
};

const REVOKE_USAGE = 'broker revoke <subscriptionId> [--reason TEXT] | --device <deviceId> [--json]';

const revoke: CliCommand = {
  words: ['broker', 'revoke'],
  usage: REVOKE_USAGE,
  summary: 'Revoke a subscription (its producer or subscriber) or one of your devices.',
  async run(args, io) {
    const p = loadProfile(args, io);
    const client = clientOf(p);
    const device = stringFlag(args, 'device');
    if (device !== undefined) {
      await client.revokeDevice(device);
      return print(io, { revokedDevice: device }, `device ${device} revoked`);
    }
    const id = args.positionals[0];
    if (id === undefined) throw usageError(REVOKE_USAGE, 'a subscription id or --device is required');
    const view = await client.revokeSubscription(id, stringFlag(args, 'reason') ?? 'revoked with the CLI');
    return print(io, { subscriptionId: view.subscriptionId, status: view.status }, `subscription ${view.subscriptionId}: ${view.status}`);
  },
};

// ---- audit and KEK rotation -----------------------------------------------------------------------------------------

const AUDIT_USAGE = 'broker audit --model <id> [--after N] | --db <sqlite path | postgres URL> --verify [--json]';

const audit: CliCommand = {
  words: ['broker', 'audit'],
  usage: AUDIT_USAGE,
  summary: 'Read the audit entries of your model (producers), or verify the whole chain of a broker database.',
  async run(args, io) {
    const dbSpec = stringFlag(args, 'db');
    if (args.flags.verify === true || dbSpec !== undefined) {
      if (dbSpec === undefined) throw usageError(AUDIT_USAGE, '--verify needs --db');
      const db = await openDb({ spec: dbSpec });
      try {
        const entries: AuditEntry[] = [];
        for await (const e of readAuditChain(db)) entries.push(e);
        const verdict = verifyAuditChain(entries);
        if (!verdict.ok) {
          io.out(io.json ? JSON.stringify({ ok: false, error: { code: 'AUDIT_TAMPERED', message: `entry ${verdict.seq}: ${verdict.problem}` } }) : `audit chain BROKEN at entry ${verdict.seq}: ${verdict.problem}`);
          return EXIT.VERIFY_FAILED;
        }
        return print(io, { entries: verdict.count, head: verdict.head }, `audit chain verified: ${verdict.count} entries, head ${verdict.head}`);
      } finally {
        await db.close();
      }
    }
    const model = stringFlag(args, 'model');
    if (model === undefined) throw usageError(AUDIT_USAGE, '--model or --db --verify is required');
    const r = await clientOf(loadProfile(args, io)).audit(model, intFlag(args, 'after', 0, AUDIT_USAGE));
    return print(io, { entries: r.entries }, r.entries.map((e) => `${e.seq}  ${e.time}  ${e.actor}  ${e.action}  ${e.object}  ${e.result}`).join('\n') || 'no entries');
  },
};

const ROTATE_USAGE = 'broker rotate-kek --db <sqlite path | postgres URL> --old-kek-file P --kek-file P [--json]';

/** Re-seals every broker secret from the old KEK to the new one in one transaction (README §8). */
export async function rotateKek(dbSpec: string, oldKek: Kek, newKek: Kek): Promise<number> {
  const db = await openDb({ spec: dbSpec });
  try {
    return await db.tx(async (q) => {
      const rows = await q.all('SELECT id, purpose, kek_id, nonce, ciphertext FROM secrets ORDER BY id');
      let n = 0;
      for (const r of rows) {
        const id = String(r.id);
        const purpose = String(r.purpose);
        if (String(r.kek_id) === newKek.id) continue;
        const plain = openSecret(oldKek, id, purpose, { kekId: String(r.kek_id), nonce: String(r.nonce), ciphertext: String(r.ciphertext) });
        try {
          const s = sealSecret(newKek, id, purpose, plain);
          await q.run('UPDATE secrets SET kek_id = ?, nonce = ?, ciphertext = ? WHERE id = ?', [s.kekId, s.nonce, s.ciphertext, id]);
          n++;
        } finally {
          wipe(plain);
        }
      }
      return n;
    });
  } finally {
    await db.close();
  }
}

const rotateKekCmd: CliCommand = {
  words: ['broker', 'rotate-kek'],
  usage: ROTATE_USAGE,
  summary: 'Re-seal every broker secret under a new key-encryption key (then restart the brokers with the new file).',
  async run(args, io) {
    const dbSpec = stringFlag(args, 'db');
    const oldFile = stringFlag(args, 'old-kek-file');
    const newFile = stringFlag(args, 'kek-file');
    if (dbSpec === undefined || oldFile === undefined || newFile === undefined) throw usageError(ROTATE_USAGE, '--db, --old-kek-file and --kek-file are required');
    const n = await rotateKek(dbSpec, parseKekText(readText(oldFile, 'old KEK')), parseKekText(readText(newFile, 'new KEK')));
    return print(io, { resealed: n }, `${n} secret(s) re-sealed under the new KEK; restart every broker with --kek-file ${newFile} and destroy the old key file`);
  },
};

export const commands: CliCommand[] = [serve, enroll, publishCmd, subscribe, licences, revoke, syncCmd, audit, rotateKekCmd];
