/**
 * The mount manager of one process (the CLI's `mount`, or the app's services): starts and stops its mounts, keeps
 * their registry entries (runtime.ts) and honours unmount requests from other processes, licence guards, and its
 * host's shutdown (`stopAll`). Three modes over one verified view (model-view.ts):
 *
 *   fuse  a read-only folder (fuse.ts), by default in the private runtime folder
 *   http  a loopback server with a per-mount token (http.ts)
 *   keys  the key released into a tmpfs file for the reference's own loader (keys-mode.ts)
 *
 * Nothing secret leaves through MountInfo: the HTTP token and the keys are in 0600 files, named by path.
 */
import { promises as fs } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { AppError, isAppError } from '../../errors.ts';
import type { MasterKey, VerifyKey } from '../../format/keys.ts';
import type { PolicyEvaluator } from '../../format/policy.ts';
import type { MountSummary } from '../../ipc/ops/mount.ts';
import type { Env } from '../keys/paths.ts';
import { log } from '../log.ts';
import type { CacheStats } from './chunk-cache.ts';
import { fuseAvailable, lazyUnmount, mountFuse, type FuseMount } from './fuse.ts';
import type { MountGuard } from './guard.ts';
import { serveHttp, type HttpMount } from './http.ts';
import { releaseKeys, shellQuote, type ReleasedKeys } from './keys-mode.ts';
import { openMountView, type MountView } from './model-view.ts';
import { MountRegistry, STOP_POLL_MS, ensurePrivateDir, newMountId, type MountEntry, type MountMode } from './runtime.ts';

export interface MountKeys {
  readonly masterKeys: readonly MasterKey[];
  readonly trustedSigners: readonly VerifyKey[];
}

export interface StartOptions {
  /** A packaged model folder or file. */
  readonly model: string;
  readonly mode: MountMode;
  /** FUSE: the mount point (an empty folder, created 0700 if missing); default: the private runtime folder. */
  readonly at?: string;
  readonly keys: MountKeys;
  readonly guard?: MountGuard;
  readonly policyEvaluator?: PolicyEvaluator;
  readonly cacheBytes?: number;
  /** HTTP: the port on 127.0.0.1 (default: any free port). */
  readonly port?: number;
  /** Newer headers to use in memory instead of the files' own (broker key release); not in keys mode. */
  readonly headerOverrides?: ReadonlyMap<string, Uint8Array>;
}

/** A mount as listings show it (the contract's MountSummary, always with how to connect): never tokens or keys. */
export interface MountInfo extends MountSummary {
  readonly connect: NonNullable<MountSummary['connect']>;
}

export type StopReason = 'request' | 'licence' | 'shutdown' | 'lock';

interface Active {
  readonly info: MountInfo;
  readonly view: MountView | null;
  readonly fuse: FuseMount | null;
  readonly http: HttpMount | null;
  readonly keys: ReleasedKeys | null;
  readonly guard: MountGuard | undefined;
  /** Set when the process created the mount point itself (removed after unmount). */
  readonly createdMountpoint: boolean;
  stopping?: Promise<void>;
}

function connectionOf(mode: MountMode, where: { mountpoint?: string; url?: string; tokenFile?: string; keysFile?: string; model: string; files: readonly string[]; encryptedWeights?: string }): MountInfo['connect'] {
  const firstWeights = where.files.find((f) => f.endsWith('.safetensors')) ?? 'model.safetensors';
  if (mode === 'fuse') {
    const dir = where.mountpoint ?? '';
    return { env: { MODEL_DIR: dir }, command: `python -c 'import sys; from safetensors import safe_open; f = safe_open(sys.argv[1], "np"); print(list(f.keys())[:5])' ${shellQuote(`${dir}/${firstWeights}`)}` };
  }
  if (mode === 'http') {
    const url = where.url ?? '';
    // Lists the files; a runtime fetches `${url}files/<path>` (Range requests welcome) into memory, never to disk.
    return { env: { MODEL_URL: url }, command: `curl -sS -H "Authorization: Bearer $(cat ${shellQuote(where.tokenFile ?? '')})" ${shellQuote(url)}` };
  }
  const file = where.keysFile ?? '';
  return {
    env: { CRYPTOTENSOR_KEYS: `$(cat ${shellQuote(file)})` },
    command: `CRYPTOTENSOR_KEYS="$(cat ${shellQuote(file)})" python -c 'import sys; from cryptotensors import safe_open; f = safe_open(sys.argv[1], "np"); print(list(f.keys())[:5])' ${shellQuote(where.encryptedWeights ?? where.model)}`,
  };
}

