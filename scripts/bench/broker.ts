/**
 * Broker load benchmark (not a test): key releases (challenge → attest → key) from concurrent clients over loopback
 * against a broker in a separate process. Prints one JSON line with `--json`:
 *   {"db", "clients", "seconds", "requests", "req_per_s", "p50_ms", "p99_ms", "errors", "releases_per_s"}
 *
 *   npm run bench:broker -- --json [--clients 64] [--seconds 10] [--db sqlite|postgres] [--no-floor]
 *
 * After the run it measures the machine's floor in the same run: the same client stack and concurrency against a
 * bare Fastify route that does no work (`floor_*`, `req_per_s_vs_floor`), and one Ed25519 verification
 * (`ed25519_verify_us`, paid by the broker on every request).
 *
 * `--db postgres` uses MV_PG_URL (a fresh schema, dropped afterwards). Target (issue 6): SQLite at 64 clients
 * ≥ 2000 req/s, p99 ≤ 20 ms, 0 errors.
 */
import { spawn } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { BrokerClient, headerHash, type HttpPort } from '../../app/broker/client.ts';
import { deviceIdFor, type DeviceSigner } from '../../app/broker/request-signing.ts';
import { generateBoxKeyPair } from '../../app/broker/seal.ts';
import { randomBytes } from '../../app/crypto/random.ts';
import { toHex } from '../../app/crypto/sha256.ts';
import { ed25519PublicKey } from '../../app/crypto/ed25519.ts';
import { signingKeyFromSeed } from '../../app/format/keys.ts';
import { PREFIX_BYTES, readHeaderLength } from '../../app/format/safetensors.ts';
import { encodeModel } from '../../app/format/writer.ts';
import { toB64url } from '../../app/crypto/encoding.ts';
import { fetchHttpPort } from '../../app/node/broker/http-port.ts';
import { parseKekText } from '../../app/node/broker/kek.ts';
import { startBroker } from '../../app/node/broker/start.ts';

const argv = process.argv.slice(2);
const flag = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? (argv[i + 1] as string) : dflt;
};

// ---- child mode: the broker under test --------------------------------------------------------------------------

if (argv[0] === '--serve-child') {
  const kek = parseKekText(process.env.MV_BROKER_KEK ?? '');
  const broker = await startBroker({ dbSpec: argv[1] as string, kek, bootstrapSecret: process.env.MV_BROKER_BOOTSTRAP, ratePerSecond: 1e9, rateBurst: 1e9 });
  process.stdout.write(JSON.stringify({ url: broker.url }) + '\n');
  // the parent asks for this process's CPU time before and after the run (a load-independent cost per request)
  process.on('message', () => process.send?.(process.cpuUsage()));
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await broker.close();
  process.exit(0);
}

// ---- child mode: the floor (a bare Fastify server on the same machine) ---------------------------------------------

