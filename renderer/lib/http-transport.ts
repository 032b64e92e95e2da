/**
 * The browser transport for the web host (`model-vault ui`): the same `window.api` as the Electron preload gives,
 * over `POST /rpc/<channel>` and a server-sent event stream, with the per-launch token in a header.
 *
 * The token arrives in the URL fragment (never sent to any server, never in history once read): we move it to
 * sessionStorage, so a reload keeps working, and strip it from the address bar.
 */
import { type Channel, type Result, type Transport, PROGRESS_EVENT } from '../../app/ipc/contract.ts';
import { fromWire, toWire } from '../../app/ipc/wire.ts';

const TOKEN_HEADER = 'x-model-vault-token';
const STORAGE_KEY = 'model-vault.session-token';
const RECONNECT_MS = 2000;

function takeToken(): string | undefined {
  const match = /(?:^#|&)token=([0-9a-f]{16,128})/.exec(window.location.hash);
  if (match?.[1] !== undefined) {
    sessionStorage.setItem(STORAGE_KEY, match[1]);
    history.replaceState(null, '', window.location.pathname + window.location.search);
    return match[1];
  }
  return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
}

function failure(code: 'AUTH_FAILED' | 'INTERNAL', message: string): Result<unknown> {
  return { ok: false, error: { code, message } };
}

export function createHttpTransport(): Transport {
  const token = takeToken();
  const listeners = new Set<(payload: unknown) => void>();
  let streamStarted = false;

  async function pump(): Promise<void> {
    for (;;) {
      try {
        const res = await fetch('./events', { headers: { [TOKEN_HEADER]: token ?? '' }, cache: 'no-store' });
        if (res.status === 401 || res.body === null) return;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = /^event: (.*)$/m.exec(frame)?.[1];
            const data = /^data: (.*)$/m.exec(frame)?.[1];
            if (event === PROGRESS_EVENT && data !== undefined) {
              const payload = fromWire(JSON.parse(data) as unknown);
              for (const l of listeners) l(payload);
            }
          }
        }
      } catch {
        // the host went away or restarted: try again shortly
      }
      await new Promise((r) => setTimeout(r, RECONNECT_MS));
    }
  }

  return {
    async invoke(channel: Channel, request: unknown): Promise<Result<unknown>> {
      if (token === undefined) return failure('AUTH_FAILED', 'No session token: open the exact URL printed by `model-vault ui` (it carries the token).');
      let res: Response;
      try {
        res = await fetch(`./rpc/${encodeURIComponent(channel)}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', [TOKEN_HEADER]: token },
          body: JSON.stringify(toWire(request ?? {})),
          cache: 'no-store',
        });
      } catch {
        return failure('INTERNAL', 'The Model Vault host is not answering: is `model-vault ui` still running?');
      }
      try {
        return fromWire(await res.json()) as Result<unknown>;
      } catch {
        return failure('INTERNAL', `The host answered ${res.status} without a readable result.`);
      }
    },
    subscribe(_event, callback) {
      listeners.add(callback);
      if (!streamStarted && token !== undefined) {
        streamStarted = true;
        void pump();
      }
      return () => {
        listeners.delete(callback);
      };
    },
  };
}
