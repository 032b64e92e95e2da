/**
 * The producer's keys: one Ed25519 signing key and one master key per algorithm, created on first use in the key
 * store (the OS keychain when it works, else the encrypted file keystore — app/node/broker/profile.ts decides, the
 * same way for every key the app creates). Their kids are remembered in the producer record (state.ts); the key
 * bytes stay in the store and in this process only while a package or publish runs. Over IPC only kid, alg and
 * fingerprint travel.
 */
import { AppError } from '../../../errors.ts';
import { wipe } from '../../../crypto/bytes.ts';
import type { MasterAlgName, ProducerKeys } from '../../../ipc/ops/producer.ts';
import { fingerprintOf, generateMasterKey, generateSigningKey, type MasterKey, type SigningKey } from '../../../keys/key.ts';
import { requireKid, type KeyStore } from '../../../keys/keystore.ts';
import { openStoreForNewKey, openStoreOf } from '../../broker/profile.ts';
import type { Env } from '../../keys/paths.ts';
import { readState, updateState } from './state.ts';

export interface UnlockedKeys {
  readonly master: MasterKey;
  readonly signer: SigningKey & { readonly seed: Uint8Array };
  readonly info: ProducerKeys;
  /** Wipes the key bytes held by this process. */
  close(): void;
}

const LABEL_SIGN = 'Model Vault producer signing key';
const labelMaster = (alg: MasterAlgName): string => `Model Vault producer master key (${alg})`;

/** Key creation runs one at a time in this process, so two first uses never make two producer identities. */
let queue: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

async function openStore(dataDir: string, env: Env): Promise<KeyStore> {
  const state = await readState(dataDir);
  return state.keys.store === null ? openStoreForNewKey({ env }) : openStoreOf(state.keys.store, { env });
}

function missing(kid: string, store: KeyStore): AppError {
  return new AppError('KEY_NOT_FOUND', `The producer key ${kid} is no longer in ${store.info.location}. Restore it from a backup (Keys & audit), or move ${'<data dir>/producer/state.json'} away to start with new keys.`);
}

/**
 * Returns the producer's keys for `alg`, creating what is missing. The returned key bytes must be wiped with
 * `close()`; callers that only need the public facts use `producerKeyInfo`.
 */
export async function unlockProducerKeys(dataDir: string, env: Env, alg: MasterAlgName): Promise<UnlockedKeys> {
  const store = await openStore(dataDir, env);
  const kind = store.info.kind === 'keychain' ? 'keychain' : 'file';
  const { signerKid, masterKid, created } = await serialized(async () => {
    let made = false;
    const state = await updateState(dataDir, (s) => (s.keys.store === null ? { ...s, keys: { ...s.keys, store: kind } } : s));
    let sKid = state.keys.signerKid;
    if (sKid === null) {
      const key = generateSigningKey({});
      const kid = requireKid(key);
      await store.put({ key, meta: { createdAt: new Date().toISOString(), origin: 'generated', label: LABEL_SIGN } });
      if (key.seed !== undefined) wipe(key.seed);
      await updateState(dataDir, (s) => ({ ...s, keys: { ...s.keys, signerKid: kid } }));
      sKid = kid;
      made = true;
    }
    let mKid = state.keys.masterKids[alg];
    if (mKid === undefined) {
      const key = generateMasterKey(alg);
      const kid = requireKid(key);
      await store.put({ key, meta: { createdAt: new Date().toISOString(), origin: 'generated', label: labelMaster(alg) } });
      wipe(key.key);
      await updateState(dataDir, (s) => ({ ...s, keys: { ...s.keys, masterKids: { ...s.keys.masterKids, [alg]: kid } } }));
      mKid = kid;
      made = true;
    }
    return { signerKid: sKid, masterKid: mKid, created: made };
  });
  const keys = await loadKeyPair(store, masterKid, signerKid);
  return {
    ...keys,
    info: {
      store: kind,
      location: store.info.location,
      master: { kid: masterKid, alg: keys.master.alg, fingerprint: fingerprintOf(keys.master) },
      signer: { kid: signerKid, alg: keys.signer.alg, fingerprint: fingerprintOf(keys.signer) },
      created,
    },
  };
}

/** The public facts of the producer's keys (creating them on first use). */
export async function producerKeyInfo(dataDir: string, env: Env, alg: MasterAlgName): Promise<ProducerKeys> {
  const keys = await unlockProducerKeys(dataDir, env, alg);
  keys.close();
  return keys.info;
}

/** The producer's own signing public keys (current), for verifying what this machine packaged. */
export async function ownSigner(dataDir: string, env: Env): Promise<{ publicKey: Uint8Array; kid: string } | undefined> {
  const state = await readState(dataDir);
  if (state.keys.signerKid === null || state.keys.store === null) return undefined;
  try {
    const store = await openStoreOf(state.keys.store, { env });
    const s = await store.get(state.keys.signerKid);
    if (s?.key.kind !== 'signing') return undefined;
    const publicKey = s.key.publicKey.slice();
    if (s.key.seed !== undefined) wipe(s.key.seed);
    return { publicKey, kid: state.keys.signerKid };
  } catch {
    return undefined;
  }
}

/** Master keys of this machine's producer, by kid (for verifying its own packages). */
export async function ownMasterKey(dataDir: string, env: Env, kid: string): Promise<MasterKey | undefined> {
  const state = await readState(dataDir);
  if (state.keys.store === null || !Object.values(state.keys.masterKids).includes(kid)) return undefined;
  const store = await openStoreOf(state.keys.store, { env });
  const s = await store.get(kid);
  return s?.key.kind === 'master' ? s.key : undefined;
}

/** The keys a package was made with (by kid), for publishing it. Wipe with `close()`. */
export async function unlockPackageKeys(dataDir: string, env: Env, masterKid: string, signerKid: string): Promise<Omit<UnlockedKeys, 'info'>> {
  return loadKeyPair(await openStore(dataDir, env), masterKid, signerKid);
}

/** Loads a signing key and a master key by kid from one store; `close()` wipes both. */
async function loadKeyPair(store: KeyStore, masterKid: string, signerKid: string): Promise<Omit<UnlockedKeys, 'info'>> {
  const signing = await store.get(signerKid);
  if (signing?.key.kind !== 'signing' || signing.key.seed === undefined) throw missing(signerKid, store);
  const master = await store.get(masterKid);
  if (master?.key.kind !== 'master') {
    wipe(signing.key.seed);
    throw missing(masterKid, store);
  }
  const signer = signing.key as SigningKey & { readonly seed: Uint8Array };
  const masterKey = master.key;
  return {
    master: masterKey,
    signer,
    close() {
      wipe(signer.seed, masterKey.key);
    },
  };
}