if (argv[0] === '--floor-child') {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  // an answer of the size of a key release's, no work at all
  const answer = { ok: true, value: { status: 'ok', pad: 'x'.repeat(420) } };
  app.post('/floor', async (_req, reply) => reply.send(answer));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}` }) + '\n');
  process.on('message', () => process.send?.(process.cpuUsage()));
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await app.close();
  process.exit(0);
}

// ---- parent mode: the load ----------------------------------------------------------------------------------------

const json = argv.includes('--json');
const clients = Number(flag('clients', '64'));
const seconds = Number(flag('seconds', '10'));
const dbKind = flag('db', 'sqlite');
const say = (t: string): void => {
  process.stderr.write(t + '\n');
};

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
function nodeSigner(seed: Uint8Array): DeviceSigner {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const signPub = ed25519PublicKey(seed);
  return { deviceId: deviceIdFor(signPub), signPub, sign: (m) => new Uint8Array(nodeSign(null, m, key)) };
}

/**
 * The load client's HttpPort over node:http with a keep-alive agent (one socket per client): fetch (undici) costs
 * several times more CPU per request, and the client shares the machine's cores with the broker under test.
 */
function nodeHttpPort(): HttpPort {
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  return {
    request: (req) => new Promise((resolve, reject) => {
      const r = httpRequest(req.url, { method: req.method, headers: { ...req.headers, ...(req.body === undefined ? {} : { 'content-length': String(req.body.length) }) }, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: new Uint8Array(Buffer.concat(chunks)) }));
        res.on('error', reject);
      });
      r.on('error', reject);
      r.end(req.body === undefined ? undefined : Buffer.from(req.body.buffer, req.body.byteOffset, req.body.length));
    }),
  };
}

/** Times every HTTP request. */
function timedPort(inner: HttpPort, samples: number[], errors: { n: number }): HttpPort {
  return {
    async request(req) {
      const t0 = performance.now();
      try {
        const r = await inner.request(req);
        if (r.status !== 200) errors.n++;
        return r;
      } catch (e) {
        errors.n++;
        throw e;
      } finally {
        samples.push(performance.now() - t0);
      }
    },
  };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
}

async function childUrl(child: ReturnType<typeof spawn>): Promise<string> {
  const out = child.stdout;
  if (out === null) throw new Error('no pipe to the child');
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: out }).once('line', resolve);
    child.once('exit', () => reject(new Error('the child exited')));
  });
  return (JSON.parse(line) as { url: string }).url;
}

function childCpu(child: ReturnType<typeof spawn>): Promise<NodeJS.CpuUsage> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as NodeJS.CpuUsage));
    child.send('cpu');
  });
}

/**
 * The machine's floor for this load: the same client stack and concurrency against a bare Fastify route that does
 * nothing (no signature, no database, an answer of a key release's size). No broker can beat it on this machine.
 */
async function floorRun(http: HttpPort, secs: number): Promise<{ req_per_s: number; p50_ms: number; p99_ms: number; server_cpu_ms_per_req: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--floor-child'], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  try {
    const url = `${await childUrl(child)}/floor`;
    const body = new Uint8Array(Buffer.from(JSON.stringify({ ticketB64u: 'x'.repeat(43), headerHashes: { a: 'y'.repeat(64), b: 'z'.repeat(64) } })));
    const headers = { 'content-type': 'application/json', 'x-mv-device': 'd'.repeat(26), 'x-mv-timestamp': String(Date.now()), 'x-mv-nonce': 'n'.repeat(22), 'x-mv-signature': 's'.repeat(86) };
    const one = async (): Promise<void> => {
      const r = await http.request({ method: 'POST', url, headers, body });
      if (r.status !== 200) throw new Error(`floor server answered ${r.status}`);
    };
    for (let i = 0; i < 500; i++) await one(); // warm-up
    const lat: number[] = [];
    const c0 = await childCpu(child);
    const stop = performance.now() + secs * 1000;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, async () => {
      while (performance.now() < stop) {
        const a = performance.now();
        await one();
        lat.push(performance.now() - a);
      }
    }));
    const el = (performance.now() - t0) / 1000;
    const c1 = await childCpu(child);
    lat.sort((a, b) => a - b);
    const r2 = (x: number): number => Math.round(x * 100) / 100;
    return { req_per_s: r2(lat.length / el), p50_ms: r2(quantile(lat, 0.5)), p99_ms: r2(quantile(lat, 0.99)), server_cpu_ms_per_req: r2((c1.user - c0.user + c1.system - c0.system) / 1000 / Math.max(1, lat.length)) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

/** One Ed25519 verification through node:crypto (what the broker pays per request), median microseconds. */
function verifyMicros(): number {
  const seed = randomBytes(32);
  const signer = nodeSigner(seed);
  const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), signer.signPub]), format: 'der', type: 'spki' });
  const msg = randomBytes(300);
  const sig = signer.sign(msg);
  const t: number[] = [];
  for (let i = 0; i < 600; i++) {
    const a = performance.now();
    if (!nodeVerify(null, msg, key, sig)) throw new Error('verification failed');
    t.push(performance.now() - a);
  }
  t.sort((a, b) => a - b);
  return Math.round(quantile(t.slice(100), 0.5) * 1000);
}

const dir = mkdtempSync(join(tmpdir(), 'mv-bench-broker-'));
let dbSpec = join(dir, 'broker.sqlite');
let dropSchema: (() => Promise<void>) | undefined;
if (dbKind === 'postgres') {
  const url = process.env.MV_PG_URL;
  if (url === undefined || url === '') throw new Error('--db postgres needs MV_PG_URL (eval "$(scripts/ci/start-postgres.sh)")');
  const schema = 'mvbench_' + toHex(randomBytes(6));
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`CREATE SCHEMA ${schema}`);
  await c.end();
  dbSpec = `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  dropSchema = async () => {
    const d = new pg.Client({ connectionString: url });
    await d.connect();
    await d.query(`DROP SCHEMA ${schema} CASCADE`);
    await d.end();
  };
}

