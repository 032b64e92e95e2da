/**
 * Long operations (package, publish, import, rotate, mount …) are *tasks*: the caller chooses the task id, puts it in
 * the request as `taskId`, follows its progress events (`task:progress`, filtered by that id) and may cancel it with
 * `task:cancel { taskId }`. The router (app/node/router.ts) keeps the running tasks; a cancelled task's handler sees
 * its `ctx.signal` aborted and must leave nothing behind. May import only valibot: the preload bundles it.
 */
import * as v from 'valibot';

/** 16 lowercase hex characters (64 random bits), chosen by the caller. */
export const TASK_ID = v.pipe(v.string(), v.regex(/^[0-9a-f]{16}$/, 'a task id is 16 lowercase hex characters'));
