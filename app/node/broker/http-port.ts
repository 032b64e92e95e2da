/** The client's HttpPort over Node's fetch (undici): loopback or TLS; network failures become BROKER_UNREACHABLE. */
import { AppError } from '../../errors.ts';
import type { HttpPort, HttpRequest, HttpResponse } from '../../broker/client.ts';

export function fetchHttpPort(opts: { timeoutMs?: number } = {}): HttpPort {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return {
    async request(req: HttpRequest): Promise<HttpResponse> {
      let res: Response;
      try {
        res = await fetch(req.url, { method: req.method, headers: req.headers, ...(req.body === undefined ? {} : { body: new Uint8Array(req.body) }), signal: AbortSignal.timeout(timeoutMs) });
      } catch (e) {
        throw new AppError('BROKER_UNREACHABLE', 'The broker cannot be reached. Check the broker URL, that it runs, and the network; cached licences stay valid until expiry plus grace.', { cause: e });
      }
      try {
        return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
      } catch (e) {
        throw new AppError('BROKER_UNREACHABLE', 'The broker connection broke during the answer. Retry.', { cause: e });
      }
    },
  };
}
