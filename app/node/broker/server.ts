/**
 * The broker HTTP server (Fastify, 127.0.0.1 by default). Bodies are kept as raw bytes so the signature covers
 * exactly what was received; each route parses its body with its valibot schema after authentication. Answers are
 * `{ok: true, value}` or `{ok: false, error: {code, message}}` (never a stack, never a secret).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import * as v from 'valibot';
import { AppError, isAppError, type ErrorCode } from '../../errors.ts';
import { fromUtf8 } from '../../crypto/bytes.ts';
import {
  AddDeviceRequestSchema, AttestRequestSchema, ChallengeRequestSchema, EnrollRequestSchema, InviteRequestSchema, KeyRequestSchema,
  MAX_BODY_BYTES, MAX_PUBLISH_BODY_BYTES, PublishRequestSchema, RevokeDeviceRequestSchema, RevokeSubscriptionRequestSchema, RotationRequestSchema,
  SubscribeRequestSchema, SubscriptionDeviceRequestSchema, SubscriptionRefSchema,
} from '../../broker/messages.ts';
import { fromB64url } from '../../crypto/encoding.ts';
import { log } from '../log.ts';
import { type BrokerService, type Caller } from './service.ts';

const STATUS: Partial<Record<ErrorCode, number>> = {
  VALIDATION: 400, FORMAT_INVALID: 400, TRAILING_BYTES: 400, HEADER_INVALID_JSON: 400, CRYPTO_METADATA_INVALID: 400, KEY_INVALID: 400, KEY_ALG_MISMATCH: 400, POLICY_INVALID: 400,
  AUTH_FAILED: 401, BAD_SIGNATURE: 401, DECRYPT_FAILED: 401, SIGNER_UNTRUSTED: 401,
  BROKER_REJECTED: 403, LICENCE_INVALID: 403, LICENCE_EXPIRED: 403, LICENCE_REVOKED: 403, POLICY_DENIED: 403,
  NOT_FOUND: 404, ALREADY_EXISTS: 409, MANIFEST_MISMATCH: 400, UNSUPPORTED: 400, REPLAY_DETECTED: 409, LIMIT_EXCEEDED: 413, RATE_LIMITED: 429,
  IO_ERROR: 503, KEY_NOT_FOUND: 500, INTERNAL: 500,
};

type Handler = (caller: Caller, body: unknown, query: Readonly<Record<string, string | undefined>>, ip: string) => Promise<unknown>;

interface Route {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly schema?: v.GenericSchema;
  readonly bodyLimit?: number;
  readonly handler: Handler;
}

function parseBody(raw: Uint8Array, schema: v.GenericSchema): unknown {
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(raw));
  } catch {
    throw new AppError('VALIDATION', 'The request body is not valid UTF-8 JSON.');
  }
  const r = v.safeParse(schema, json);
  if (!r.success) {
    const issue = r.issues[0];
    const where = issue?.path?.map((p) => String(p.key)).join('.') ?? '';
    throw new AppError('VALIDATION', `The request body is invalid${where === '' ? '' : ` at ${where.slice(0, 100)}`}: ${(issue?.message ?? 'schema mismatch').slice(0, 200)}.`);
  }
  return r.output;
}

function queryOf(url: string): Record<string, string | undefined> {
  const q = url.indexOf('?');
  if (q < 0) return {};
  return Object.fromEntries(new URLSearchParams(url.slice(q + 1)));
}

export interface BrokerServer {
  readonly app: FastifyInstance;
  readonly service: BrokerService;
  listen(port: number, host?: string): Promise<{ port: number; url: string }>;
  close(): Promise<void>;
}

export function createBrokerServer(service: BrokerService): BrokerServer {
  const app = Fastify({ logger: false, bodyLimit: MAX_BODY_BYTES, trustProxy: false, return503OnClosing: true, forceCloseConnections: true });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => {
    done(null, body);
  });

  const s = service;
  const str = (x: unknown): string => x as string;
  const routes: Route[] = [
    { method: 'POST', url: '/v1/invites', schema: InviteRequestSchema, handler: (c, b) => s.createInvite(c, (b as v.InferOutput<typeof InviteRequestSchema>).role) },
    { method: 'POST', url: '/v1/devices', schema: AddDeviceRequestSchema, handler: (c, b) => { const x = b as v.InferOutput<typeof AddDeviceRequestSchema>; return s.addDevice(c, x.signPubB64u, x.boxPubB64u, x.label); } },
    { method: 'POST', url: '/v1/devices/revoke', schema: RevokeDeviceRequestSchema, handler: (c, b) => s.revokeDevice(c, (b as v.InferOutput<typeof RevokeDeviceRequestSchema>).deviceId) },
    { method: 'POST', url: '/v1/models', schema: PublishRequestSchema, bodyLimit: MAX_PUBLISH_BODY_BYTES, handler: (c, b) => s.publish(c, b as v.InferOutput<typeof PublishRequestSchema>) },
    { method: 'POST', url: '/v1/rotations', schema: RotationRequestSchema, bodyLimit: MAX_PUBLISH_BODY_BYTES, handler: (c, b) => s.rotate(c, b as v.InferOutput<typeof RotationRequestSchema>) },
    { method: 'POST', url: '/v1/subscriptions', schema: SubscribeRequestSchema, handler: (c, b) => { const x = b as v.InferOutput<typeof SubscribeRequestSchema>; return s.subscribe(c, x.modelId, x.deviceIds); } },
    { method: 'POST', url: '/v1/subscriptions/approve', schema: SubscriptionRefSchema, handler: (c, b) => s.approve(c, (b as v.InferOutput<typeof SubscriptionRefSchema>).subscriptionId) },
    { method: 'POST', url: '/v1/subscriptions/revoke', schema: RevokeSubscriptionRequestSchema, handler: (c, b) => { const x = b as v.InferOutput<typeof RevokeSubscriptionRequestSchema>; return s.revokeSubscription(c, x.subscriptionId, x.reason); } },
    { method: 'POST', url: '/v1/subscriptions/devices', schema: SubscriptionDeviceRequestSchema, handler: (c, b) => { const x = b as v.InferOutput<typeof SubscriptionDeviceRequestSchema>; return s.addSubscriptionDevice(c, x.subscriptionId, x.deviceId); } },
    { method: 'GET', url: '/v1/producer/subscriptions', handler: (c) => s.producerSubscriptions(c) },
    { method: 'GET', url: '/v1/sync', handler: (c) => s.sync(c) },
    { method: 'GET', url: '/v1/headers', handler: (c, _b, q) => { if (q.subscriptionId === undefined) throw new AppError('VALIDATION', 'subscriptionId is required.'); return s.headers(c, str(q.subscriptionId)); } },
    { method: 'POST', url: '/v1/release/challenge', schema: ChallengeRequestSchema, handler: (c, b) => s.challenge(c, (b as v.InferOutput<typeof ChallengeRequestSchema>).modelId) },
    { method: 'POST', url: '/v1/release/attest', schema: AttestRequestSchema, handler: (c, b, _q, ip) => s.attest(c, { ...(b as v.InferOutput<typeof AttestRequestSchema>), ip }) },
    { method: 'POST', url: '/v1/release/key', schema: KeyRequestSchema, handler: (c, b) => s.releaseKey(c, b as v.InferOutput<typeof KeyRequestSchema>) },
    {
      method: 'GET', url: '/v1/audit', handler: (c, _b, q) => {
        if (q.modelId === undefined) throw new AppError('VALIDATION', 'modelId is required.');
        const after = Number(q.after ?? '0');
        if (!Number.isSafeInteger(after) || after < 0) throw new AppError('VALIDATION', 'after must be a non-negative integer.');
        return s.auditForModel(c, q.modelId, after);
      },
    },
  ];

  const send = (reply: { code(n: number): { send(x: unknown): unknown } }, e: unknown): unknown => {
    if (isAppError(e)) return reply.code(STATUS[e.code] ?? 400).send({ ok: false, error: { code: e.code, message: e.message } });
    log.error('broker: unexpected error', { name: e instanceof Error ? e.name : typeof e });
    return reply.code(500).send({ ok: false, error: { code: 'INTERNAL', message: 'An unexpected broker error occurred. See the broker log.' } });
  };
  const rawOf = (body: unknown): Uint8Array => (body instanceof Uint8Array ? body : new Uint8Array(0));

  app.get('/v1/info', async (_req, reply) => reply.send({ ok: true, value: s.info() }));

  app.post('/v1/enroll', async (req, reply) => {
    try {
      const raw = rawOf(req.body);
      const body = parseBody(raw, EnrollRequestSchema) as v.InferOutput<typeof EnrollRequestSchema>;
      const signPub = fromB64url(body.signPubB64u);
      if (signPub === undefined) throw new AppError('VALIDATION', 'signPubB64u is not base64url.');
      const device = await s.authenticate(req.method, req.url, req.headers, raw, signPub);
      return await reply.send({ ok: true, value: await s.enroll(body, device as { deviceId: string; signPub: Uint8Array }) });
    } catch (e) {
      return send(reply, e);
    }
  });

  for (const r of routes) {
    app.route({
      method: r.method, url: r.url, ...(r.bodyLimit === undefined ? {} : { bodyLimit: r.bodyLimit }),
      handler: async (req, reply) => {
        try {
          const raw = rawOf(req.body);
          const caller = (await s.authenticate(req.method, req.url, req.headers, raw)) as Caller;
          const body = r.schema === undefined ? undefined : parseBody(raw, r.schema);
          return await reply.send({ ok: true, value: await r.handler(caller, body, queryOf(req.url), req.ip) });
        } catch (e) {
          return send(reply, e);
        }
      },
    });
  }

  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send({ ok: false, error: { code: 'NOT_FOUND', message: 'No such broker endpoint. Check the client version.' } }));
  app.setErrorHandler(async (err: { statusCode?: number; code?: string }, _req, reply) => {
    if (err.statusCode === 413 || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ ok: false, error: { code: 'LIMIT_EXCEEDED', message: 'The request body is too large.' } });
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ ok: false, error: { code: 'VALIDATION', message: 'The request is malformed.' } });
    return send(reply, err);
  });

  return {
    app,
    service,
    async listen(port: number, host = '127.0.0.1'): Promise<{ port: number; url: string }> {
      await app.listen({ port, host });
      const addr = app.server.address();
      const actual = typeof addr === 'object' && addr !== null ? addr.port : port;
      return { port: actual, url: `http://${host}:${actual}` };
    },
    async close(): Promise<void> {
      await app.close();
      service.close();
    },
  };
}
