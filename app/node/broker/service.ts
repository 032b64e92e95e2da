/**
 * The broker's decisions (README §2–§10) over the storage port. Every decision, allow or deny, is appended to the
 * hash-chained audit log in the same transaction as its writes (a denial in its own transaction after rollback).
 * Nothing secret leaves this module except the subscriber master key sealed to a device key.
 */
import * as v from 'valibot';
import { AppError, isAppError } from '../../errors.ts';
import { aeadKeyBytes, type AeadAlg } from '../../crypto/aead.ts';
import { ctEqual, fromUtf8, utf8, wipe } from '../../crypto/bytes.ts';
import { ed25519PublicKey, ed25519Sign } from '../../crypto/ed25519.ts';
import { randomBytes } from '../../crypto/random.ts';
import { sha256, toHex } from '../../crypto/sha256.ts';
import { fromB64url, toB64url } from '../../crypto/encoding.ts';
import { type AuditDetailValue, type AuditEntry, makeCheckpointWith, makeEntry, parseEntry, serializeEntry } from '../../audit/entry.ts';
import type { AuditProblem } from '../../audit/verify.ts';
import {
  AUDIT_PAGE_ENTRIES, BROKER_CHAIN, brokerAuditEvent, chainOf, CHECKPOINT_EVERY, GENESIS_HASH, modelChain, summarize, verifyChainEntries,
  type BrokerAuditFields, type BrokerAuditVerifyOptions, type ChainReport, type ChainVerdict,
} from '../../broker/audit-chain.ts';
import { keyReleaseAad, publishAad } from '../../broker/client.ts';
import { signLicence, signRevocationList, LICENCE_FORMAT, REVOCATIONS_FORMAT, type Licence, type RevocationList } from '../../broker/documents.ts';
import {
  PublishedKeysSchema,
  type EnrollRequest, type InfoResponse, type KeyResponse, type PublishRequest, type RotationRequest, type RuntimeFacts, type SubscriptionView,
} from '../../broker/messages.ts';
import { inspectPublishedHeader, personalizeHeader } from '../../broker/personalize.ts';
import { checkReleasePolicy, enforceRelease, type PolicyInput } from '../../broker/release-policy.ts';
import { checkTimestamp, deviceIdFor, parseAuthHeaders, verifyRequestAsync, nobleVerifier, type AsyncSignatureVerifier } from '../../broker/request-signing.ts';
import { boxPublicKey, nobleX25519, openSealed, seal, SEAL_LABELS, type BoxKeyPair, type X25519Port } from '../../broker/seal.ts';
import type { Role } from '../../broker/schemas.ts';
import type { MasterKey } from '../../format/keys.ts';
import { parseRotationBundle, unwrapKeyForRecipient, verifyRotationBundle } from '../../keys/rotation-bundle.ts';
import { signingKeyFromSeed } from '../../format/keys.ts';
import type { Db, Row, Sql } from './db.ts';
import { openSecret, sealSecret, type Kek, type SealedSecret } from './kek.ts';

export interface BrokerOptions {
  readonly db: Db;
  readonly kek: Kek;
  /** The bootstrap admin secret (first producer). */
  readonly bootstrapSecret?: string | undefined;
  readonly openSubscriberEnrollment?: boolean;
  readonly timestampWindowMs?: number;
  readonly challengeTtlMs?: number;
  readonly ticketTtlMs?: number;
  readonly ticketAttempts?: number;
  readonly ratePerSecond?: number;
  readonly rateBurst?: number;
  readonly now?: () => number;
  /** Verifies request signatures; it may answer later (the server's verifies off the event loop). Default noble. */
  readonly verifier?: AsyncSignatureVerifier;
  readonly x25519?: X25519Port;
  /** Makes a signing function for the broker's Ed25519 seed (checkpoints); default noble, node:crypto on the server. */
  readonly signerFor?: (seed: Uint8Array) => (message: Uint8Array) => Uint8Array;
  /**
   * Where rate limits are counted: `instance` (an in-memory token bucket, exact for a single broker) or `shared` (a
   * fixed-window counter in the database, so several instances on one PostgreSQL share the limit). Default: `shared`
   * on PostgreSQL, `instance` on SQLite (one broker process owns a SQLite file).
   */
  readonly rateLimitScope?: 'instance' | 'shared';
}

type Who = { readonly actor: string; readonly action: string; readonly object: string; readonly model: string | null };
type Details = Readonly<Record<string, AuditDetailValue>>;

export interface Caller {
  readonly deviceId: string;
  readonly identityId: string;
  readonly role: Role;
  readonly admin: boolean;
  readonly boxPub: Uint8Array;
}

const INVITE_TTL_MS = 7 * 86_400_000;

function str(r: Row, k: string): string {
  const x = r[k];
  if (typeof x !== 'string') throw new AppError('INTERNAL', 'The broker database returned an unexpected row.');
  return x;
}
function num(r: Row, k: string): number {
  return Number(r[k]);
}
function optNum(r: Row, k: string): number | null {
  const x = r[k];
  return x === null || x === undefined ? null : Number(x);
}
function newId(prefix: string): string {
  return prefix + toHex(randomBytes(16));
}
function b64(text: string, what: string): Uint8Array {
  const b = fromB64url(text);
  if (b === undefined) throw new AppError('VALIDATION', `${what} is not valid base64url.`);
  return b;
}

export class BrokerService {
  readonly db: Db;
  private readonly kek: Kek;
  private readonly opts: BrokerOptions;
  private readonly now: () => number;
  private readonly window: number;
  private readonly verifier: AsyncSignatureVerifier;
  private brokerSeed: Uint8Array | undefined;
  private brokerBox: BoxKeyPair | undefined;
  brokerId = '';
  private signPub: Uint8Array = new Uint8Array(0);
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly rateScope: 'instance' | 'shared';
  private readonly rateWindowMs: number;
  private revocationCache: RevocationList | undefined;
  private lastPrune = 0;
  private signCheckpoint: ((message: Uint8Array) => Uint8Array) | undefined;

  constructor(opts: BrokerOptions) {
    this.db = opts.db;
    this.kek = opts.kek;
    this.opts = opts;
    this.now = opts.now ?? (() => Date.now());
    this.window = opts.timestampWindowMs ?? 60_000;
    this.verifier = opts.verifier ?? nobleVerifier;
    this.rateScope = opts.rateLimitScope ?? (opts.db.kind === 'postgres' ? 'shared' : 'instance');
    this.rateWindowMs = Math.min(86_400_000, Math.max(1000, Math.round(((opts.rateBurst ?? 200) / (opts.ratePerSecond ?? 50)) * 1000)));
  }

  // ---- broker keys -----------------------------------------------------------------------------------------------

  private async secret(q: Sql, id: string, purpose: string): Promise<Uint8Array> {
    const r = await q.get('SELECT kek_id, nonce, ciphertext FROM secrets WHERE id = ? AND purpose = ?', [id, purpose]);
    if (r === undefined) throw new AppError('KEY_NOT_FOUND', 'A broker key is missing from the database.');
    const s: SealedSecret = { kekId: str(r, 'kek_id'), nonce: str(r, 'nonce'), ciphertext: str(r, 'ciphertext') };
    return openSecret(this.kek, id, purpose, s);
  }

  private async putSecret(q: Sql, id: string, purpose: string, plaintext: Uint8Array, replace: boolean): Promise<void> {
    const s = sealSecret(this.kek, id, purpose, plaintext);
    if (replace) await q.run('DELETE FROM secrets WHERE id = ?', [id]);
    await q.run('INSERT INTO secrets (id, purpose, kek_id, nonce, ciphertext) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING', [id, purpose, s.kekId, s.nonce, s.ciphertext]);
  }

