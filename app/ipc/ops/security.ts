/**
 * Operations of the security view (issue 7): key inventory (never key bytes), offline rotation wizard, audit log viewer.
 * Spread into CONTRACT (app/ipc/contract.ts); channels are `domain:verb`. Request schemas are strict valibot objects;
 * responses are plain data and never carry key material, passphrases, plaintext weights or tokens.
 * Long operations take `taskId: TASK_ID` (app/ipc/task.ts) and report progress through their handler context.
 *
 * - `security:keys`     the inventory: every stored key (kid, kind, algorithm, fingerprint, store, keyset states, last
 *                       use from the audit log), the keys only the environment supplies (store `environment`), and
 *                       the state of each key store.
 * - `security:createKey`, `security:keyset`  create a key; stage / promote / retire it in its keyset (as the CLI does).
 * - `security:unlock`   unlocks the encrypted file keystore for this session (the passphrase goes in, never out).
 * - `security:scan`     the wizard's first step: the models in a folder, the keys they are under, an unfinished rotation.
 * - `security:plan`     the dry run: what changes per file; nothing is written.
 * - `security:rotate`   a task: rewrap, verify, promote, sign the bundle; resumable from the journal; cancel keeps the
 *                       journal so the rotation can be resumed.
 * - `security:exportBundle`, `security:bundle`  save a finished rotation's signed bundle to a path / read its text.
 * - `security:brokerTarget`  this app's broker and producer enrollment: the recipient key to wrap the new master key
 *                       for, and the models this app published.
 * - `security:pushBundle` a task: sends a kept bundle (still signed; the broker verifies it) with the folder's rewrapped
 *                       headers to the app's broker for one published model, as the producer device (README §10).
 * - `security:audit`, `security:checkpoint`  the audit log with its verification; sign a checkpoint now.
 */
import * as v from 'valibot';
import { response } from '../response.ts';
import { TASK_ID } from '../task.ts';

// ---------------------------------------------------------------------------------------------------------------
// shared shapes

const KID = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/, 'a kid is 1-128 characters from A-Z a-z 0-9 . _ : @ + - starting with a letter or digit'));
const OWNER = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
/** An absolute path on the host's disk (a folder to rotate, a file to write). */
const PATH = v.pipe(v.string(), v.minLength(1), v.maxLength(4096), v.check((p) => !p.includes('\0'), 'a path cannot contain NUL'));

export const KEY_ALGS = ['aes256gcm', 'aes128gcm', 'chacha20poly1305', 'ed25519'] as const;
export type KeyAlgName = (typeof KEY_ALGS)[number];
export type StoreKind = 'keychain' | 'file';
/** Where a listed key is: a key store, or only the environment (MODEL_VAULT_KEYS, MODEL_VAULT_KEYS_FILE, CRYPTOTENSOR_KEYS). */
export type KeyLocation = StoreKind | 'environment';
export type KeysetStateName = 'staged' | 'active' | 'previous' | 'retired';

export interface KeyStoreState {
  readonly kind: StoreKind;
  readonly location: string;
  readonly available: boolean;
  /** File keystore: whether the file exists yet (it is created by the first unlock, with a new passphrase). */
  readonly exists: boolean;
  /** File keystore: true while its passphrase has not been given (the list is still visible). */
  readonly locked: boolean;
  /** Why the store cannot be used, and what to do instead. */
  readonly reason?: string;
}

export interface KeyMembership {
  readonly owner: string;
  readonly purpose: 'enc' | 'sign';
  readonly state: KeysetStateName;
}

export interface KeyRow {
  readonly kid: string;
  readonly kind: 'master' | 'signing';
  readonly alg: string;
  /** `mvfp1:` + 32 hex digits. */
  readonly fingerprint: string;
  readonly store: KeyLocation;
  /** For `environment`: the variable that supplies it (listed only when no key store holds the same key). */
  readonly variable?: string;
  readonly verifyOnly: boolean;
  /** When it was stored (ISO time); empty for a key from the environment. */
  readonly createdAt: string;
  readonly origin: string;
  readonly label?: string;
  readonly keysets: readonly KeyMembership[];
  /** The latest audit entry that names this key (by kid or fingerprint). */
  readonly lastUsed?: { readonly time: string; readonly action: string; readonly result: string };
}

/** An environment variable that supplies keys (app/keys/README.md "Key sources", sources 4 and 5). */
export interface EnvironmentKeys {
  readonly variable: string;
  /** The variable's name, or for MODEL_VAULT_KEYS_FILE the file it names. */
  readonly location: string;
  readonly keys: number;
  /** Why its keys could not be read (e.g. not a JWK or JWK Set). */
  readonly problem?: string;
}

