/**
 * The broker client (README §2–§9), written against a small `HttpPort` so it runs in the main process, the CLI and
 * tests. Every request is signed by the device; every answer is parsed with its schema; errors come back as
 * `AppError`s with the broker's code (BROKER_UNREACHABLE when it cannot be reached).
 */
import * as v from 'valibot';
import { AppError, isErrorCode } from '../errors.ts';
import { fromUtf8, utf8, wipe } from '../crypto/bytes.ts';
import { sha256, toHex } from '../crypto/sha256.ts';
import { canonicalJson } from '../keys/canonical-json.ts';
import { fromB64url, toB64url } from '../crypto/encoding.ts';
import {
  AddDeviceResponseSchema, AttestResponseSchema, AuditResponseSchema, ChallengeResponseSchema, EnrollResponseSchema, ErrorEnvelopeSchema,
  HeadersResponseSchema, InfoResponseSchema, InviteResponseSchema, KeyResponseSchema, OkResponseSchema, PublishResponseSchema,
  SubscriptionListSchema, SubscriptionViewSchema, SyncResponseSchema,
  type AttestResponse, type ChallengeResponse, type EnrollResponse, type HeadersResponse, type InfoResponse, type KeyResponse,
  type PublishRequest, type PublishedKeys, type RuntimeFacts, type SubscriptionView, type SyncResponse,
} from './messages.ts';
import { signRequest, type DeviceSigner } from './request-signing.ts';
import { serializeEntry, type AuditEntry } from '../audit/entry.ts';
import { AUDIT_PAGE_ENTRIES, chainOf, modelChain, verifyChainEntries, type ChainReport } from './audit-chain.ts';
import { openSealed, seal, SEAL_LABELS, type BoxKeyPair } from './seal.ts';
import type { Role } from './schemas.ts';

export interface HttpRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
}

export interface HttpResponse {
  readonly status: number;
  readonly body: Uint8Array;
}

/** The network port. Implementations throw AppError BROKER_UNREACHABLE when no answer arrives. */
export interface HttpPort {
  request(req: HttpRequest): Promise<HttpResponse>;
}

export interface BrokerClientOptions {
  readonly baseUrl: string;
  readonly http: HttpPort;
  readonly signer: DeviceSigner;
  readonly now?: () => number;
}

/** sha256 of a whole header (8-byte prefix + JSON + padding), the value compared at key release. */
export function headerHash(headerBytes: Uint8Array): string {
  return toHex(sha256(headerBytes));
}

export interface ReleasedKey {
  readonly subscriptionId: string;
  readonly kid: string;
  readonly alg: 'aes128gcm' | 'aes256gcm' | 'chacha20poly1305';
  readonly key: Uint8Array;
  readonly verifyKey: Uint8Array;
  /** Headers the broker sent to replace local ones (path → header bytes), empty when all matched. */
  readonly synced: ReadonlyMap<string, Uint8Array>;
}

export function keyReleaseAad(p: { modelId: string; subscriptionId: string; deviceId: string; kid: string; ticketSha256: string }): { readonly [k: string]: string } {
  return { model: p.modelId, subscription: p.subscriptionId, device: p.deviceId, kid: p.kid, ticket: p.ticketSha256 };
}

export function publishAad(modelId: string, producerDeviceId: string): { readonly [k: string]: string } {
  return { model: modelId, device: producerDeviceId };
}

export class BrokerClient {
  private readonly base: string;
  private readonly http: HttpPort;
  readonly signer: DeviceSigner;
  private readonly now: () => number;

  constructor(opts: BrokerClientOptions) {
    if (!/^https?:\/\/[^/]+$/.test(opts.baseUrl.replace(/\/$/, ''))) throw new AppError('VALIDATION', 'The broker URL must look like http://127.0.0.1:8443 (no path).');
    this.base = opts.baseUrl.replace(/\/$/, '');
    this.http = opts.http;
    this.signer = opts.signer;
    this.now = opts.now ?? (() => Date.now());
  }

