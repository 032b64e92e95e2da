/**
 * HTTP mode, where FUSE is unavailable: the same MountView served on 127.0.0.1 only, behind a per-mount token.
 *
 *   GET  /                      → JSON index {files:[{path,size,kind}]}
 *   GET  /files/<path>          → the file (Range: bytes=a-b | a- | -n → 206 with Content-Range; else 200)
 *   HEAD /files/<path>          → the headers only (Content-Length, Accept-Ranges: bytes)
 *
 * Every request needs `Authorization: Bearer <token>` (compared in constant time); the token is 32 random bytes,
 * shown once to the user who started the mount and never logged. Bodies are produced by reading the view in
 * bounded pieces, so one request never holds more than PIECE_BYTES of plaintext besides the shared chunk cache.
 * Responses carry `Cache-Control: no-store`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError, isAppError } from '../../errors.ts';
import { ctEqual, utf8, wipe } from '../../crypto/bytes.ts';
import { toB64url } from '../../crypto/encoding.ts';
import { randomBytes } from '../../crypto/random.ts';
import { log } from '../log.ts';
import type { MountView } from './model-view.ts';

const PIECE_BYTES = 1024 * 1024;

export interface HttpMount {
  /** http://127.0.0.1:<port>/ */
  readonly url: string;
  readonly port: number;
  /** The bearer token (secret: shown once to the user, never logged or returned over IPC). */
  readonly token: string;
  close(): Promise<void>;
}

/** Parses one `bytes=` range against a length; undefined when absent, null when unsatisfiable or malformed. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null) return null;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const n = Number(b);
    if (!Number.isSafeInteger(n) || n === 0) return null;
    return { start: Math.max(0, size - n), end: size };
  }
  const start = Number(a);
  const end = b === '' ? size : Math.min(size, Number(b) + 1);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start >= size || end <= start) return null;
  return { start, end };
}

function statusOf(e: unknown): number {
  if (!isAppError(e)) return 500;
  switch (e.code) {
    case 'NOT_FOUND':
      return 404;
    case 'LICENCE_EXPIRED':
    case 'LICENCE_REVOKED':
    case 'LICENCE_INVALID':
    case 'MOUNT_FAILED':
      return 403;
    default:
      return 500;
  }
}

export async function serveHttp(view: MountView, options: { readonly port?: number } = {}): Promise<HttpMount> {
  const token = toB64url(randomBytes(32));
  const tokenBytes = utf8(`Bearer ${token}`);

  function authorized(req: IncomingMessage): boolean {
    const given = req.headers.authorization;
    if (typeof given !== 'string') return false;
    const g = utf8(given);
    return g.length === tokenBytes.length && ctEqual(g, tokenBytes);
  }

  function fail(res: ServerResponse, status: number, code: string, message: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ ok: false, error: { code, message } }));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!authorized(req)) return fail(res, 401, 'AUTH_FAILED', 'Missing or wrong bearer token: send the one in this mount’s token file (Authorization: Bearer $(cat FILE); `model-vault mounts` and the app name the file).');
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'VALIDATION', 'This mount is read-only: only GET and HEAD are served.');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ ok: true, files: view.files }));
      return;
    }
    if (!url.pathname.startsWith('/files/')) return fail(res, 404, 'NOT_FOUND', 'No such resource: files are under /files/<path>.');
    let path: string;
    try {
      path = decodeURIComponent(url.pathname.slice('/files/'.length));
    } catch {
      return fail(res, 400, 'VALIDATION', 'The file path is not valid percent-encoding.');
    }
    const file = view.file(path);
    if (file === undefined) return fail(res, 404, 'NOT_FOUND', 'No such file in the mounted model.');
    const range = parseRange(typeof req.headers.range === 'string' ? req.headers.range : undefined, file.size);
    if (range === null) {
      res.writeHead(416, { 'content-range': `bytes */${String(file.size)}`, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? file.size;
    // Fail before the headers go out when the licence stopped the mount.
    await view.read(path, start, new Uint8Array(0));
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(end - start), 'accept-ranges': 'bytes', 'cache-control': 'no-store' };
    if (range !== undefined) headers['content-range'] = `bytes ${String(start)}-${String(end - 1)}/${String(file.size)}`;
    res.writeHead(range === undefined ? 200 : 206, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    for (let pos = start; pos < end && !res.destroyed; ) {
      const piece = new Uint8Array(Math.min(PIECE_BYTES, end - pos));
      const n = await view.read(path, pos, piece);
      if (n === 0) throw new AppError('IO_ERROR', 'The mounted file ended early.');
      // The stream keeps a reference to the chunk until it is flushed: zero it only after the write callback.
      await new Promise<void>((r) => res.write(piece.subarray(0, n), () => r()));
      wipe(piece);
      pos += n;
    }
    res.end();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!isAppError(e)) log.error('mount http request failed', { error: e instanceof Error ? e.name : typeof e });
      fail(res, statusOf(e), isAppError(e) ? e.code : 'INTERNAL', isAppError(e) ? e.message : 'The read failed.');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new AppError('MOUNT_FAILED', `The HTTP mount could not listen on 127.0.0.1 (${(e as NodeJS.ErrnoException).code ?? 'error'}). Choose another port.`)));
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  return {
    url: `http://127.0.0.1:${String(port)}/`,
    port,
    token,
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
    },
  };
}
