/**
 * The producer side of the subscriber tests (unit and e2e): a generated sharded model packaged with the real packager
 * (signed folder manifest, digests), a producer enrolled with the broker's bootstrap secret, and the model's headers,
 * keys (sealed to the broker) published. The packaged folder is what a publisher sends subscribers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BrokerClient } from '../../../app/broker/client.ts';
import { seedSigner } from '../../../app/broker/request-signing.ts';
import { generateBoxKeyPair } from '../../../app/broker/seal.ts';
import { randomBytes } from '../../../app/crypto/random.ts';
import { fromB64url } from '../../../app/crypto/encoding.ts';
import { headerBytesOf } from '../../../app/format/safetensors.ts';
import { generateMasterKey, generateSigningKey, type MasterKey, type SigningKey } from '../../../app/keys/key.ts';
import { fetchHttpPort } from '../../../app/node/broker/http-port.ts';
import { packageModel } from '../../../app/node/format/package.ts';
import { generateDemoModel } from '../../../resources/demo-model/generate.ts';

export interface PublishedFixture {
  readonly modelId: string;
  /** The packaged (encrypted, signed) folder, as the publisher ships it. */
  readonly packaged: string;
  readonly shards: readonly string[];
  readonly producer: BrokerClient;
  readonly masterKey: MasterKey;
  readonly signingSeed: Uint8Array;
}

export async function publishFixture(dir: string, brokerUrl: string, bootstrap: string, opts: { modelId?: string; mode?: 'open' | 'approval' } = {}): Promise<PublishedFixture> {
  const modelId = opts.modelId ?? 'acme-7b';
  const plain = join(dir, 'plain-model');
  await generateDemoModel(plain, { shards: 2 });
  const masterKey = generateMasterKey('aes256gcm');
  const signer = generateSigningKey() as SigningKey & { seed: Uint8Array };
  const packaged = join(dir, `${modelId.replace(/\//g, '-')}.cryptotensors`);
  const result = await packageModel({ input: plain, output: packaged, masterKey, signingKey: signer, encrypt: 'all', version: 2, workers: 1 });
  const producer = new BrokerClient({ baseUrl: brokerUrl, http: fetchHttpPort(), signer: seedSigner(randomBytes(32)) });
  await producer.info();
  await producer.enroll({ name: 'Acme Models', role: 'producer', label: 'release laptop', boxPub: generateBoxKeyPair().publicKey, bootstrap });
  const info = await producer.info();
  const brokerBoxPub = fromB64url(info.boxPubB64u);
  if (brokerBoxPub === undefined) throw new Error('fixture: the broker box key is malformed');
  const shards = result.shards.map((s) => (s.startsWith(packaged + '/') ? s.slice(packaged.length + 1) : s));
  await producer.publish({
    modelId, name: 'Acme 7B', mode: opts.mode ?? 'approval', durationDays: 30, deviceLimit: 2, graceDays: 3,
    files: shards.map((path) => ({ path, header: headerBytesOf(new Uint8Array(readFileSync(join(packaged, path)))) })),
    masterKey: { alg: 'aes256gcm', ...(masterKey.kid === undefined ? {} : { kid: masterKey.kid }), key: masterKey.key }, signingSeed: signer.seed, brokerBoxPub,
  });
  return { modelId, packaged, shards, producer, masterKey, signingSeed: signer.seed };
}
