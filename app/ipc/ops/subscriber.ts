/**
 * Operations of the subscriber view (issue 7): broker enrollment, licences (status, expiry, devices, revoke this
 * device), requesting access to a model, importing a model (dropped files, with the personalized headers of a
 * subscription fetched from the broker, or as they are), the imported library, and the verify report with the
 * licence part.
 *
 * Spread into CONTRACT (app/ipc/contract.ts); channels are `domain:verb`. Request schemas are strict valibot objects;
 * responses are plain data and never carry key material, passphrases, plaintext weights or tokens (the subscriber
 * key released by the broker for verification stays in the main process and is wiped after use).
 * Long operations take `taskId: TASK_ID` (app/ipc/task.ts) and report progress through their handler context.
 *
 * Dropping files in the browser (web host) uploads them with the `subscriber:stage*` operations first, as the
 * producer view does; Electron passes paths.
 */
import * as v from 'valibot';
import { response } from '../response.ts';
import { TASK_ID } from '../task.ts';
import { MODEL_SOURCE, STAGE_CHUNK_BYTES, type VerifyView } from './producer.ts';

const EMPTY = v.strictObject({});
const STAGING_ID = v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/, 'a staging id is 32 lowercase hex characters'));
const RELATIVE_PATH = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(1024),
  v.check((p) => !p.startsWith('/') && !p.includes('\\') && !p.includes('\0') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..'), 'a relative path of plain segments is required'),
);
const BROKER_ID = v.pipe(v.string(), v.minLength(1), v.maxLength(128), v.regex(/^[A-Za-z0-9._:@+-]+$/, 'an id is letters, digits and . _ : @ + - (up to 128)'));
const LOCAL_ID = v.pipe(v.string(), v.regex(/^[0-9a-f]{16}$/, 'a library id is 16 lowercase hex characters'));

export { STAGE_CHUNK_BYTES };

// ---------------------------------------------------------------------------------------------------------------
// Response types
// ---------------------------------------------------------------------------------------------------------------

export interface SubscriberEnrollment {
  readonly name: string;
  readonly identityId: string;
  readonly deviceId: string;
  readonly deviceLabel: string;
  readonly brokerId: string;
  readonly enrolledAt: string;
  /** Where the device key is: the OS keychain or the encrypted file keystore (never the key). */
  readonly keyStore: 'keychain' | 'file';
  readonly deviceKid: string;
}

export interface SubscriberIdentity {
  /** The broker the app uses: the embedded one (started on first use) or MODEL_VAULT_BROKER_URL. */
  readonly broker: { readonly mode: 'embedded' | 'remote'; readonly location: string };
  /** This machine's subscriber enrollment; null until it is enrolled. */
  readonly enrolled: SubscriberEnrollment | null;
  /**
   * Where the device key is (or a new one goes): the OS keychain, or the encrypted key file, which must be unlocked
   * with its passphrase once per session (`subscriber:unlock`) unless MODEL_VAULT_PASSPHRASE is set.
   */
  readonly keyStore: { readonly kind: 'keychain' | 'file'; readonly locked: boolean };
}

/** The offline check of a cached licence: valid, in its grace period, or why not. */
export type LicenceVerdict = 'valid' | 'grace' | 'expired' | 'revoked' | 'not-this-device' | 'invalid' | 'none';

export interface LicenceRow {
  readonly subscriptionId: string;
  readonly modelId: string;
  /** The broker's subscription status. */
  readonly status: 'pending' | 'active' | 'revoked';
  readonly licenceId: string | null;
  readonly issuedAt: number | null;
  readonly notAfter: number | null;
  readonly graceSeconds: number;
  readonly verdict: LicenceVerdict;
  /** Why the verdict is not valid, in words that say what to do. */
  readonly note: string | null;
  readonly devices: readonly { readonly deviceId: string; readonly thisDevice: boolean }[];
  /** Shards whose personalized headers the broker holds for this subscription. */
  readonly files: number;
}

export interface SubscriberLicences {
  /** True when the broker could not be reached and the cached licences are shown. */
  readonly offline: boolean;
  readonly syncedAt: string | null;
  readonly revocationSeq: number | null;
  readonly licences: readonly LicenceRow[];
}

