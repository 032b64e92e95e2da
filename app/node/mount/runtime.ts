/**
 * The private runtime folder of mounts, and the registry of active mounts in it.
 *
 * Folder: `$MODEL_VAULT_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/model-vault`, else `<tmp>/model-vault-<uid>`; created
 * 0700 and refused when it exists with another owner or any group/other permission (someone could watch or swap
 * our mount points). Inside:
 *
 *   mnt/<id>/           default FUSE mount points
 *   mounts/<id>.json    one registry entry per active mount (0600): id, pid, mode, model, where to reach it
 *   mounts/<id>.token   the HTTP mode's bearer token (0600), so that commands can use `$(cat …)` instead of
 *                       showing it; removed on unmount
 *   mounts/<id>.stop    an unmount request: `model-vault unmount` (or another host) creates it; the process serving
 *                       the mount sees it within STOP_POLL_MS, unmounts and removes the entry
 *
 * A process that serves mounts owns their entries; an entry whose pid is gone is stale and is cleaned up by the next
 * `mounts` or `unmount` (FUSE mount point unmounted lazily, keys folder removed).
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as v from 'valibot';
import { AppError, isAppError } from '../../errors.ts';
import { toHex } from '../../crypto/encoding.ts';
import { randomBytes } from '../../crypto/random.ts';
import type { Env } from '../keys/paths.ts';
import { MOUNT_MODE_NAMES } from '../../ipc/ops/mount.ts';

export const STOP_POLL_MS = 500;

/** The mount modes: one list, the contract's. */
export { MOUNT_MODE_NAMES as MOUNT_MODES, type MountModeName as MountMode } from '../../ipc/ops/mount.ts';

const EntrySchema = v.strictObject({
  format: v.literal('model-vault/mount'),
  version: v.literal(1),
  id: v.pipe(v.string(), v.regex(/^[0-9a-f]{16}$/)),
  pid: v.pipe(v.number(), v.safeInteger()),
  owner: v.picklist(['cli', 'app']),
  mode: v.picklist(MOUNT_MODE_NAMES),
  model: v.string(),
  files: v.array(v.string()),
  startedAt: v.string(),
  mountpoint: v.optional(v.string()),
  url: v.optional(v.string()),
  tokenFile: v.optional(v.string()),
  keysDir: v.optional(v.string()),
  keysFile: v.optional(v.string()),
  signer: v.optional(v.string()),
  licence: v.optional(v.strictObject({ licenceId: v.string(), notAfter: v.number(), graceSeconds: v.number() })),
});

/** What the registry says about one mount. Nothing secret: the token and keys stay in their 0600 files. */
export type MountEntry = v.InferOutput<typeof EntrySchema>;

export function newMountId(): string {
  return toHex(randomBytes(8));
}

export function runtimeDirOf(env: Env): string {
  const own = env.MODEL_VAULT_RUNTIME_DIR;
  if (own !== undefined && own !== '') return own;
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg !== undefined && xdg !== '') return join(xdg, 'model-vault');
  return join(tmpdir(), `model-vault-${String(process.getuid?.() ?? 'user')}`);
}

/** Creates (or checks) a private 0700 folder owned by us. */
export async function ensurePrivateDir(dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await fs.lstat(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    throw new AppError('MOUNT_FAILED', `${dir} is not a private folder (it must be a directory owned by you with mode 0700). Remove it or set MODEL_VAULT_RUNTIME_DIR to another folder.`);
  }
  return dir;
}

export class MountRegistry {
  private constructor(readonly dir: string) {}

  static async open(env: Env): Promise<MountRegistry> {
    const root = await ensurePrivateDir(runtimeDirOf(env));
    await ensurePrivateDir(join(root, 'mounts'));
    await ensurePrivateDir(join(root, 'mnt'));
    return new MountRegistry(root);
  }

  entryPath(id: string): string {
    return join(this.dir, 'mounts', `${id}.json`);
  }

  tokenPath(id: string): string {
    return join(this.dir, 'mounts', `${id}.token`);
  }

  stopPath(id: string): string {
    return join(this.dir, 'mounts', `${id}.stop`);
  }

  defaultMountpoint(id: string): string {
    return join(this.dir, 'mnt', id);
  }

  async write(entry: MountEntry): Promise<void> {
    const path = this.entryPath(entry.id);
    const tmp = `${path}.${toHex(randomBytes(4))}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(entry, null, 2) + '\n', { mode: 0o600 });
    await fs.rename(tmp, path);
  }

  async writeToken(id: string, token: string): Promise<string> {
    const path = this.tokenPath(id);
    await fs.writeFile(path, token, { mode: 0o600, flag: 'wx' });
    return path;
  }

  async remove(id: string): Promise<void> {
    for (const p of [this.entryPath(id), this.tokenPath(id), this.stopPath(id)]) await fs.rm(p, { force: true });
  }

  async read(id: string): Promise<MountEntry | undefined> {
    let text: string;
    try {
      text = await fs.readFile(this.entryPath(id), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      const r = v.safeParse(EntrySchema, JSON.parse(text));
      return r.success ? r.output : undefined;
    } catch {
      return undefined;
    }
  }

  /** Every entry, with whether its serving process is still alive. */
  async list(): Promise<{ entry: MountEntry; alive: boolean }[]> {
    const names = await fs.readdir(join(this.dir, 'mounts'));
    const out: { entry: MountEntry; alive: boolean }[] = [];
    for (const n of names.filter((x) => /^[0-9a-f]{16}\.json$/.test(x)).sort()) {
      const entry = await this.read(n.slice(0, 16));
      if (entry !== undefined) out.push({ entry, alive: processAlive(entry.pid) });
    }
    return out;
  }

  async requestStop(id: string): Promise<void> {
    await fs.writeFile(this.stopPath(id), '', { mode: 0o600 });
  }

  async stopRequested(id: string): Promise<boolean> {
    try {
      await fs.access(this.stopPath(id));
      return true;
    } catch {
      return false;
    }
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return isAppError(e) ? false : (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
