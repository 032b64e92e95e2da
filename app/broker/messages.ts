/**
 * Every broker message (README §2–§9) as a valibot schema: the server parses each request body with the schema of
 * its route, and the client parses each answer. Unknown fields are rejected (strict objects).
 */
import * as v from 'valibot';
import { LicenceSchema, RevocationListSchema } from './documents.ts';
import { B64uSchema, DeviceIdSchema, FilePathSchema, Hex64Schema, IdSchema, LabelSchema, RoleSchema } from './schemas.ts';

export const MAX_FILES_PER_MODEL = 256;
export const MAX_HEADER_BYTES = 8 * 1024 * 1024;
export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_PUBLISH_BODY_BYTES = 16 * 1024 * 1024;

const TimeSchema = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const Key32Schema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/, '32 bytes in base64url'));

export const SealedSchema = v.strictObject({
  ephPubB64u: Key32Schema,
  nonceB64u: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{16}$/, '12 bytes in base64url')),
  ciphertextB64u: v.pipe(B64uSchema, v.maxLength(8192)),
});

// ---- identities and devices -----------------------------------------------------------------------------------

export const InfoResponseSchema = v.strictObject({
  brokerId: v.pipe(v.string(), v.maxLength(128)),
  signPubB64u: Key32Schema,
  boxPubB64u: Key32Schema,
  timestampWindowMs: v.pipe(v.number(), v.safeInteger()),
  time: TimeSchema,
});
export type InfoResponse = v.InferOutput<typeof InfoResponseSchema>;

export const EnrollRequestSchema = v.strictObject({
  name: LabelSchema,
  role: RoleSchema,
  signPubB64u: Key32Schema,
  boxPubB64u: Key32Schema,
  label: LabelSchema,
  bootstrap: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(512))),
  invite: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/, 'an invite code'))),
});
export type EnrollRequest = v.InferOutput<typeof EnrollRequestSchema>;
export const EnrollResponseSchema = v.strictObject({ identityId: IdSchema, deviceId: DeviceIdSchema, role: RoleSchema, admin: v.boolean() });
export type EnrollResponse = v.InferOutput<typeof EnrollResponseSchema>;

export const InviteRequestSchema = v.strictObject({ role: RoleSchema });
export const InviteResponseSchema = v.strictObject({ invite: v.string(), role: RoleSchema, expiresAt: TimeSchema });

export const AddDeviceRequestSchema = v.strictObject({ signPubB64u: Key32Schema, boxPubB64u: Key32Schema, label: LabelSchema });
export const AddDeviceResponseSchema = v.strictObject({ deviceId: DeviceIdSchema });
export const RevokeDeviceRequestSchema = v.strictObject({ deviceId: DeviceIdSchema });
export const OkResponseSchema = v.strictObject({ done: v.literal(true) });

// ---- publishing -----------------------------------------------------------------------------------------------

export const PublishFileSchema = v.strictObject({ path: FilePathSchema, headerB64u: v.pipe(B64uSchema, v.maxLength(Math.ceil((MAX_HEADER_BYTES * 4) / 3))) });
export const PublishRequestSchema = v.strictObject({
  modelId: IdSchema,
  name: LabelSchema,
  files: v.pipe(v.array(PublishFileSchema), v.minLength(1), v.maxLength(MAX_FILES_PER_MODEL)),
  manifest: v.optional(v.pipe(v.string(), v.maxLength(1024 * 1024))),
  policy: v.optional(v.pipe(v.string(), v.maxLength(64 * 1024))),
  mode: v.picklist(['open', 'approval']),
  durationDays: v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(3650)),
  deviceLimit: v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(64)),
  graceDays: v.pipe(v.number(), v.safeInteger(), v.minValue(0), v.maxValue(365)),
  sealedKeys: SealedSchema,
});
export type PublishRequest = v.InferOutput<typeof PublishRequestSchema>;

/** The plaintext inside `sealedKeys` (canonical JSON, then sealed to the broker's box key, label `publish`). */
export const PublishedKeysSchema = v.strictObject({
  alg: v.picklist(['aes128gcm', 'aes256gcm', 'chacha20poly1305']),
  kid: v.optional(IdSchema),
  keyB64u: B64uSchema,
  signingSeedB64u: Key32Schema,
});
export type PublishedKeys = v.InferOutput<typeof PublishedKeysSchema>;

/** README §10: a rotation bundle (issue 5) whose new master key is wrapped for the broker id, plus the new headers. */
export const RotationRequestSchema = v.strictObject({
  modelId: IdSchema,
  bundle: v.pipe(v.string(), v.maxLength(1024 * 1024)),
  files: v.pipe(v.array(PublishFileSchema), v.minLength(1), v.maxLength(MAX_FILES_PER_MODEL)),
});
export type RotationRequest = v.InferOutput<typeof RotationRequestSchema>;

export const HeaderHashSchema = v.strictObject({ path: FilePathSchema, sha256: Hex64Schema });
export const PublishResponseSchema = v.strictObject({ modelId: IdSchema, files: v.array(HeaderHashSchema), resubscribed: v.number() });

// ---- subscriptions ------------------------------------------------------------------------------------------------

