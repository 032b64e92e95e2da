/**
 * The subscriber's verify report: the producer view's report (`buildVerifyView`: signer, signature, digests,
 * manifest, policy) plus the licence. For a model imported under a subscription:
 *
 * 1. licences are synced (or read from the offline cache) and this licence is checked offline;
 * 2. online, the broker's ticketed key release runs (challenge → runtime facts → header hashes → policy): it answers
 *    with the per-subscriber master key wrapped to this device and the producer's verify key, or with newer
 *    personalized headers to adopt first;
 * 3. every tensor is then decrypted and authenticated with that key (with progress per tensor; a cancel stops it between
 *    tensors), and the signature is checked against the verify key the broker vouched for (shown as trusted for the
 *    broker's id unless the trust store says otherwise).
 *
 * Offline or when the release is denied, the report covers headers, signature (trust store signers) and digests of
 * plaintext tensors, and the licence part says why the key was not released. The released key is wiped after use.
 */
import { dirname, join } from 'node:path';
import { wipe } from '../../../crypto/bytes.ts';
import { AppError, isAppError } from '../../../errors.ts';
import type { VerifyKey } from '../../../format/keys.ts';
import type { LicenceCheck, SubscriberVerifyView, ImportedModel, LicenceRow } from '../../../ipc/ops/subscriber.ts';
import type { VerifyView } from '../../../ipc/ops/producer.ts';
import { fingerprintOfPublicKey } from '../../../keys/key.ts';
import type { TrustStore } from '../../../keys/trust.ts';
import { APP_VERSION } from '../../../version.ts';
import type { DeviceProfile } from '../../broker/profile.ts';
import type { HandlerContext } from '../../router.ts';
import type { BrokerSession } from '../broker-session.ts';
import { buildVerifyView, trustedKeysOf } from '../producer/verify-view.ts';
import { readShardHeader, replaceHeader } from './import.ts';
import { licenceRow, syncLicences } from './licences.ts';

export interface VerifyInputs {
  readonly session: BrokerSession;
  readonly dataDir: string;
  readonly trustStore: TrustStore;
}

function shardPaths(m: ImportedModel): { rel: string; full: string }[] {
  const dir = m.path.endsWith('.safetensors') ? dirname(m.path) : m.path;
  return m.files.filter((f) => f.endsWith('.safetensors')).map((rel) => ({ rel, full: join(dir, rel) }));
}

function withBrokerTrust(view: VerifyView, verifyKey: Uint8Array | undefined, brokerId: string): VerifyView {
  if (verifyKey === undefined || view.signer === null || view.signer.trust !== 'unknown') return view;
  if (view.signer.fingerprint !== fingerprintOfPublicKey(verifyKey)) return view;
  return { ...view, signer: { ...view.signer, trust: 'trusted', scope: brokerId } };
}

function licenceCheckOf(row: LicenceRow | undefined, release: Pick<LicenceCheck, 'keyRelease' | 'keyReleaseNote'>): LicenceCheck {
  if (row === undefined) return { verdict: 'none', note: 'This subscription is not among your licences any more. Sync, or ask the publisher.', licenceId: null, notAfter: null, devices: 0, thisDevice: false, ...release };
  return { verdict: row.verdict, note: row.note, licenceId: row.licenceId, notAfter: row.notAfter, devices: row.devices.length, thisDevice: row.devices.some((d) => d.thisDevice), ...release };
}

