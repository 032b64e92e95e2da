/**
 * Operations of the producer view (issue 7): stage a dropped model (web host), scan a model folder, producer keys,
 * package with progress, verify and inspect a model (domain `model`, shared with the subscriber view), publish to the
 * broker, published models with subscribers and audit entries, and the native dialogs (domain `dialog`, served by the
 * Electron host; the web host answers UNSUPPORTED and the renderer uses its own folder picker).
 *
 * Spread into CONTRACT (app/ipc/contract.ts); channels are `domain:verb`. Request schemas are strict valibot objects;
 * responses are plain data and never carry key material, passphrases, plaintext weights or tokens.
 * Long operations take `taskId: TASK_ID` (app/ipc/task.ts) and report progress through their handler context.
 */
import * as v from 'valibot';
import { response } from '../response.ts';
import { TASK_ID } from '../task.ts';

// ---------------------------------------------------------------------------------------------------------------
// Shared request parts
// ---------------------------------------------------------------------------------------------------------------

const EMPTY = v.strictObject({});
/** An absolute path on the host machine (Electron drops and dialogs; the web host's own staging uses stagingId). */
const ABSOLUTE_PATH = v.pipe(v.string(), v.minLength(1), v.maxLength(4096), v.check((p) => p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p), 'an absolute path is required'));
const STAGING_ID = v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/, 'a staging id is 32 lowercase hex characters'));
/** A path inside a dropped folder, `/`-separated, relative, without `.`/`..` segments. */
const RELATIVE_PATH = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(1024),
  v.check((p) => !p.startsWith('/') && !p.includes('\\') && !p.includes('\0') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..'), 'a relative path of plain segments is required'),
);
/** Largest upload chunk: the web host caps request bodies at 1 MiB and bytes travel as base64 there. */
export const STAGE_CHUNK_BYTES = 512 * 1024;

/** Where a model to package comes from: paths on this machine (Electron), or a staged upload (web host). */
export const MODEL_SOURCE = v.variant('kind', [
  v.strictObject({ kind: v.literal('paths'), paths: v.pipe(v.array(ABSOLUTE_PATH), v.minLength(1), v.maxLength(10_000)) }),
  v.strictObject({ kind: v.literal('staged'), stagingId: STAGING_ID }),
]);
export type ModelSource = v.InferOutput<typeof MODEL_SOURCE>;

export const MASTER_ALGS = ['aes256gcm', 'aes128gcm', 'chacha20poly1305'] as const;
export type MasterAlgName = (typeof MASTER_ALGS)[number];

export const ENCRYPT_SELECTION = v.variant('mode', [
  v.strictObject({ mode: v.literal('all') }),
  v.strictObject({ mode: v.literal('pattern'), pattern: v.pipe(v.string(), v.minLength(1), v.maxLength(1000)) }),
  v.strictObject({ mode: v.literal('list'), names: v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(1024))), v.minLength(1), v.maxLength(100_000)) }),
]);
export type EncryptChoice = v.InferOutput<typeof ENCRYPT_SELECTION>;

/** The broker's id rule (app/broker/schemas.ts), repeated here because the contract imports no broker code. */
const MODEL_ID = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/, 'a model id is letters, digits and . _ : @ + - (up to 128), starting with a letter or digit'));
const PACKAGE_ID = v.pipe(v.string(), v.regex(/^[0-9a-f]{16}$/, 'a package id is 16 lowercase hex characters'));

// ---------------------------------------------------------------------------------------------------------------
// Response types
// ---------------------------------------------------------------------------------------------------------------

export interface ScannedFile {
  readonly path: string;
  readonly bytes: number;
  readonly kind: 'shard' | 'other';
}

export interface ScannedTensor {
  readonly name: string;
  readonly shard: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: number;
}

export interface ScanSummary {
  /** What to show as the model's name (folder or file name). */
  readonly name: string;
  /** Where it is on this machine (for staged uploads: the staging folder, removed after packaging). */
  readonly location: string;
  readonly source: ModelSource;
  readonly files: readonly ScannedFile[];
  readonly shards: number;
  readonly tensors: readonly ScannedTensor[];
  /** dtype → number of tensors. */
  readonly dtypes: Readonly<Record<string, number>>;
  readonly totalBytes: number;
  readonly tensorBytes: number;
  /** True if some shard is already CryptoTensors (it cannot be packaged again). */
  readonly alreadyEncrypted: boolean;
}

export interface KeyRef {
  readonly kid: string;
  readonly alg: string;
  /** SHA-256 fingerprint of the public key (signing) or a keyed hash of the key id material (master). */
  readonly fingerprint: string;
}

