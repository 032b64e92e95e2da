/**
 * Operations of the subscriber view (issue 7): broker enrollment, licences, import from a file or the broker, verify report.
 * Spread into CONTRACT (app/ipc/contract.ts); channels are `domain:verb`. Request schemas are strict valibot objects;
 * responses are plain data and never carry key material, passphrases, plaintext weights or tokens.
 * Long operations take `taskId: TASK_ID` (app/ipc/task.ts) and report progress through their handler context.
 */
export const SUBSCRIBER_OPERATIONS = {} as const;
