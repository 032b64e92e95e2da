/**
 * Handlers of the subscriber operations (app/ipc/ops/subscriber.ts): enrollment with the broker (through the shared
 * broker session, ./broker-session.ts), licences with their offline check, requesting access, staging of dropped
 * files (web host), import into the library with personalized headers, and the verify report with the licence.
 * Nothing returned here carries key material: the device key stays in the key store and the subscriber key released
 * for verification is wiped after use (./subscriber/verify.ts).
 */
import { join } from 'node:path';
import { AppError, isAppError } from '../../errors.ts';
import { fromB64url } from '../../crypto/encoding.ts';
import type { SUBSCRIBER_OPERATIONS, SubscriberIdentity } from '../../ipc/ops/subscriber.ts';
import type { DeviceProfile } from '../broker/profile.ts';
import { trustStorePath, type Env } from '../keys/paths.ts';
import { loadTrustStore } from '../keys/trust-file.ts';
import type { HandlersOf } from '../router.ts';
import { brokerSessionOf } from './broker-session.ts';
import type { ServiceDeps } from './index.ts';
import { Staging } from './producer/staging.ts';
import { importModel, type PersonalizedHeaders } from './subscriber/import.ts';
import { Library, subscriberRoot } from './subscriber/library.ts';
import { licenceRow, licencesView, syncLicences } from './subscriber/licences.ts';
import { verifyImported } from './subscriber/verify.ts';

function identityOf(mode: 'embedded' | 'remote', location: string, p: DeviceProfile | undefined, keyStore: SubscriberIdentity['keyStore']): SubscriberIdentity {
  return {
    broker: { mode, location },
    keyStore,
    enrolled: p === undefined ? null : {
      name: p.name, identityId: p.identityId, deviceId: p.deviceId, deviceLabel: p.deviceLabel, brokerId: p.brokerId, enrolledAt: p.enrolledAt, keyStore: p.keyStore, deviceKid: p.deviceKid,
    },
  };
}

export function createSubscriberHandlers(deps: ServiceDeps): HandlersOf<typeof SUBSCRIBER_OPERATIONS> {
  const env: Env = deps.env ?? process.env;
  const dataDir = deps.config.dataDir;
  const session = brokerSessionOf(deps);
  const library = new Library(dataDir);
  // Staged uploads live under the subscriber's own folder, apart from the producer's (each Staging cleans its root).
  const staging = new Staging(subscriberRoot(dataDir));

  async function profile(): Promise<DeviceProfile | undefined> {
    return (await session.profile('subscriber'))?.profile;
  }

  async function requireProfile(): Promise<DeviceProfile> {
    const p = await profile();
    if (p === undefined) throw new AppError('NOT_FOUND', 'This machine is not enrolled as a subscriber yet: enroll it with the broker first.');
    return p;
  }

  async function identity(): Promise<SubscriberIdentity> {
    const keyStore = await session.keyStoreState('subscriber', async () => (await deps.probeKeychain()).available);
    return identityOf(deps.config.broker.mode, deps.config.broker.location, await profile(), keyStore);
  }

  async function personalized(subscriptionId: string): Promise<PersonalizedHeaders> {
    await requireProfile();
    return session.withDevice('subscriber', async (d) => {
      const { subscriptions } = await d.client.sync();
      const sub = subscriptions.find((s) => s.subscriptionId === subscriptionId);
      if (sub === undefined) throw new AppError('NOT_FOUND', 'That subscription is not yours or no longer exists. Sync your licences and pick it again.');
      if (sub.status !== 'active') throw new AppError('LICENCE_INVALID', sub.status === 'pending' ? `Your subscription to ${sub.modelId} waits for the publisher's approval: import it once it is approved.` : `Your subscription to ${sub.modelId} was revoked. Contact the publisher.`);
      const h = await d.client.headers(subscriptionId);
      const headers = new Map<string, Uint8Array>();
      for (const f of h.headers) {
        const bytes = fromB64url(f.headerB64u);
        if (bytes === undefined) throw new AppError('BROKER_REJECTED', 'The broker sent a malformed header. Retry later.');
        headers.set(f.path, bytes);
      }
      if (headers.size === 0) throw new AppError('NOT_FOUND', `The broker holds no headers for ${sub.modelId} yet. Ask the publisher to publish it again.`);
      return { modelId: sub.modelId, subscriptionId, headers };
    });
  }

  return {
    'subscriber:identity': async () => identity(),

    'subscriber:enroll': async (req) => {
      await session.enroll('subscriber', { name: req.name, label: req.label, ...(req.invite === undefined ? {} : { invite: req.invite }) });
      return identity();
    },

    'subscriber:unlock': async (req) => {
      await session.unlockFileKeystore(req.passphrase);
      return identity();
    },

    'subscriber:revokeDevice': async (req) => {
      const p = await requireProfile();
      if (req.deviceId !== p.deviceId) throw new AppError('VALIDATION', 'Only this device can be revoked from here. Revoke other devices from the device itself, or ask the publisher.');
      try {
        await session.withDevice('subscriber', (d) => d.client.revokeDevice(p.deviceId));
      } catch (e) {
        if (isAppError(e) && e.code === 'BROKER_UNREACHABLE') throw new AppError('BROKER_UNREACHABLE', 'The broker cannot be reached, so the device was not revoked and nothing was changed. Try again when it is back.');
        throw e;
      }
      await session.forget('subscriber');
      return identity();
    },

    'subscriber:licences': async () => {
      const p = await requireProfile();
      return licencesView(await syncLicences(session, dataDir, p), p);
    },

    'subscriber:subscribe': async (req) => {
      const p = await requireProfile();
      const view = await session.withDevice('subscriber', (d) => d.client.subscribe(req.modelId));
      const state = await syncLicences(session, dataDir, p);
      return licenceRow(view, p, state.revocations);
    },

    'subscriber:stageBegin': async () => staging.begin(),
    'subscriber:stageWrite': async (req) => ({ written: await staging.write(req.stagingId, req.path, req.offset, req.bytes) }),
    'subscriber:stageDiscard': async (req) => ({ removed: await staging.discard(req.stagingId) }),

    'subscriber:import': async (req, ctx) => {
      const src = await staging.resolveSource(req.source);
      try {
        ctx.progress({ phase: 'preparing', done: 0, total: 0, message: req.subscriptionId === undefined ? 'Reading the files' : 'Fetching your personalized headers from the broker' });
        const p = req.subscriptionId === undefined ? undefined : await personalized(req.subscriptionId);
        return await importModel(library, { path: src.path, name: req.name ?? p?.modelId ?? src.name, ...(p === undefined ? {} : { personalized: p }) }, ctx);
      } finally {
        if (src.staged !== undefined) await staging.discard(src.staged);
      }
    },

    'subscriber:models': async () => library.list(),

    'subscriber:remove': async (req) => ({ removed: await library.remove(req.localId) }),

    'subscriber:verify': async (req, ctx) => {
      const m = await library.get(req.localId);
      const view = await verifyImported(m, await profile(), { session, dataDir, trustStore: await loadTrustStore(trustStorePath(env)) }, ctx);
      await library.setVerified(m.localId, view.report.ok && (view.licence === null || view.licence.keyRelease === 'granted'));
      return view;
    },
  };
}

/** Where imported models live (for the mount view and tests). */
export function subscriberModelsDir(dataDir: string): string {
  return join(subscriberRoot(dataDir), 'models');
}
