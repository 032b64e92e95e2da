/**
 * The broker part of `model-vault demo` (issue 6 item 7), for the lead to call from the demo command: starts an
 * embedded SQLite broker on 127.0.0.1, enrolls a producer (bootstrap secret) and publishes a small encrypted model,
 * enrolls a subscriber that subscribes, syncs its personalized headers and obtains its key through the ticketed
 * release, then opens the model with it. Returns a summary of ids and fingerprints only (never key bytes).
 */
import { join } from 'node:path';
import { BrokerClient, headerHash } from '../../broker/client.ts';
import { seedSigner } from '../../broker/request-signing.ts';
import { generateBoxKeyPair } from '../../broker/seal.ts';
import { ctEqual, wipe } from '../../crypto/bytes.ts';
import { randomBytes } from '../../crypto/random.ts';
import { keyFingerprint, signingKeyFromSeed } from '../../format/keys.ts';
import { openModelBytes } from '../../format/reader.ts';
import { PREFIX_BYTES, readHeaderLength } from '../../format/safetensors.ts';
import { encodeModel } from '../../format/writer.ts';
import { toB64url } from '../../keys/encoding.ts';
import { fetchHttpPort } from './http-port.ts';
import { kekFromBytes } from './kek.ts';
import { startBroker } from './start.ts';

export interface BrokerDemoSummary {
  readonly brokerUrl: string;
  readonly brokerId: string;
  readonly producer: string;
  readonly subscriber: string;
  readonly subscriptionId: string;
  readonly licenceId: string;
  readonly syncedHeaders: number;
  readonly keyKid: string;
  readonly signer: string;
  readonly tensorsVerified: number;
}

export async function runBrokerDemo(workDir: string, say: (line: string) => void = () => undefined): Promise<BrokerDemoSummary> {
  const bootstrap = toB64url(randomBytes(16));
  const broker = await startBroker({ dbSpec: join(workDir, 'broker.sqlite'), kek: kekFromBytes(randomBytes(32)), bootstrapSecret: bootstrap });
  const http = fetchHttpPort();
  try {
    say(`broker: embedded SQLite broker on ${broker.url}`);
    const prodBox = generateBoxKeyPair();
    const producer = new BrokerClient({ baseUrl: broker.url, http, signer: seedSigner(randomBytes(32)) });
    const info = await producer.info();
    const p = await producer.enroll({ name: 'Demo producer', role: 'producer', label: 'demo', boxPub: prodBox.publicKey, bootstrap });
    const masterKey = { alg: 'aes256gcm', kid: 'demo-enc-1', key: randomBytes(32) };
    const signingSeed = randomBytes(32);
    const plain = randomBytes(256);
    const { bytes } = encodeModel([{ name: 'demo.weight', dtype: 'F32', shape: [8, 8], data: plain }], { masterKey, signingKey: signingKeyFromSeed(signingSeed), version: 2, chunkSize: 64 });
    const header = bytes.slice(0, PREFIX_BYTES + readHeaderLength(bytes.subarray(0, PREFIX_BYTES), bytes.length));
    await producer.publish({
      modelId: 'demo-model', name: 'Demo model', mode: 'open', durationDays: 30, deviceLimit: 1, graceDays: 1, files: [{ path: 'model.safetensors', header }],
      masterKey: { alg: 'aes256gcm', kid: masterKey.kid, key: masterKey.key }, signingSeed, brokerBoxPub: new Uint8Array(Buffer.from(info.boxPubB64u, 'base64url')),
    });
    say(`broker: producer ${p.identityId} published demo-model (keys sealed to the broker)`);
    const subBox = generateBoxKeyPair();
    const subscriber = new BrokerClient({ baseUrl: broker.url, http, signer: seedSigner(randomBytes(32)) });
    const s = await subscriber.enroll({ name: 'Demo subscriber', role: 'subscriber', label: 'demo', boxPub: subBox.publicKey });
    const sub = await subscriber.subscribe('demo-model');
    say(`broker: subscriber ${s.identityId} subscribed (${sub.subscriptionId}); licence ${sub.licence?.licenceId ?? '-'}`);
    const released = await subscriber.releaseKey('demo-model', new Map([['model.safetensors', header]]), { os: process.platform }, subBox);
    const personal = released.synced.get('model.safetensors') ?? header;
    say(`broker: challenge → attest → ticket → key: ${released.synced.size} personalized header(s) synced, key ${released.kid} released sealed to the device`);
    const file = new Uint8Array(personal.length + bytes.length - header.length);
    file.set(personal, 0);
    file.set(bytes.subarray(header.length), personal.length);
    const h = await openModelBytes(file, { masterKeys: [{ alg: released.alg, kid: released.kid, key: released.key }], trustedSigners: [{ publicKey: released.verifyKey }] });
    let verified = 0;
    try {
      for (const name of h.keys()) {
        if (ctEqual((await h.getTensor(name)).data, plain)) verified++;
      }
    } finally {
      await h.close();
      wipe(released.key, masterKey.key, signingSeed);
    }
    say(`broker: the subscriber opened its personalized model (${verified} tensor(s) verified; header hash ${headerHash(personal).slice(0, 16)}…)`);
    return {
      brokerUrl: broker.url, brokerId: info.brokerId, producer: p.identityId, subscriber: s.identityId, subscriptionId: sub.subscriptionId, licenceId: sub.licence?.licenceId ?? '',
      syncedHeaders: released.synced.size, keyKid: released.kid, signer: keyFingerprint(released.verifyKey), tensorsVerified: verified,
    };
  } finally {
    await broker.close();
  }
}