  /** Loads or (first start) creates the broker's signing and box keys. Safe when several instances start at once. */
  async init(): Promise<void> {
    await this.db.tx(async (q) => {
      const have = await q.get("SELECT id FROM secrets WHERE id = 'broker:sign'");
      if (have === undefined) {
        const seed = randomBytes(32);
        const box = randomBytes(32);
        await this.putSecret(q, 'broker:sign', 'broker-sign', seed, false);
        await this.putSecret(q, 'broker:box', 'broker-box', box, false);
        wipe(seed, box);
      }
    });
    this.brokerSeed = await this.secret(this.db, 'broker:sign', 'broker-sign');
    const boxSecret = await this.secret(this.db, 'broker:box', 'broker-box');
    this.brokerBox = { secretKey: boxSecret, publicKey: boxPublicKey(boxSecret) };
    this.signPub = ed25519PublicKey(this.brokerSeed);
    this.brokerId = 'broker:' + toHex(sha256(this.signPub)).slice(0, 32);
    const seed = this.brokerSeed;
    this.signCheckpoint = this.opts.signerFor?.(seed) ?? ((m) => ed25519Sign(m, seed));
  }

  private get seed(): Uint8Array {
    if (this.brokerSeed === undefined) throw new AppError('INTERNAL', 'The broker is not initialized.');
    return this.brokerSeed;
  }

  info(): InfoResponse {
    if (this.brokerBox === undefined) throw new AppError('INTERNAL', 'The broker is not initialized.');
    return { brokerId: this.brokerId, signPubB64u: toB64url(this.signPub), boxPubB64u: toB64url(this.brokerBox.publicKey), timestampWindowMs: this.window, time: this.now() };
  }

  close(): void {
    wipe(this.brokerSeed, this.brokerBox?.secretKey);
  }

  // ---- audit -----------------------------------------------------------------------------------------------------

  /**
   * Appends one entry (README §9) to its chain: the model's when the model exists, else the broker chain (naming the
   * requested model as `requestedModel`). The chain head row is locked for the rest of the transaction, so appends
   * from every instance sharing the database are serialized and the chain cannot fork; a signed checkpoint follows
   * every CHECKPOINT_EVERY entries, in the same transaction.
   */
  private async appendAudit(q: Sql, f: BrokerAuditFields): Promise<AuditEntry> {
    let fields = f;
    let chain = f.model === null ? BROKER_CHAIN : modelChain(f.model);
    let head = await q.get('SELECT seq, hash, since_checkpoint FROM audit_chains WHERE chain = ?' + this.db.lockClause, [chain]);
    if (head === undefined && f.model !== null) {
      fields = { ...f, model: null, details: { ...f.details, requestedModel: f.model } };
      chain = BROKER_CHAIN;
      head = await q.get('SELECT seq, hash, since_checkpoint FROM audit_chains WHERE chain = ?' + this.db.lockClause, [chain]);
    }
    if (head === undefined) throw new AppError('INTERNAL', 'The audit chain head row is missing.');
    const seq = num(head, 'seq');
    const time = new Date(this.now());
    const e = makeEntry(brokerAuditEvent(fields), seq === 0 ? undefined : { seq, hash: str(head, 'hash') }, time);
    await q.run('INSERT INTO audit_entries (chain, seq, line) VALUES (?, ?, ?)', [chain, e.seq, serializeEntry(e)]);
    let last = e;
    let since = num(head, 'since_checkpoint') + 1;
    if (since >= CHECKPOINT_EVERY) {
      last = this.checkpointAfter(e, fields.model, time);
      await q.run('INSERT INTO audit_entries (chain, seq, line) VALUES (?, ?, ?)', [chain, last.seq, serializeEntry(last)]);
      since = 0;
    }
    await q.run('UPDATE audit_chains SET seq = ?, hash = ?, since_checkpoint = ? WHERE chain = ?', [last.seq, last.hash, since, chain]);
    return e;
  }

  private checkpointAfter(prev: AuditEntry, model: string | null, time: Date): AuditEntry {
    const sign = this.signCheckpoint;
    if (sign === undefined) throw new AppError('INTERNAL', 'The broker is not initialized.');
    return makeCheckpointWith({ kid: this.brokerId, publicKey: this.signPub, sign }, prev, time, this.brokerId, model === null ? {} : { model });
  }

  /** Seals a chain's unsigned tail with a checkpoint now (no-op when its last entry is one or it is empty). */
  async checkpointChain(model: string | null): Promise<void> {
    const chain = model === null ? BROKER_CHAIN : modelChain(model);
    await this.db.tx(async (q) => {
      const head = await q.get('SELECT seq, hash, since_checkpoint FROM audit_chains WHERE chain = ?' + this.db.lockClause, [chain]);
      if (head === undefined || num(head, 'since_checkpoint') === 0 || num(head, 'seq') === 0) return;
      const cp = this.checkpointAfter({ seq: num(head, 'seq'), hash: str(head, 'hash') } as AuditEntry, model, new Date(this.now()));
      await q.run('INSERT INTO audit_entries (chain, seq, line) VALUES (?, ?, ?)', [chain, cp.seq, serializeEntry(cp)]);
      await q.run('UPDATE audit_chains SET seq = ?, hash = ?, since_checkpoint = 0 WHERE chain = ?', [cp.seq, cp.hash, chain]);
    });
  }

  /** Runs a decision: its writes and its 'ok' audit entry commit together; a denial is audited after rollback. */
  private async decide<T>(who: Who, fn: (q: Sql) => Promise<{ value: T; details?: Details; model?: string }>, onDenial?: (q: Sql) => Promise<void>): Promise<T> {
    try {
      return await this.db.tx(async (q) => {
        const r = await fn(q);
        await this.appendAudit(q, { ...who, model: r.model ?? who.model, result: 'ok', ...(r.details === undefined ? {} : { details: r.details }) });
        return r.value;
      });
    } catch (e) {
      if (isAppError(e)) await this.auditDenial(who, e, onDenial);
      throw e;
    }
  }

  /** Audits a denial in its own transaction, with `alsoDo`'s writes (e.g. consuming a challenge). */
  async auditDenial(who: Who, e: AppError, alsoDo?: (q: Sql) => Promise<void>): Promise<void> {
    const failed = e.code === 'IO_ERROR' || e.code === 'INTERNAL' || e.code === 'KEY_NOT_FOUND';
    await this.db.tx(async (q) => {
      await alsoDo?.(q);
      await this.appendAudit(q, { ...who, result: failed ? 'failed' : 'denied', details: { code: e.code, message: e.message } });
    });
  }

  // ---- authentication -------------------------------------------------------------------------------------------------