export class MountManager {
  private readonly active = new Map<string, Active>();
  private poller: ReturnType<typeof setInterval> | undefined;

  private constructor(
    readonly registry: MountRegistry,
    private readonly env: Env,
    private readonly owner: 'cli' | 'app',
    private readonly onStopped: (info: MountInfo, reason: StopReason, error?: AppError) => void,
  ) {}

  static async create(options: { readonly env: Env; readonly owner: 'cli' | 'app'; readonly onStopped?: (info: MountInfo, reason: StopReason, error?: AppError) => void }): Promise<MountManager> {
    return new MountManager(await MountRegistry.open(options.env), options.env, options.owner, options.onStopped ?? (() => undefined));
  }

  list(): MountInfo[] {
    return [...this.active.values()].map((a) => a.info);
  }

  cacheStats(id: string): CacheStats | undefined {
    return this.active.get(id)?.view?.cacheStats();
  }

  /** The HTTP token of one of this process's mounts (for the CLI that started it and for tests; never over IPC). */
  httpToken(id: string): string | undefined {
    return this.active.get(id)?.http?.token;
  }

  async start(o: StartOptions): Promise<MountInfo> {
    if (o.mode === 'fuse') {
      const f = fuseAvailable();
      if (!f.available) throw new AppError('MOUNT_FAILED', f.reason ?? 'FUSE is not available: use --mode http.');
    }
    if (o.mode === 'keys' && (o.headerOverrides?.size ?? 0) > 0) {
      throw new AppError('MOUNT_FAILED', 'The broker has newer personalized headers for this model, and a runtime reading the files itself would see the old ones. Update the local copy with `model-vault broker sync --out DIR`, or use --mode fuse or http (they apply the new headers in memory).');
    }
    const model = resolve(o.model);
    const id = newMountId();
    o.guard?.check();
    const view = await openMountView(model, {
      masterKeys: o.keys.masterKeys,
      trustedSigners: o.keys.trustedSigners,
      ...(o.policyEvaluator === undefined ? {} : { policyEvaluator: o.policyEvaluator }),
      ...(o.cacheBytes === undefined ? {} : { cacheBytes: o.cacheBytes }),
      ...(o.guard === undefined ? {} : { guard: () => o.guard?.check() }),
      ...(o.headerOverrides === undefined ? {} : { headerOverrides: o.headerOverrides }),
    });
    let fuse: FuseMount | null = null;
    let http: HttpMount | null = null;
    let keys: ReleasedKeys | null = null;
    let tokenFile: string | undefined;
    let mountpoint: string | undefined;
    let createdMountpoint = false;
    try {
      if (o.mode === 'fuse') {
        const prepared = await prepareMountpoint(o.at === undefined ? this.registry.defaultMountpoint(id) : resolve(o.at), o.at === undefined);
        mountpoint = prepared.dir;
        createdMountpoint = prepared.created;
        fuse = await mountFuse(view, mountpoint);
      } else if (o.mode === 'http') {
        http = await serveHttp(view, o.port === undefined ? {} : { port: o.port });
        tokenFile = await this.registry.writeToken(id, http.token);
      } else {
        const master = o.keys.masterKeys[0];
        const verify = view.signer === null ? undefined : o.keys.trustedSigners.find((k) => k.kid === view.signer?.kid) ?? o.keys.trustedSigners[0];
        if (master === undefined || verify === undefined) throw new AppError('KEY_NOT_FOUND', 'Key-release mode needs the master key and the signer key of the model.');
        keys = await releaseKeys(id, this.env, { master, verify, ...(view.signer?.kid === undefined ? {} : { signKid: view.signer.kid }) });
      }
    } catch (e) {
      await fuse?.unmount().catch(() => undefined);
      await http?.close();
      await keys?.remove();
      await this.registry.remove(id);
      await view.close();
      if (createdMountpoint && mountpoint !== undefined) await fs.rmdir(mountpoint).catch(() => undefined);
      throw e;
    }
    const files = view.files.map((f) => f.path);
    // Keys mode serves nothing itself: the view was opened to verify the model and the key, and is closed now.
    const keepView = o.mode === 'keys' ? null : view;
    if (keepView === null) await view.close();
    const isFolder = (await fs.stat(model)).isDirectory();
    const firstShard = view.files.find((f) => f.kind === 'weights')?.path;
    const encryptedWeights = isFolder && firstShard !== undefined ? join(model, firstShard) : model;
    const where = { model, files, ...(mountpoint === undefined ? {} : { mountpoint }), ...(http === null ? {} : { url: http.url }), ...(tokenFile === undefined ? {} : { tokenFile }), ...(keys === null ? {} : { keysFile: keys.file }) };
    const info: MountInfo = {
      id,
      mode: o.mode,
      startedAt: new Date().toISOString(),
      pid: process.pid,
      owner: this.owner,
      ...where,
      ...(view.signer === null ? {} : { signer: view.signer.fingerprint }),
      ...(o.guard?.licence === undefined ? {} : { licence: o.guard.licence }),
      connect: connectionOf(o.mode, { ...where, encryptedWeights }),
    };
    const entry: MountEntry = {
      format: 'model-vault/mount',
      version: 1,
      id,
      pid: info.pid,
      owner: info.owner,
      mode: info.mode,
      model,
      files,
      startedAt: info.startedAt,
      ...(mountpoint === undefined ? {} : { mountpoint }),
      ...(http === null ? {} : { url: http.url }),
      ...(tokenFile === undefined ? {} : { tokenFile }),
      ...(keys === null ? {} : { keysDir: keys.dir, keysFile: keys.file }),
      ...(info.signer === undefined ? {} : { signer: info.signer }),
      ...(info.licence === undefined ? {} : { licence: info.licence }),
    };
    this.active.set(id, { info, view: keepView, fuse, http, keys, guard: o.guard, createdMountpoint });
    await this.registry.write(entry);
    o.guard?.start((e) => {
      this.stopInternal(id, 'licence', e).catch((err: unknown) => log.warn('unmount after a licence failure failed', { error: isAppError(err) ? err.code : 'unknown' }));
    });
    this.ensurePoller();
    return info;
  }

