/**
 * Operations of mounting a verified model for a local runtime (issue 8): fuse, http and keys modes, active mounts.
 * Spread into CONTRACT (app/ipc/contract.ts); channels are `domain:verb`. Request schemas are strict valibot objects;
 * responses are plain data and never carry key material, passphrases, plaintext weights or tokens.
 * Long operations take `taskId: TASK_ID` (app/ipc/task.ts) and report progress through their handler context.
 */
export const MOUNT_OPERATIONS = {} as const;
