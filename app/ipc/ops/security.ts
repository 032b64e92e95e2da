/**
 * Operations of the security view (issue 7): key inventory (never key bytes), offline rotation wizard, audit log viewer.
 * Spread into CONTRACT (app/ipc/contract.ts); channels are `domain:verb`. Request schemas are strict valibot objects;
 * responses are plain data and never carry key material, passphrases, plaintext weights or tokens.
 * Long operations take `taskId: TASK_ID` (app/ipc/task.ts) and report progress through their handler context.
 */
export const SECURITY_OPERATIONS = {} as const;
