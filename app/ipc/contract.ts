/**
 * The one IPC contract (STYLE §2). For each operation: its channel (`domain:verb`), the request schema checked at
 * run time by the receiving side, and the response type. The main-process handlers, the preload bridge, the web
 * host's HTTP transport and the renderer's `window.api` type are all derived from this file; no channel string
 * appears anywhere else.
 *
 * Rules for what crosses this boundary:
 * - plain data only (plain objects, arrays, strings, numbers, booleans, null, Uint8Array);
 * - results, not throws: `{ ok: true, value }` or `{ ok: false, error: { code, message } }`;
 * - never key material, passphrases, plaintext weights or tokens: ids, fingerprints and statuses only.
 *
 * The operations of each area live in their own table under app/ipc/ops/ (producer, subscriber, security, mount) and
 * are spread into CONTRACT below; a channel's domain is the part before the colon.
 *
 * This file and app/ipc/ops/ may import only valibot, app/errors.ts (types), app/ipc/response.ts and app/ipc/task.ts
 * (the preload bundles them).
 */
import * as v from 'valibot';
import type { ErrorInfo } from '../errors.ts';
import { type ResponseOf, response } from './response.ts';
import { TASK_ID } from './task.ts';
import { MOUNT_OPERATIONS } from './ops/mount.ts';
import { PRODUCER_OPERATIONS } from './ops/producer.ts';
import { SECURITY_OPERATIONS } from './ops/security.ts';
import { SUBSCRIBER_OPERATIONS } from './ops/subscriber.ts';

export type { ResponseOf } from './response.ts';
export { TASK_ID } from './task.ts';

// ---------------------------------------------------------------------------------------------------------------
// Response types
// ---------------------------------------------------------------------------------------------------------------

export interface KeychainStatus {
  readonly available: boolean;
  /** Which backend was probed, e.g. "Secret Service (libsecret)". */
  readonly backend: string;
  /** Why it is unavailable, and what to do instead; absent when available. */
  readonly reason?: string;
}

export interface BrokerStatus {
  readonly mode: 'embedded' | 'remote';
  /** For `embedded`: the SQLite database file; for `remote`: the broker URL. */
  readonly location: string;
}

export interface AppStatus {
  readonly name: string;
  readonly version: string;
  /** Where the app keeps its data (keystore, trust store, audit log, embedded broker database). */
  readonly dataDir: string;
  readonly keychain: KeychainStatus;
  readonly broker: BrokerStatus;
  /** How the renderer is hosted: the Electron shell or the loopback web host. */
  readonly host: 'electron' | 'web';
  readonly platform: string;
  readonly runtime: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------------------------

const EMPTY_REQUEST = v.strictObject({});

export const CONTRACT = {
  'app:status': { request: EMPTY_REQUEST, response: response<AppStatus>() },
  /** Cancels a running task (app/ipc/task.ts); answers whether a task with that id was running. Served by the router. */
  'task:cancel': { request: v.strictObject({ taskId: TASK_ID }), response: response<{ readonly cancelled: boolean }>() },
  ...PRODUCER_OPERATIONS,
  ...SUBSCRIBER_OPERATIONS,
  ...SECURITY_OPERATIONS,
  ...MOUNT_OPERATIONS,
} as const;

export type Contract = typeof CONTRACT;
export type Channel = keyof Contract;
export type RequestOf<C extends Channel> = v.InferInput<Contract[C]['request']>;
export type ParsedRequestOf<C extends Channel> = v.InferOutput<Contract[C]['request']>;
export type ResponseValueOf<C extends Channel> = Contract[C]['response'] extends ResponseOf<infer T> ? T : never;

export const CHANNELS: readonly Channel[] = Object.freeze(Object.keys(CONTRACT) as Channel[]);

export function isChannel(value: unknown): value is Channel {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(CONTRACT, value);
}

// ---------------------------------------------------------------------------------------------------------------
// Results and events
// ---------------------------------------------------------------------------------------------------------------

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ErrorInfo };

