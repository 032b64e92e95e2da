/**
 * Operations of the producer view (issue 7): scan a model folder, package with progress, verify, publish to the broker, published models.
 * Spread into CONTRACT (app/ipc/contract.ts); channels are `domain:verb`. Request schemas are strict valibot objects;
 * responses are plain data and never carry key material, passphrases, plaintext weights or tokens.
 * Long operations take `taskId: TASK_ID` (app/ipc/task.ts) and report progress through their handler context.
 */
export const PRODUCER_OPERATIONS = {} as const;