  /**
   * README §3 step 6. `instance`: a token bucket in memory (rate per second, burst). `shared`: a fixed window of
   * burst / rate seconds allowing `burst` requests, counted in `rate_windows` by an atomic upsert, so every instance
   * on the database counts the same requests (up to 2 × burst across a window edge; the same long-run rate).
   */
  private async takeToken(key: string): Promise<void> {
    const rate = this.opts.ratePerSecond ?? 50;
    const burst = this.opts.rateBurst ?? 200;
    const now = this.now();
    if (this.rateScope === 'shared') {
      const start = now - (now % this.rateWindowMs);
      const r = await this.db.get('INSERT INTO rate_windows (identity_id, window_start, count) VALUES (?, ?, 1) ON CONFLICT (identity_id, window_start) DO UPDATE SET count = rate_windows.count + 1 RETURNING count', [key, start]);
      if (num(r ?? {}, 'count') > burst) throw new AppError('RATE_LIMITED', 'Too many requests from this identity. Wait a moment and retry.');
      return;
    }
    const b = this.buckets.get(key) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + (Math.max(0, now - b.at) / 1000) * rate);
    b.at = now;
    if (b.tokens < 1) {
      this.buckets.set(key, b);
      throw new AppError('RATE_LIMITED', 'Too many requests from this identity. Wait a moment and retry.');
    }
    b.tokens -= 1;
    this.buckets.set(key, b);
    if (this.buckets.size > 100_000) this.buckets.clear();
  }

  private async prune(): Promise<void> {
    const now = this.now();
    if (now - this.lastPrune < 10_000) return;
    this.lastPrune = now;
    await this.db.run('DELETE FROM nonces WHERE seen_at < ?', [now - 2 * this.window]);
    await this.db.run('DELETE FROM challenges WHERE expires_at < ?', [now - 60_000]);
    await this.db.run('DELETE FROM tickets WHERE expires_at < ?', [now - 60_000]);
    if (this.rateScope === 'shared') await this.db.run('DELETE FROM rate_windows WHERE window_start < ?', [now - 2 * this.rateWindowMs]);
  }

  /**
   * README §3. `enrollSignPub` is the key from an enroll body (the device does not exist yet). Denials are audited.
   */
  async authenticate(method: string, path: string, headers: Readonly<Record<string, string | string[] | undefined>>, body: Uint8Array, enrollSignPub?: Uint8Array): Promise<Caller | { deviceId: string; signPub: Uint8Array }> {
    const claimed = typeof headers['x-mv-device'] === 'string' ? headers['x-mv-device'].slice(0, 40) : 'anonymous';
    const who = { actor: claimed, action: 'request.auth', object: `${method} ${path.split('?')[0] ?? ''}`.slice(0, 200), model: null };
    try {
      const auth = parseAuthHeaders(headers);
      checkTimestamp(auth.timestamp, this.now(), this.window);
      let caller: Caller | { deviceId: string; signPub: Uint8Array };
      let signPub: Uint8Array;
      if (enrollSignPub !== undefined) {
        if (deviceIdFor(enrollSignPub) !== auth.deviceId) throw new AppError('AUTH_FAILED', 'The enrollment must be signed by the device key it enrolls.');
        signPub = enrollSignPub;
        caller = { deviceId: auth.deviceId, signPub };
      } else {
        const r = await this.db.get('SELECT d.sign_pub, d.box_pub, d.revoked_at, i.id, i.role, i.admin, i.disabled FROM devices d JOIN identities i ON i.id = d.identity_id WHERE d.id = ?', [auth.deviceId]);
        if (r === undefined || optNum(r, 'revoked_at') !== null || num(r, 'disabled') !== 0) throw new AppError('AUTH_FAILED', 'Unknown or revoked device. Enroll this device with `model-vault broker enroll`.');
        signPub = b64(str(r, 'sign_pub'), 'sign_pub');
        caller = { deviceId: auth.deviceId, identityId: str(r, 'id'), role: str(r, 'role') as Role, admin: num(r, 'admin') === 1, boxPub: b64(str(r, 'box_pub'), 'box_pub') };
      }
      await verifyRequestAsync(auth, method, path, body, signPub, this.verifier);
      const inserted = await this.db.run('INSERT INTO nonces (device_id, nonce, seen_at) VALUES (?, ?, ?) ON CONFLICT (device_id, nonce) DO NOTHING', [auth.deviceId, auth.nonceB64u, this.now()]);
      if (inserted !== 1) throw new AppError('REPLAY_DETECTED', 'This request was already received (replayed nonce). Send a new request.');
      await this.takeToken('identityId' in caller ? caller.identityId : caller.deviceId);
      void this.prune().catch(() => undefined);
      return caller;
    } catch (e) {
      if (isAppError(e)) await this.auditDenial(who, e);
      throw e;
    }
  }

  // ---- identities and devices ---------------------------------------------------------------------------------------

  async enroll(req: EnrollRequest, device: { deviceId: string; signPub: Uint8Array }): Promise<{ identityId: string; deviceId: string; role: Role; admin: boolean }> {
    const now = this.now();
    return this.decide({ actor: device.deviceId, action: 'identity.enroll', object: device.deviceId, model: null }, async (q) => {
      let admin = false;
      if (req.bootstrap !== undefined) {
        const secret = this.opts.bootstrapSecret;
        if (secret === undefined || !ctEqual(sha256(utf8(req.bootstrap)), sha256(utf8(secret)))) throw new AppError('AUTH_FAILED', 'The bootstrap secret is wrong or no bootstrap secret is configured on the broker.');
        const any = await q.get('SELECT id FROM identities LIMIT 1');
        if (any !== undefined) throw new AppError('BROKER_REJECTED', 'The bootstrap secret only enrolls the first producer, and one exists. Ask an admin for an invite.');
        if (req.role !== 'producer') throw new AppError('VALIDATION', 'The bootstrap enrollment creates the first producer: use role producer.');
        admin = true;
      } else if (req.invite !== undefined) {
        const codeHash = toHex(sha256(b64(req.invite, 'invite')));
        const changed = await q.run('UPDATE invites SET used_at = ? WHERE code_hash = ? AND role = ? AND used_at IS NULL AND expires_at >= ?', [now, codeHash, req.role, now]);
        if (changed !== 1) throw new AppError('AUTH_FAILED', 'The invite is unknown, used, expired or for another role. Ask for a new invite.');
      } else if (req.role !== 'subscriber' || this.opts.openSubscriberEnrollment === false) {
        throw new AppError('AUTH_FAILED', 'Enrolling this role needs an invite (or the bootstrap secret for the first producer).');
      }
      const identityId = newId('usr_');
      await q.run('INSERT INTO identities (id, name, role, admin, created_at) VALUES (?, ?, ?, ?, ?)', [identityId, req.name, req.role, admin ? 1 : 0, now]);
      await q.run('INSERT INTO devices (id, identity_id, sign_pub, box_pub, label, created_at) VALUES (?, ?, ?, ?, ?, ?)', [device.deviceId, identityId, req.signPubB64u, req.boxPubB64u, req.label, now]);
      return { value: { identityId, deviceId: device.deviceId, role: req.role, admin }, details: { role: req.role, admin } };
    });
  }

  async createInvite(c: Caller, role: Role): Promise<{ invite: string; role: Role; expiresAt: number }> {
    return this.decide({ actor: c.identityId, action: 'identity.invite', object: role, model: null }, async (q) => {
      if (!c.admin && !(c.role === 'producer' && role === 'subscriber')) throw new AppError('BROKER_REJECTED', 'Only an admin can invite producers, and only producers can invite subscribers.');
      const code = randomBytes(32);
      const expiresAt = this.now() + INVITE_TTL_MS;
      await q.run('INSERT INTO invites (code_hash, role, created_by, expires_at) VALUES (?, ?, ?, ?)', [toHex(sha256(code)), role, c.identityId, expiresAt]);
      return { value: { invite: toB64url(code), role, expiresAt } };
    });
  }

  async addDevice(c: Caller, signPubB64u: string, boxPubB64u: string, label: string): Promise<{ deviceId: string }> {
    const deviceId = deviceIdFor(b64(signPubB64u, 'signPubB64u'));
    return this.decide({ actor: c.identityId, action: 'device.add', object: deviceId, model: null }, async (q) => {
      await q.run('INSERT INTO devices (id, identity_id, sign_pub, box_pub, label, created_at) VALUES (?, ?, ?, ?, ?, ?)', [deviceId, c.identityId, signPubB64u, boxPubB64u, label, this.now()]);
      return { value: { deviceId } };
    });
  }

  async revokeDevice(c: Caller, deviceId: string): Promise<{ done: true }> {
    return this.decide({ actor: c.identityId, action: 'device.revoke', object: deviceId, model: null }, async (q) => {
      const r = await q.get('SELECT identity_id FROM devices WHERE id = ?', [deviceId]);
      if (r === undefined || (str(r, 'identity_id') !== c.identityId && !c.admin)) throw new AppError('NOT_FOUND', 'No such device of yours.');
      await q.run('UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [this.now(), deviceId]);
      await this.addRevocation(q, 'device', deviceId, 'device revoked');
      const subs = await q.all('SELECT subscription_id FROM subscription_devices WHERE device_id = ?', [deviceId]);
      await q.run('DELETE FROM subscription_devices WHERE device_id = ?', [deviceId]);
      for (const s of subs) await this.issueLicence(q, str(s, 'subscription_id'));
      return { value: { done: true } };
    });
  }

  // ---- publishing ---------------------------------------------------------------------------------------------------

  private async producerKeys(q: Sql, modelId: string): Promise<{ master: MasterKey; seed: Uint8Array }> {
    const m = await q.get('SELECT alg, enc_kid FROM models WHERE id = ?', [modelId]);
    if (m === undefined) throw new AppError('NOT_FOUND', 'No such model.');
    const key = await this.secret(q, `model:${modelId}:enc`, 'producer-enc');
    const seed = await this.secret(q, `model:${modelId}:sign`, 'producer-sign');
    const kid = m.enc_kid;
    return { master: { alg: str(m, 'alg'), key, ...(typeof kid === 'string' ? { kid } : {}) }, seed };
  }

  async publish(c: Caller, req: PublishRequest): Promise<{ modelId: string; files: { path: string; sha256: string }[]; resubscribed: number }> {
    const who = { actor: c.identityId, action: 'model.publish', object: req.modelId, model: req.modelId };
    let keys: v.InferOutput<typeof PublishedKeysSchema>;
    const files: { path: string; header: Uint8Array; sha256: string }[] = [];
    let facts;
    try {
      if (c.role !== 'producer') throw new AppError('BROKER_REJECTED', 'Only producers publish models.');
      if (this.brokerBox === undefined) throw new AppError('INTERNAL', 'The broker is not initialized.');
      const plain = openSealed(this.brokerBox, req.sealedKeys, SEAL_LABELS.publish, publishAad(req.modelId, c.deviceId));
      try {
        const parsed = v.safeParse(PublishedKeysSchema, JSON.parse(fromUtf8(plain)));
        if (!parsed.success) throw new AppError('VALIDATION', 'The sealed model keys are malformed.');
        keys = parsed.output;
      } finally {
        wipe(plain);
      }
      const seen = new Set<string>();
      for (const f of req.files) {
        if (seen.has(f.path)) throw new AppError('VALIDATION', `The file ${f.path} is listed twice.`);
        seen.add(f.path);
        const header = b64(f.headerB64u, 'headerB64u');
        files.push({ path: f.path, header, sha256: toHex(sha256(header)) });
      }
      const master = { alg: keys.alg, key: b64(keys.keyB64u, 'keyB64u'), ...(keys.kid === undefined ? {} : { kid: keys.kid }) };
      if (master.key.length !== aeadKeyBytes(keys.alg)) throw new AppError('KEY_INVALID', `The ${keys.alg} master key must be ${aeadKeyBytes(keys.alg)} bytes.`);
      const signer = signingKeyFromSeed(b64(keys.signingSeedB64u, 'signingSeedB64u'));
      for (const f of files) {
        const h = await inspectPublishedHeader(f.header, master, signer);
        if (h.alg !== keys.alg) throw new AppError('KEY_ALG_MISMATCH', `The file ${f.path} uses ${h.alg}, but the sealed key is ${keys.alg}.`);
        facts ??= h;
      }
      if (facts === undefined) throw new AppError('VALIDATION', 'A model needs at least one file.');
      checkReleasePolicy(req.policy ?? facts.remotePolicy);
    } catch (e) {
      if (isAppError(e)) await this.auditDenial(who, e);
      throw e;
    }
    const policy = req.policy ?? facts.remotePolicy;
    const encKid = keys.kid ?? facts.encKid ?? null;
    const now = this.now();
    let resubscribed = 0;
    await this.decide(who, async (q) => {
      const existing = await q.get('SELECT producer_id FROM models WHERE id = ?', [req.modelId]);
      if (existing !== undefined && str(existing, 'producer_id') !== c.identityId) throw new AppError('ALREADY_EXISTS', 'That model id belongs to another producer. Choose another id.');
      const cols = [req.name, keys.alg, encKid, toB64url(ed25519PublicKey(b64(keys.signingSeedB64u, 'seed'))), policy, req.manifest ?? null, req.mode, req.durationDays * 86400, req.deviceLimit, req.graceDays * 86400, now];
      if (existing === undefined) {
        await q.run('INSERT INTO models (name, alg, enc_kid, sign_pub, policy, manifest, mode, duration_s, device_limit, grace_s, updated_at, id, producer_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [...cols, req.modelId, c.identityId, now]);
        await q.run('INSERT INTO audit_chains (chain, seq, hash, since_checkpoint) VALUES (?, 0, ?, 0) ON CONFLICT (chain) DO NOTHING', [modelChain(req.modelId), GENESIS_HASH]);
      } else {
        await q.run('UPDATE models SET name = ?, alg = ?, enc_kid = ?, sign_pub = ?, policy = ?, manifest = ?, mode = ?, duration_s = ?, device_limit = ?, grace_s = ?, updated_at = ? WHERE id = ?', [...cols, req.modelId]);
      }
      const seedBytes = b64(keys.signingSeedB64u, 'seed');
      await this.putSecret(q, `model:${req.modelId}:sign`, 'producer-sign', seedBytes, true);
      wipe(seedBytes);
      resubscribed = await this.replaceMaterial(q, req.modelId, b64(keys.keyB64u, 'key'), files);
      return { value: undefined, details: { files: files.length, resubscribed } };
    });
    return { modelId: req.modelId, files: files.map((f) => ({ path: f.path, sha256: f.sha256 })), resubscribed };
  }

  /** Replaces a model's master key and headers, and re-personalizes every active subscription (same subscriber keys). */
  private async replaceMaterial(q: Sql, modelId: string, keyBytes: Uint8Array, files: readonly { path: string; header: Uint8Array; sha256: string }[]): Promise<number> {
    try {
      await this.putSecret(q, `model:${modelId}:enc`, 'producer-enc', keyBytes, true);
    } finally {
      wipe(keyBytes);
    }
    await q.run('DELETE FROM model_files WHERE model_id = ?', [modelId]);
    for (const f of files) await q.run('INSERT INTO model_files (model_id, path, header, sha256) VALUES (?, ?, ?, ?)', [modelId, f.path, toB64url(f.header), f.sha256]);
    const active = await q.all("SELECT id FROM subscriptions WHERE model_id = ? AND status = 'active'", [modelId]);
    for (const s of active) await this.personalize(q, str(s, 'id'), modelId, false);
    return active.length;
  }

  /**
   * README §10: imports a rotation bundle (issue 5) for a master-key rotation. The bundle must be signed by the
   * model's current signing key and wrap the new key for this broker; the new headers must be the bundle's.
   */
  async rotate(c: Caller, req: RotationRequest): Promise<{ modelId: string; files: { path: string; sha256: string }[]; resubscribed: number }> {
    const who = { actor: c.identityId, action: 'model.rotate', object: req.modelId, model: req.modelId };
    let resubscribed = 0;
    const files: { path: string; header: Uint8Array; sha256: string }[] = [];
    const value = await this.decide(who, async (q) => {
      const m = await q.get('SELECT producer_id, alg, sign_pub FROM models WHERE id = ?', [req.modelId]);
      if (m === undefined || str(m, 'producer_id') !== c.identityId) throw new AppError('NOT_FOUND', 'No such model of yours.');
      if (this.brokerBox === undefined) throw new AppError('INTERNAL', 'The broker is not initialized.');
      const bundle = parseRotationBundle(req.bundle);
      const signPub = b64(str(m, 'sign_pub'), 'sign_pub');
      const verdict = verifyRotationBundle(bundle, (pk) => ctEqual(pk, signPub));
      if (!verdict.ok) throw new AppError('BAD_SIGNATURE', `The rotation bundle is not acceptable: ${verdict.problems.join('; ').slice(0, 300)}.`);
      if (bundle.sign !== undefined) throw new AppError('UNSUPPORTED', 'This bundle also rotates the signing key: republish the model with `model-vault broker publish` and the new signing key.');
      if (bundle.enc === undefined || bundle.enc.alg !== str(m, 'alg')) throw new AppError('VALIDATION', 'The rotation bundle must rotate the master key, keeping the model algorithm.');
      const newKey = unwrapKeyForRecipient(bundle, { id: this.brokerId, publicKey: this.brokerBox.publicKey, secretKey: this.brokerBox.secretKey });
      const seed = await this.secret(q, `model:${req.modelId}:sign`, 'producer-sign');
      try {
        const signer = signingKeyFromSeed(seed);
        const master: MasterKey = { alg: newKey.alg, key: newKey.key, ...(newKey.kid === undefined ? {} : { kid: newKey.kid }) };
        for (const f of req.files) {
          const header = b64(f.headerB64u, 'headerB64u');
          const sha = toHex(sha256(header));
          if (!bundle.models.some((x) => x.path === f.path && x.newHeaderSha256 === sha)) throw new AppError('MANIFEST_MISMATCH', `The header of ${f.path} is not one the rotation bundle lists.`);
          await inspectPublishedHeader(header, master, signer);
          files.push({ path: f.path, header, sha256: sha });
        }
        await q.run('UPDATE models SET enc_kid = ?, updated_at = ? WHERE id = ?', [newKey.kid ?? null, this.now(), req.modelId]);
        resubscribed = await this.replaceMaterial(q, req.modelId, newKey.key.slice(), files);
      } finally {
        wipe(seed, newKey.key);
      }
      return { value: { modelId: req.modelId, files: files.map((f) => ({ path: f.path, sha256: f.sha256 })), resubscribed }, details: { bundle: bundle.bundleId, files: files.length, resubscribed } };
    });
    return value;
  }

  // ---- subscriptions, licences, revocations -------------------------------------------------------------------------

  /** (Re)builds a subscription's personalized headers; creates its subscriber key when `newKey`. */
  private async personalize(q: Sql, subscriptionId: string, modelId: string, newKey: boolean): Promise<void> {
    const m = await q.get('SELECT alg, sign_pub FROM models WHERE id = ?', [modelId]);
    if (m === undefined) throw new AppError('NOT_FOUND', 'No such model.');
    const alg = str(m, 'alg') as AeadAlg;
    const { master, seed } = await this.producerKeys(q, modelId);
    const secretId = `sub:${subscriptionId}:enc`;
    let subKey: Uint8Array;
    if (newKey) {
      subKey = randomBytes(aeadKeyBytes(alg));
      await this.putSecret(q, secretId, 'subscriber-enc', subKey, true);
    } else {
      subKey = await this.secret(q, secretId, 'subscriber-enc');
    }
    const kid = `sub-${subscriptionId}`;
    try {
      const signingKey = signingKeyFromSeed(seed);
      const files = await q.all('SELECT path, header FROM model_files WHERE model_id = ? ORDER BY path', [modelId]);
      await q.run('DELETE FROM personal_headers WHERE subscription_id = ?', [subscriptionId]);
      for (const f of files) {
        const personal = await personalizeHeader(b64(str(f, 'header'), 'header'), { producerKey: master, producerVerify: signingKey, signingKey, subscriberKey: { alg, kid, key: subKey } });
        await q.run('INSERT INTO personal_headers (subscription_id, path, header, sha256) VALUES (?, ?, ?, ?)', [subscriptionId, str(f, 'path'), toB64url(personal), toHex(sha256(personal))]);
      }
      await q.run('UPDATE subscriptions SET key_kid = ? WHERE id = ?', [kid, subscriptionId]);
    } finally {
      wipe(subKey, master.key, seed);
    }
  }

  private async issueLicence(q: Sql, subscriptionId: string): Promise<void> {
    const s = await q.get('SELECT s.id, s.model_id, s.subscriber_id, s.status, s.expires_at, m.grace_s FROM subscriptions s JOIN models m ON m.id = s.model_id WHERE s.id = ?', [subscriptionId]);
    if (s === undefined || str(s, 'status') !== 'active') return;
    const devices = (await q.all('SELECT device_id FROM subscription_devices WHERE subscription_id = ? ORDER BY device_id', [subscriptionId])).map((r) => str(r, 'device_id'));
    const licence = signLicence({
      format: LICENCE_FORMAT, version: 1, licenceId: newId('lic_'), subscriptionId, subscriber: str(s, 'subscriber_id'), model: str(s, 'model_id'),
      devices, issuedAt: this.now(), notAfter: num(s, 'expires_at'), graceSeconds: num(s, 'grace_s'), broker: this.brokerId,
    }, this.seed);
    await q.run('UPDATE licences SET current = 0 WHERE subscription_id = ?', [subscriptionId]);
    await q.run('INSERT INTO licences (id, subscription_id, document, issued_at, current) VALUES (?, ?, ?, ?, 1)', [licence.licenceId, subscriptionId, JSON.stringify(licence), licence.issuedAt]);
  }

  private async activate(q: Sql, subscriptionId: string, modelId: string): Promise<void> {
    const m = await q.get('SELECT duration_s FROM models WHERE id = ?', [modelId]);
    if (m === undefined) throw new AppError('NOT_FOUND', 'No such model.');
    const now = this.now();
    await q.run("UPDATE subscriptions SET status = 'active', activated_at = ?, expires_at = ? WHERE id = ?", [now, now + num(m, 'duration_s') * 1000, subscriptionId]);
    await this.personalize(q, subscriptionId, modelId, true);
    await this.issueLicence(q, subscriptionId);
  }

  private async view(q: Sql, subscriptionId: string): Promise<SubscriptionView> {
    const s = await q.get('SELECT id, model_id, subscriber_id, status, expires_at FROM subscriptions WHERE id = ?', [subscriptionId]);
    if (s === undefined) throw new AppError('NOT_FOUND', 'No such subscription.');
    const devices = (await q.all('SELECT device_id FROM subscription_devices WHERE subscription_id = ? ORDER BY device_id', [subscriptionId])).map((r) => str(r, 'device_id'));
    const lic = await q.get('SELECT document FROM licences WHERE subscription_id = ? AND current = 1', [subscriptionId]);
    const headers = (await q.all('SELECT path, sha256 FROM personal_headers WHERE subscription_id = ? ORDER BY path', [subscriptionId])).map((r) => ({ path: str(r, 'path'), sha256: str(r, 'sha256') }));
    const status = str(s, 'status') as SubscriptionView['status'];
    return {
      subscriptionId, modelId: str(s, 'model_id'), subscriber: str(s, 'subscriber_id'), status, expiresAt: optNum(s, 'expires_at'), devices,
      licence: lic === undefined || status !== 'active' ? null : (JSON.parse(str(lic, 'document')) as Licence), headers: status === 'active' ? headers : [],
    };
  }

  private async ownDevices(q: Sql, c: Caller, deviceIds: readonly string[]): Promise<void> {
    for (const d of deviceIds) {
      const r = await q.get('SELECT identity_id, revoked_at FROM devices WHERE id = ?', [d]);
      if (r === undefined || str(r, 'identity_id') !== c.identityId || optNum(r, 'revoked_at') !== null) throw new AppError('NOT_FOUND', 'A listed device is not one of your active devices.');
    }
  }

  async subscribe(c: Caller, modelId: string, deviceIds: readonly string[] | undefined): Promise<SubscriptionView> {
    return this.decide({ actor: c.identityId, action: 'subscription.request', object: modelId, model: modelId }, async (q) => {
      if (c.role !== 'subscriber') throw new AppError('BROKER_REJECTED', 'Only subscribers subscribe to models.');
      const m = await q.get('SELECT mode, device_limit FROM models WHERE id = ?', [modelId]);
      if (m === undefined) throw new AppError('NOT_FOUND', 'No such model.');
      const devices = [...new Set(deviceIds ?? [c.deviceId])];
      if (devices.length > num(m, 'device_limit')) throw new AppError('LIMIT_EXCEEDED', `This model allows ${num(m, 'device_limit')} device(s) per subscription.`);
      await this.ownDevices(q, c, devices);
      const live = await q.get("SELECT id FROM subscriptions WHERE model_id = ? AND subscriber_id = ? AND status IN ('pending', 'active')", [modelId, c.identityId]);
      if (live !== undefined) throw new AppError('ALREADY_EXISTS', 'You already have a pending or active subscription to this model. Run `model-vault broker licences`.');
      const id = newId('sub_');
      await q.run("INSERT INTO subscriptions (id, model_id, subscriber_id, status, created_at) VALUES (?, ?, ?, 'pending', ?)", [id, modelId, c.identityId, this.now()]);
      for (const d of devices) await q.run('INSERT INTO subscription_devices (subscription_id, device_id) VALUES (?, ?)', [id, d]);
      if (str(m, 'mode') === 'open') await this.activate(q, id, modelId);
      const value = await this.view(q, id);
      return { value, details: { subscription: id, status: value.status } };
    });
  }

  private async producerOwns(q: Sql, c: Caller, subscriptionId: string): Promise<{ modelId: string; subscriberId: string; status: string }> {
    const r = await q.get('SELECT s.model_id, s.subscriber_id, s.status, m.producer_id FROM subscriptions s JOIN models m ON m.id = s.model_id WHERE s.id = ?', [subscriptionId]);
    if (r === undefined) throw new AppError('NOT_FOUND', 'No such subscription.');
    const owner = str(r, 'producer_id') === c.identityId || c.admin;
    const self = str(r, 'subscriber_id') === c.identityId;
    if (!owner && !self) throw new AppError('NOT_FOUND', 'No such subscription.');
    return { modelId: str(r, 'model_id'), subscriberId: str(r, 'subscriber_id'), status: owner ? str(r, 'status') : `self:${str(r, 'status')}` };
  }

  async approve(c: Caller, subscriptionId: string): Promise<SubscriptionView> {
    return this.decide({ actor: c.identityId, action: 'subscription.approve', object: subscriptionId, model: null }, async (q) => {
      const s = await this.producerOwns(q, c, subscriptionId);
      if (s.status.startsWith('self:')) throw new AppError('BROKER_REJECTED', 'Only the model producer approves subscriptions.');
      if (s.status !== 'pending') throw new AppError('BROKER_REJECTED', `The subscription is ${s.status}, not pending.`);
      await this.activate(q, subscriptionId, s.modelId);
      return { value: await this.view(q, subscriptionId), model: s.modelId };
    });
  }

  private async addRevocation(q: Sql, kind: 'licence' | 'subscription' | 'device', target: string, reason: string): Promise<void> {
    await q.get("SELECT v FROM broker_meta WHERE k = 'revocations.lock'" + this.db.lockClause); // serializes seq allocation across instances
    const r = await q.get('SELECT COALESCE(MAX(seq), 0) AS seq FROM revocations');
    await q.run('INSERT INTO revocations (seq, kind, target, at, reason) VALUES (?, ?, ?, ?, ?)', [num(r ?? {}, 'seq') + 1, kind, target, this.now(), reason]);
  }

  async revokeSubscription(c: Caller, subscriptionId: string, reason: string): Promise<SubscriptionView> {
    return this.decide({ actor: c.identityId, action: 'subscription.revoke', object: subscriptionId, model: null }, async (q) => {
      const s = await this.producerOwns(q, c, subscriptionId);
      const status = s.status.replace(/^self:/, '');
      if (status === 'revoked') throw new AppError('BROKER_REJECTED', 'The subscription is already revoked.');
      await q.run("UPDATE subscriptions SET status = 'revoked', revoked_at = ? WHERE id = ?", [this.now(), subscriptionId]);
      await this.addRevocation(q, 'subscription', subscriptionId, reason);
      for (const l of await q.all('SELECT id FROM licences WHERE subscription_id = ?', [subscriptionId])) await this.addRevocation(q, 'licence', str(l, 'id'), reason);
      await q.run('UPDATE tickets SET used_at = ? WHERE subscription_id = ? AND used_at IS NULL', [this.now(), subscriptionId]);
      return { value: await this.view(q, subscriptionId), model: s.modelId, details: { reason } };
    });
  }

  async addSubscriptionDevice(c: Caller, subscriptionId: string, deviceId: string): Promise<SubscriptionView> {
    return this.decide({ actor: c.identityId, action: 'subscription.add-device', object: `${subscriptionId} ${deviceId}`, model: null }, async (q) => {
      const s = await q.get('SELECT s.subscriber_id, s.status, s.model_id, m.device_limit FROM subscriptions s JOIN models m ON m.id = s.model_id WHERE s.id = ?', [subscriptionId]);
      if (s === undefined || str(s, 'subscriber_id') !== c.identityId) throw new AppError('NOT_FOUND', 'No such subscription.');
      if (str(s, 'status') === 'revoked') throw new AppError('LICENCE_REVOKED', 'The subscription was revoked.');
      await this.ownDevices(q, c, [deviceId]);
      const count = await q.get('SELECT COUNT(*) AS n FROM subscription_devices WHERE subscription_id = ?', [subscriptionId]);
      if (num(count ?? {}, 'n') >= num(s, 'device_limit')) throw new AppError('LIMIT_EXCEEDED', `The device limit (${num(s, 'device_limit')}) of this subscription is reached. Revoke a device first.`);
      await q.run('INSERT INTO subscription_devices (subscription_id, device_id) VALUES (?, ?) ON CONFLICT (subscription_id, device_id) DO NOTHING', [subscriptionId, deviceId]);
      await this.issueLicence(q, subscriptionId);
      return { value: await this.view(q, subscriptionId), model: str(s, 'model_id') };
    });
  }

  async revocationList(q: Sql = this.db): Promise<RevocationList> {
    const max = num((await q.get('SELECT COALESCE(MAX(seq), 0) AS seq FROM revocations')) ?? {}, 'seq');
    if (this.revocationCache?.seq === max) return this.revocationCache;
    const entries = (await q.all('SELECT kind, target, at, reason FROM revocations ORDER BY seq')).map((r) => ({ kind: str(r, 'kind') as 'licence' | 'subscription' | 'device', id: str(r, 'target'), at: num(r, 'at'), reason: str(r, 'reason') }));
    const list = signRevocationList({ format: REVOCATIONS_FORMAT, version: 1, seq: max, issuedAt: this.now(), broker: this.brokerId, entries }, this.seed);
    this.revocationCache = list;
    return list;
  }

  async sync(c: Caller): Promise<{ subscriptions: SubscriptionView[]; revocations: RevocationList; time: number }> {
    const subs = await this.db.all('SELECT id FROM subscriptions WHERE subscriber_id = ? ORDER BY created_at', [c.identityId]);
    const views: SubscriptionView[] = [];
    for (const s of subs) views.push(await this.view(this.db, str(s, 'id')));
    return { subscriptions: views, revocations: await this.revocationList(), time: this.now() };
  }

  async producerSubscriptions(c: Caller): Promise<{ subscriptions: SubscriptionView[] }> {
    const subs = await this.db.all('SELECT s.id FROM subscriptions s JOIN models m ON m.id = s.model_id WHERE m.producer_id = ? ORDER BY s.created_at', [c.identityId]);
    const views: SubscriptionView[] = [];
    for (const s of subs) views.push(await this.view(this.db, str(s, 'id')));
    return { subscriptions: views };
  }

  async headers(c: Caller, subscriptionId: string): Promise<{ subscriptionId: string; headers: { path: string; sha256: string; headerB64u: string }[] }> {
    const s = await this.db.get('SELECT subscriber_id, status FROM subscriptions WHERE id = ?', [subscriptionId]);
    if (s === undefined || str(s, 'subscriber_id') !== c.identityId) throw new AppError('NOT_FOUND', 'No such subscription.');
    if (str(s, 'status') !== 'active') throw new AppError('LICENCE_INVALID', 'The subscription is not active.');
    const rows = await this.db.all('SELECT path, sha256, header FROM personal_headers WHERE subscription_id = ? ORDER BY path', [subscriptionId]);
    return { subscriptionId, headers: rows.map((r) => ({ path: str(r, 'path'), sha256: str(r, 'sha256'), headerB64u: str(r, 'header') })) };
  }

  // ---- key release ----------------------------------------------------------------------------------------------------

  async challenge(c: Caller, modelId: string): Promise<{ challengeId: string; challengeB64u: string; expiresAt: number }> {
    const id = newId('ch_');
    const challenge = toB64url(randomBytes(32));
    const expiresAt = this.now() + (this.opts.challengeTtlMs ?? 60_000);
    await this.db.run('INSERT INTO challenges (id, device_id, model_id, challenge, expires_at) VALUES (?, ?, ?, ?, ?)', [id, c.deviceId, modelId, challenge, expiresAt]);
    return { challengeId: id, challengeB64u: challenge, expiresAt };
  }

  /**
   * Checks the caller's subscription for a model is usable by this device now (README §7 step 2 and 3). One query:
   * the subscriptions with, for each, whether this device is on its licence.
   */
  private async usableSubscription(q: Sql, c: Caller, modelId: string, subscriptionId?: string): Promise<Row> {
    const rows = subscriptionId === undefined
      ? await q.all('SELECT s.id, s.status, s.expires_at, sd.device_id AS on_licence FROM subscriptions s LEFT JOIN subscription_devices sd ON sd.subscription_id = s.id AND sd.device_id = ? WHERE s.model_id = ? AND s.subscriber_id = ? ORDER BY s.created_at DESC', [c.deviceId, modelId, c.identityId])
      : await q.all('SELECT s.id, s.status, s.expires_at, sd.device_id AS on_licence FROM subscriptions s LEFT JOIN subscription_devices sd ON sd.subscription_id = s.id AND sd.device_id = ? WHERE s.id = ?', [c.deviceId, subscriptionId]);
    const active = rows.find((r) => str(r, 'status') === 'active');
    if (active === undefined) {
      if (rows.some((r) => str(r, 'status') === 'revoked')) throw new AppError('LICENCE_REVOKED', 'The subscription to this model was revoked. Contact the publisher.');
      if (rows.some((r) => str(r, 'status') === 'pending')) throw new AppError('LICENCE_INVALID', 'The subscription awaits the publisher approval.');
      throw new AppError('LICENCE_INVALID', 'You have no subscription to this model. Subscribe with `model-vault broker subscribe`.');
    }
    if (this.now() > num(active, 'expires_at')) throw new AppError('LICENCE_EXPIRED', 'The subscription expired. Renew it with the publisher.');
    if (typeof active.on_licence !== 'string') throw new AppError('LICENCE_INVALID', 'This device is not on the licence. Add it with `model-vault broker subscribe --add-device`.');
    return active;
  }

  /**
   * README §7 step 2. One transaction: the challenge is consumed (also when the attempt is denied: the denial's audit
   * transaction consumes it, so a denied attempt cannot reuse it), then subscription, licence, device and policy.
   */
  async attest(c: Caller, req: { challengeId: string; challengeB64u: string; modelId: string; runtime: RuntimeFacts; ip?: string }): Promise<{ ticketB64u: string; subscriptionId: string; expiresAt: number }> {
    const now = this.now();
    const who = { actor: c.identityId, action: 'release.attest', object: c.deviceId, model: req.modelId };
    const consume = async (q: Sql): Promise<boolean> => {
      const ch = await q.get('SELECT device_id, model_id, challenge, expires_at, used_at FROM challenges WHERE id = ?', [req.challengeId]);
      const bad = ch === undefined || str(ch, 'device_id') !== c.deviceId || str(ch, 'model_id') !== req.modelId || optNum(ch, 'used_at') !== null || num(ch, 'expires_at') < now || !ctEqual(utf8(str(ch, 'challenge')), utf8(req.challengeB64u));
      return !bad && (await q.run('UPDATE challenges SET used_at = ? WHERE id = ? AND used_at IS NULL', [now, req.challengeId])) === 1;
    };
    return this.decide(who, async (q) => {
      if (!(await consume(q))) throw new AppError('AUTH_FAILED', 'The challenge is unknown, used, expired or for another device or model. Request a new challenge.');
      const sub = await this.usableSubscription(q, c, req.modelId);
      const subscriptionId = str(sub, 'id');
      const m = await q.get('SELECT m.policy, l.id AS licence_id FROM models m LEFT JOIN licences l ON l.subscription_id = ? AND l.current = 1 WHERE m.id = ?', [subscriptionId, req.modelId]);
      if (m === undefined) throw new AppError('NOT_FOUND', 'No such model.');
      const licenceId = typeof m.licence_id === 'string' ? m.licence_id : subscriptionId;
      const rt = req.runtime;
      const input: PolicyInput = {
        subscriber: { id: c.identityId, roles: [c.role] },
        device: { id: c.deviceId, ...(req.ip === undefined ? {} : { ip: req.ip }), ...(rt.platform === undefined ? {} : { platform: rt.platform }), ...(rt.attested === undefined ? {} : { attested: rt.attested }) },
        licence: { id: licenceId, status: 'active', expires_at: new Date(num(sub, 'expires_at')).toISOString() },
        runtime: { ...(rt.app_version === undefined ? {} : { app_version: rt.app_version }), ...(rt.os === undefined ? {} : { os: rt.os }), ...(rt.offline === undefined ? {} : { offline: rt.offline }) },
        action: 'decrypt',
        time: new Date(now).toISOString(),
        model: { id: req.modelId },
      };
      enforceRelease(str(m, 'policy'), input);
      const ticket = randomBytes(32);
      const expiresAt = now + (this.opts.ticketTtlMs ?? 60_000);
      await q.run('INSERT INTO tickets (id_hash, device_id, subscription_id, model_id, expires_at, attempts) VALUES (?, ?, ?, ?, ?, 0)', [toHex(sha256(ticket)), c.deviceId, subscriptionId, req.modelId, expiresAt]);
      return { value: { ticketB64u: toB64url(ticket), subscriptionId, expiresAt }, details: { subscription: subscriptionId } };
    }, async (q) => {
      await consume(q);
    });
  }

  /** README §7 step 3, in one transaction (the ticket row joined with its model; one ticket update per attempt). */
  async releaseKey(c: Caller, req: { ticketB64u: string; headerHashes: Readonly<Record<string, string>> }): Promise<KeyResponse> {
    const now = this.now();
    const ticketHash = toHex(sha256(b64(req.ticketB64u, 'ticketB64u')));
    // The model is known once the ticket is read; a denial before that goes to the broker chain.
    const who: { actor: string; action: string; object: string; model: string | null } = { actor: c.identityId, action: 'release.key', object: c.deviceId, model: null };
    return this.decide<KeyResponse>(who, async (q) => {
      const row = await q.get('SELECT t.device_id, t.subscription_id, t.model_id, t.expires_at, t.attempts, t.used_at, m.alg, m.sign_pub FROM tickets t JOIN models m ON m.id = t.model_id WHERE t.id_hash = ?', [ticketHash]);
      if (row !== undefined) who.model = str(row, 'model_id');
      const maxAttempts = this.opts.ticketAttempts ?? 4;
      if (row === undefined || str(row, 'device_id') !== c.deviceId || optNum(row, 'used_at') !== null || num(row, 'expires_at') < now || num(row, 'attempts') >= maxAttempts) {
        throw new AppError('AUTH_FAILED', 'No valid ticket: it is unknown, used, expired, exhausted or for another device. Attest again.');
      }
      const subscriptionId = str(row, 'subscription_id');
      const modelId = str(row, 'model_id');
      await this.usableSubscription(q, c, modelId, subscriptionId);
      const expected = await q.all('SELECT path, sha256 FROM personal_headers WHERE subscription_id = ? ORDER BY path', [subscriptionId]);
      const differing = expected.filter((e) => {
        const got = req.headerHashes[str(e, 'path')];
        return got === undefined || !ctEqual(utf8(got), utf8(str(e, 'sha256')));
      });
      if (differing.length > 0) {
        await q.run('UPDATE tickets SET attempts = attempts + 1 WHERE id_hash = ?', [ticketHash]);
        const headers = [];
        for (const e of differing) {
          const h = await q.get('SELECT header FROM personal_headers WHERE subscription_id = ? AND path = ?', [subscriptionId, str(e, 'path')]);
          headers.push({ path: str(e, 'path'), sha256: str(e, 'sha256'), headerB64u: h === undefined ? '' : str(h, 'header') });
        }
        const details: Details = { outcome: 'sync', differing: differing.length };
        return { value: { status: 'sync' as const, subscriptionId, headers }, details };
      }
      const kid = `sub-${subscriptionId}`;
      const key = await this.secret(q, `sub:${subscriptionId}:enc`, 'subscriber-enc');
      try {
        const wrappedKey = seal(c.boxPub, key, SEAL_LABELS.keyRelease, keyReleaseAad({ modelId, subscriptionId, deviceId: c.deviceId, kid, ticketSha256: ticketHash }), this.opts.x25519 ?? nobleX25519);
        await q.run('UPDATE tickets SET attempts = attempts + 1, used_at = ? WHERE id_hash = ?', [now, ticketHash]);
        const alg = str(row, 'alg') as AeadAlg;
        return { value: { status: 'ok' as const, subscriptionId, kid, alg, verifyKeyB64u: str(row, 'sign_pub'), wrappedKey, ticketSha256: ticketHash }, details: { subscription: subscriptionId } };
      } finally {
        wipe(key);
      }
    });
  }

  // ---- audit reading ---------------------------------------------------------------------------------------------------

  /**
   * The model's audit chain from `after` (producers, for their own models; README §9), at most 1000 entries. The
   * chain's tail is sealed with a signed checkpoint first, so a reader that pages to the end holds a fully signed chain.
   */
  async auditForModel(c: Caller, modelId: string, after: number): Promise<{ entries: AuditEntry[] }> {
    const m = await this.db.get('SELECT producer_id FROM models WHERE id = ?', [modelId]);
    if (m === undefined || (str(m, 'producer_id') !== c.identityId && !c.admin)) throw new AppError('NOT_FOUND', 'No such model of yours.');
    await this.checkpointChain(modelId);
    const rows = await this.db.all('SELECT seq, line FROM audit_entries WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?', [modelChain(modelId), after, AUDIT_PAGE_ENTRIES]);
    return { entries: rows.map((r) => entryOf(r, modelChain(modelId))) };
  }
}

function entryOf(r: Row, chain: string): AuditEntry {
  const e = parseEntry(str(r, 'line'));
  if (e === undefined) throw new AppError('AUDIT_TAMPERED', `The audit entry ${chain} #${num(r, 'seq')} in the broker database is damaged. Run \`model-vault broker audit --db <db> --verify\`.`);
  return e;
}

/** The stored lines of every chain, chain by chain, each in order (the exact bytes that were hashed). */
export async function* readAuditLines(db: Db, pageSize = 5000): AsyncGenerator<{ chain: string; seq: number; line: string }> {
  const chains = (await db.all('SELECT chain FROM audit_chains ORDER BY chain')).map((r) => str(r, 'chain'));
  for (const chain of chains) {
    let after = 0;
    for (;;) {
      const rows = await db.all('SELECT seq, line FROM audit_entries WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?', [chain, after, pageSize]);
      if (rows.length === 0) break;
      for (const r of rows) {
        after = num(r, 'seq');
        yield { chain, seq: after, line: str(r, 'line') };
      }
    }
  }
}

/** Every entry of every chain (for `broker audit --verify`); a damaged row fails with AUDIT_TAMPERED. */
export async function* readAuditChain(db: Db, pageSize = 5000): AsyncGenerator<AuditEntry> {
  for await (const r of readAuditLines(db, pageSize)) yield entryOf({ seq: r.seq, line: r.line }, r.chain);
}

/**
 * Verifies every chain of a broker database with the app's verifier (README §9): hashes, links, sequence, and the
 * checkpoint signatures (all by `brokerSignPub` when given, else all by one key), plus that each chain's stored head
 * is its last entry (a deleted tail shows) and that every entry sits in the chain its content names.
 */
export async function verifyBrokerAudit(db: Db, opts: BrokerAuditVerifyOptions = {}): Promise<ChainVerdict> {
  const pinned: { key?: Uint8Array } = {};
  const reports: ChainReport[] = [];
  const heads = (await db.all('SELECT chain, seq, hash FROM audit_chains ORDER BY chain')).map((r) => ({ chain: str(r, 'chain'), seq: num(r, 'seq'), hash: str(r, 'hash') }));
  const known = new Set(heads.map((h) => h.chain));
  for (const r of await db.all('SELECT DISTINCT chain FROM audit_entries')) {
    const c = str(r, 'chain');
    if (!known.has(c)) reports.push({ ...verifyChainEntries(c, [], opts), ok: false, problems: [{ kind: 'inserted', entry: 1, message: `Entries were added under a chain the broker never started (${c.slice(0, 140)}).` }] });
  }
  for (const head of heads) {
    const lines: string[] = [];
    let after = 0;
    for (;;) {
      const rows = await db.all('SELECT seq, line FROM audit_entries WHERE chain = ? AND seq > ? ORDER BY seq LIMIT 5000', [head.chain, after]);
      if (rows.length === 0) break;
      for (const r of rows) lines.push(str(r, 'line'));
      after = num(rows[rows.length - 1] ?? {}, 'seq');
    }
    const r = verifyChainEntries(head.chain, lines, opts, pinned);
    const extra: AuditProblem[] = [];
    if (head.seq > 0 && (r.head?.seq !== head.seq || r.head.hash !== head.hash)) {
      extra.push({ kind: 'truncated', entry: lines.length, seq: head.seq, message: `The chain's recorded head is seq ${head.seq}, but its entries end at seq ${r.head?.seq ?? 0}: entries were removed or rewritten.` });
    }
    lines.forEach((l, i) => {
      const e = parseEntry(l);
      if (e !== undefined && chainOf(e) !== head.chain) extra.push({ kind: 'inserted', entry: i + 1, seq: e.seq, message: `Entry ${i + 1} names another chain (${chainOf(e).slice(0, 140)}): it was moved here.` });
    });
    reports.push(extra.length === 0 ? r : { ...r, ok: false, problems: [...r.problems, ...extra].sort((a, b) => a.entry - b.entry) });
  }
  return summarize(reports);
}