const bootstrap = toB64url(randomBytes(16));
const child = spawn(process.execPath, [...(process.env.MV_BENCH_PROF_DIR === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', process.env.MV_BENCH_PROF_DIR]), '--import', 'tsx', new URL(import.meta.url).pathname, '--serve-child', dbSpec], {
  stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  env: { ...process.env, MV_BROKER_KEK: toB64url(randomBytes(32)), MV_BROKER_BOOTSTRAP: bootstrap },
});
try {
  const baseUrl = await childUrl(child);
  const http = argv.includes('--fetch') ? fetchHttpPort() : nodeHttpPort();

  // Producer and model.
  const prodSeed = randomBytes(32);
  const prodBox = generateBoxKeyPair();
  const producer = new BrokerClient({ baseUrl, http, signer: nodeSigner(prodSeed) });
  const info = await producer.info();
  await producer.enroll({ name: 'bench producer', role: 'producer', label: 'bench', boxPub: prodBox.publicKey, bootstrap });
  const masterKey = { alg: 'aes256gcm', kid: 'bench-enc', key: randomBytes(32) };
  const signingSeed = randomBytes(32);
  const files = [0, 1].map((i) => {
    const { bytes } = encodeModel([{ name: `w${i}`, dtype: 'F32', shape: [64, 64], data: randomBytes(64 * 64 * 4) }], { masterKey, signingKey: signingKeyFromSeed(signingSeed), version: 2 });
    const n = readHeaderLength(bytes.subarray(0, PREFIX_BYTES), bytes.length);
    return { path: `model-0000${i + 1}.safetensors`, header: bytes.slice(0, PREFIX_BYTES + n) };
  });
  await producer.publish({
    modelId: 'bench-model', name: 'Bench', mode: 'open', durationDays: 30, deviceLimit: 1, graceDays: 1, files,
    masterKey: { alg: 'aes256gcm', kid: 'bench-enc', key: masterKey.key }, signingSeed, brokerBoxPub: new Uint8Array(Buffer.from(info.boxPubB64u, 'base64url')),
  });

  // Subscribers: enroll, subscribe, first release (syncs the personalized headers).
  say(`setting up ${clients} subscribers …`);
  const samples: number[] = [];
  const errors = { n: 0 };
  const subs = await Promise.all(Array.from({ length: clients }, async (_x, i) => {
    const seed = randomBytes(32);
    const box = generateBoxKeyPair();
    const setup = new BrokerClient({ baseUrl, http, signer: nodeSigner(seed) });
    await setup.enroll({ name: `sub ${i}`, role: 'subscriber', label: 'bench', boxPub: box.publicKey });
    await setup.subscribe('bench-model');
    const first = await setup.releaseKey('bench-model', new Map(files.map((f) => [f.path, f.header])), { os: 'linux' }, box);
    const timed = new BrokerClient({ baseUrl, http: timedPort(http, samples, errors), signer: nodeSigner(seed) });
    return { client: timed, box, headers: first.synced };
  }));

  const serverCpu = (): Promise<NodeJS.CpuUsage> => childCpu(child);
  say(`running ${seconds} s of key releases from ${clients} clients (${dbKind}) …`);
  const cpu0 = await serverCpu();
  const own0 = process.cpuUsage();
  let releases = 0;
  const stopAt = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(subs.map(async (s) => {
    const hashes = Object.fromEntries([...s.headers].map(([p, h]) => [p, headerHash(h)]));
    while (performance.now() < stopAt) {
      try {
        const c = await s.client.challenge('bench-model');
        const t = await s.client.attest(c, 'bench-model', { os: 'linux' });
        const r = await s.client.requestKey(t.ticketB64u, hashes);
        if (r.status === 'ok') releases++;
        else errors.n++;
      } catch {
        // counted by the timed port
      }
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = await serverCpu();
  const own1 = process.cpuUsage(own0);
  const cpuMs = (u: { user: number; system: number }): number => (u.user + u.system) / 1000;
  const floor = argv.includes('--no-floor') ? null : (say(`measuring the machine's floor (bare Fastify, same client, ${clients} clients) …`), await floorRun(http, Math.min(seconds, 5)));
  const verifyUs = verifyMicros();
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 100) / 100;
  const result = {
    db: dbKind, clients, seconds: round(elapsed), requests: samples.length, req_per_s: round(samples.length / elapsed),
    p50_ms: round(quantile(sorted, 0.5)), p99_ms: round(quantile(sorted, 0.99)), errors: errors.n, releases_per_s: round(releases / elapsed),
    // CPU milliseconds per request in the broker and in the load client: comparable across runs on a busy machine
    server_cpu_ms_per_req: round(cpuMs({ user: cpu1.user - cpu0.user, system: cpu1.system - cpu0.system }) / Math.max(1, samples.length)),
    client_cpu_ms_per_req: round(cpuMs(own1) / Math.max(1, samples.length)),
    load_avg: round(loadavg()[0] ?? 0),
    // the machine's floor, same client and concurrency, no broker work (README §13): the ratios say how much of the
    // gap to the target is the broker's
    floor_req_per_s: floor?.req_per_s ?? null, floor_p99_ms: floor?.p99_ms ?? null, floor_server_cpu_ms_per_req: floor?.server_cpu_ms_per_req ?? null,
    req_per_s_vs_floor: floor === null ? null : round(samples.length / elapsed / floor.req_per_s),
    ed25519_verify_us: verifyUs,
  };
  if (json) process.stdout.write(JSON.stringify(result) + '\n');
  else say(`${result.req_per_s} req/s, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, ${result.errors} errors, ${result.releases_per_s} releases/s; CPU per request: broker ${result.server_cpu_ms_per_req} ms, client ${result.client_cpu_ms_per_req} ms (load ${result.load_avg}); floor ${result.floor_req_per_s ?? '-'} req/s, p99 ${result.floor_p99_ms ?? '-'} ms; Ed25519 verify ${verifyUs} µs`);
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await dropSchema?.();
  rmSync(dir, { recursive: true, force: true });
}
