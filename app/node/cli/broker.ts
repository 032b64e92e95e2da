/**
 * `model-vault broker serve|enroll|publish|subscribe|licences|revoke|sync|audit|rotate-kek` (issue 6 item 7), all
 * with `--json`. The device profile (app/node/broker/profile.ts: the pinned broker keys and ids, no secret) lives in
 * a 0600 JSON file under the data directory (`--profile` to choose another); the device key is in the key store.
 * Nothing secret is ever printed.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { usageError } from './usage.ts';
import { basename, dirname, join } from 'node:path';
import { AppError, isAppError } from '../../errors.ts';
import { normalizeAeadAlg } from '../../crypto/aead.ts';
import { wipe } from '../../crypto/bytes.ts';
import { randomBytes } from '../../crypto/random.ts';
import { type BrokerClient } from '../../broker/client.ts';
import { checkLicenceOffline, newerRevocationList, verifyRevocationList, type RevocationList } from '../../broker/documents.ts';
import { parseJwks } from '../../format/keys.ts';
import { PREFIX_BYTES, readHeaderLength } from '../../format/safetensors.ts';
import { fromB64url, toB64url } from '../../crypto/encoding.ts';
import { loadConfig } from '../config.ts';
import { openDb } from '../broker/db.ts';
import { loadKek, newKekText, openSecret, parseKekText, sealSecret, type Kek } from '../broker/kek.ts';
import { verifyBrokerAudit } from '../broker/service.ts';
import { startBroker } from '../broker/start.ts';
import { brokerBoxPub, brokerSignPub, cliProfilePath, enrollDevice, loadProfile, openDevice, type DeviceProfile, type KeyStoreOptions } from '../broker/profile.ts';
import { stringFlag } from './args.ts';
import { type CliCommand, type CliIo, type ParsedArgs, EXIT } from './types.ts';


// ---- the device profile (app/node/broker/profile.ts: the file holds no secret, the device key is in the key store) ----

function profilePath(args: ParsedArgs, io: CliIo): string {
  return stringFlag(args, 'profile') ?? cliProfilePath(loadConfig(io.env).dataDir);
}

function writePrivate(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${toB64url(randomBytes(6))}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

async function storeOptions(args: ParsedArgs, io: CliIo): Promise<KeyStoreOptions> {
  const file = stringFlag(args, 'passphrase-file');
  return file === undefined ? { env: io.env } : { env: io.env, passphrase: readText(file, 'keystore passphrase').replace(/\r?\n$/, '') };
}

async function cliProfile(args: ParsedArgs, io: CliIo): Promise<DeviceProfile> {
  return loadProfile(profilePath(args, io), 'Run `model-vault broker enroll` first (or pass --profile).');
}

/** Runs `fn` with the profile's device unlocked from the key store; the keys are wiped afterwards. */
async function withDevice<T>(args: ParsedArgs, io: CliIo, fn: (p: DeviceProfile, client: BrokerClient) => Promise<T>): Promise<T> {
  const p = await cliProfile(args, io);
  const device = await openDevice(p, await storeOptions(args, io));
  try {
    return await fn(p, device.client);
  } finally {
    device.close();
  }
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

const ENROLL_USAGE = 'broker enroll --broker <url> --name <name> --role producer|subscriber [--bootstrap-file P | --invite CODE] [--label L] [--profile P] [--passphrase-file P] [--json]';

const enroll: CliCommand = {
  words: ['broker', 'enroll'],
  usage: ENROLL_USAGE,
  summary: 'Create this device’s keys and enroll it with a broker (the first producer uses the bootstrap secret).',
  help: [
    'The device key goes into the OS keychain, or the encrypted file keystore when the keychain is unavailable or',
    'MODEL_VAULT_STORE=file (passphrase: --passphrase-file or MODEL_VAULT_PASSPHRASE; every broker command accepts',
    'the same flag). The profile file (default <data dir>/broker/device.json, 0600) holds only public data.',
  ].join('\n'),
  async run(args, io) {
    const url = stringFlag(args, 'broker') ?? io.env.MODEL_VAULT_BROKER_URL;
    const name = stringFlag(args, 'name');
    const role = stringFlag(args, 'role');
    if (url === undefined || name === undefined || (role !== 'producer' && role !== 'subscriber')) throw usageError(ENROLL_USAGE, '--broker, --name and --role are required');
    const path = profilePath(args, io);
    const bootFile = stringFlag(args, 'bootstrap-file');
    const invite = stringFlag(args, 'invite');
    const { profile: p } = await enrollDevice({
      ...(await storeOptions(args, io)), path, brokerUrl: url, name, role, label: stringFlag(args, 'label') ?? 'cli',
      ...(bootFile === undefined ? {} : { bootstrap: readText(bootFile, 'bootstrap').trim() }), ...(invite === undefined ? {} : { invite }),
    });
    return print(io, { identityId: p.identityId, deviceId: p.deviceId, role: p.role, admin: p.admin, brokerId: p.brokerId, keyStore: p.keyStore, deviceKid: p.deviceKid, profile: path }, `enrolled ${p.role} ${p.identityId} (device ${p.deviceId}, key ${p.deviceKid} in the ${p.keyStore === 'keychain' ? 'OS keychain' : 'file keystore'}) with ${p.brokerId}; profile ${path}`);
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
    const r = await withDevice(args, io, (p, client) => client.publish({
      modelId, name: stringFlag(args, 'name') ?? modelId, mode, durationDays: intFlag(args, 'duration-days', 365, PUBLISH_USAGE), deviceLimit: intFlag(args, 'device-limit', 2, PUBLISH_USAGE), graceDays: intFlag(args, 'grace-days', 7, PUBLISH_USAGE),
      ...(policyFile === undefined ? {} : { policy: readText(policyFile, 'policy') }),
      files: files.map((f) => ({ path: f.path, header: readHeaderBytes(f.full) })),
      masterKey: { alg, key: mk.key.key, ...(mk.key.kid === undefined ? {} : { kid: mk.key.kid }) }, signingSeed: sk.key.seed, brokerBoxPub: brokerBoxPub(p),
    }));
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
    const approve = stringFlag(args, 'approve');
    const addDevice = stringFlag(args, 'add-device');
    const sub = stringFlag(args, 'subscription');
    const modelId = args.positionals[0];
    if (approve === undefined && addDevice !== undefined && sub === undefined) throw usageError(SUBSCRIBE_USAGE, '--add-device needs --subscription');
    if (approve === undefined && addDevice === undefined && modelId === undefined) throw usageError(SUBSCRIBE_USAGE, 'a model id is required');
    const view = await withDevice(args, io, async (_p, client) => {
      if (approve !== undefined) return client.approve(approve);
      if (addDevice !== undefined && sub !== undefined) return client.addSubscriptionDevice(sub, addDevice);
      return client.subscribe(modelId ?? '');
    });
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
    const p = await cliProfile(args, io);
    const brokerPub = brokerSignPub(p);
    const dir = cacheDir(args, io);
    const out = stringFlag(args, 'out');
    const device = await openDevice(p, await storeOptions(args, io));
    const client = device.client;
    try {
    const r = await client.sync();
    const list = newerRevocationList(cachedRevocations(dir, brokerPub), verifyRevocationList(r.revocations, brokerPub));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'revocations.json'), JSON.stringify(list));
    writeFileSync(join(dir, 'licences.json'), JSON.stringify(r.subscriptions.flatMap((s) => (s.licence === null ? [] : [s.licence]))));
    let written = 0;
    if (out !== undefined) {
      for (const s of r.subscriptions.filter((x) => x.status === 'active')) {
        const h = await client.headers(s.subscriptionId);
        for (const f of h.headers) {
          const target = join(out, s.modelId, f.path + '.header');
          mkdirSync(dirname(target), { recursive: true });
          const header = fromB64url(f.headerB64u);
          if (header === undefined) throw new AppError('BROKER_REJECTED', 'The broker sent a malformed header. Retry later.');
          writeFileSync(target, header);
          written++;
        }
      }
    }
    return print(io, { subscriptions: r.subscriptions.length, revocationSeq: list.seq, headersWritten: written }, `synced ${r.subscriptions.length} subscription(s), revocation list #${list.seq}${out === undefined ? '' : `, ${written} header(s) written to ${out}`}`);
    } finally {
      device.close();
    }
  },
};

