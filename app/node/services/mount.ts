/**
 * Handlers of the mount operations (app/ipc/ops/mount.ts), over one MountService per host. The host creates the
 * service, passes it in the service dependencies and closes it when it shuts down (app quit, `model-vault ui`
 * exit): every mount it started is then unmounted. `lock()` unmounts too (Electron calls it on a screen lock).
 *
 * Keys: `local` takes the master key from the key sources (keychain, file keystore when MODEL_VAULT_PASSPHRASE opens
 * it, MODEL_VAULT_KEYS …) and the trusted signers from the trust store; `broker` has the broker release the
 * subscriber key to this app's subscriber device (the broker session), the licence then guarding the mount.
 */
import { AppError } from '../../errors.ts';
import type { MountList, MountSummary, MOUNT_OPERATIONS } from '../../ipc/ops/mount.ts';
import { filePolicyEvaluator } from '../../policy/file-policy.ts';
import { brokerSignPub } from '../broker/profile.ts';
import type { Env } from '../keys/paths.ts';
import { log } from '../log.ts';
import { releaseFromBroker, type DeviceAccess } from '../mount/broker-keys.ts';
import { fuseAvailable } from '../mount/fuse.ts';
import { localMountKeys } from '../mount/keys.ts';
import { MountManager, type StopReason } from '../mount/manager.ts';
import { runtimeDirOf } from '../mount/runtime.ts';
import type { HandlersOf } from '../router.ts';
import { brokerSessionOf } from './broker-session.ts';
import type { ServiceDeps } from './index.ts';

export class MountService {
  readonly #env: Env;
  #manager: Promise<MountManager> | undefined;
  #closed = false;

  constructor(o: { readonly env: Env }) {
    this.#env = o.env;
  }

  get env(): Env {
    return this.#env;
  }

  manager(): Promise<MountManager> {
    if (this.#closed) return Promise.reject(new AppError('CANCELLED', 'Model Vault is shutting down: no new mounts.'));
    const p = (this.#manager ??= MountManager.create({ env: this.#env, owner: 'app', onStopped: (info, reason, error) => log.info('unmounted', { id: info.id, reason, ...(error === undefined ? {} : { code: error.code }) }) }));
    p.catch(() => {
      if (this.#manager === p) this.#manager = undefined;
    });
    return p;
  }

  /** Unmounts everything this app mounted (for a screen lock: the mounts can be started again after). */
  async lock(): Promise<void> {
    await this.#stopAll('lock');
  }

  /** Unmounts everything and refuses new mounts. Idempotent; never throws. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#stopAll('shutdown');
  }

  async #stopAll(reason: StopReason): Promise<void> {
    const m = await this.#manager?.catch(() => undefined);
    await m?.stopAll(reason);
  }
}

const services = new WeakMap<object, MountService>();

/** The host's mount service, else one created on first use and shared by the services built from these deps. */
export function mountServiceOf(deps: ServiceDeps): MountService {
  if (deps.mounts !== undefined) return deps.mounts;
  let s = services.get(deps);
  if (s === undefined) {
    s = new MountService({ env: deps.env ?? process.env });
    services.set(deps, s);
  }
  return s;
}

export function createMountHandlers(deps: ServiceDeps): HandlersOf<typeof MOUNT_OPERATIONS> {
  const service = mountServiceOf(deps);
  const env = deps.env ?? process.env;

  /** The app's subscriber device through the broker session (the embedded broker's URL is current). */
  async function sessionDevice(): Promise<DeviceAccess> {
    const session = brokerSessionOf(deps);
    const found = await session.profile('subscriber');
    if (found === undefined) throw new AppError('NOT_FOUND', 'This machine is not enrolled as a subscriber yet: enroll it with the broker first, or mount with local keys.');
    return {
      deviceId: found.profile.deviceId,
      brokerPub: brokerSignPub(found.profile),
      withClient: (fn) => session.withDevice('subscriber', (d) => fn(d.client, d.box)),
    };
  }

  return {
    'mount:start': async (req, ctx) => {
      const manager = await service.manager();
      const total = 3;
      ctx.progress({ phase: 'keys', done: 0, total, message: req.keySource === 'broker' ? 'Asking the broker to release the key to this device' : 'Looking up the key and the trusted signers' });
      if (req.keySource === 'broker' && req.modelId === undefined) throw new AppError('VALIDATION', 'Mounting with a broker-released key needs the model id.');
      const broker = req.keySource === 'broker' ? await releaseFromBroker({ model: req.model, modelId: req.modelId ?? '', device: await sessionDevice() }) : undefined;
      try {
        const keys = broker?.keys ?? (await localMountKeys({ model: req.model, env }));
        if (ctx.signal.aborted) throw new AppError('CANCELLED', 'The mount was cancelled.');
        ctx.progress({ phase: 'verify', done: 1, total, message: 'Verifying the signature, policy and side files, then mounting' });
        const info = await manager.start({
          model: req.model,
          mode: req.mode,
          keys,
          policyEvaluator: filePolicyEvaluator,
          ...(req.at === undefined ? {} : { at: req.at }),
          ...(broker === undefined ? {} : { guard: broker.guard, headerOverrides: broker.headerOverrides }),
        });
        if (ctx.signal.aborted) {
          await manager.stop(info.id);
          throw new AppError('CANCELLED', 'The mount was cancelled; nothing is left mounted.');
        }
        ctx.progress({ phase: 'mounted', done: total, total });
        return info;
      } finally {
        broker?.close();
      }
    },
    'mount:stop': async (req) => {
      const manager = await service.manager();
      await manager.stop(req.id);
      return { stopped: true };
    },
    'mount:list': async (): Promise<MountList> => {
      const manager = await service.manager();
      const own: MountSummary[] = manager.list();
      const ownIds = new Set(own.map((m) => m.id));
      const others: MountSummary[] = (await manager.registry.list())
        .filter((x) => x.alive && !ownIds.has(x.entry.id))
        .map(({ entry }) => {
          const { format: _f, version: _v, keysDir: _k, ...rest } = entry;
          return rest;
        });
      const fuse = fuseAvailable();
      return { mounts: [...own, ...others], fuse: { available: fuse.available, ...(fuse.reason === undefined ? {} : { reason: fuse.reason }) }, runtimeDir: runtimeDirOf(env) };
    },
  };
}