/** Progress of a long operation, pushed from main to the renderer. */
export interface ProgressEvent {
  /** The id of the operation instance (returned by the operation that started it). */
  readonly taskId: string;
  readonly channel: Channel;
  readonly phase: string;
  readonly done: number;
  readonly total: number;
  /** Bytes per second, when it applies. */
  readonly rate?: number;
  /** Seconds left, when known. */
  readonly etaSeconds?: number;
  readonly message?: string;
}

/** The event channel for progress (main → renderer). */
export const PROGRESS_EVENT = 'task:progress';

/** Parses an event payload coming from the transport; anything malformed is dropped by the caller. */
export const PROGRESS_EVENT_SCHEMA = v.object({
  taskId: v.string(),
  channel: v.picklist(CHANNELS),
  phase: v.string(),
  done: v.number(),
  total: v.number(),
  rate: v.optional(v.number()),
  etaSeconds: v.optional(v.number()),
  message: v.optional(v.string()),
});

// ---------------------------------------------------------------------------------------------------------------
// The renderer-facing API, derived from the contract: `api.app.status({})` for channel `app:status`.
// ---------------------------------------------------------------------------------------------------------------

type DomainOf<C extends string> = C extends `${infer D}:${string}` ? D : never;
type Domains = DomainOf<Channel>;

export type DomainApi<D extends string> = {
  readonly [C in Channel as C extends `${D}:${infer V}` ? V : never]: (request: RequestOf<C>) => Promise<Result<ResponseValueOf<C>>>;
};

export type Api = { readonly [D in Domains]: DomainApi<D> } & {
  /** Subscribes to progress events; returns the function that unsubscribes. */
  readonly onProgress: (callback: (event: ProgressEvent) => void) => () => void;
  /**
   * Electron only (the preload's `webUtils.getPathForFile`): the path on disk of a File the user dropped, so a
   * dropped model folder is read in place. Absent in the web host, whose page has no paths (dropped files are
   * uploaded to a staging folder instead: `producer:stage*`). `file` is a DOM File; typed unknown here because this
   * file has no DOM types.
   */
  readonly pathForFile?: (file: unknown) => string;
};

/** How a transport (Electron IPC or loopback HTTP) sends a request and delivers events. */
export interface Transport {
  invoke(channel: Channel, request: unknown): Promise<Result<unknown>>;
  subscribe(event: typeof PROGRESS_EVENT, callback: (payload: unknown) => void): () => void;
}

/** Builds `window.api` over a transport. Only contract channels exist on it; responses are passed through. */
export function buildApi(transport: Transport): Api {
  const domains: Record<string, Record<string, (request: unknown) => Promise<Result<unknown>>>> = {};
  for (const channel of CHANNELS) {
    const [domain, verb] = channel.split(':') as [string, string];
    const table = (domains[domain] ??= {});
    table[verb] = (request: unknown) => transport.invoke(channel, request);
  }
  const onProgress = (callback: (event: ProgressEvent) => void): (() => void) =>
    transport.subscribe(PROGRESS_EVENT, (payload) => {
      const parsed = v.safeParse(PROGRESS_EVENT_SCHEMA, payload);
      if (parsed.success) callback(parsed.output);
    });
  for (const table of Object.values(domains)) Object.freeze(table);
  return Object.freeze({ ...domains, onProgress }) as unknown as Api;
}

/** Validates a request against its channel's schema. */
export function parseRequest<C extends Channel>(channel: C, request: unknown): { ok: true; value: ParsedRequestOf<C> } | { ok: false; message: string } {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) return { ok: false, message: `invalid request for ${channel}: expected an object` };
  const schema = CONTRACT[channel].request;
  const parsed = v.safeParse(schema, request);
  if (parsed.success) return { ok: true, value: parsed.output };
  const first = parsed.issues[0];
  const path = first?.path?.map((p) => String(p.key)).join('.') ?? '';
  return { ok: false, message: `invalid request for ${channel}${path === '' ? '' : ` at '${path}'`}: ${first?.message ?? 'does not match the schema'}` };
}
