/**
 * The web host: serves the built renderer and the service router over loopback HTTP, for machines without a display
 * and for browser tests. Same renderer, same services as the Electron shell.
 *
 * Protection, in the order requests are checked:
 * 1. Bound to 127.0.0.1 only.
 * 2. Host header must be our own `127.0.0.1:<port>` or `localhost:<port>` (defeats DNS rebinding).
 * 3. Origin, when sent, must be our own origin, and Sec-Fetch-Site must not be cross-site (defeats CSRF from other
 *    pages and other local servers).
 * 4. Every RPC and the event stream need the per-launch token (32 random bytes, given to the user in the printed
 *    URL's fragment, which browsers never send to servers; the page sends it back in the `x-model-vault-token`
 *    header). Compared in constant time. Missing or wrong → 401.
 * 5. A strict Content-Security-Policy on every page, `nosniff`, no referrer, no caching of RPC answers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ctEqual, utf8 } from '../../crypto/bytes.ts';
import { randomBytes } from '../../crypto/random.ts';
import { toHex } from '../../crypto/encoding.ts';
import { PROGRESS_EVENT } from '../../ipc/contract.ts';
import { fromWire, toWire } from '../../ipc/wire.ts';
import type { Router } from '../router.ts';
import { log } from '../log.ts';

export const TOKEN_HEADER = 'x-model-vault-token';
const MAX_BODY_BYTES = 1024 * 1024;
const HEARTBEAT_MS = 15_000;

/**
 * The page's Content-Security-Policy. `style-src 'unsafe-inline'` is needed by Monaco, which injects the styles of
 * its decorations and themes at run time; scripts stay 'self' only. Monaco's workers are bundled files of our own
 * origin, hence `worker-src 'self'`.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};

export interface WebHostOptions {
  readonly router: Router;
  /** The folder holding the built renderer (index.html and assets). */
  readonly rendererDir: string;
  /** 0 picks a free port. */
  readonly port?: number;
  /** Fixed token for tests; by default 32 random bytes per launch. */
  readonly token?: string;
}

export interface WebHost {
  readonly url: string;
  /** The URL to open, with the token in its fragment. Treat it like a password. */
  readonly launchUrl: string;
  readonly port: number;
  readonly token: string;
  close(): Promise<void>;
}

function securityHeaders(res: ServerResponse): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('X-Frame-Options', 'DENY');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { ok: false, error: { code, message } });
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

export async function startWebHost(options: WebHostOptions): Promise<WebHost> {
  const token = options.token ?? toHex(randomBytes(32));
  const tokenBytes = utf8(token);
  const rendererDir = resolve(options.rendererDir);
  let allowedHosts: ReadonlySet<string> = new Set();
  let allowedOrigins: ReadonlySet<string> = new Set();
  const streams = new Set<ServerResponse>();

  const tokenOk = (req: IncomingMessage): boolean => {
    const given = req.headers[TOKEN_HEADER];
    return typeof given === 'string' && ctEqual(utf8(given), tokenBytes);
  };

  const originOk = (req: IncomingMessage): boolean => {
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin)) return false;
    const site = req.headers['sec-fetch-site'];
    return site === undefined || site === 'same-origin' || site === 'none';
  };

  async function serveStatic(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, 'VALIDATION', 'method not allowed');
      return;
    }
    const rel = pathname === '/' ? 'index.html' : pathname.replace(/^\/+/, '');
    const file = normalize(join(rendererDir, rel));
    if (file !== rendererDir && !file.startsWith(rendererDir + sep)) {
      sendError(res, 404, 'NOT_FOUND', 'not found');
      return;
    }
    try {
      const info = await stat(file);
      if (!info.isFile()) throw new Error('not a file');
      const body = await readFile(file);
      const type = MIME[extname(file)] ?? 'application/octet-stream';
      const headers: Record<string, string | number> = { 'Content-Type': type, 'Content-Length': body.length };
      if (type.startsWith('text/html')) {
        headers['Content-Security-Policy'] = CONTENT_SECURITY_POLICY;
        headers['Cache-Control'] = 'no-store';
      } else {
        headers['Cache-Control'] = 'no-cache';
      }
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      if (rel === 'index.html') {
        sendError(res, 503, 'NOT_FOUND', 'the renderer is not built: run `npm run build:renderer` and start the web host again');
      } else {
        sendError(res, 404, 'NOT_FOUND', 'not found');
      }
    }
  }

  async function serveRpc(req: IncomingMessage, res: ServerResponse, channel: string): Promise<void> {
    if (req.method !== 'POST') {
      sendError(res, 405, 'VALIDATION', 'RPC calls use POST');
      return;
    }
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/json')) {
      sendError(res, 415, 'VALIDATION', 'RPC bodies must be application/json');
      return;
    }
    const body = await readBody(req);
    if (body === undefined) {
      sendError(res, 413, 'VALIDATION', `request body larger than ${MAX_BODY_BYTES} bytes`);
      return;
    }
    let request: unknown;
    try {
      request = fromWire(body.length === 0 ? {} : (JSON.parse(body.toString('utf8')) as unknown));
    } catch {
      sendError(res, 400, 'VALIDATION', 'request body is not valid JSON');
      return;
    }
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const result = await options.router.dispatch(channel, request, abort.signal);
    sendJson(res, 200, toWire(result));
  }

  function serveEvents(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET') {
      sendError(res, 405, 'VALIDATION', 'the event stream uses GET');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write(': connected\n\n');
    streams.add(res);
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    res.on('close', () => {
      clearInterval(heartbeat);
      streams.delete(res);
    });
  }

  const unsubscribe = options.router.onProgress((event) => {
    const frame = `event: ${PROGRESS_EVENT}\ndata: ${JSON.stringify(toWire(event))}\n\n`;
    for (const s of streams) s.write(frame);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    securityHeaders(res);
    const host = req.headers.host;
    if (host === undefined || !allowedHosts.has(host)) {
      sendError(res, 421, 'AUTH_FAILED', 'unexpected Host header: open the URL printed by `model-vault ui`');
      return;
    }
    const url = new URL(req.url ?? '/', `http://${host}`);
    let pathname: string;
    try {
      pathname = decodeURIComponent(url.pathname);
    } catch {
      sendError(res, 400, 'VALIDATION', 'malformed percent-encoding in the request path');
      return;
    }
    const isApi = pathname.startsWith('/rpc/') || pathname === '/events';
    if (isApi) {
      if (!originOk(req)) {
        sendError(res, 403, 'AUTH_FAILED', 'cross-origin requests are refused');
        return;
      }
      if (!tokenOk(req)) {
        sendError(res, 401, 'AUTH_FAILED', 'missing or wrong session token: open the URL printed by `model-vault ui` (it carries the token)');
        return;
      }
      if (pathname === '/events') {
        serveEvents(req, res);
        return;
      }
      await serveRpc(req, res, pathname.slice('/rpc/'.length));
      return;
    }
    await serveStatic(req, res, pathname);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log.error('web host request failed', { error: e instanceof Error ? e.name : typeof e });
      if (!res.headersSent) sendError(res, 500, 'INTERNAL', 'internal error');
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // long operations (packaging) may take minutes; the event stream stays open

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolveListen());
  });
  const port = (server.address() as AddressInfo).port;
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  allowedOrigins = new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
  const url = `http://127.0.0.1:${port}/`;

  return {
    url,
    launchUrl: `${url}#token=${token}`,
    port,
    token,
    async close() {
      unsubscribe();
      for (const s of streams) s.end();
      streams.clear();
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
    },
  };
}
