/**
 * The format CLI verbs end to end on a real model folder (sharded demo model with config, tokenizer, index):
 * package → inspect → verify → tamper → verify fails (exit 3) → rewrap → verify with the new keys → export.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, appendFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDemoModel } from '../../../resources/demo-model/generate.ts';
import { commands } from '../../../app/node/cli/format.ts';
import { parseArgs } from '../../../app/node/cli/args.ts';
import { runCli } from '../../../app/node/cli/main.ts';
import type { CliIo } from '../../../app/node/cli/types.ts';
import { masterKeyToJwk, signingKeyToJwk, verifyKeyToJwk } from '../../../app/format/keys.ts';
import { MASTER_256, SIGNER, SIGNER2, seq } from './helpers.ts';

function io(cwd: string): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { out: (t) => stdout.push(t), err: (t) => stderr.push(t), json: false, isTty: false, env: {}, cwd, stdout, stderr };
}

async function run(cwd: string, argv: string[], json = false): Promise<{ code: number; out: string; err: string }> {
  const [word, ...rest] = argv;
  const cmd = commands.find((c) => c.words[0] === word);
  assert.ok(cmd !== undefined, word);
  const i = { ...io(cwd), json };
  const args = parseArgs(rest);
  let code: number;
  try {
    code = await cmd.run(args, i);
  } catch (e) {
    return { code: -1, out: i.stdout.join('\n'), err: (e as Error).message };
  }
  return { code, out: i.stdout.join('\n'), err: i.stderr.join('\n') };
}

void test('CLI: package, inspect, verify, tamper, rewrap, export on a sharded model folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mv-cli-'));
  try {
    const model = join(dir, 'model');
    await generateDemoModel(model, { shards: 2 });
    await writeFile(join(dir, 'master.jwk'), masterKeyToJwk(MASTER_256));
    await writeFile(join(dir, 'sign.jwk'), signingKeyToJwk(SIGNER));
    await writeFile(join(dir, 'pub.jwk'), verifyKeyToJwk(SIGNER));
    await writeFile(join(dir, 'master2.jwk'), masterKeyToJwk({ ...MASTER_256, kid: 'rot-enc', key: seq(0x40, 32) }));
    await writeFile(join(dir, 'sign2.jwk'), signingKeyToJwk(SIGNER2));

    const pkg = await run(dir, ['package', 'model', '-o', 'out', '--key', 'master.jwk', '--sign-key', 'sign.jwk', '--chunk-size', '4096'], true);
    assert.equal(pkg.code, 0, pkg.err);
    const pj = JSON.parse(pkg.out) as { ok: boolean; shards: string[]; otherFiles: string[] };
    assert.equal(pj.shards.length, 2);
    assert.ok(pj.otherFiles.includes('config.json') && pj.otherFiles.includes('tokenizer.json') && pj.otherFiles.includes('model.safetensors.index.json'));
    assert.match(pkg.err, /100%/);

    const ins = await run(dir, ['inspect', 'out', '--trust', 'pub.jwk'], true);
    assert.equal(ins.code, 0, ins.err);
    const ij = JSON.parse(ins.out) as { files: { encrypted: boolean; signature: { verified: boolean; signer: { fingerprint: string } }; manifest: { files: number } }[] };
    assert.ok(ij.files.every((f) => f.encrypted && f.signature.verified && f.manifest.files === pj.otherFiles.length));
    assert.match(ij.files[0]?.signature.signer.fingerprint ?? '', /^mvfp1:/);
    const human = await run(dir, ['inspect', 'out']);
    assert.match(human.out, /NOT verified/);

    const ok = await run(dir, ['verify', 'out', '--trust', 'pub.jwk', '--key', 'master.jwk']);
    assert.equal(ok.code, 0, ok.out + ok.err);
    assert.match(ok.out, /verification OK/);
    assert.equal((await run(dir, ['verify', 'out', '--header-only', '--trust', 'pub.jwk'])).code, 0);
    assert.equal((await run(dir, ['verify', 'out', '--trust', 'sign2.jwk', '--key', 'master.jwk'])).code, 3);

    await appendFile(join(dir, 'out', 'config.json'), ' ');
    const bad = await run(dir, ['verify', 'out', '--trust', 'pub.jwk', '--key', 'master.jwk'], true);
    assert.equal(bad.code, 3);
    assert.match(bad.out, /MANIFEST_MISMATCH/);
    const orig = await readFile(join(model, 'config.json'));
    await writeFile(join(dir, 'out', 'config.json'), orig);
    await writeFile(join(dir, 'out', 'extra.py'), 'print(1)');
    assert.equal((await run(dir, ['verify', 'out', '--trust', 'pub.jwk', '--header-only'])).code, 3);
    await rm(join(dir, 'out', 'extra.py'));
    await appendFile(join(dir, 'out', 'tokenizer.json'), '\n');
    assert.equal((await run(dir, ['verify', 'out', '--trust', 'pub.jwk', '--header-only'])).code, 3);
    await writeFile(join(dir, 'out', 'tokenizer.json'), await readFile(join(model, 'tokenizer.json')));

    const rw = await run(dir, ['rewrap', 'out', '--key', 'master.jwk', '--trust', 'pub.jwk', '--sign-key', 'sign2.jwk', '--new-key', 'master2.jwk']);
    assert.equal(rw.code, 0, rw.err);
    assert.equal((await run(dir, ['verify', 'out', '--trust', 'pub.jwk', '--header-only'])).code, 3);
    const after = await run(dir, ['verify', 'out', '--trust', 'sign2.jwk', '--key', 'master2.jwk']);
    assert.equal(after.code, 0, after.out);

    const shards = (await readdir(join(dir, 'out'))).filter((f) => f.endsWith('.safetensors'));
    const noFlag = await run(dir, ['export', `out/${shards[0] as string}`, '-o', 'plain.safetensors', '--key', 'master2.jwk', '--trust', 'sign2.jwk']);
    assert.equal(noFlag.code, -1);
    const exp = await run(dir, ['export', '--plaintext', `out/${shards[0] as string}`, '-o', 'plain.safetensors', '--key', 'master2.jwk', '--trust', 'sign2.jwk']);
    assert.equal(exp.code, 0, exp.err);
    assert.match(exp.err, /DECRYPTED/);
    assert.deepEqual(await readFile(join(dir, 'plain.safetensors')), await readFile(join(model, shards[0] as string)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('CLI: usage errors exit 2 through the shared runner', async () => {
  const i = io(tmpdir());
  assert.equal(await runCli(['inspect'], i), 2);
  assert.equal(typeof commands.length, 'number');
});

void test('CLI verify evaluates non-constant file policies with the Rego engine (reference mode)', async () => {
  const { encodeModel } = await import('../../../app/format/writer.ts');
  const dir = await mkdtemp(join(tmpdir(), 'mv-cli-'));
  try {
    await writeFile(join(dir, 'master.jwk'), masterKeyToJwk(MASTER_256));
    await writeFile(join(dir, 'pub.jwk'), verifyKeyToJwk(SIGNER));
    const t = [{ name: 'a', dtype: 'U8' as const, shape: [4], data: seq(0, 4) }];
    const write = async (name: string, local: string): Promise<void> => writeFile(join(dir, name), encodeModel(t, { masterKey: MASTER_256, signingKey: SIGNER, policy: { local } }).bytes);
    await write('time.safetensors', 'package model\ndefault allow := false\nallow if { time.now_ns() > 0 }');
    await write('deny.safetensors', 'package model\ndefault allow := false\nallow if { 1 > 2 }');
    const ok = await run(dir, ['verify', 'time.safetensors', '--trust', 'pub.jwk', '--key', 'master.jwk']);
    assert.equal(ok.code, 0, ok.out);
    const bad = await run(dir, ['verify', 'deny.safetensors', '--trust', 'pub.jwk', '--key', 'master.jwk']);
    assert.equal(bad.code, 3);
    assert.match(bad.out, /POLICY_DENIED/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
