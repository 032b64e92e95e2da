/**
 * The broker device profile: who this machine is on a key broker. Used by the CLI (`model-vault broker …`) and by
 * the app's broker session (app/node/services/broker-session.ts).
 *
 * Two halves, kept apart:
 * - **the profile file** (JSON, 0600, atomic writes; default `<data dir>/broker/device.json` for the CLI and
 *   `<data dir>/broker/<role>.json` for the app) holds only non-secret data: the broker URL, the broker's pinned
 *   public keys, the identity id, role, device id, and the kid and store of the device key;
 * - **the device key** is one Ed25519 signing key in the `KeyStore` (the OS keychain when available, else the
 *   encrypted file keystore, per app/keys/README.md). Its seed signs every broker request; the device's X25519 box
 *   key (which opens key releases) is derived from it with HKDF-SHA256 under its own label, so one secret is stored
 *   and each purpose has its own key.
 *
 * Which store: `MODEL_VAULT_STORE=file` picks the file keystore; otherwise the keychain is tried and, when it is
 * unavailable, the file keystore is used (`MODEL_VAULT_KEYSTORE`, passphrase from the caller or
 * `MODEL_VAULT_PASSPHRASE`). The profile records which one holds the key, so later loads open that one.
 *
 * Profiles of format version 1 (written before this module, with the device seeds inside the file) are refused with
 * a message saying how to re-enroll: their X25519 key was random, not derived, so it cannot be moved into the new
 * scheme without the broker learning a new device key, and silently re-keying a device is not something a load
 * should do. The old file is left untouched.
 */
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import * as v from 'valibot';
import { utf8, wipe } from '../../crypto/bytes.ts';
import { randomBytes } from '../../crypto/random.ts';
import { AppError, isAppError } from '../../errors.ts';
import { BrokerClient } from '../../broker/client.ts';
import { seedSigner, deviceIdFor } from '../../broker/request-signing.ts';
import { boxPublicKey, type BoxKeyPair } from '../../broker/seal.ts';
import type { InfoResponse } from '../../broker/messages.ts';
import { fromB64url } from '../../crypto/encoding.ts';
import { SIGNING_ALG, type SigningKey } from '../../keys/key.ts';
import type { KeyStore, KeyStoreKind } from '../../keys/keystore.ts';
import { writeFileAtomic, readTextIfExists } from '../atomic.ts';
import { FileKeyStore } from '../keys/file-keystore.ts';
import { KeychainKeyStore } from '../keys/keychain-keystore.ts';
import { keystorePath, scryptParams, type Env } from '../keys/paths.ts';
import { fetchHttpPort } from './http-port.ts';

export const PROFILE_FORMAT = 'model-vault/broker-device';
export const PROFILE_VERSION = 2;
const BOX_KEY_INFO = 'model-vault/broker-device/v1/box-key';

export const DEVICE_ROLES = ['producer', 'subscriber'] as const;
export type DeviceRole = (typeof DEVICE_ROLES)[number];

const ProfileSchema = v.strictObject({
  format: v.literal(PROFILE_FORMAT),
  version: v.literal(PROFILE_VERSION),
  brokerUrl: v.string(),
  brokerId: v.string(),
  brokerSignPubB64u: v.string(),
  brokerBoxPubB64u: v.string(),
  identityId: v.string(),
  name: v.string(),
  role: v.picklist(DEVICE_ROLES),
  deviceId: v.string(),
  deviceLabel: v.string(),
  /** The kid of the device's Ed25519 key in the key store. */
  deviceKid: v.string(),
  keyStore: v.picklist(['keychain', 'file']),
  admin: v.boolean(),
  enrolledAt: v.string(),
});

/** The non-secret half of a device: everything here may be shown and sent over IPC. */
export type DeviceProfile = v.InferOutput<typeof ProfileSchema>;

/** The CLI's default profile (`--profile` picks another). */
export function cliProfilePath(dataDir: string): string {
  return join(dataDir, 'broker', 'device.json');
}

/** The app's profile for one role; the app also accepts the CLI's `device.json` when its role matches. */
export function appProfilePath(dataDir: string, role: DeviceRole): string {
  return join(dataDir, 'broker', `${role}.json`);
}

/** The kid of a device key: derived from its public key, so it is known before enrollment. */
export function deviceKidFor(deviceId: string): string {
  return `mv-device-${deviceId}`;
}

// ---- the key store --------------------------------------------------------------------------------------------------

export interface KeyStoreOptions {
  readonly env: Env;
  /** The file keystore's passphrase (else MODEL_VAULT_PASSPHRASE). */
  readonly passphrase?: string;
  /** The file keystore, already unlocked in this process (the app unlocks it once per session). */
  readonly fileStore?: FileKeyStore;
}

