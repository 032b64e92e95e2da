import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concatBytes, utf8 } from '../../../app/crypto/bytes.ts';
import { encodeModel } from '../../../app/format/writer.ts';
import { openModelBytes } from '../../../app/format/reader.ts';
import { parseSafetensors, serializeSafetensors } from '../../../app/format/safetensors.ts';
import { MASTER_256, SIGNER, f32, fixedNonces, hex, seq, sha256Hex } from './helpers.ts';

void test('spec §2.6 illustrative file is reproduced byte for byte', async () => {
  const dek = concatBytes(seq(0xa0, 16), seq(0xa0, 16));
  const { bytes } = encodeModel(
    [{ name: 'w', dtype: 'F32', shape: [2, 2], data: f32([1, 2, 3, 4]) }],
    { masterKey: { ...MASTER_256, kid: 'ex-enc' }, signingKey: { ...SIGNER, kid: 'ex-sign' }, chunkSize: 8, metadata: new Map([['format', 'pt']]) },
    { nonces: fixedNonces(dek, seq(100, 12), seq(200, 12)) },
  );
  assert.equal(bytes.length, 776);
  assert.equal(hex(bytes.subarray(760)), '053cbb0038f84788c1a7a72fedbae231');
  assert.equal(sha256Hex(bytes), '19dc82836a788e9e7500f84f1110ca10e54262f9d79ac4e9c3939d58f4924c27');
  const m = await openModelBytes(bytes, { masterKeys: [{ ...MASTER_256, kid: 'ex-enc' }], trustedSigners: [SIGNER] });
  assert.deepEqual((await m.getTensor('w')).data, f32([1, 2, 3, 4]));
  assert.deepEqual(await m.getSlice('w', 9, 12), f32([1, 2, 3, 4]).subarray(9, 12));
});

void test('plain writer matches the reference byte vectors (spec §1.5)', () => {
  const one = serializeSafetensors([{ name: 'test', dtype: 'I32', shape: [2, 2], data: new Uint8Array(16) }]);
  assert.equal(new TextDecoder().decode(one.subarray(8, 72)), '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}    ');
  assert.deepEqual([...one.subarray(0, 8)], [64, 0, 0, 0, 0, 0, 0, 0]);
  const empty = serializeSafetensors([]);
  assert.deepEqual([...empty], [8, 0, 0, 0, 0, 0, 0, 0, ...utf8('{}      ')]);
  const meta = serializeSafetensors([], new Map([['framework', 'pt']]));
  assert.equal(meta[0], 40);
  const two = serializeSafetensors([
    { name: 'test2', dtype: 'F16', shape: [2, 2], data: new Uint8Array(8) },
    { name: 'test1', dtype: 'I32', shape: [2, 2], data: new Uint8Array(16) },
  ]);
  assert.equal(two[0], 0x80);
  assert.deepEqual(parseSafetensors(two).tensors.map((t) => t.name), ['test1', 'test2']);
});
