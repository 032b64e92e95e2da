/**
 * Signed broker documents (README §6): offline licences and revocation lists. Ed25519 by the broker signing key over
 * `"model-vault/broker/v1/<kind>\n" + canonicalJson(body)`. Offline checks are pure so the app can run them on a
 * cached copy.
 */
import * as v from 'valibot';
import { AppError } from '../errors.ts';
import { utf8 } from '../crypto/bytes.ts';
import { ed25519Sign, ed25519Verify } from '../crypto/ed25519.ts';
import { canonicalJson, type CanonicalValue } from '../keys/canonical-json.ts';
import { fromB64url, toB64url } from '../crypto/encoding.ts';
import { IdSchema, DeviceIdSchema, B64uSchema } from './schemas.ts';

export const LICENCE_FORMAT = 'model-vault/licence';
export const REVOCATIONS_FORMAT = 'model-vault/revocations';
const LICENCE_PREFIX = 'model-vault/broker/v1/licence\n';
const REVOCATIONS_PREFIX = 'model-vault/broker/v1/revocations\n';
export const MAX_REVOCATION_ENTRIES = 100_000;

const TimeSchema = v.pipe(v.number(), v.safeInteger(), v.minValue(0));

export const LicenceBodySchema = v.strictObject({
  format: v.literal(LICENCE_FORMAT),
  version: v.literal(1),
  licenceId: IdSchema,
  subscriptionId: IdSchema,
  subscriber: IdSchema,
  model: IdSchema,
  devices: v.pipe(v.array(DeviceIdSchema), v.maxLength(64)),
  issuedAt: TimeSchema,
  notAfter: TimeSchema,
  graceSeconds: v.pipe(v.number(), v.safeInteger(), v.minValue(0), v.maxValue(365 * 86400)),
  broker: v.pipe(v.string(), v.maxLength(128)),
});
export type LicenceBody = v.InferOutput<typeof LicenceBodySchema>;
export const LicenceSchema = v.strictObject({ ...LicenceBodySchema.entries, signatureB64u: B64uSchema });
export type Licence = v.InferOutput<typeof LicenceSchema>;

export const RevocationEntrySchema = v.strictObject({
  kind: v.picklist(['licence', 'subscription', 'device']),
  id: v.pipe(v.string(), v.maxLength(128)),
  at: TimeSchema,
  reason: v.pipe(v.string(), v.maxLength(200)),
});
export type RevocationEntry = v.InferOutput<typeof RevocationEntrySchema>;
export const RevocationListBodySchema = v.strictObject({
  format: v.literal(REVOCATIONS_FORMAT),
  version: v.literal(1),
  seq: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  issuedAt: TimeSchema,
  broker: v.pipe(v.string(), v.maxLength(128)),
  entries: v.pipe(v.array(RevocationEntrySchema), v.maxLength(MAX_REVOCATION_ENTRIES)),
});
export type RevocationListBody = v.InferOutput<typeof RevocationListBodySchema>;
export const RevocationListSchema = v.strictObject({ ...RevocationListBodySchema.entries, signatureB64u: B64uSchema });
export type RevocationList = v.InferOutput<typeof RevocationListSchema>;

function message(prefix: string, body: object): Uint8Array {
  return utf8(prefix + canonicalJson(body as unknown as CanonicalValue));
}

export function signLicence(body: LicenceBody, brokerSeed: Uint8Array): Licence {
  const parsed = v.parse(LicenceBodySchema, body);
  return { ...parsed, signatureB64u: toB64url(ed25519Sign(message(LICENCE_PREFIX, parsed), brokerSeed)) };
}

export function signRevocationList(body: RevocationListBody, brokerSeed: Uint8Array): RevocationList {
  const parsed = v.parse(RevocationListBodySchema, body);
  return { ...parsed, signatureB64u: toB64url(ed25519Sign(message(REVOCATIONS_PREFIX, parsed), brokerSeed)) };
}

function split<T extends { signatureB64u: string }>(doc: T): { body: Omit<T, 'signatureB64u'>; signature: Uint8Array | undefined } {
  const { signatureB64u, ...body } = doc;
  return { body, signature: fromB64url(signatureB64u) };
}

/** Parses and verifies a licence signature (not its dates). LICENCE_INVALID on any failure. */
export function verifyLicence(doc: unknown, brokerPub: Uint8Array): Licence {
  const r = v.safeParse(LicenceSchema, doc);
  if (!r.success) throw new AppError('LICENCE_INVALID', 'The licence document is malformed. Sync with the broker to get a fresh one.');
  const { body, signature } = split(r.output);
  if (signature === undefined || !ed25519Verify(signature, message(LICENCE_PREFIX, body), brokerPub)) throw new AppError('LICENCE_INVALID', 'The licence signature is invalid: it was modified or issued by another broker. Sync with the broker.');
  return r.output;
}

export function verifyRevocationList(doc: unknown, brokerPub: Uint8Array): RevocationList {
  const r = v.safeParse(RevocationListSchema, doc);
  if (!r.success) throw new AppError('LICENCE_INVALID', 'The revocation list is malformed. Sync with the broker again.');
  const { body, signature } = split(r.output);
  if (signature === undefined || !ed25519Verify(signature, message(REVOCATIONS_PREFIX, body), brokerPub)) throw new AppError('LICENCE_INVALID', 'The revocation list signature is invalid. Sync with the broker again.');
  return r.output;
}

/** Keeps the newer of two verified revocation lists; refuses a rollback (an older seq). */
export function newerRevocationList(current: RevocationList | undefined, incoming: RevocationList): RevocationList {
  if (current !== undefined && incoming.seq < current.seq) throw new AppError('LICENCE_INVALID', `The broker sent an older revocation list (seq ${incoming.seq} < ${current.seq}): refusing a rollback.`);
  return incoming;
}

export type OfflineVerdict = 'valid' | 'grace';

/**
 * Offline licence check (issue 6 item 6): the signature, the device, expiry + grace, and the newest cached
 * revocation list. Returns 'grace' after notAfter but within the grace period.
 */
export function checkLicenceOffline(doc: unknown, opts: { brokerPub: Uint8Array; deviceId: string; now: number; revocations?: RevocationList | undefined }): { licence: Licence; verdict: OfflineVerdict } {
  const licence = verifyLicence(doc, opts.brokerPub);
  if (opts.revocations !== undefined) {
    const revoked = opts.revocations.entries.some((e) => (e.kind === 'licence' && e.id === licence.licenceId) || (e.kind === 'subscription' && e.id === licence.subscriptionId) || (e.kind === 'device' && e.id === opts.deviceId));
    if (revoked) throw new AppError('LICENCE_REVOKED', 'This licence was revoked by the publisher or the broker. Contact the publisher.');
  }
  if (!licence.devices.includes(opts.deviceId)) throw new AppError('LICENCE_INVALID', 'This device is not on the licence. Add it to the subscription with `model-vault broker subscribe --add-device`.');
  if (opts.now > licence.notAfter + licence.graceSeconds * 1000) throw new AppError('LICENCE_EXPIRED', 'The licence expired (and its grace period is over). Renew the subscription and sync.');
  return { licence, verdict: opts.now > licence.notAfter ? 'grace' : 'valid' };
}
