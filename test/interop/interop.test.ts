/**
 * Interop with the reference (cryptotensors 0.2.3) and upstream safetensors, both directions: files we write load
 * in the reference with identical tensors (and survive a reference rewrap); files the reference writes during the
 * test load in ours; plain files are byte-identical both ways. Needs the Python venv (test/interop/requirements.txt).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AEAD_ALGS, aeadKeyBytes, type AeadAlg } from '../../app/crypto/aead.ts';
import { toB64std } from '../../app/crypto/encoding.ts';
import { signingKeyFromSeed, type MasterKey } from '../../app/format/keys.ts';
import { bytesSource, openModelBytes } from '../../app/format/reader.ts';
import { rewrapSource } from '../../app/format/rewrap.ts';
import { serializeSafetensors } from '../../app/format/safetensors.ts';
import { encodeModel } from '../../app/format/writer.ts';
import { packageModel } from '../../app/node/format/package.ts';
import { SIGNER, SIGNER2, detBytes, seq, sha256Hex } from '../app/format/helpers.ts';
import { jwkKeys, refConfig, row, runJobs, withData, type JobResult, type Row } from './helpers.ts';

const MASTERS: Record<AeadAlg, MasterKey> = {
  aes128gcm: { alg: 'aes128gcm', kid: 'ct-enc', key: seq(0, 16) },
  aes256gcm: { alg: 'aes256gcm', kid: 'ct-enc', key: seq(0, 32) },
  chacha20poly1305: { alg: 'chacha20poly1305', kid: 'ct-enc', key: seq(0x80, 32) },
};
const NEW_MASTERS: Record<AeadAlg, MasterKey> = Object.fromEntries(AEAD_ALGS.map((a) => [a, { alg: a, kid: 'rot-enc', key: seq(0x40, aeadKeyBytes(a)) }])) as Record<AeadAlg, MasterKey>;

const SIZES: Row[] = [0, 1, 15, 16, 17, 63, 64, 65, 192].map((n) => row(`s${n}`, 'U8', [n], 8));
const EVERY: Row[] = [
  row('t_bool', 'BOOL', [5], 8), row('t_i8', 'I8', [3], 8), row('t_i16', 'I16', [3], 16), row('t_u16', 'U16', [3], 16),
  row('t_i32', 'I32', [3], 32), row('t_u32', 'U32', [3], 32), row('t_i64', 'I64', [3], 64), row('t_u64', 'U64', [3], 64),
  row('t_f16', 'F16', [3], 16), row('t_bf16', 'BF16', [3], 16), row('t_f32', 'F32', [2, 3], 32), row('t_f64', 'F64', [3], 64),
  row('t_c64', 'C64', [3], 64), row('t_f8e4m3', 'F8_E4M3', [3], 8), row('t_f8e5m2', 'F8_E5M2', [3], 8), row('t_f8e8m0', 'F8_E8M0', [3], 8),
  row('t_f4', 'F4', [2, 6], 4), row('t_scalar', 'F32', [], 32), row('t_empty', 'F32', [0, 3], 32),
];

function expectedHashes(rows: readonly Row[]): Record<string, string> {
  return Object.fromEntries(rows.map((r) => [r.name, sha256Hex(detBytes(r.name, r.nbytes, r.dtype === 'BOOL'))]));
}

function assertTensors(res: JobResult | undefined, rows: readonly Row[], label: string, numpyOnly: boolean): void {
  assert.ok(res !== undefined, label);
  assert.ok(res.ok, `${label}: ${res.ok ? '' : res.error}`);
  const want = expectedHashes(rows);
  const got = res.tensors ?? {};
  const names = numpyOnly ? Object.keys(got) : rows.map((r) => r.name);
  if (numpyOnly) assert.ok(names.length > 0, label);
  for (const n of names) assert.equal(got[n], want[n], `${label}: tensor ${n}`);
}

interface Case {
  readonly id: string;
  readonly alg: AeadAlg;
  readonly version: 1 | 2;
  readonly chunkSize?: number;
  readonly rows: readonly Row[];
  readonly encrypt?: readonly string[];
  readonly policy?: { local?: string; remote?: string };
  readonly writer: 'noble' | 'node';
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const alg of AEAD_ALGS) {
    out.push({ id: `${alg}-v1`, alg, version: 1, rows: [...SIZES, ...EVERY], writer: alg === 'aes256gcm' ? 'node' : 'noble' });
    for (const cs of [1, 7, 16, 63, 64, 65, undefined]) {
      out.push({ id: `${alg}-v2-c${cs ?? 'default'}`, alg, version: 2, ...(cs === undefined ? {} : { chunkSize: cs }), rows: cs === 7 ? [...SIZES, ...EVERY] : SIZES, writer: cs === 7 || cs === 65 ? 'node' : 'noble' });
    }
  }
  out.push({ id: 'partial-v2', alg: 'aes256gcm', version: 2, chunkSize: 16, rows: [...SIZES, ...EVERY], encrypt: ['s17', 't_f32', 't_empty'], writer: 'node' });
  out.push({ id: 'partial-v1', alg: 'chacha20poly1305', version: 1, rows: SIZES, encrypt: ['s65'], writer: 'noble' });
  out.push({ id: 'policy', alg: 'aes256gcm', version: 2, rows: SIZES, policy: { local: 'package model\nallow := true', remote: 'package model\nallow := false' }, writer: 'noble' });
  return out;
}

void test('TS-written files load in the reference with identical tensors, and survive a reference rewrap', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mv-interop-'));
  try {
    const jobs: object[] = [];
    const expect: { label: string; rows: readonly Row[]; numpyOnly: boolean }[] = [];
    const all = cases();
    for (const c of all) {
      const master = MASTERS[c.alg];
      const path = join(dir, `${c.id}.safetensors`);
      const opts = { masterKey: master, signingKey: SIGNER, version: c.version, ...(c.chunkSize === undefined ? {} : { chunkSize: c.chunkSize }), ...(c.encrypt === undefined ? {} : { encrypt: c.encrypt }), ...(c.policy === undefined ? {} : { policy: c.policy }), metadata: new Map([['format', 'pt']]) };
      if (c.writer === 'noble') {
        await writeFile(path, encodeModel(withData(c.rows), opts).bytes);
      } else {
        const plain = join(dir, `${c.id}.plain.safetensors`);
        await writeFile(plain, serializeSafetensors(withData(c.rows)));
        await packageModel({ input: plain, output: path, workers: 2, ...opts });
      }
      const keys = jwkKeys(master, SIGNER);
      jobs.push({ op: 'load', path, keys }, { op: 'deserialize', path, keys });
      expect.push({ label: `${c.id} load`, rows: c.rows, numpyOnly: true }, { label: `${c.id} deserialize`, rows: c.rows, numpyOnly: false });
      const rewrapped = join(dir, `${c.id}.rewrapped.safetensors`);
      jobs.push({ op: 'rewrap', path, out: rewrapped, new_config: refConfig(NEW_MASTERS[c.alg], SIGNER2), old_config: { enc_key: keys.enc, sign_key: { alg: 'ed25519', x: keys.sign.x } } });
      jobs.push({ op: 'deserialize', path: rewrapped, keys: jwkKeys(NEW_MASTERS[c.alg], SIGNER2) });
      expect.push({ label: `${c.id} ref-rewrap`, rows: [], numpyOnly: false }, { label: `${c.id} rewrapped deserialize`, rows: c.rows, numpyOnly: false });
    }
    const results = runJobs(jobs);
    expect.forEach((e, i) => assertTensors(results[i], e.rows, e.label, e.numpyOnly));
    // Reference rewraps of our files keep our signed digests and open in our reader with the new keys.
    for (const c of all) {
      const bytes = new Uint8Array(await readFile(join(dir, `${c.id}.rewrapped.safetensors`)));
      const m = await openModelBytes(bytes, { masterKeys: [NEW_MASTERS[c.alg]], trustedSigners: [SIGNER2] });
      for (const r of c.rows) assert.equal(sha256Hex((await m.getTensor(r.name)).data), expectedHashes([r])[r.name], `${c.id} ours-after-ref-rewrap ${r.name}`);
    }
    assert.equal(all.length, 27);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('TS-rewrapped files load in the reference', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mv-interop-'));
  try {
    const jobs: object[] = [];
    const rowsets: (readonly Row[])[] = [];
    for (const alg of AEAD_ALGS) {
      for (const version of [1, 2] as const) {
        const rows = [...SIZES, ...EVERY];
        const { bytes } = encodeModel(withData(rows), { masterKey: MASTERS[alg], signingKey: SIGNER, version, ...(version === 2 ? { chunkSize: 16 } : {}), encrypt: version === 1 ? ['s17', 's192', 't_f4'] : 'all' });
        const { header, oldDataStart, dataLength } = await rewrapSource(bytesSource(bytes), { old: { masterKeys: [MASTERS[alg]], trustedSigners: [SIGNER] }, masterKey: NEW_MASTERS[alg], signingKey: SIGNER2, policy: { local: 'package model\nallow = true' } });
        const out = new Uint8Array(header.length + dataLength);
        out.set(header);
        out.set(bytes.subarray(oldDataStart), header.length);
        const path = join(dir, `rw-${alg}-v${version}.safetensors`);
        await writeFile(path, out);
        jobs.push({ op: 'deserialize', path, keys: jwkKeys(NEW_MASTERS[alg], SIGNER2) });
        rowsets.push(rows);
      }
    }
    const results = runJobs(jobs);
    rowsets.forEach((rows, i) => assertTensors(results[i], rows, `ts-rewrap ${i}`, false));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('reference-written files load in ours (algorithms × versions × chunk sizes, partial, policy, registry-style kids)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mv-interop-'));
  try {
    const jobs: object[] = [];
    const specs: { path: string; rows: readonly Row[]; alg: AeadAlg; encrypted: readonly string[] | null }[] = [];
    const rows = [...SIZES, ...EVERY];
    for (const alg of AEAD_ALGS) {
      for (const [version, cs] of [['1', undefined], ['2', 1], ['2', 7], ['2', 64], ['2', 65], ['2', undefined]] as const) {
        const path = join(dir, `ref-${alg}-v${version}-${cs ?? 'd'}.safetensors`);
        jobs.push({ op: 'write', path, tensors: rows, metadata: { format: 'pt' }, config: refConfig(MASTERS[alg], SIGNER, { version, ...(cs === undefined ? {} : { chunk_size: cs }) }) });
        specs.push({ path, rows, alg, encrypted: null });
      }
    }
    const partial = join(dir, 'ref-partial.safetensors');
    jobs.push({ op: 'write', path: partial, tensors: rows, config: refConfig(MASTERS.aes256gcm, SIGNER, { tensors: ['s16', 't_bf16'] }) });
    specs.push({ path: partial, rows, alg: 'aes256gcm', encrypted: ['s16', 't_bf16'] });
    const pol = join(dir, 'ref-policy.safetensors');
    jobs.push({ op: 'write', path: pol, tensors: SIZES, config: refConfig({ ...MASTERS.aes256gcm, alg: 'AES-256-GCM' }, SIGNER, { policy: { local: 'package model\nallow := true' } }) });
    specs.push({ path: pol, rows: SIZES, alg: 'aes256gcm', encrypted: null });
    const results = runJobs(jobs);
    results.forEach((r, i) => assert.ok(r.ok, `write ${i}: ${r.ok ? '' : r.error}`));
    for (const s of specs) {
      const bytes = new Uint8Array(await readFile(s.path));
      const m = await openModelBytes(bytes, { masterKeys: [MASTERS[s.alg]], trustedSigners: [{ publicKey: SIGNER.publicKey }] });
      const want = expectedHashes(s.rows);
      for (const r of s.rows) {
        assert.equal(sha256Hex((await m.getTensor(r.name)).data), want[r.name], `${s.path} ${r.name}`);
        assert.equal(m.info(r.name).encrypted, s.encrypted === null || s.encrypted.includes(r.name));
        if (r.nbytes > 3) assert.equal(sha256Hex(await m.getSlice(r.name, 1, r.nbytes - 1)), sha256Hex(detBytes(r.name, r.nbytes, r.dtype === 'BOOL').subarray(1, r.nbytes - 1)));
      }
      // Reference partial files leave plaintext tensors unauthenticated (W-4): we say so.
      if (s.encrypted !== null) assert.equal(m.info('s17').unauthenticated, true);
    }
    assert.equal(specs.length, 20);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('plain files are byte-identical with Python safetensors and cryptotensors, both ways', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mv-interop-'));
  try {
    const sets: { id: string; rows: readonly Row[]; metadata?: Record<string, string> }[] = [
      { id: 'sizes', rows: SIZES },
      { id: 'every', rows: EVERY },
      { id: 'meta1', rows: SIZES, metadata: { format: 'pt' } },
      { id: 'unicode', rows: [row('é', 'F32', [2], 32), row('a/b', 'U8', [1], 8), row('', 'U8', [2], 8)], metadata: { 'é': 'e', '😀': 'emoji', '！': 'fw', q: 'quote" back\\ nl\n ctl\u0001 del\u007f /' } },
    ];
    const jobs: object[] = [];
    for (const s of sets) {
      const md = s.metadata;
      // upstream safetensors writes metadata in hash order: only compare it byte for byte with at most one key.
      if (md === undefined || Object.keys(md).length <= 1) jobs.push({ op: 'plain_st', path: join(dir, `${s.id}.st.safetensors`), tensors: s.rows, metadata: md ?? null });
      jobs.push({ op: 'write', path: join(dir, `${s.id}.ct.safetensors`), tensors: s.rows, metadata: md ?? null, config: null });
      await writeFile(join(dir, `${s.id}.ts.safetensors`), serializeSafetensors(withData(s.rows), md === undefined ? null : new Map(Object.entries(md))));
      jobs.push({ op: 'load_st', path: join(dir, `${s.id}.ts.safetensors`) });
    }
    const results = runJobs(jobs);
    let i = 0;
    for (const s of sets) {
      const ours = new Uint8Array(await readFile(join(dir, `${s.id}.ts.safetensors`)));
      if (s.metadata === undefined || Object.keys(s.metadata).length <= 1) {
        { const r = results[i++]; assert.ok(r?.ok, JSON.stringify(r)); }
        assert.deepEqual(new Uint8Array(await readFile(join(dir, `${s.id}.st.safetensors`))), ours, `${s.id}: safetensors bytes`);
      }
      { const r = results[i++]; assert.ok(r?.ok, JSON.stringify(r)); }
      assert.deepEqual(new Uint8Array(await readFile(join(dir, `${s.id}.ct.safetensors`))), ours, `${s.id}: cryptotensors bytes`);
      assertTensors(results[i++], s.rows, `${s.id}: safetensors reads ours`, false);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('keys in the reference JWK dialect round-trip', () => {
  const k = signingKeyFromSeed(seq(0x20, 32));
  assert.equal(toB64std(k.publicKey), 'Kay64UG8yvCyLhqU000LxzYeUm0L/hLIl5S8kyKWbdc=');
});

void test('a TS-packaged model folder (shards with signed manifest and digests) loads in the reference', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mv-interop-'));
  try {
    const { generateDemoModel } = await import('../../resources/demo-model/generate.ts');
    const { openModel } = await import('../../app/node/format/open-model.ts');
    const { readdir } = await import('node:fs/promises');
    await generateDemoModel(join(dir, 'model'), { shards: 2 });
    await packageModel({ input: join(dir, 'model'), output: join(dir, 'out'), masterKey: MASTERS.chacha20poly1305, signingKey: SIGNER, chunkSize: 1000, encrypt: /(q|k|v)_proj/ });
    const shards = (await readdir(join(dir, 'out'))).filter((f) => f.endsWith('.safetensors'));
    assert.equal(shards.length, 2);
    const jobs = shards.map((s) => ({ op: 'deserialize', path: join(dir, 'out', s), keys: jwkKeys(MASTERS.chacha20poly1305, SIGNER) }));
    const results = runJobs(jobs);
    for (const [i, s] of shards.entries()) {
      const r = results[i];
      assert.ok(r?.ok === true, `${s}: ${JSON.stringify(r)}`);
      const m = await openModel(join(dir, 'model', s), {});
      for (const name of m.keys()) assert.equal(r.tensors?.[name], sha256Hex((await m.getTensor(name)).data), `${s} ${name}`);
      await m.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('TS files pass the independent spec checker (ctvec.py check-spec) and the reference probe (plan §3 K)', async () => {
  const { spawnSync } = await import('node:child_process');
  const { pythonPath } = await import('./helpers.ts');
  const dir = await mkdtemp(join(tmpdir(), 'mv-ts-out-'));
  try {
    const vectors: object[] = [];
    const add = async (id: string, rows: readonly Row[], bytes: Uint8Array, master: MasterKey | null, encrypted: readonly string[]): Promise<void> => {
      await writeFile(join(dir, `${id}.safetensors`), bytes);
      vectors.push({
        id, file: `${id}.safetensors`, kind: 'ts', expect: 'ok', metadata: null, config: null,
        keys: master === null ? null : { enc: { kty: 'oct', ...jwkKeys(master, SIGNER).enc }, sign: { kty: 'okp', ...jwkKeys(master, SIGNER).sign } },
        tensors: rows.map((r) => ({ name: r.name, dtype: r.dtype, shape: r.shape, nbytes: r.nbytes, sha256: expectedHashes([r])[r.name], encrypted: encrypted.includes(r.name) })),
      });
    };
    const rows = [...SIZES, ...EVERY];
    for (const alg of AEAD_ALGS) {
      for (const [version, cs] of [[1, undefined], [2, 1], [2, 7], [2, undefined]] as const) {
        const { bytes } = encodeModel(withData(rows), { masterKey: MASTERS[alg], signingKey: SIGNER, version, ...(cs === undefined ? {} : { chunkSize: cs }), metadata: new Map([['format', 'pt'], ['😀', 'x']]) });
        await add(`ts-${alg}-v${version}-${cs ?? 'd'}`, rows, bytes, MASTERS[alg], rows.map((r) => r.name));
      }
    }
    const { bytes: partial } = encodeModel(withData(rows), { masterKey: MASTERS.aes256gcm, signingKey: SIGNER, encrypt: ['s16', 't_empty'] });
    await add('ts-partial-digests', rows, partial, MASTERS.aes256gcm, ['s16', 't_empty']);
    await add('ts-plain', rows, serializeSafetensors(withData(rows)), null, []);
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ reference: { cryptotensors: '0.2.3' }, vectors }));
    const tool = join(import.meta.dirname, '../vectors/cryptotensors-0.2.3/ctvec.py');
    for (const cmd of ['check-spec', 'probe-ref']) {
      const r = spawnSync(pythonPath(), [tool, cmd, dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
    const spec = JSON.parse(await readFile(join(dir, 'spec_check.json'), 'utf8')) as Record<string, { spec_read: string; tensors: string; canonical: Record<string, boolean> }>;
    const probe = (JSON.parse(await readFile(join(dir, 'reference_outcomes.json'), 'utf8')) as { outcomes: Record<string, Record<string, unknown>> }).outcomes;
    assert.equal(Object.keys(spec).length, 14);
    for (const [id, s] of Object.entries(spec)) {
      assert.equal(s.spec_read, 'ok', id);
      assert.equal(s.tensors, 'ok', id);
      for (const [k, v] of Object.entries(s.canonical)) assert.equal(v, true, `${id} ${k}`);
      const p = probe[id] ?? {};
      assert.equal(p.open_direct, 'ok', id);
      for (const [k, v] of Object.entries(p)) if (k.startsWith('get:')) assert.equal(v, 'ok', `${id} ${k}`);
      assert.ok(typeof p.deserialize === 'object' && Object.values(p.deserialize as object).every((v) => v === 'ok'), `${id} deserialize`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