export interface ImportedModel {
  readonly localId: string;
  readonly name: string;
  /** Where the imported copy is on this machine. */
  readonly path: string;
  readonly importedAt: string;
  readonly bytes: number;
  readonly files: readonly string[];
  /** `broker`: shards carry the personalized headers of a subscription; `file`: imported as dropped. */
  readonly origin: 'broker' | 'file';
  readonly modelId: string | null;
  readonly subscriptionId: string | null;
  /** The outcome of the last verification, if any. */
  readonly lastVerified: null | { readonly at: string; readonly ok: boolean };
}

export interface LicenceCheck {
  readonly verdict: LicenceVerdict;
  readonly note: string | null;
  readonly licenceId: string | null;
  readonly notAfter: number | null;
  readonly devices: number;
  readonly thisDevice: boolean;
  /** The broker's key release for this device: granted (the subscriber key verified every tensor) or why not. */
  readonly keyRelease: 'granted' | 'denied' | 'offline' | 'not-applicable';
  readonly keyReleaseNote: string | null;
}

export interface SubscriberVerifyView {
  readonly localId: string;
  readonly report: VerifyView;
  /** null for a model imported without a subscription. */
  readonly licence: LicenceCheck | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------------------------

export const SUBSCRIBER_OPERATIONS = {
  /** Which broker, and this machine's subscriber enrollment. */
  'subscriber:identity': { request: EMPTY, response: response<SubscriberIdentity>() },
  /** Enrolls this machine as a subscriber (open enrollment, or with an invite code from the publisher). */
  'subscriber:enroll': {
    request: v.strictObject({
      name: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(120)),
      label: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(120)),
      invite: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(200))),
    }),
    response: response<SubscriberIdentity>(),
  },
  /** Unlocks (or, on first use, creates) the encrypted key file for this session. The passphrase goes in, never out. */
  'subscriber:unlock': { request: v.strictObject({ passphrase: v.pipe(v.string(), v.minLength(1), v.maxLength(1024)) }), response: response<SubscriberIdentity>() },
  /** Revokes this device at the broker and forgets the enrollment on this machine (the key is deleted). */
  'subscriber:revokeDevice': { request: v.strictObject({ deviceId: BROKER_ID }), response: response<SubscriberIdentity>() },
  /** Syncs licences and the revocation list with the broker (cached for offline use); the cache when unreachable. */
  'subscriber:licences': { request: EMPTY, response: response<SubscriberLicences>() },
  /** Requests access to a published model: active at once (open models) or pending the publisher's approval. */
  'subscriber:subscribe': { request: v.strictObject({ modelId: BROKER_ID }), response: response<LicenceRow>() },

  /** Starts an upload of dropped files (web host: the browser has no paths). */
  'subscriber:stageBegin': { request: EMPTY, response: response<{ readonly stagingId: string; readonly chunkBytes: number }>() },
  /** Writes one chunk of one staged file, in order. */
  'subscriber:stageWrite': {
    request: v.strictObject({ stagingId: STAGING_ID, path: RELATIVE_PATH, offset: v.pipe(v.number(), v.integer(), v.minValue(0)), bytes: v.instance(Uint8Array) }),
    response: response<{ readonly written: number }>(),
  },
  /** Removes a staged upload. */
  'subscriber:stageDiscard': { request: v.strictObject({ stagingId: STAGING_ID }), response: response<{ readonly removed: boolean }>() },
  /**
   * Imports a model into the library (task: bytes copied). With a subscription, every shard gets the personalized
   * header the broker holds for this subscriber (the tensor data is copied unchanged); without, files are copied as
   * they are. A cancel removes the partial copy.
   */
  'subscriber:import': {
    request: v.strictObject({ taskId: TASK_ID, source: MODEL_SOURCE, subscriptionId: v.optional(BROKER_ID), name: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(200))) }),
    response: response<ImportedModel>(),
  },
  /** The imported models. */
  'subscriber:models': { request: EMPTY, response: response<readonly ImportedModel[]>() },
  /** Deletes an imported copy from this machine. */
  'subscriber:remove': { request: v.strictObject({ localId: LOCAL_ID }), response: response<{ readonly removed: boolean }>() },
  /**
   * The verify report of an imported model plus its licence: the offline licence check, then (online) the broker's
   * ticketed key release, with which every tensor is decrypted and authenticated (task: phases).
   */
  'subscriber:verify': { request: v.strictObject({ taskId: TASK_ID, localId: LOCAL_ID }), response: response<SubscriberVerifyView>() },
} as const;