export interface ProducerKeys {
  readonly store: 'keychain' | 'file';
  /** Where the keys live, for people (service name or file path). */
  readonly location: string;
  readonly master: KeyRef;
  readonly signer: KeyRef;
  /** True when this call created a key (first use). */
  readonly created: boolean;
}

export type SignerTrust = 'own' | 'trusted' | 'known-untrusted' | 'unknown';

/** The verify report the producer and subscriber views show (renderer/components/verify-report.tsx). */
export interface VerifyView {
  readonly ok: boolean;
  readonly path: string;
  readonly kind: 'file' | 'folder';
  /** Whether every encrypted tensor was decrypted and authenticated (false: header, signature and digests only). */
  readonly decrypted: boolean;
  readonly signer: { readonly kid: string | null; readonly fingerprint: string; readonly trust: SignerTrust; readonly scope: string | null } | null;
  readonly signature: 'valid' | 'invalid' | 'missing';
  readonly encryption: { readonly version: string; readonly alg: string; readonly chunkSize: number | null; readonly encKid: string | null } | null;
  readonly files: readonly {
    readonly path: string;
    readonly ok: boolean;
    readonly encrypted: boolean;
    readonly tensors: number;
    readonly encryptedTensors: number;
    readonly digestTensors: number;
    readonly unauthenticatedTensors: number;
  }[];
  readonly digests: { readonly checked: number; readonly total: number };
  readonly manifest: { readonly shards: number; readonly files: number; readonly checked: number; readonly ok: boolean } | null;
  readonly policy: {
    /** The embedded file policy's verdict (reference mode). */
    readonly verdict: 'allow' | 'deny' | 'invalid' | 'unsupported' | 'none';
    readonly reasons: readonly string[];
    readonly local: string | null;
    /** The signed access policy the broker enforces at key release (Model Vault mode), when present. */
    readonly access: string | null;
  };
  readonly problems: readonly { readonly path: string; readonly code: string; readonly message: string }[];
}

export interface InspectView {
  readonly path: string;
  readonly kind: 'file' | 'folder';
  readonly encrypted: boolean;
  readonly bytes: number;
  readonly signerKid: string | null;
  readonly encryption: VerifyView['encryption'];
  readonly tensors: readonly { readonly name: string; readonly shard: string; readonly dtype: string; readonly shape: readonly number[]; readonly bytes: number; readonly encrypted: boolean; readonly authenticated: boolean }[];
  readonly otherFiles: readonly string[];
  readonly policy: { readonly local: string; readonly access: string | null } | null;
}

export interface PackageOutcome {
  readonly packageId: string;
  readonly output: string;
  readonly shards: readonly string[];
  readonly otherFiles: readonly string[];
  readonly bytes: number;
  readonly encryptedTensors: number;
  readonly warnings: readonly string[];
  readonly report: VerifyView;
}

export interface PublishOutcome {
  readonly modelId: string;
  /** The published shard headers and their SHA-256 as the broker recorded them. */
  readonly files: readonly { readonly path: string; readonly sha256: string }[];
  readonly resubscribed: number;
  readonly broker: string;
}

export interface PublishedModel {
  readonly packageId: string;
  readonly name: string;
  readonly output: string;
  readonly packagedAt: string;
  readonly signerFingerprint: string;
  readonly alg: string;
  readonly bytes: number;
  readonly publication: null | { readonly modelId: string; readonly publishedAt: string; readonly mode: 'open' | 'approval'; readonly broker: string };
  readonly subscribers: readonly {
    readonly subscriptionId: string;
    readonly subscriberId: string;
    readonly status: string;
    readonly expiresAt: number | null;
    readonly devices: number;
  }[];
  readonly audit: readonly { readonly seq: number; readonly at: string; readonly action: string; readonly actor: string; readonly outcome: string }[];
}

export interface ProducerIdentity {
  /** The broker the app uses: the embedded one (started on first use) or MODEL_VAULT_BROKER_URL. */
  readonly broker: { readonly mode: 'embedded' | 'remote'; readonly location: string };
  /** This machine's producer enrollment; null until it is enrolled. */
  readonly enrolled: null | { readonly name: string; readonly identityId: string; readonly deviceId: string; readonly brokerId: string; readonly enrolledAt: string };
}

