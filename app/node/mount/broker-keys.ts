/**
 * Keys for a mount from the key broker: the subscriber's key, released to this device (ticket, attestation, the
 * key sealed to the device's box key), with the subscription's signed licence guarding the mount.
 *
 * The device is the subscriber's enrollment (app/node/broker/profile.ts): the CLI's profile by default, or the one
 * given. The local shards' headers are sent by hash; when the broker has newer personalized headers (e.g. after a
 * key rotation), they are used in memory for this mount (`headerOverrides`) and the files on disk stay unchanged.
 * The licence and the revocation list come from a broker sync and are re-checked on every read; the revocation list
 * is refreshed every `refreshMs` while mounted, and a device the broker no longer accepts counts as revoked.
 */
import { APP_VERSION } from '../../version.ts';
import { AppError, isAppError } from '../../errors.ts';
import { newerRevocationList, verifyRevocationList, type RevocationList } from '../../broker/documents.ts';
import { openFileSource, readModelHeader } from '../format/file-source.ts';
import { folderLayout } from '../format/package.ts';
import { brokerSignPub, cliProfilePath, loadProfile, openDevice, type KeyStoreOptions } from '../broker/profile.ts';
import type { BrokerClient } from '../../broker/client.ts';
import type { BoxKeyPair } from '../../broker/seal.ts';
import { loadConfig } from '../config.ts';
import type { Env } from '../keys/paths.ts';
import { promises as fs } from 'node:fs';
import { basename, join } from 'node:path';
import { licenceGuard, type MountGuard } from './guard.ts';
import type { MountKeys } from './manager.ts';

/** A subscriber device able to make signed broker calls (the CLI's profile, or the app's broker session). */
export interface DeviceAccess {
  readonly deviceId: string;
  /** The broker's pinned signing key (licences and revocation lists are checked against it). */
  readonly brokerPub: Uint8Array;
  /** Runs `fn` with the device unlocked; the device key is wiped when it settles. */
  withClient<T>(fn: (client: BrokerClient, box: BoxKeyPair) => Promise<T>): Promise<T>;
}

/** The device of a CLI profile (default `<data dir>/broker/device.json`), its key from the key store. */
export async function profileDevice(env: Env, profilePath?: string, storeOptions?: KeyStoreOptions): Promise<DeviceAccess> {
  const path = profilePath ?? cliProfilePath(loadConfig(env).dataDir);
  const profile = await loadProfile(path, 'Enroll this device as a subscriber with `model-vault broker enroll --role subscriber`, or give --profile.');
  if (profile.role !== 'subscriber') throw new AppError('VALIDATION', 'This device profile is a producer enrollment: mounting with --model-id needs a subscriber enrollment.');
  const o = storeOptions ?? { env };
  return {
    deviceId: profile.deviceId,
    brokerPub: brokerSignPub(profile),
    async withClient(fn) {
      const d = await openDevice(profile, o);
      try {
        return await fn(d.client, d.box);
      } finally {
        d.close();
      }
    },
  };
}

export interface BrokerReleaseOptions {
  readonly model: string;
  readonly modelId: string;
  readonly device: DeviceAccess;
  /** How often the revocation list is refreshed while mounted (default 60 s). */
  readonly refreshMs?: number;
  readonly now?: () => number;
}

export interface BrokerRelease {
  readonly keys: MountKeys;
  readonly guard: MountGuard;
  /** Personalized headers to use instead of the local ones (path → header bytes); empty when all matched. */
  readonly headerOverrides: ReadonlyMap<string, Uint8Array>;
  readonly subscriptionId: string;
  /** Wipes the released key held here (the mount keeps its own copies until it stops). */
  close(): void;
}

async function localHeaders(model: string): Promise<Map<string, Uint8Array>> {
  const st = await fs.stat(model).catch(() => null);
  if (st === null) throw new AppError('NOT_FOUND', `No model at ${model}. Check the path.`);
  const files = st.isFile() ? [{ path: basename(model), full: model }] : (await folderLayout(model)).shards.map((s) => ({ path: s, full: join(model, s) }));
  const out = new Map<string, Uint8Array>();
  for (const f of files) {
    const src = await openFileSource(f.full);
    try {
      out.set(f.path, (await readModelHeader(src)).bytes);
    } finally {
      await src.handle.close();
    }
  }
  return out;
}

const REVOKED_CODES = new Set(['AUTH_FAILED', 'LICENCE_REVOKED', 'BROKER_REJECTED']);

export async function releaseFromBroker(o: BrokerReleaseOptions): Promise<BrokerRelease> {
  const { device } = o;
  const headers = await localHeaders(o.model);
  const { released, synced } = await device.withClient(async (client, box) => {
    const r = await client.releaseKey(o.modelId, headers, { os: process.platform, app_version: APP_VERSION }, box);
    try {
      return { released: r, synced: await client.sync() };
    } catch (e) {
      r.key.fill(0);
      throw e;
    }
  });
  try {
    const sub = synced.subscriptions.find((s) => s.subscriptionId === released.subscriptionId);
    if (sub?.licence === null || sub === undefined) throw new AppError('LICENCE_INVALID', 'The broker released the key but sent no licence for the subscription. Sync with the broker and try again.');
    let revocations: RevocationList = verifyRevocationList(synced.revocations, device.brokerPub);
    const refresh = async (): Promise<RevocationList | undefined> => {
      try {
        return await device.withClient(async (client) => {
          const r = await client.sync();
          revocations = newerRevocationList(revocations, verifyRevocationList(r.revocations, device.brokerPub));
          const still = r.subscriptions.find((s) => s.subscriptionId === released.subscriptionId);
          if (still === undefined || still.status === 'revoked') throw new AppError('LICENCE_REVOKED', 'The subscription was revoked at the broker. Contact the publisher.');
          return revocations;
        });
      } catch (e) {
        if (isAppError(e) && REVOKED_CODES.has(e.code)) throw new AppError('LICENCE_REVOKED', 'The broker no longer accepts this device or subscription: the licence was revoked. Contact the publisher.');
        throw e;
      }
    };
    const guard = licenceGuard({ licence: sub.licence, brokerPub: device.brokerPub, deviceId: device.deviceId, revocations, refreshRevocations: refresh, ...(o.refreshMs === undefined ? {} : { refreshMs: o.refreshMs }), ...(o.now === undefined ? {} : { now: o.now }) });
    const masterKey = { alg: released.alg, kid: released.kid, key: released.key.slice() };
    return {
      keys: { masterKeys: [masterKey], trustedSigners: [{ publicKey: released.verifyKey }] },
      guard,
      headerOverrides: released.synced,
      subscriptionId: released.subscriptionId,
      close() {
        masterKey.key.fill(0);
      },
    };
  } finally {
    released.key.fill(0);
  }
}