  /** Stops one of this process's mounts. */
  async stop(id: string, reason: StopReason = 'request'): Promise<void> {
    if (!this.active.has(id)) throw new AppError('NOT_FOUND', 'No active mount with that id in this process. List mounts with `model-vault mounts`.');
    await this.stopInternal(id, reason);
  }

  /** Stops every mount of this process (app quit, lock, CLI signal). Never throws; failures are logged. */
  async stopAll(reason: StopReason): Promise<void> {
    await Promise.all([...this.active.keys()].map((id) => this.stopInternal(id, reason).catch((e: unknown) => log.warn('unmount failed', { error: isAppError(e) ? e.code : 'unknown' }))));
    if (this.poller !== undefined) clearInterval(this.poller);
    this.poller = undefined;
  }

  private stopInternal(id: string, reason: StopReason, error?: AppError): Promise<void> {
    const a = this.active.get(id);
    if (a === undefined) return Promise.resolve();
    a.stopping ??= (async () => {
      a.guard?.stop();
      try {
        await a.fuse?.unmount();
      } finally {
        await a.http?.close();
        await a.keys?.remove();
        await a.view?.close();
        if (a.createdMountpoint && a.info.mountpoint !== undefined) await fs.rmdir(a.info.mountpoint).catch(() => undefined);
        await this.registry.remove(id);
        this.active.delete(id);
        if (this.active.size === 0 && this.poller !== undefined) {
          clearInterval(this.poller);
          this.poller = undefined;
        }
        this.onStopped(a.info, reason, error);
      }
    })();
    return a.stopping;
  }

  private ensurePoller(): void {
    if (this.poller !== undefined) return;
    this.poller = setInterval(() => {
      for (const id of this.active.keys()) {
        this.registry
          .stopRequested(id)
          .then((yes) => (yes ? this.stopInternal(id, 'request') : undefined))
          .catch((e: unknown) => log.warn('unmount on request failed', { error: isAppError(e) ? e.code : 'unknown' }));
      }
    }, STOP_POLL_MS);
    this.poller.unref();
  }
}

/**
 * Makes sure a mount point can be used and returns whether it was created (then removed after unmount). The default
 * one is in the private runtime folder (checked there). A caller-chosen one (`--at`, `mount:start`'s `at`) is checked
 * as OpenSSH checks the folders of its key files: it must be a real folder (not a symbolic link), ours, writable by
 * no one else and empty, and every folder above it must be owned by us or root and writable by no one else unless it
 * is sticky (as /tmp is: others then cannot rename or replace our entries). Otherwise another local user could swap
 * the folder a runtime reads (MODEL_DIR) for one holding weights of their choice, or pre-create it and watch it.
 * The folder returned is the checked one, its parent's symbolic links resolved.
 */