export async function verifyImported(m: ImportedModel, profile: DeviceProfile | undefined, inputs: VerifyInputs, ctx: HandlerContext): Promise<SubscriberVerifyView> {
  const storeSigners = trustedKeysOf(inputs.trustStore);
  const base = { trustStore: inputs.trustStore, ownFingerprints: new Set<string>() };
  if (m.origin === 'file' || m.modelId === null || m.subscriptionId === null) {
    ctx.progress({ phase: 'verifying', done: 0, total: 1, message: 'Checking signature, digests and manifest' });
    const report = await buildVerifyView(m.path, { ...base, trustedSigners: storeSigners, headerOnly: true });
    return { localId: m.localId, report, licence: null };
  }
  if (profile === undefined) {
    const report = await buildVerifyView(m.path, { ...base, trustedSigners: storeSigners, headerOnly: true });
    return { localId: m.localId, report, licence: licenceCheckOf(undefined, { keyRelease: 'not-applicable', keyReleaseNote: 'This machine is not enrolled as a subscriber: enroll it to check the licence.' }) };
  }
  const modelId = m.modelId;
  ctx.progress({ phase: 'licence', done: 0, total: 3, message: 'Syncing licences with the broker' });
  const state = await syncLicences(inputs.session, inputs.dataDir, profile);
  const sub = state.subscriptions.find((s) => s.subscriptionId === m.subscriptionId);
  const row = sub === undefined ? undefined : licenceRow(sub, profile, state.revocations);
  if (ctx.signal.aborted) throw new AppError('CANCELLED', 'Verification was cancelled.');

  let released: { key: Uint8Array; kid: string; alg: string; verifyKey: Uint8Array } | undefined;
  let release: Pick<LicenceCheck, 'keyRelease' | 'keyReleaseNote'>;
  if (state.offline) {
    release = { keyRelease: 'offline', keyReleaseNote: 'The broker is unreachable: the cached licence was checked offline; tensors were not decrypted.' };
  } else {
    ctx.progress({ phase: 'key-release', done: 1, total: 3, message: 'Asking the broker to release the key to this device' });
    try {
      const shards = shardPaths(m);
      const local = new Map<string, Uint8Array>();
      for (const s of shards) local.set(s.rel, await readShardHeader(s.full));
      const r = await inputs.session.withDevice('subscriber', (d) => d.client.releaseKey(modelId, local, { os: process.platform, app_version: APP_VERSION }, d.box));
      for (const [rel, header] of r.synced) {
        const s = shards.find((x) => x.rel === rel);
        if (s !== undefined) await replaceHeader(s.full, header);
      }
      released = { key: r.key, kid: r.kid, alg: r.alg, verifyKey: r.verifyKey };
      release = { keyRelease: 'granted', keyReleaseNote: r.synced.size > 0 ? `${r.synced.size} personalized header(s) were updated from the broker first.` : null };
    } catch (e) {
      if (!isAppError(e)) throw e;
      release = { keyRelease: e.code === 'BROKER_UNREACHABLE' ? 'offline' : 'denied', keyReleaseNote: e.message };
    }
  }
  try {
    if (ctx.signal.aborted) throw new AppError('CANCELLED', 'Verification was cancelled.');
    ctx.progress({ phase: 'verifying', done: 2, total: 3, message: released === undefined ? 'Checking signature and digests' : 'Decrypting and authenticating every tensor' });
    const signers: VerifyKey[] = released === undefined ? storeSigners : [{ publicKey: released.verifyKey }, ...storeSigners];
    // Decryption honours the cancel between tensors (the released key is wiped below either way).
    const decrypt = released === undefined ? { headerOnly: true } : {
      masterKeys: [{ alg: released.alg, kid: released.kid, key: released.key }],
      signal: ctx.signal,
      onTensor: (p: { path: string; done: number; total: number }) => ctx.progress({ phase: 'decrypting', done: p.done, total: p.total, message: `Decrypting and authenticating ${p.path}` }),
    };
    const report = await buildVerifyView(m.path, { ...base, trustedSigners: signers, ...decrypt });
    ctx.progress({ phase: 'done', done: 3, total: 3 });
    return { localId: m.localId, report: withBrokerTrust(report, released?.verifyKey, profile.brokerId), licence: licenceCheckOf(row, release) };
  } finally {
    if (released !== undefined) wipe(released.key);
  }
}