const licences: CliCommand = {
  words: ['broker', 'licences'],
  usage: 'broker licences [--offline] [--json]',
  summary: 'List this identity’s licences and their offline validity (sync first unless --offline).',
  async run(args, io) {
    const p = await cliProfile(args, io);
    const brokerPub = brokerSignPub(p);
    const dir = cacheDir(args, io);
    let docs: unknown[] = [];
    let revocations = cachedRevocations(dir, brokerPub);
    let offline = args.flags.offline === true;
    if (!offline) {
      try {
        const r = await withDevice(args, io, (_p, client) => client.sync());
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
    const device = stringFlag(args, 'device');
    if (device !== undefined) {
      await withDevice(args, io, (_p, client) => client.revokeDevice(device));
      return print(io, { revokedDevice: device }, `device ${device} revoked`);
    }
    const id = args.positionals[0];
    if (id === undefined) throw usageError(REVOKE_USAGE, 'a subscription id or --device is required');
    const view = await withDevice(args, io, (_p, client) => client.revokeSubscription(id, stringFlag(args, 'reason') ?? 'revoked with the CLI'));
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
        // The broker's own verifier (README §9): every chain's hashes, links, sequence and checkpoint signatures, plus
        // each chain's recorded head (a deleted tail shows) and every entry in the chain its content names.
        const verdict = await verifyBrokerAudit(db);
        if (!verdict.ok) {
          io.out(io.json ? JSON.stringify({ ok: false, error: { code: 'AUDIT_TAMPERED', message: `entry ${verdict.seq}: ${verdict.problem}` }, chain: verdict.chain }) : `audit chain BROKEN at entry ${verdict.seq}: ${verdict.problem}`);
          return EXIT.VERIFY_FAILED;
        }
        return print(io, { entries: verdict.count, head: verdict.head, chains: verdict.chains.length }, `audit chain verified: ${verdict.count} entries in ${verdict.chains.length} chain(s), head ${verdict.head}`);
      } finally {
        await db.close();
      }
    }
    const model = stringFlag(args, 'model');
    if (model === undefined) throw usageError(AUDIT_USAGE, '--model or --db --verify is required');
    const after = intFlag(args, 'after', 0, AUDIT_USAGE);
    const r = await withDevice(args, io, (_p, client) => client.audit(model, after));
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