/** `store` when it is unlocked and is this environment's file keystore (not one for another path), else undefined. */
export function unlockedFileStore(store: FileKeyStore | undefined, env: Env): FileKeyStore | undefined {
  return store?.unlocked === true && store.path === keystorePath(env) ? store : undefined;
}

function unlockedFile(o: KeyStoreOptions): FileKeyStore | undefined {
  return unlockedFileStore(o.fileStore, o.env);
}

function filePassphrase(o: KeyStoreOptions, why: string): string {
  const p = o.passphrase ?? o.env.MODEL_VAULT_PASSPHRASE;
  if (p === undefined || p === '') {
    throw new AppError('KEYSTORE_LOCKED', `${why} The device key goes into the encrypted file keystore, which needs its passphrase: unlock the key file in Model Vault, or set MODEL_VAULT_PASSPHRASE (the CLI also takes --passphrase-file).`);
  }
  return p;
}

/** Opens the store a new device key goes into: the keychain when it works (unless MODEL_VAULT_STORE=file), else the file keystore. */
export async function openStoreForNewKey(o: KeyStoreOptions): Promise<KeyStore> {
  if (o.env.MODEL_VAULT_STORE !== 'file') {
    try {
      return await KeychainKeyStore.open();
    } catch (e) {
      if (!isAppError(e) || e.code !== 'KEYCHAIN_UNAVAILABLE') throw e;
      const open = unlockedFile(o);
      if (open !== undefined) return open;
      return FileKeyStore.openOrCreate(keystorePath(o.env), filePassphrase(o, 'The OS keychain is not available on this machine.'), { params: scryptParams(o.env) });
    }
  }
  return unlockedFile(o) ?? FileKeyStore.openOrCreate(keystorePath(o.env), filePassphrase(o, 'MODEL_VAULT_STORE is "file".'), { params: scryptParams(o.env) });
}

/** Opens the store a profile's device key is in. */
export async function openStoreOf(kind: KeyStoreKind, o: KeyStoreOptions): Promise<KeyStore> {
  if (kind === 'keychain') return KeychainKeyStore.open();
  return unlockedFile(o) ?? FileKeyStore.open(keystorePath(o.env), { passphrase: filePassphrase(o, 'This device key is in the file keystore.') });
}

// ---- the device: signer and box key ---------------------------------------------------------------------------------

/** The device's keys, unlocked for this process. Call `close()` to wipe them. */
export interface DeviceKeys {
  readonly deviceId: string;
  readonly client: BrokerClient;
  /** The X25519 key pair that opens key releases wrapped to this device. */
  readonly box: BoxKeyPair;
  close(): void;
}

function deriveBoxSecret(seed: Uint8Array): Uint8Array {
  return hkdf(sha256, seed, new Uint8Array(0), utf8(BOX_KEY_INFO), 32);
}

function deviceKeysFrom(seed: Uint8Array, brokerUrl: string): DeviceKeys {
  const own = seed.slice();
  const signer = seedSigner(own);
  const secretKey = deriveBoxSecret(own);
  return {
    deviceId: signer.deviceId,
    client: new BrokerClient({ baseUrl: brokerUrl, http: fetchHttpPort(), signer }),
    box: { secretKey, publicKey: boxPublicKey(secretKey) },
    close() {
      wipe(own, secretKey);
    },
  };
}

// ---- reading and writing the profile --------------------------------------------------------------------------------

function bytesOf(text: string, what: string): Uint8Array {
  const b = fromB64url(text);
  if (b === undefined) throw new AppError('VALIDATION', `The ${what} in the broker profile is malformed. Enroll again with a new profile.`);
  return b;
}

export function brokerSignPub(p: DeviceProfile): Uint8Array {
  return bytesOf(p.brokerSignPubB64u, 'broker signing key');
}

export function brokerBoxPub(p: DeviceProfile): Uint8Array {
  return bytesOf(p.brokerBoxPubB64u, 'broker box key');
}

/** Reads a profile; undefined when the file does not exist. Refuses version-1 files (seeds inside) and malformed ones. */
export async function readProfile(path: string): Promise<DeviceProfile | undefined> {
  const text = await readTextIfExists(path);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AppError('VALIDATION', `The broker device profile ${path} is not valid JSON. Move it away and enroll again.`);
  }
  const version = (json as { version?: unknown } | null)?.version;
  if (version === 1) {
    throw new AppError(
      'UNSUPPORTED',
      `The broker device profile ${path} was written by an older Model Vault and keeps the device's private keys in the file. ` +
        'Move it away (keep it until the new enrollment works) and enroll this device again with `model-vault broker enroll`; ' +
        'the new enrollment keeps its key in the OS keychain or the encrypted file keystore.',
    );
  }
  const r = v.safeParse(ProfileSchema, json);
  if (!r.success) throw new AppError('VALIDATION', `The broker device profile ${path} is malformed. Move it away and enroll again.`);
  return r.output;
}