  private async call<S extends v.GenericSchema>(method: 'GET' | 'POST', path: string, body: unknown, schema: S, signed = true): Promise<v.InferOutput<S>> {
    const bytes = body === undefined ? new Uint8Array(0) : utf8(JSON.stringify(body));
    const headers: Record<string, string> = signed ? signRequest(this.signer, method, path, bytes, this.now()) : {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.http.request({ method, url: this.base + path, headers, ...(body === undefined ? {} : { body: bytes }) });
    let json: unknown;
    try {
      json = JSON.parse(fromUtf8(res.body));
    } catch {
      throw new AppError('BROKER_REJECTED', `The broker answered HTTP ${res.status} with a body that is not JSON. Check the broker URL.`);
    }
    if (res.status !== 200) {
      const e = v.safeParse(ErrorEnvelopeSchema, json);
      if (e.success) throw new AppError(isErrorCode(e.output.error.code) ? e.output.error.code : 'BROKER_REJECTED', e.output.error.message.slice(0, 500));
      throw new AppError('BROKER_REJECTED', `The broker answered HTTP ${res.status}. Check the broker URL and version.`);
    }
    const env = json as { ok?: unknown; value?: unknown };
    if (env.ok !== true) throw new AppError('BROKER_REJECTED', 'The broker answer is malformed. Check the broker version.');
    const r = v.safeParse(schema, env.value);
    if (!r.success) throw new AppError('BROKER_REJECTED', `The broker answer to ${path.split('?')[0] ?? path} does not match the protocol. Check the broker version.`);
    return r.output;
  }

  info(): Promise<InfoResponse> {
    return this.call('GET', '/v1/info', undefined, InfoResponseSchema, false);
  }

  enroll(p: { name: string; role: Role; label: string; boxPub: Uint8Array; bootstrap?: string; invite?: string }): Promise<EnrollResponse> {
    return this.call('POST', '/v1/enroll', {
      name: p.name, role: p.role, label: p.label, signPubB64u: toB64url(this.signer.signPub), boxPubB64u: toB64url(p.boxPub),
      ...(p.bootstrap === undefined ? {} : { bootstrap: p.bootstrap }), ...(p.invite === undefined ? {} : { invite: p.invite }),
    }, EnrollResponseSchema);
  }

  createInvite(role: Role): Promise<v.InferOutput<typeof InviteResponseSchema>> {
    return this.call('POST', '/v1/invites', { role }, InviteResponseSchema);
  }

  addDevice(signPub: Uint8Array, boxPub: Uint8Array, label: string): Promise<{ deviceId: string }> {
    return this.call('POST', '/v1/devices', { signPubB64u: toB64url(signPub), boxPubB64u: toB64url(boxPub), label }, AddDeviceResponseSchema);
  }

  async revokeDevice(deviceId: string): Promise<void> {
    await this.call('POST', '/v1/devices/revoke', { deviceId }, OkResponseSchema);
  }

  /** Publishes a model: headers as bytes; the master key and signing seed are sealed to the broker's box key. */
  async publish(p: Omit<PublishRequest, 'files' | 'sealedKeys'> & { files: readonly { path: string; header: Uint8Array }[]; masterKey: { alg: PublishedKeys['alg']; kid?: string; key: Uint8Array }; signingSeed: Uint8Array; brokerBoxPub: Uint8Array }): Promise<v.InferOutput<typeof PublishResponseSchema>> {
    const keys: PublishedKeys = { alg: p.masterKey.alg, ...(p.masterKey.kid === undefined ? {} : { kid: p.masterKey.kid }), keyB64u: toB64url(p.masterKey.key), signingSeedB64u: toB64url(p.signingSeed) };
    const plaintext = utf8(canonicalJson(keys));
    let sealedKeys;
    try {
      sealedKeys = seal(p.brokerBoxPub, plaintext, SEAL_LABELS.publish, publishAad(p.modelId, this.signer.deviceId));
    } finally {
      wipe(plaintext);
    }
    const body: PublishRequest = {
      modelId: p.modelId, name: p.name, mode: p.mode, durationDays: p.durationDays, deviceLimit: p.deviceLimit, graceDays: p.graceDays,
      ...(p.manifest === undefined ? {} : { manifest: p.manifest }), ...(p.policy === undefined ? {} : { policy: p.policy }),
      files: p.files.map((f) => ({ path: f.path, headerB64u: toB64url(f.header) })), sealedKeys,
    };
    return this.call('POST', '/v1/models', body, PublishResponseSchema);
  }

  /** Pushes a rotation bundle (issue 5) with the rewrapped headers (README §10). */
  pushRotation(modelId: string, bundleText: string, files: readonly { path: string; header: Uint8Array }[]): Promise<v.InferOutput<typeof PublishResponseSchema>> {
    return this.call('POST', '/v1/rotations', { modelId, bundle: bundleText, files: files.map((f) => ({ path: f.path, headerB64u: toB64url(f.header) })) }, PublishResponseSchema);
  }

  subscribe(modelId: string, deviceIds?: readonly string[]): Promise<SubscriptionView> {
    return this.call('POST', '/v1/subscriptions', { modelId, ...(deviceIds === undefined ? {} : { deviceIds }) }, SubscriptionViewSchema);
  }

  approve(subscriptionId: string): Promise<SubscriptionView> {
    return this.call('POST', '/v1/subscriptions/approve', { subscriptionId }, SubscriptionViewSchema);
  }

  revokeSubscription(subscriptionId: string, reason: string): Promise<SubscriptionView> {
    return this.call('POST', '/v1/subscriptions/revoke', { subscriptionId, reason }, SubscriptionViewSchema);
  }

  addSubscriptionDevice(subscriptionId: string, deviceId: string): Promise<SubscriptionView> {
    return this.call('POST', '/v1/subscriptions/devices', { subscriptionId, deviceId }, SubscriptionViewSchema);
  }

  /** Subscriptions to the caller's own models (producers). */
  producerSubscriptions(): Promise<{ subscriptions: SubscriptionView[] }> {
    return this.call('GET', '/v1/producer/subscriptions', undefined, SubscriptionListSchema);
  }

  sync(): Promise<SyncResponse> {
    return this.call('GET', '/v1/sync', undefined, SyncResponseSchema);
  }

  headers(subscriptionId: string): Promise<HeadersResponse> {
    return this.call('GET', `/v1/headers?subscriptionId=${encodeURIComponent(subscriptionId)}`, undefined, HeadersResponseSchema);
  }

  challenge(modelId: string): Promise<ChallengeResponse> {
    return this.call('POST', '/v1/release/challenge', { modelId }, ChallengeResponseSchema);
  }

  attest(c: ChallengeResponse, modelId: string, runtime: RuntimeFacts): Promise<AttestResponse> {
    return this.call('POST', '/v1/release/attest', { challengeId: c.challengeId, challengeB64u: c.challengeB64u, modelId, runtime }, AttestResponseSchema);
  }

  requestKey(ticketB64u: string, headerHashes: Readonly<Record<string, string>>): Promise<KeyResponse> {
    return this.call('POST', '/v1/release/key', { ticketB64u, headerHashes }, KeyResponseSchema);
  }

  audit(modelId: string, afterSeq = 0): Promise<v.InferOutput<typeof AuditResponseSchema>> {
    return this.call('GET', `/v1/audit?modelId=${encodeURIComponent(modelId)}&after=${afterSeq}`, undefined, AuditResponseSchema);
  }

  /**
   * The whole audit chain of one of the caller's models (README §9), paged from its start and verified with the app's
   * verifier: hashes, links, sequence without gaps, every entry in this model's chain, and the checkpoints signed by
   * `brokerSignPub` (the broker key pinned at enrollment). AUDIT_TAMPERED when any check fails. The broker seals the
   * chain with a checkpoint before answering, so `report.unsignedTail` is 0 unless entries arrived while paging.
   */
  async auditVerified(modelId: string, brokerSignPub: Uint8Array): Promise<{ entries: AuditEntry[]; report: ChainReport }> {
    const entries: AuditEntry[] = [];
    for (let after = 0; ;) {
      const page = (await this.audit(modelId, after)).entries as AuditEntry[];
      entries.push(...page);
      const last = page[page.length - 1];
      if (last === undefined || page.length < AUDIT_PAGE_ENTRIES) break;
      after = last.seq;
    }
    const chain = modelChain(modelId);
    const report = verifyChainEntries(chain, entries.map(serializeEntry), { brokerSignPub });
    const stray = entries.find((e) => chainOf(e) !== chain);
    const problem = report.problems[0]?.message ?? (stray === undefined ? undefined : `entry seq ${stray.seq} belongs to another chain`);
    if (problem !== undefined) throw new AppError('AUDIT_TAMPERED', `The broker's audit chain of ${modelId} does not verify (${problem.slice(0, 300)}). Keep a copy and contact the broker operator.`);
    return { entries, report };
  }

  /**
   * The whole key release: challenge → attest (runtime facts) → key with the local header hashes; when the broker
   * answers with headers to sync, adopts them and asks again (at most twice). Returns the unwrapped key.
   */
  async releaseKey(modelId: string, localHeaders: ReadonlyMap<string, Uint8Array>, runtime: RuntimeFacts, box: BoxKeyPair): Promise<ReleasedKey> {
    const c = await this.challenge(modelId);
    const t = await this.attest(c, modelId, runtime);
    const headers = new Map(localHeaders);
    const synced = new Map<string, Uint8Array>();
    for (let round = 0; round < 3; round++) {
      const hashes: Record<string, string> = {};
      for (const [path, h] of headers) hashes[path] = headerHash(h);
      const r = await this.requestKey(t.ticketB64u, hashes);
      if (r.status === 'sync') {
        for (const h of r.headers) {
          const bytes = fromB64url(h.headerB64u);
          if (bytes === undefined || headerHash(bytes) !== h.sha256) throw new AppError('BROKER_REJECTED', 'The broker sent a header that does not match its own hash. Retry later.');
          headers.set(h.path, bytes);
          synced.set(h.path, bytes);
        }
        continue;
      }
      const verifyKey = fromB64url(r.verifyKeyB64u);
      if (verifyKey === undefined) throw new AppError('BROKER_REJECTED', 'The broker sent a malformed verify key.');
      const aad = keyReleaseAad({ modelId, subscriptionId: r.subscriptionId, deviceId: this.signer.deviceId, kid: r.kid, ticketSha256: r.ticketSha256 });
      const fromTicket = fromB64url(t.ticketB64u);
      if (fromTicket === undefined || toHex(sha256(fromTicket)) !== r.ticketSha256) throw new AppError('BROKER_REJECTED', 'The key release does not belong to this ticket. Retry.');
      const key = openSealed(box, r.wrappedKey, SEAL_LABELS.keyRelease, aad);
      return { subscriptionId: r.subscriptionId, kid: r.kid, alg: r.alg, key, verifyKey, synced };
    }
    throw new AppError('BROKER_REJECTED', 'The local headers still differ from the broker records after syncing. Re-download the model headers with `model-vault broker sync`.');
  }
}