async function prepareMountpoint(dir: string, ours: boolean): Promise<{ readonly dir: string; readonly created: boolean }> {
  if (ours) {
    const created = (await fs.mkdir(dir, { recursive: true, mode: 0o700 })) !== undefined;
    await ensurePrivateDir(dir);
    await ensureEmpty(dir);
    return { dir, created };
  }
  return prepareChosenMountpoint(dir);
}

async function ensureEmpty(dir: string): Promise<void> {
  if ((await fs.readdir(dir)).length > 0) throw new AppError('VALIDATION', `${dir} is not empty: give --at an empty folder.`);
}

const GROUP_OTHER_WRITE = 0o022;
const STICKY = 0o1000;

async function prepareChosenMountpoint(dir: string): Promise<{ readonly dir: string; readonly created: boolean }> {
  const uid = process.getuid?.();
  const parent = dirname(dir);
  let realParent: string;
  try {
    realParent = await fs.realpath(parent);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new AppError('NOT_FOUND', `The folder ${parent} does not exist: create it private to you (mkdir -m 700 ${shellQuote(parent)}), or leave out --at to mount in the private runtime folder.`);
    throw new AppError('MOUNT_FAILED', `${parent} cannot be used for a mount point (${code ?? 'error'}).`);
  }
  // Every folder from the parent up to the root: whoever may write to one could rename the mount point away.
  for (let d = realParent; ; d = dirname(d)) {
    const st = await fs.stat(d);
    if (!st.isDirectory()) throw new AppError('VALIDATION', `${d} is not a folder: give --at an empty folder.`);
    if (uid !== undefined && st.uid !== uid && st.uid !== 0) {
      throw new AppError('VALIDATION', `${d} belongs to another user, who could swap the mount point under it: give --at a folder under folders only you (or root) own, or leave out --at to mount in the private runtime folder.`);
    }
    if ((st.mode & GROUP_OTHER_WRITE) !== 0 && (st.mode & STICKY) === 0) {
      throw new AppError('VALIDATION', `${d} is writable by other users, who could swap the mount point under it: remove their write permission (chmod go-w ${shellQuote(d)}), or leave out --at to mount in the private runtime folder.`);
    }
    if (dirname(d) === d) break;
  }
  const target = join(realParent, basename(dir));
  let created = false;
  try {
    await fs.mkdir(target, { mode: 0o700 });
    created = true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') throw new AppError('MOUNT_FAILED', `${dir} cannot be used as a mount point (${code ?? 'error'}).`);
  }
  try {
    const st = await fs.lstat(target);
    if (st.isSymbolicLink()) throw new AppError('VALIDATION', `${dir} is a symbolic link: give --at the real empty folder.`);
    if (!st.isDirectory()) throw new AppError('VALIDATION', `${dir} is not a folder: give --at an empty folder.`);
    if (uid !== undefined && st.uid !== uid) throw new AppError('VALIDATION', `${dir} belongs to another user: give --at an empty folder of your own.`);
    if ((st.mode & GROUP_OTHER_WRITE) !== 0) throw new AppError('VALIDATION', `${dir} is writable by other users: remove their write permission (chmod go-w ${shellQuote(dir)}) or give --at a private empty folder.`);
    await ensureEmpty(target);
  } catch (e) {
    if (created) await fs.rmdir(target).catch(() => undefined);
    throw e;
  }
  return { dir: target, created };
}

/** Asks the process serving a mount to unmount it and waits (up to `timeoutMs`); cleans up after a dead process. */
export async function requestUnmount(registry: MountRegistry, id: string, timeoutMs = 15_000): Promise<'stopped' | 'cleaned'> {
  const list = await registry.list();
  const found = list.find((x) => x.entry.id === id);
  if (found === undefined) throw new AppError('NOT_FOUND', `No active mount with id ${id}. List mounts with \`model-vault mounts\`.`);
  if (!found.alive) {
    await cleanStale(registry, found.entry);
    return 'cleaned';
  }
  await registry.requestStop(id);
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await registry.read(id)) === undefined) return 'stopped';
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new AppError('MOUNT_FAILED', `The process serving mount ${id} (pid ${String(found.entry.pid)}) did not unmount in time. Close the programs reading it, then try again.`);
}

/** Removes what a dead process left behind: its FUSE mount, its keys folder, its entry. */
export async function cleanStale(registry: MountRegistry, entry: MountEntry): Promise<void> {
  if (entry.mode === 'fuse' && entry.mountpoint !== undefined) {
    await lazyUnmount(entry.mountpoint).catch(() => undefined);
  }
  if (entry.keysDir !== undefined) await fs.rm(entry.keysDir, { recursive: true, force: true });
  await registry.remove(entry.id);
}
