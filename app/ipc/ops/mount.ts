/**
 * Operations of mounting a verified model for a local runtime (issue 8): fuse, http and keys modes, active mounts.
 * Spread into CONTRACT (app/ipc/contract.ts); channels are `domain:verb`. Request schemas are strict valibot objects;
 * responses are plain data and never carry key material, passphrases, plaintext weights or tokens.
 * Long operations take `taskId: TASK_ID` (app/ipc/task.ts) and report progress through their handler context.
 *
 * - `mount:start`  a task: verify the model (signature, policy, manifest of side files), get its key (the local key
 *                  sources and trust store, or the broker's release to the subscriber device with the licence guarding
 *                  the mount) and serve it. Cancelling it leaves no mount behind.
 * - `mount:stop`   unmount one of the mounts this app started.
 * - `mount:list`   the app's active mounts with their connection details, mounts of other processes (the CLI), and
 *                  whether FUSE is available here. The HTTP token and released keys stay in 0600 files: listings name
 *                  the files, and the commands shown read them with `$(cat …)`.
 */
import * as v from 'valibot';
import { response } from '../response.ts';
import { TASK_ID } from '../task.ts';

const PATH = v.pipe(v.string(), v.minLength(1), v.maxLength(4096), v.check((p) => !p.includes('\0'), 'a path cannot contain NUL'));
const MOUNT_ID = v.pipe(v.string(), v.regex(/^[0-9a-f]{16}$/, 'a mount id is 16 lowercase hex characters'));

export const MOUNT_MODE_NAMES = ['fuse', 'http', 'keys'] as const;
export type MountModeName = (typeof MOUNT_MODE_NAMES)[number];

export interface MountSummary {
  readonly id: string;
  readonly mode: MountModeName;
  /** The packaged model folder or file. */
  readonly model: string;
  readonly files: readonly string[];
  readonly startedAt: string;
  /** `app`: started by this app (it can stop it); `cli`: by a `model-vault mount` process. */
  readonly owner: 'app' | 'cli';
  readonly pid: number;
  readonly mountpoint?: string;
  readonly url?: string;
  readonly tokenFile?: string;
  readonly keysFile?: string;
  readonly signer?: string;
  readonly licence?: { readonly licenceId: string; readonly notAfter: number; readonly graceSeconds: number };
  /** How a runtime connects: variables (values hold no secret) and an example command. */
  readonly connect?: { readonly env: Readonly<Record<string, string>>; readonly command: string };
}

export interface MountList {
  readonly mounts: readonly MountSummary[];
  readonly fuse: { readonly available: boolean; readonly reason?: string };
  /** The private runtime folder holding the mount points and the registry. */
  readonly runtimeDir: string;
}

export const MOUNT_OPERATIONS = {
  'mount:start': {
    request: v.strictObject({
      taskId: TASK_ID,
      model: PATH,
      mode: v.picklist(MOUNT_MODE_NAMES),
      /** `local`: key sources and trust store; `broker`: released to this app's subscriber device for `modelId`. */
      keySource: v.picklist(['local', 'broker']),
      modelId: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(128))),
      /** FUSE only: an empty folder to mount on (default: the private runtime folder). */
      at: v.optional(PATH),
    }),
    response: response<MountSummary>(),
  },
  'mount:stop': { request: v.strictObject({ id: MOUNT_ID }), response: response<{ readonly stopped: true }>() },
  'mount:list': { request: v.strictObject({}), response: response<MountList>() },
} as const;