export interface ProducerModels {
  readonly models: readonly PublishedModel[];
  /** Why subscribers and audit entries could not be fetched (broker unreachable, not enrolled), if so. */
  readonly brokerNote: string | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------------------------

export const PRODUCER_OPERATIONS = {
  /** Starts an upload of dropped files into a private staging folder (web host: the browser has no paths). */
  'producer:stageBegin': { request: EMPTY, response: response<{ readonly stagingId: string; readonly chunkBytes: number }>() },
  /** Writes one chunk of one staged file, in order (offset = bytes written so far). */
  'producer:stageWrite': {
    request: v.strictObject({ stagingId: STAGING_ID, path: RELATIVE_PATH, offset: v.pipe(v.number(), v.integer(), v.minValue(0)), bytes: v.instance(Uint8Array) }),
    response: response<{ readonly written: number }>(),
  },
  /** Removes a staged upload (the user picked another model, or left). */
  'producer:stageDiscard': { request: v.strictObject({ stagingId: STAGING_ID }), response: response<{ readonly removed: boolean }>() },
  /** Scans a dropped folder or files: shards, tensors, dtypes, sizes. Reads headers only. */
  'producer:scan': { request: v.strictObject({ source: MODEL_SOURCE }), response: response<ScanSummary>() },
  /** The producer's master key (for an algorithm) and signing key, created in the keystore on first use. */
  'producer:keys': { request: v.strictObject({ alg: v.picklist(MASTER_ALGS) }), response: response<ProducerKeys>() },
  /** Encrypts and signs the scanned model (task: bytes, rate, ETA; cancel leaves nothing), then verifies the result. */
  'producer:package': {
    request: v.strictObject({
      taskId: TASK_ID,
      source: MODEL_SOURCE,
      name: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
      encrypt: ENCRYPT_SELECTION,
      alg: v.picklist(MASTER_ALGS),
      version: v.picklist([1, 2]),
      policy: v.pipe(v.string(), v.maxLength(256 * 1024)),
      /** Where to write (an Electron save dialog); default: a new folder under the data directory. */
      output: v.optional(ABSOLUTE_PATH),
    }),
    response: response<PackageOutcome>(),
  },
  /** Publishes a packaged model to the broker: headers, access policy and keys sealed to the broker (task). */
  'producer:publish': {
    request: v.strictObject({
      taskId: TASK_ID,
      packageId: PACKAGE_ID,
      modelId: MODEL_ID,
      mode: v.picklist(['open', 'approval']),
      durationDays: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(3650)),
      deviceLimit: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000)),
      graceDays: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(365)),
    }),
    response: response<PublishOutcome>(),
  },
  /** Who this machine publishes as, and where. */
  'producer:identity': { request: EMPTY, response: response<ProducerIdentity>() },
  /**
   * Enrolls this machine as a producer. The embedded broker needs nothing more (the app holds its bootstrap secret);
   * a remote broker needs its bootstrap secret (first producer) or an invite code.
   */
  'producer:enroll': {
    request: v.strictObject({
      name: v.pipe(v.string(), v.minLength(1), v.maxLength(120)),
      label: v.pipe(v.string(), v.minLength(1), v.maxLength(120)),
      invite: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
      bootstrap: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
    }),
    response: response<ProducerIdentity>(),
  },
  /** Packaged and published models, with subscribers and the broker's audit entries for each. */
  'producer:models': { request: EMPTY, response: response<ProducerModels>() },
  /** Approves a pending subscription to one of the producer's models. */
  'producer:approve': { request: v.strictObject({ subscriptionId: v.pipe(v.string(), v.minLength(1), v.maxLength(200)) }), response: response<{ readonly status: string }>() },

  /** Full verification of a model file or folder with the keys of this machine (task: files done). */
  'model:verify': { request: v.strictObject({ taskId: TASK_ID, path: ABSOLUTE_PATH, headerOnly: v.optional(v.boolean()) }), response: response<VerifyView>() },
  /** A model's header: tensors, encryption, policy (no key needed, nothing decrypted). */
  'model:inspect': { request: v.strictObject({ path: ABSOLUTE_PATH }), response: response<InspectView>() },

  /** Native open dialog (Electron): a model folder or safetensors files. Web host: UNSUPPORTED. */
  'dialog:openModel': { request: v.strictObject({ pick: v.picklist(['folder', 'files']) }), response: response<{ readonly paths: readonly string[] }>() },
  /** Native save dialog (Electron): where to write a packaged model. Web host: UNSUPPORTED. */
  'dialog:chooseOutput': { request: v.strictObject({ suggestedName: v.pipe(v.string(), v.maxLength(200)) }), response: response<{ readonly path: string | null }>() },
} as const;
