/**
 * Licences of this subscriber: synced from the broker and cached for offline use in `<data dir>/subscriber/cache/`
 * (the subscriptions with their signed licence documents, the newest signed revocation list, the sync time; all
 * public, broker-signed data). Each licence is checked offline (`checkLicenceOffline`: the broker's signature, this
 * device on the licence, expiry + grace, the revocation list), so a cached licence stays usable until expiry + grace
 * and a revocation applies at the next sync (issue 6 item 6).
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as v from 'valibot';
import { isAppError } from '../../../errors.ts';
import { checkLicenceOffline, newerRevocationList, verifyRevocationList, type RevocationList } from '../../../broker/documents.ts';
import { SubscriptionViewSchema, type SubscriptionView } from '../../../broker/messages.ts';
import type { LicenceRow, LicenceVerdict, SubscriberLicences } from '../../../ipc/ops/subscriber.ts';
import { brokerSignPub, type DeviceProfile } from '../../broker/profile.ts';
import { readTextIfExists, writeFileAtomic } from '../../atomic.ts';
import type { BrokerSession } from '../broker-session.ts';
import { subscriberRoot } from './library.ts';

const CacheSchema = v.strictObject({
  identityId: v.string(),
  syncedAt: v.string(),
  subscriptions: v.array(SubscriptionViewSchema),
  revocations: v.unknown(),
});

export interface LicenceState {
  readonly offline: boolean;
  readonly syncedAt: string | null;
  readonly subscriptions: readonly SubscriptionView[];
  readonly revocations: RevocationList | undefined;
}

function cachePath(dataDir: string): string {
  return join(subscriberRoot(dataDir), 'cache', 'licences.json');
}

async function readCache(dataDir: string, p: DeviceProfile): Promise<LicenceState> {
  const text = await readTextIfExists(cachePath(dataDir));
  const empty: LicenceState = { offline: true, syncedAt: null, subscriptions: [], revocations: undefined };
  if (text === undefined) return empty;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return empty; // a damaged cache is only a cache: the next sync rewrites it
  }
  const r = v.safeParse(CacheSchema, json);
  if (!r.success || r.output.identityId !== p.identityId) return empty;
  let revocations: RevocationList | undefined;
  try {
    revocations = verifyRevocationList(r.output.revocations, brokerSignPub(p));
  } catch {
    revocations = undefined; // unsigned or foreign lists are ignored; licences are then checked without one
  }
  return { offline: true, syncedAt: r.output.syncedAt, subscriptions: r.output.subscriptions, revocations };
}

/** Syncs with the broker and caches; when the broker is unreachable, the cached state (offline: true). */
export async function syncLicences(session: BrokerSession, dataDir: string, p: DeviceProfile): Promise<LicenceState> {
  const cached = await readCache(dataDir, p);
  let r;
  try {
    r = await session.withDevice('subscriber', (d) => d.client.sync());
  } catch (e) {
    if (isAppError(e) && e.code === 'BROKER_UNREACHABLE') return cached;
    throw e;
  }
  const revocations = newerRevocationList(cached.revocations, verifyRevocationList(r.revocations, brokerSignPub(p)));
  const syncedAt = new Date().toISOString();
  await mkdir(dirname(cachePath(dataDir)), { recursive: true, mode: 0o700 });
  await writeFileAtomic(cachePath(dataDir), JSON.stringify({ identityId: p.identityId, syncedAt, subscriptions: r.subscriptions, revocations }) + '\n', { mode: 0o600 });
  return { offline: false, syncedAt, subscriptions: r.subscriptions, revocations };
}

const VERDICT_OF_CODE: Readonly<Record<string, LicenceVerdict>> = { LICENCE_REVOKED: 'revoked', LICENCE_EXPIRED: 'expired' };

/** One subscription as a row: the broker's status and the offline check of its licence for this device. */
export function licenceRow(s: SubscriptionView, p: DeviceProfile, revocations: RevocationList | undefined, now = Date.now()): LicenceRow {
  const devices = s.devices.map((deviceId) => ({ deviceId, thisDevice: deviceId === p.deviceId }));
  const base = { subscriptionId: s.subscriptionId, modelId: s.modelId, status: s.status, devices, files: s.headers.length };
  if (s.licence === null) {
    const note = s.status === 'pending' ? 'Waiting for the publisher to approve this subscription.' : s.status === 'revoked' ? 'This subscription was revoked. Contact the publisher.' : 'The broker has issued no licence for this subscription yet. Sync again later.';
    return { ...base, licenceId: null, issuedAt: null, notAfter: null, graceSeconds: 0, verdict: s.status === 'revoked' ? 'revoked' : 'none', note };
  }
  const l = s.licence;
  const doc = { licenceId: l.licenceId, issuedAt: l.issuedAt, notAfter: l.notAfter, graceSeconds: l.graceSeconds };
  if (s.status === 'revoked') return { ...base, ...doc, verdict: 'revoked', note: 'This subscription was revoked. Contact the publisher.' };
  try {
    const { verdict } = checkLicenceOffline(l, { brokerPub: brokerSignPub(p), deviceId: p.deviceId, now, revocations });
    return { ...base, ...doc, verdict, note: verdict === 'grace' ? 'The licence has expired; it is still honoured during its grace period. Ask the publisher to renew it.' : null };
  } catch (e) {
    if (!isAppError(e)) throw e;
    const verdict: LicenceVerdict = VERDICT_OF_CODE[e.code] ?? (e.code === 'LICENCE_INVALID' && !l.devices.includes(p.deviceId) ? 'not-this-device' : 'invalid');
    return { ...base, ...doc, verdict, note: e.message };
  }
}

export function licencesView(state: LicenceState, p: DeviceProfile): SubscriberLicences {
  return {
    offline: state.offline,
    syncedAt: state.syncedAt,
    revocationSeq: state.revocations?.seq ?? null,
    licences: state.subscriptions.map((s) => licenceRow(s, p, state.revocations)).sort((a, b) => (a.modelId < b.modelId ? -1 : a.modelId > b.modelId ? 1 : 0)),
  };
}
