/**
 * The broker protocol pieces on their own: canonical request signing (every field is covered), both Ed25519 and
 * X25519 backends agree, sealing rejects every mismatch, licences and revocation lists reject every tamper and
 * junk input with their own code, the audit chain catches edits, deletions, insertions and reordering, and the KEK
 * binds each secret to its row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError } from '../../../app/errors.ts';
import { randomBytes } from '../../../app/crypto/random.ts';
import { ed25519Sign, ed25519PublicKey } from '../../../app/crypto/ed25519.ts';
import { brokerAuditEvent, chainOf, verifyAuditChain, type AuditEntry } from '../../../app/broker/audit-chain.ts';
import { GENESIS_HASH, makeCheckpointWith, makeEntry, type AuditResult } from '../../../app/audit/entry.ts';
import { LICENCE_FORMAT, REVOCATIONS_FORMAT, signLicence, signRevocationList, verifyLicence, verifyRevocationList } from '../../../app/broker/documents.ts';
import { headerOnlySource } from '../../../app/broker/personalize.ts';
import { canonicalRequest, checkTimestamp, nobleVerifier, parseAuthHeaders, seedSigner, signRequest, verifyRequest } from '../../../app/broker/request-signing.ts';
import { generateBoxKeyPair, nobleX25519, openSealed, seal } from '../../../app/broker/seal.ts';
import { kekFromBytes, openSecret, sealSecret } from '../../../app/node/broker/kek.ts';
import { nodeVerifier, nodeX25519 } from '../../../app/node/broker/node-verify.ts';
import { makeModel } from './helpers.ts';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isAppError(e)) return e.code;
    return `not an AppError: ${String(e)}`;
  }
  return 'no error';
}

test('request signing covers method, path, body, timestamp, nonce and device', () => {
  const signer = seedSigner(randomBytes(32));
  const body = new TextEncoder().encode('{"modelId":"m"}');
  const headers = signRequest(signer, 'POST', '/v1/release/challenge', body, 1_700_000_000_000);
  const auth = parseAuthHeaders(headers);
  verifyRequest(auth, 'POST', '/v1/release/challenge', body, signer.signPub);
  const flipped = body.slice();
  flipped[3] = (flipped[3] as number) ^ 1;
  assert.equal(code(() => verifyRequest(auth, 'GET', '/v1/release/challenge', body, signer.signPub)), 'AUTH_FAILED');
  assert.equal(code(() => verifyRequest(auth, 'POST', '/v1/release/attest', body, signer.signPub)), 'AUTH_FAILED');
  assert.equal(code(() => verifyRequest(auth, 'POST', '/v1/release/challenge', flipped, signer.signPub)), 'AUTH_FAILED');
  assert.equal(code(() => verifyRequest({ ...auth, timestamp: auth.timestamp + 1 }, 'POST', '/v1/release/challenge', body, signer.signPub)), 'AUTH_FAILED');
  assert.equal(code(() => verifyRequest({ ...auth, nonceB64u: 'A'.repeat(22) }, 'POST', '/v1/release/challenge', body, signer.signPub)), 'AUTH_FAILED');
  assert.equal(code(() => verifyRequest({ ...auth, deviceId: 'dev_' + '0'.repeat(32) }, 'POST', '/v1/release/challenge', body, signer.signPub)), 'AUTH_FAILED');
  assert.equal(code(() => verifyRequest(auth, 'POST', '/v1/release/challenge', body, seedSigner(randomBytes(32)).signPub)), 'AUTH_FAILED');
  assert.equal(code(() => checkTimestamp(1_700_000_000_000, 1_700_000_000_000 + 61_000)), 'REPLAY_DETECTED');
  checkTimestamp(1_700_000_000_000, 1_700_000_000_000 + 59_000);
});

test('malformed auth headers are AUTH_FAILED, never a crash', () => {
  const good = signRequest(seedSigner(randomBytes(32)), 'GET', '/v1/sync', new Uint8Array(0));
  const variants: Record<string, string | string[] | undefined>[] = [
    {}, { ...good, 'x-mv-device': undefined }, { ...good, 'x-mv-device': 'dev_XYZ' }, { ...good, 'x-mv-timestamp': '-1' }, { ...good, 'x-mv-timestamp': '1e9' },
    { ...good, 'x-mv-nonce': 'short' }, { ...good, 'x-mv-nonce': 'A'.repeat(23) }, { ...good, 'x-mv-signature': 'A'.repeat(85) }, { ...good, 'x-mv-signature': ['a', 'b'] },
    { ...good, 'x-mv-timestamp': '9'.repeat(17) },
  ];
  for (const v of variants) assert.equal(code(() => parseAuthHeaders(v)), 'AUTH_FAILED', JSON.stringify(v));
});

test('the node:crypto Ed25519 verifier agrees with noble on valid and invalid signatures', () => {
  for (let i = 0; i < 40; i++) {
    const seed = randomBytes(32);
    const pub = ed25519PublicKey(seed);
    const msg = randomBytes(i * 7);
    const sig = ed25519Sign(msg, seed);
    assert.equal(nodeVerifier(sig, msg, pub), true);
    assert.equal(nobleVerifier(sig, msg, pub), true);
    const bad = sig.slice();
    bad[i % 64] = (bad[i % 64] as number) ^ (1 << (i % 8));
    assert.equal(nodeVerifier(bad, msg, pub), nobleVerifier(bad, msg, pub));
    assert.equal(nodeVerifier(bad, msg, pub), false);
    assert.equal(nodeVerifier(sig.subarray(1), msg, pub), false);
    assert.equal(nodeVerifier(sig, msg, pub.subarray(1)), false);
  }
  const msg = canonicalRequest({ method: 'GET', path: '/', body: new Uint8Array(0), timestamp: 1, nonceB64u: 'x', deviceId: 'd' });
  // Small-order public keys (here the all-zero encoding) are refused by both, even with a trivially forged signature.
  for (const smallOrder of [new Uint8Array(32), Uint8Array.from([1, ...new Array<number>(31).fill(0)])]) {
    assert.equal(nobleVerifier(new Uint8Array(64), msg, smallOrder), false);
    assert.equal(nodeVerifier(new Uint8Array(64), msg, smallOrder), false);
  }
});

test('the node X25519 port uses a fresh ephemeral key for every sealing, also when its stock made ahead runs out', async () => {
  const box = generateBoxKeyPair();
  const seen = new Set<string>();
  for (let round = 0; round < 3; round++) {
    // 100 sealings in a row drain the stock (32 made ahead) and fall back to pairs made on the spot
    for (let i = 0; i < 100; i++) {
      const { ephPub, shared } = nodeX25519.ephemeralAgree(box.publicKey);
      assert.equal(ephPub.length, 32);
      assert.equal(shared.length, 32);
      seen.add(Buffer.from(ephPub).toString('hex'));
    }
    await new Promise((r) => setTimeout(r, 50)); // let the thread pool refill
  }
  assert.equal(seen.size, 300);
});

test('sealing: both X25519 backends interoperate; any mismatch is DECRYPT_FAILED', () => {
  const box = generateBoxKeyPair();
  const secret = randomBytes(32);
  const aad = { model: 'm', subscription: 's', device: 'd', kid: 'k', ticket: 't' };
  for (const port of [nobleX25519, nodeX25519]) {
    const sealed = seal(box.publicKey, secret, 'key-release', aad, port);
    assert.deepEqual(openSealed(box, sealed, 'key-release', aad), secret);
    assert.equal(code(() => openSealed(box, sealed, 'publish', aad)), 'DECRYPT_FAILED');
    assert.equal(code(() => openSealed(box, sealed, 'key-release', { ...aad, device: 'other' })), 'DECRYPT_FAILED');
    assert.equal(code(() => openSealed(generateBoxKeyPair(), sealed, 'key-release', aad)), 'DECRYPT_FAILED');
    const ct = Buffer.from(sealed.ciphertextB64u, 'base64url');
    for (let i = 0; i < ct.length; i += 7) {
      const t = Buffer.from(ct);
      t[i] = (t[i] as number) ^ 0x80;
      assert.equal(code(() => openSealed(box, { ...sealed, ciphertextB64u: t.toString('base64url') }, 'key-release', aad)), 'DECRYPT_FAILED');
    }
    assert.equal(code(() => openSealed(box, { ...sealed, nonceB64u: 'AAAA' }, 'key-release', aad)), 'DECRYPT_FAILED');
    assert.equal(code(() => openSealed(box, { ...sealed, ephPubB64u: '!!' }, 'key-release', aad)), 'DECRYPT_FAILED');
  }
  assert.equal(code(() => seal(new Uint8Array(32), secret, 'key-release', aad)), 'KEY_INVALID');
  assert.equal(code(() => seal(box.publicKey.subarray(1), secret, 'key-release', aad)), 'KEY_INVALID');
  assert.equal(code(() => seal('abc' as unknown as Uint8Array, secret, 'key-release', aad)), 'KEY_INVALID');
  assert.equal(code(() => seal(box.publicKey, new Uint8Array(5000), 'key-release', aad)), 'VALIDATION');
});

test('licences and revocation lists: every tamper and junk input is LICENCE_INVALID', () => {
  const seed = randomBytes(32);
  const pub = ed25519PublicKey(seed);
  const lic = signLicence({ format: LICENCE_FORMAT, version: 1, licenceId: 'lic_1', subscriptionId: 'sub_1', subscriber: 'usr_1', model: 'm', devices: ['dev_' + 'a'.repeat(32)], issuedAt: 1, notAfter: 2, graceSeconds: 3, broker: 'broker:x' }, seed);
  assert.deepEqual(verifyLicence(lic, pub), lic);
  const tampers: object[] = [
    { ...lic, model: 'm2' }, { ...lic, notAfter: 3 }, { ...lic, graceSeconds: 4 }, { ...lic, devices: [...lic.devices, 'dev_' + 'b'.repeat(32)] }, { ...lic, subscriber: 'usr_2' },
    { ...lic, extra: 1 }, { ...lic, signatureB64u: lic.signatureB64u.slice(1) }, { ...lic, version: 2 }, { ...lic, issuedAt: -1 }, { ...lic, notAfter: 1.5 },
  ];
  for (const t of tampers) assert.equal(code(() => verifyLicence(t, pub)), 'LICENCE_INVALID', JSON.stringify(t));
  assert.equal(code(() => verifyLicence(lic, ed25519PublicKey(randomBytes(32)))), 'LICENCE_INVALID');
  for (const junk of [null, undefined, 1, 'x', [], {}, { format: LICENCE_FORMAT }, JSON.parse(JSON.stringify(lic).replace('lic_1', 'lic 1'))]) assert.equal(code(() => verifyLicence(junk, pub)), 'LICENCE_INVALID');
  const list = signRevocationList({ format: REVOCATIONS_FORMAT, version: 1, seq: 4, issuedAt: 5, broker: 'broker:x', entries: [{ kind: 'licence', id: 'lic_1', at: 4, reason: 'r' }] }, seed);
  assert.deepEqual(verifyRevocationList(list, pub), list);
  assert.equal(code(() => verifyRevocationList({ ...list, entries: [] }, pub)), 'LICENCE_INVALID');
  assert.equal(code(() => verifyRevocationList({ ...list, seq: 5 }, pub)), 'LICENCE_INVALID');
});

test('broker audit entries use the app format, one chain per model; each chain verifies alone and breaks where edited', () => {
  const seed = randomBytes(32);
  const signer = { kid: 'broker:test', publicKey: ed25519PublicKey(seed), sign: (m: Uint8Array) => ed25519Sign(m, seed) };
  const heads = new Map<string, AuditEntry | undefined>();
  const all: AuditEntry[] = [];
  const add = (model: string | null, result: AuditResult, i: number): void => {
    const event = brokerAuditEvent({ actor: `usr_${i}`, action: 'release.key', object: 'dev_\n1', model, result, details: { code: 'AUTH_FAILED', message: 'a\tb' } });
    const chain = model === null ? 'broker' : `model:${model}`;
    const e = makeEntry(event, heads.get(chain), new Date(1_700_000_000_000 + i));
    all.push(e);
    heads.set(chain, e);
  };
  for (let i = 1; i <= 6; i++) add(i % 3 === 0 ? null : i % 3 === 1 ? 'm1' : 'm2', i % 2 === 0 ? 'ok' : 'denied', i);
  const m1 = heads.get('model:m1') as AuditEntry;
  const cp = makeCheckpointWith(signer, m1, new Date(1_700_000_000_100), 'broker:test', { model: 'm1' });
  all.push(cp);
  assert.equal(all[0]?.prev, GENESIS_HASH);
  assert.equal(all[0]?.object, 'dev_?1', 'control characters are replaced');
  assert.equal(chainOf(cp), 'model:m1');
  const good = verifyAuditChain(all, { brokerSignPub: signer.publicKey });
  assert.equal(good.ok, true, JSON.stringify(good));
  assert.deepEqual(good.chains.map((c) => [c.chain, c.entries, c.checkpoints]), [['broker', 2, 0], ['model:m1', 3, 1], ['model:m2', 2, 0]]);
  // A producer's subset (one model's chain) verifies on its own, with the checkpoint signed by the broker.
  const onlyM1 = all.filter((e) => chainOf(e) === 'model:m1');
  const alone = verifyAuditChain(onlyM1, { brokerSignPub: signer.publicKey });
  assert.equal(alone.ok && alone.chains[0]?.unsignedTail, 0);
  // Untrusted signer, edit, deletion, reordering, and moving an entry to another chain are each caught.
  assert.equal(verifyAuditChain(onlyM1, { brokerSignPub: ed25519PublicKey(randomBytes(32)) }).ok, false);
  const at = (v: ReturnType<typeof verifyAuditChain>): string => (v.ok ? 'ok' : `${v.chain}#${v.seq}`);
  const first = onlyM1[0] as AuditEntry;
  assert.equal(at(verifyAuditChain(onlyM1.map((e) => (e === first ? { ...e, result: 'ok' as const } : e)))), 'model:m1#1');
  assert.equal(at(verifyAuditChain(onlyM1.slice(1))), 'model:m1#2');
  assert.equal(at(verifyAuditChain([onlyM1[1] as AuditEntry, first, ...onlyM1.slice(2)])), 'model:m1#2');
  const moved = all.map((e) => (e === first ? { ...e, details: { ...e.details, model: 'm2' } } : e));
  assert.equal(verifyAuditChain(moved).ok, false);
});

test('the KEK binds each secret to its row and purpose; a wrong KEK fails closed', () => {
  const kek = kekFromBytes(randomBytes(32));
  const s = sealSecret(kek, 'model:m:enc', 'producer-enc', new Uint8Array([1, 2, 3]));
  assert.deepEqual(openSecret(kek, 'model:m:enc', 'producer-enc', s), new Uint8Array([1, 2, 3]));
  assert.equal(code(() => openSecret(kek, 'model:other:enc', 'producer-enc', s)), 'DECRYPT_FAILED');
  assert.equal(code(() => openSecret(kek, 'model:m:enc', 'subscriber-enc', s)), 'DECRYPT_FAILED');
  assert.equal(code(() => openSecret(kekFromBytes(randomBytes(32)), 'model:m:enc', 'producer-enc', s)), 'KEY_NOT_FOUND');
  assert.equal(code(() => kekFromBytes(randomBytes(31))), 'KEY_INVALID');
});

test('a published header must be exactly prefix + JSON', () => {
  const m = makeModel();
  const f = m.files[0];
  assert.ok(f !== undefined);
  assert.equal(headerOnlySource(f.header).size, f.file.length);
  assert.equal(code(() => headerOnlySource(f.file)), 'TRAILING_BYTES');
  assert.equal(code(() => headerOnlySource(f.header.subarray(0, f.header.length - 1))), 'FORMAT_INVALID');
  assert.equal(code(() => headerOnlySource(new Uint8Array(3))), 'FORMAT_INVALID');
});

test('the client says BROKER_UNREACHABLE when nothing answers and BROKER_REJECTED for a non-broker answer', async () => {
  const { BrokerClient } = await import('../../../app/broker/client.ts');
  const { fetchHttpPort } = await import('../../../app/node/broker/http-port.ts');
  const { createServer } = await import('node:http');
  const signer = seedSigner(randomBytes(32));
  const dead = new BrokerClient({ baseUrl: 'http://127.0.0.1:9', http: fetchHttpPort({ timeoutMs: 3000 }), signer });
  await assert.rejects(dead.sync(), (e: unknown) => isAppError(e) && e.code === 'BROKER_UNREACHABLE');
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('hello');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const addr = server.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    const wrong = new BrokerClient({ baseUrl: `http://127.0.0.1:${port}`, http: fetchHttpPort(), signer });
    await assert.rejects(wrong.sync(), (e: unknown) => isAppError(e) && e.code === 'BROKER_REJECTED');
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  assert.throws(() => new BrokerClient({ baseUrl: 'ftp://x/y', http: fetchHttpPort(), signer }), (e: unknown) => isAppError(e) && e.code === 'VALIDATION');
});