export const SubscribeRequestSchema = v.strictObject({ modelId: IdSchema, deviceIds: v.optional(v.pipe(v.array(DeviceIdSchema), v.minLength(1), v.maxLength(64))) });
export const SubscriptionRefSchema = v.strictObject({ subscriptionId: IdSchema });
export const RevokeSubscriptionRequestSchema = v.strictObject({ subscriptionId: IdSchema, reason: v.pipe(v.string(), v.maxLength(200)) });
export const SubscriptionDeviceRequestSchema = v.strictObject({ subscriptionId: IdSchema, deviceId: DeviceIdSchema });

export const SubscriptionStatusSchema = v.picklist(['pending', 'active', 'revoked']);
export const SubscriptionViewSchema = v.strictObject({
  subscriptionId: IdSchema,
  modelId: IdSchema,
  subscriber: IdSchema,
  status: SubscriptionStatusSchema,
  expiresAt: v.nullable(TimeSchema),
  devices: v.array(DeviceIdSchema),
  licence: v.nullable(LicenceSchema),
  headers: v.array(HeaderHashSchema),
});
export type SubscriptionView = v.InferOutput<typeof SubscriptionViewSchema>;
export const SubscriptionListSchema = v.strictObject({ subscriptions: v.array(SubscriptionViewSchema) });

export const SyncResponseSchema = v.strictObject({ subscriptions: v.array(SubscriptionViewSchema), revocations: RevocationListSchema, time: TimeSchema });
export type SyncResponse = v.InferOutput<typeof SyncResponseSchema>;

export const HeadersResponseSchema = v.strictObject({ subscriptionId: IdSchema, headers: v.array(v.strictObject({ path: FilePathSchema, sha256: Hex64Schema, headerB64u: B64uSchema })) });
export type HeadersResponse = v.InferOutput<typeof HeadersResponseSchema>;

// ---- key release --------------------------------------------------------------------------------------------------

export const ChallengeRequestSchema = v.strictObject({ modelId: IdSchema });
export const ChallengeResponseSchema = v.strictObject({ challengeId: IdSchema, challengeB64u: Key32Schema, expiresAt: TimeSchema });
export type ChallengeResponse = v.InferOutput<typeof ChallengeResponseSchema>;

/** Runtime facts the device reports (the `runtime` and device parts of the policy input document). */
export const RuntimeFactsSchema = v.strictObject({
  app_version: v.optional(v.pipe(v.string(), v.maxLength(64))),
  os: v.optional(v.pipe(v.string(), v.maxLength(64))),
  offline: v.optional(v.boolean()),
  platform: v.optional(v.pipe(v.string(), v.maxLength(64))),
  attested: v.optional(v.boolean()),
});
export type RuntimeFacts = v.InferOutput<typeof RuntimeFactsSchema>;

export const AttestRequestSchema = v.strictObject({ challengeId: IdSchema, challengeB64u: Key32Schema, modelId: IdSchema, runtime: RuntimeFactsSchema });
export const AttestResponseSchema = v.strictObject({ ticketB64u: Key32Schema, subscriptionId: IdSchema, expiresAt: TimeSchema });
export type AttestResponse = v.InferOutput<typeof AttestResponseSchema>;

export const KeyRequestSchema = v.strictObject({
  ticketB64u: Key32Schema,
  headerHashes: v.pipe(v.record(FilePathSchema, Hex64Schema), v.check((r) => Object.keys(r).length <= MAX_FILES_PER_MODEL, 'too many files')),
});
export const KeyResponseSchema = v.variant('status', [
  v.strictObject({ status: v.literal('ok'), subscriptionId: IdSchema, kid: IdSchema, alg: v.picklist(['aes128gcm', 'aes256gcm', 'chacha20poly1305']), verifyKeyB64u: Key32Schema, wrappedKey: SealedSchema, ticketSha256: Hex64Schema }),
  v.strictObject({ status: v.literal('sync'), subscriptionId: IdSchema, headers: v.array(v.strictObject({ path: FilePathSchema, sha256: Hex64Schema, headerB64u: B64uSchema })) }),
]);
export type KeyResponse = v.InferOutput<typeof KeyResponseSchema>;

// ---- audit --------------------------------------------------------------------------------------------------------

/** One entry in the app's audit format (`app/audit/entry.ts`); the client re-checks each with `parseEntry`. */
export const AuditEntrySchema = v.strictObject({
  v: v.literal(1),
  seq: v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
  time: v.string(),
  actor: v.string(),
  action: v.string(),
  object: v.string(),
  result: v.picklist(['ok', 'denied', 'failed']),
  details: v.optional(v.record(v.string(), v.union([v.string(), v.number(), v.boolean()]))),
  prev: Hex64Schema,
  hash: Hex64Schema,
  sig: v.optional(v.string()),
});
export type AuditEntryView = v.InferOutput<typeof AuditEntrySchema>;
export const AuditResponseSchema = v.strictObject({ entries: v.array(AuditEntrySchema) });

// ---- envelope -----------------------------------------------------------------------------------------------------

export const ErrorEnvelopeSchema = v.strictObject({ ok: v.literal(false), error: v.strictObject({ code: v.string(), message: v.string() }) });