export interface KeyInventory {
  readonly stores: readonly KeyStoreState[];
  /** The environment variables that supply keys in this process (empty when none is set). */
  readonly environment: readonly EnvironmentKeys[];
  readonly keys: readonly KeyRow[];
  /** Keyset entries whose key is in no reachable store (e.g. kept only in a backup). */
  readonly orphans: readonly (KeyMembership & { readonly kid: string; readonly fingerprint: string; readonly alg: string })[];
}

export interface ScannedModel {
  readonly path: string;
  readonly kind: 'file' | 'folder';
  readonly files: number;
}

export interface FolderScan {
  readonly folder: string;
  readonly models: readonly ScannedModel[];
  /** The master keys the files are under, with where each was found (null: in no reachable store). */
  readonly masterKeys: readonly { readonly kid: string; readonly alg: string; readonly store: StoreKind | null; readonly fingerprint: string | null; readonly files: number }[];
  readonly signingKeys: readonly { readonly kid: string; readonly store: StoreKind | null; readonly fingerprint: string | null; readonly canSign: boolean; readonly files: number }[];
  readonly plainFiles: number;
  /** A rotation that was started and not finished (interrupted, cancelled, crashed): it can be resumed. */
  readonly unfinished: RotationJournalSummary | null;
}

export interface RotationJournalSummary {
  readonly rotationId: string;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly phase: string;
  readonly newMasterKid: string | null;
  readonly newSigningKid: string | null;
  readonly filesDone: number;
  readonly filesTotal: number;
  readonly journal: string;
}

export interface KeyChange {
  readonly oldKids: readonly string[];
  readonly newKid: string;
  readonly newFingerprint: string;
  readonly alg?: string;
}

export interface PlanFileRow {
  readonly path: string;
  readonly model: string;
  readonly status: 'rewrap' | 'done' | 'skip';
  readonly encKid: string | null;
  readonly signerKid: string | null;
  readonly tensors: number;
  readonly wrappedKeysChange: readonly string[];
  readonly plainTensors: number;
  readonly signatureChanges: boolean;
  readonly dataBytesUntouched: number;
}

export interface RotationPlanView {
  readonly folder: string;
  readonly journal: string;
  readonly enc: KeyChange | null;
  readonly sign: KeyChange | null;
  readonly files: readonly PlanFileRow[];
  readonly untouched: readonly string[];
  readonly problems: readonly { readonly path: string; readonly code: string; readonly message: string }[];
  readonly totals: { readonly filesToRewrap: number; readonly filesDone: number; readonly filesSkipped: number; readonly wrappedKeysChanging: number; readonly signaturesChanging: number; readonly dataBytesUntouched: number };
}

export interface RotationResult {
  readonly rotationId: string;
  readonly folder: string;
  readonly resumed: boolean;
  readonly enc: KeyChange | null;
  readonly sign: KeyChange | null;
  readonly files: readonly { readonly path: string; readonly result: 'rewrapped' | 'already-done' | 'skipped' }[];
  readonly models: readonly { readonly path: string; readonly ok: boolean }[];
  readonly keysets: { readonly enc?: string; readonly sign?: string };
  readonly bundle: BundleSummary;
  /** What happened, in order (phases with their time), for the result page. */
  readonly steps: readonly { readonly phase: string; readonly at: string; readonly detail?: string }[];
}

export interface BundleSummary {
  readonly bundleId: string;
  /** Where the app keeps its copy (the data directory's rotation-bundles folder). */
  readonly path: string;
  readonly models: number;
  readonly signatures: readonly { readonly kid: string; readonly fingerprint: string }[];
  readonly recipients: readonly string[];
  readonly sha256: string;
}

export interface AuditRow {
  /** 1-based entry (line) number. */
  readonly entry: number;
  readonly seq: number | null;
  readonly time: string;
  readonly actor: string;
  readonly action: string;
  readonly object: string;
  readonly result: string;
  readonly details: Readonly<Record<string, string | number | boolean>>;
  readonly checkpoint: boolean;
  /** Problems the verification found at this entry. */
  readonly problems: readonly string[];
}

export interface AuditView {
  readonly path: string;
  readonly total: number;
  /** Entries matching the filters, most recent first, at most `limit`. */
  readonly entries: readonly AuditRow[];
  readonly matched: number;
  readonly actions: readonly string[];
  readonly actors: readonly string[];
  readonly verification: {
    readonly ok: boolean;
    readonly entries: number;
    readonly checkpoints: number;
    readonly lastCheckpointSeq: number;
    readonly unsignedTail: number;
    readonly head: { readonly seq: number; readonly hash: string } | null;
    readonly problems: readonly { readonly kind: string; readonly entry: number; readonly seq?: number; readonly message: string }[];
    /** Signers of the valid checkpoints (fingerprints), and whether each is one of our own keys. */
    readonly signers: readonly { readonly fingerprint: string; readonly kid: string | null; readonly ours: boolean }[];
  };
}

