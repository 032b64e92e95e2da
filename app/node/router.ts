/**
 * The service router: dispatches contract operations to their handlers. The Electron main process registers it on
 * ipcMain (main/ipc/register.ts) and the web host serves it over loopback HTTP (app/node/web/host.ts), so both hosts
 * run exactly the same services.
 *
 * The router trusts nothing: the channel must be in the contract, the request is parsed with the channel's schema,
 * and every failure becomes `{ ok: false, error }` with a safe message (unexpected errors are logged here, by
 * operation name only, and reported as INTERNAL).
 */
import { type Channel, type ParsedRequestOf, type ProgressEvent, type Result, type ResponseValueOf, CHANNELS, isChannel, parseRequest } from '../ipc/contract.ts';
import { AppError, BugError, isAppError, toErrorInfo } from '../errors.ts';
import { randomBytes } from '../crypto/random.ts';
import { toHex } from '../crypto/encoding.ts';
import { log } from './log.ts';

export interface HandlerContext {
  /** A fresh id for this call, used to tag progress events. */
  readonly taskId: string;
  /** Reports progress of this call to every subscriber. */
  progress(update: Omit<ProgressEvent, 'taskId' | 'channel'>): void;
  /** Aborted when the caller goes away (window closed, HTTP client disconnected). */
  readonly signal: AbortSignal;
}

export type Handler<C extends Channel> = (request: ParsedRequestOf<C>, ctx: HandlerContext) => Promise<ResponseValueOf<C>>;
/** Channels the router serves itself. */
export type RouterChannel = 'task:cancel';
export type Handlers = { readonly [C in Exclude<Channel, RouterChannel>]: Handler<C> };
/** The handlers of one operation table (app/ipc/ops/*): what each service module exports. */
export type HandlersOf<Ops> = { readonly [C in keyof Ops & Exclude<Channel, RouterChannel>]: Handler<C> };

export interface Router {
  dispatch(channel: unknown, request: unknown, signal?: AbortSignal): Promise<Result<unknown>>;
  /** Subscribes to progress events of all calls; returns the unsubscribe function. */
  onProgress(listener: (event: ProgressEvent) => void): () => void;
}

function newTaskId(): string {
  return toHex(randomBytes(8));
}

function requestTaskId(request: unknown): string | undefined {
  const id = (request as { taskId?: unknown }).taskId;
  return typeof id === 'string' ? id : undefined;
}

export function createRouter(handlers: Handlers): Router {
  for (const channel of CHANNELS) {
    if (channel === 'task:cancel') continue;
    if (typeof handlers[channel] !== 'function') throw new BugError(`no handler for contract channel ${channel}`);
  }
  const listeners = new Set<(event: ProgressEvent) => void>();
  /** Running tasks with a caller-chosen id (app/ipc/task.ts), so that `task:cancel` can abort them. */
  const running = new Map<string, AbortController>();

  const emit = (event: ProgressEvent): void => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (e) {
        log.warn('progress listener failed', { error: e instanceof Error ? e.name : 'unknown' });
      }
    }
  };

  async function run<C extends Channel>(channel: C, raw: unknown, signal: AbortSignal): Promise<Result<unknown>> {
    const parsed = parseRequest(channel, raw);
    if (!parsed.ok) return { ok: false, error: { code: 'VALIDATION', message: parsed.message } };
    if (channel === 'task:cancel') {
      const controller = running.get((parsed.value as ParsedRequestOf<'task:cancel'>).taskId);
      controller?.abort();
      return { ok: true, value: { cancelled: controller !== undefined } };
    }
    const chosen = requestTaskId(parsed.value);
    if (chosen !== undefined && running.has(chosen)) {
      return { ok: false, error: { code: 'VALIDATION', message: 'a task with this id is already running: start it with a fresh task id' } };
    }
    const taskId = chosen ?? newTaskId();
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    if (signal.aborted) controller.abort();
    else signal.addEventListener('abort', onAbort, { once: true });
    if (chosen !== undefined) running.set(chosen, controller);
    const ctx: HandlerContext = {
      taskId,
      signal: controller.signal,
      progress: (update) => emit({ ...update, taskId, channel }),
    };
    try {
      const handler = handlers[channel as Exclude<C, RouterChannel>] as Handler<C>;
      const value = await handler(parsed.value, ctx);
      return { ok: true, value };
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (chosen !== undefined) running.delete(chosen);
    }
  }

  return {
    async dispatch(channel, request, signal) {
      if (!isChannel(channel)) {
        return { ok: false, error: { code: 'VALIDATION', message: 'unknown operation: not in the IPC contract' } };
      }
      try {
        return await run(channel, request, signal ?? new AbortController().signal);
      } catch (e) {
        if (!isAppError(e)) log.error('operation failed unexpectedly', { channel, error: e instanceof Error ? e.name : typeof e });
        return { ok: false, error: toErrorInfo(e) };
      }
    },
    onProgress(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}

/** Unwraps a result or throws its error as an AppError (for callers in app/node/ and the CLI). */
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw new AppError(result.error.code, result.error.message);
}