/** Reads a profile that must exist. */
export async function loadProfile(path: string, hint: string): Promise<DeviceProfile> {
  const p = await readProfile(path);
  if (p === undefined) throw new AppError('NOT_FOUND', `This machine has no broker device profile at ${path}. ${hint}`);
  return p;
}

async function writeProfile(path: string, p: DeviceProfile): Promise<void> {
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, JSON.stringify(p, null, 2) + '\n', { mode: 0o600 });
}

/** Unlocks a profile's device key from its store. */
export async function openDevice(p: DeviceProfile, o: KeyStoreOptions): Promise<DeviceKeys> {
  const store = await openStoreOf(p.keyStore, o);
  const stored = await store.get(p.deviceKid);
  if (stored === undefined || stored.key.kind !== 'signing' || stored.key.seed === undefined) {
    throw new AppError('KEY_NOT_FOUND', `The device key ${p.deviceKid} is not in the ${p.keyStore === 'keychain' ? 'OS keychain' : 'file keystore'} any more. Restore it from a backup, or enroll this device again.`);
  }
  try {
    if (deviceIdFor(stored.key.publicKey) !== p.deviceId) throw new AppError('KEY_INVALID', `The key ${p.deviceKid} does not belong to device ${p.deviceId}. Restore the right key or enroll again.`);
    return deviceKeysFrom(stored.key.seed, p.brokerUrl);
  } finally {
    wipe(stored.key.seed);
  }
}

export interface EnrollOptions extends KeyStoreOptions {
  readonly path: string;
  readonly brokerUrl: string;
  readonly name: string;
  readonly role: DeviceRole;
  readonly label: string;
  readonly bootstrap?: string;
  readonly invite?: string;
}

export interface Enrolled {
  readonly profile: DeviceProfile;
  readonly info: InfoResponse;
}

/**
 * Enrolls a new device: generates its key, stores it (keychain or file keystore), enrolls with the broker and
 * writes the profile. On failure the new key is removed again and no profile is written.
 */
export async function enrollDevice(o: EnrollOptions): Promise<Enrolled> {
  if ((await readTextIfExists(o.path)) !== undefined) throw new AppError('ALREADY_EXISTS', `A broker device profile exists already at ${o.path}. Use another profile to enroll a second identity.`);
  const brokerUrl = o.brokerUrl.replace(/\/$/, '');
  const seed = randomBytes(32);
  const device = deviceKeysFrom(seed, brokerUrl);
  const kid = deviceKidFor(device.deviceId);
  let store: KeyStore | undefined;
  try {
    const info = await device.client.info();
    store = await openStoreForNewKey(o);
    const key: SigningKey = { kind: 'signing', alg: SIGNING_ALG, algSpelling: 'Ed25519', kid, seed, publicKey: device.client.signer.signPub };
    await store.put({ key, meta: { createdAt: new Date().toISOString(), origin: 'generated', label: `broker device (${o.role}) for ${info.brokerId}` } });
    const e = await device.client.enroll({
      name: o.name, role: o.role, label: o.label, boxPub: device.box.publicKey,
      ...(o.bootstrap === undefined ? {} : { bootstrap: o.bootstrap }), ...(o.invite === undefined ? {} : { invite: o.invite }),
    });
    const profile: DeviceProfile = {
      format: PROFILE_FORMAT, version: PROFILE_VERSION, brokerUrl, brokerId: info.brokerId, brokerSignPubB64u: info.signPubB64u, brokerBoxPubB64u: info.boxPubB64u,
      identityId: e.identityId, name: o.name, role: e.role, deviceId: e.deviceId, deviceLabel: o.label, deviceKid: kid, keyStore: store.info.kind === 'keychain' ? 'keychain' : 'file',
      admin: e.admin, enrolledAt: new Date().toISOString(),
    };
    await writeProfile(o.path, profile);
    store = undefined;
    return { profile, info };
  } finally {
    if (store !== undefined) await store.delete(kid).catch(() => false);
    device.close();
    wipe(seed);
  }
}

/** Forgets a device locally: deletes its key from the store and the profile file (after revoking it at the broker). */
export async function forgetDevice(path: string, p: DeviceProfile, o: KeyStoreOptions): Promise<void> {
  const store = await openStoreOf(p.keyStore, o);
  await store.delete(p.deviceKid);
  await fs.rm(path, { force: true });
}