/** Where this app's broker session sends rotation bundles (`security:brokerTarget`). */
export interface BrokerTarget {
  readonly broker: { readonly mode: 'embedded' | 'remote'; readonly location: string };
  /** This machine's producer enrollment; null while it has none (enroll in the Publish view first). */
  readonly producer: {
    readonly name: string;
    readonly brokerId: string;
    /** `<broker id>:<base64 X25519 public key>`, the form `security:rotate` takes in `brokerKeys`. */
    readonly recipient: string;
  } | null;
  /** Models this app published (id, name, the folder or file it published). */
  readonly models: readonly { readonly modelId: string; readonly name: string; readonly output: string }[];
}

export interface BundlePushResult {
  readonly bundleId: string;
  readonly modelId: string;
  readonly broker: string;
  /** The rewrapped headers the broker accepted (path, SHA-256 of the header). */
  readonly files: readonly { readonly path: string; readonly sha256: string }[];
  /** Active subscriptions the broker re-personalized under the new key. */
  readonly resubscribed: number;
}

// ---------------------------------------------------------------------------------------------------------------
// operations

const ROTATION_KEYS = {
  folder: PATH,
  /** The new master key (stored); absent when only the signing key rotates. */
  newMasterKid: v.optional(KID),
  /** The new signing key (stored, private); absent when files are re-signed with their current signing key. */
  newSigningKid: v.optional(KID),
};

export const SECURITY_OPERATIONS = {
  'security:keys': { request: v.strictObject({}), response: response<KeyInventory>() },
  'security:createKey': {
    request: v.strictObject({ alg: v.picklist(KEY_ALGS), kid: v.optional(KID), label: v.optional(v.pipe(v.string(), v.maxLength(200))), store: v.picklist(['keychain', 'file']) }),
    response: response<KeyRow>(),
  },
  'security:keyset': {
    request: v.strictObject({ kid: KID, action: v.picklist(['stage', 'promote', 'retire']), owner: v.optional(OWNER) }),
    response: response<KeyMembership & { readonly kid: string }>(),
  },
  'security:unlock': {
    request: v.strictObject({ passphrase: v.pipe(v.string(), v.minLength(1), v.maxLength(1024)) }),
    response: response<{ readonly keys: number; readonly location: string }>(),
  },
  'security:scan': { request: v.strictObject({ folder: PATH }), response: response<FolderScan>() },
  'security:plan': { request: v.strictObject(ROTATION_KEYS), response: response<RotationPlanView>() },
  'security:rotate': {
    request: v.strictObject({
      ...ROTATION_KEYS,
      taskId: TASK_ID,
      resume: v.optional(v.boolean()),
      owner: v.optional(OWNER),
      /**
       * Brokers the new master key is wrapped for in the bundle, as `<broker id>:<base64 X25519 public key>` (as `keys
       * rotate --broker-key`). Broker ids contain a colon themselves (`broker:<hex>`): the key follows the last one.
       */
      brokerKeys: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(/^[^\s]{1,128}:[A-Za-z0-9+/]{43}=$/, 'a broker key is <id>:<base64 of a 32-byte X25519 public key>'))), v.maxLength(16))),
    }),
    response: response<RotationResult>(),
  },
  'security:exportBundle': {
    request: v.strictObject({ bundleId: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{8,64}$/, 'not a bundle id')), path: PATH, overwrite: v.optional(v.boolean()) }),
    response: response<{ readonly path: string; readonly bytes: number; readonly sha256: string }>(),
  },
  'security:bundle': {
    request: v.strictObject({ bundleId: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{8,64}$/, 'not a bundle id')) }),
    response: response<{ readonly fileName: string; readonly text: string }>(),
  },
  'security:brokerTarget': { request: v.strictObject({}), response: response<BrokerTarget>() },
  'security:pushBundle': {
    request: v.strictObject({
      taskId: TASK_ID,
      bundleId: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{8,64}$/, 'not a bundle id')),
      /** The rotated folder (the rewrapped headers are read from it and must be the bundle's). */
      folder: PATH,
      modelId: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
    }),
    response: response<BundlePushResult>(),
  },
  'security:audit': {
    request: v.strictObject({
      limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(5000))),
      action: v.optional(v.pipe(v.string(), v.maxLength(200))),
      actor: v.optional(v.pipe(v.string(), v.maxLength(200))),
      result: v.optional(v.picklist(['ok', 'denied', 'failed'])),
      text: v.optional(v.pipe(v.string(), v.maxLength(200))),
      problemsOnly: v.optional(v.boolean()),
    }),
    response: response<AuditView>(),
  },
  'security:checkpoint': { request: v.strictObject({ signingKid: KID }), response: response<{ readonly seq: number; readonly fingerprint: string }>() },
} as const;
