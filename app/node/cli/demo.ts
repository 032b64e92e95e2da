/**
 * `model-vault demo`: the whole story on embedded defaults, one printed step at a time, with real keys, real files
 * and the real services. Nothing secret is printed: keys appear as kid and fingerprint only; the demo's key files are
 * written 0600 into the demo folder so the printed commands can be re-run by hand.
 */
import { appendFile, chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateDemoModel } from '../../../resources/demo-model/generate.ts';
import { fingerprintOf, generateMasterKey, generateSigningKey, publicHalf, type MasterKey, type SigningKey } from '../../keys/key.ts';
import { serializeJwk } from '../../keys/jwk.ts';
import { loadConfig } from '../config.ts';
import { probeKeychain } from '../keychain-status.ts';
import { packageModel } from '../format/package.ts';
import { verifyModel } from '../format/verify.ts';
import { openModel } from '../format/open-model.ts';
import { rewrapModel } from '../format/rotate.ts';
import { getStatus } from '../services/status.ts';
import { stringFlag } from './args.ts';
import { type CliCommand, type CliIo, EXIT } from './types.ts';

interface StepRecord {
  readonly step: string;
  readonly ok: boolean;
  readonly detail: Record<string, unknown>;
}

class StepPrinter {
  readonly records: StepRecord[] = [];
  private index = 0;
  constructor(
    private readonly io: CliIo,
    private readonly total: number,
  ) {}

  private say(text: string): void {
    if (this.io.json) this.io.err(text);
    else this.io.out(text);
  }

  record(step: string, lines: readonly string[], detail: Record<string, unknown>): void {
    this.index += 1;
    this.records.push({ step, ok: true, detail });
    this.say(`\n[${this.index}/${this.total}] ${step}`);
    for (const l of lines) this.say(`      ${l}`);
  }
}

/** The file-embedded policy, in the reference's form (package model, no input), so the reference loader accepts it. */
const FILE_POLICY = 'package model\n\nimport rego.v1\n\n# Access decisions with subscriber, device and licence facts happen at the broker (Model Vault policy).\ndefault allow := true\n';

async function writeKeyFile(path: string, text: string): Promise<void> {
  await writeFile(path, `${text}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
}

const keyLine = (label: string, key: MasterKey | SigningKey): string => `${label}: kid ${key.kid ?? '(none)'}, ${key.alg}, fingerprint ${fingerprintOf(key)}`;

const demoCommand: CliCommand = {
  words: ['demo'],
  usage: 'demo [--dir DIR] [--json]',
  summary: 'Run the Model Vault story end to end on embedded defaults, printing each step.',
  help: [
    'Steps: check this installation; generate a small sharded demo model (config, tokenizer, index); create the',
    "producer's keys; package the folder (per-tensor encryption, signed header and manifest, embedded policy);",
    'inspect and verify it as a subscriber would; show that a changed config is caught; rotate the master key',
    'offline and verify again. Publishing to the embedded broker, subscribing and mounting follow in later releases.',
    '',
    '  --dir DIR   where to write the demo files (default: a new folder under the system temp directory)',
    '  --json      print a JSON summary of every step on stdout (the narration goes to stderr)',
  ].join('\n'),
  async run(args, io) {
    const dirFlag = stringFlag(args, 'dir');
    const workDir = dirFlag === undefined ? await mkdtemp(join(tmpdir(), 'model-vault-demo-')) : resolve(io.cwd, dirFlag);
    await mkdir(workDir, { recursive: true });
    const steps = new StepPrinter(io, 8);

    // 1. Installation
    const config = loadConfig(io.env);
    const status = await getStatus({ config, host: 'web', probeKeychain });
    steps.record(
      'Check this installation',
      [
        `${status.name} ${status.version} on ${status.platform}, ${status.runtime}`,
        `keychain: ${status.keychain.available ? 'available' : `unavailable (${status.keychain.reason ?? 'no reason given'})`}`,
        `broker:   ${status.broker.mode} at ${status.broker.location}`,
      ],
      { keychainAvailable: status.keychain.available, broker: status.broker },
    );

    // 2. A model to protect
    const modelDir = join(workDir, 'demo-model');
    const model = await generateDemoModel(modelDir, { shards: 2 });
    steps.record(
      "Generate a small sharded model (the producer's plaintext input)",
      [`${model.tensors} tensors, ${model.files.length} files, ${model.bytes} bytes in ${modelDir}`, `files: ${model.files.join(', ')}`],
      { dir: modelDir, files: model.files, tensors: model.tensors, bytes: model.bytes },
    );

    // 3. Producer keys
    const keysDir = join(workDir, 'keys');
    await mkdir(keysDir, { recursive: true, mode: 0o700 });
    const master = generateMasterKey('aes256gcm');
    const signer = generateSigningKey();
    await writeKeyFile(join(keysDir, 'producer-master.jwk'), serializeJwk(master, { includeSecret: true }));
    await writeKeyFile(join(keysDir, 'producer-signing.jwk'), serializeJwk(signer, { includeSecret: true }));
    await writeKeyFile(join(keysDir, 'producer-signing.pub.jwk'), serializeJwk(publicHalf(signer), { includeSecret: false }));
    steps.record(
      "Create the producer's keys",
      [keyLine('master key ', master), keyLine('signing key', signer), `key files (0600, demo only) in ${keysDir}`],
      { master: { kid: master.kid, alg: master.alg, fingerprint: fingerprintOf(master) }, signer: { kid: signer.kid, fingerprint: fingerprintOf(signer) } },
    );

    // 4. Package
    const packaged = join(workDir, 'demo-model.cryptotensors');
    let lastPercent = -1;
    const result = await packageModel({
      input: modelDir,
      output: packaged,
      masterKey: master,
      signingKey: signer as SigningKey & { seed: Uint8Array },
      encrypt: 'all',
      version: 2,
      policy: { local: FILE_POLICY },
      onProgress: (p) => {
        const percent = p.bytesTotal === 0 ? 100 : Math.floor((100 * p.bytesDone) / p.bytesTotal);
        if (percent >= lastPercent + 25 || percent === 100) {
          lastPercent = percent;
          if (!io.json) io.err(`      packaging… ${percent}% (${p.tensorsDone}/${p.tensorsTotal} tensors)`);
        }
      },
    });
    steps.record(
      'Package: encrypt every tensor (AES-256-GCM, v2 chunks), sign the headers and the manifest of side files',
      [`${result.shards.length} shards + ${result.otherFiles.length} side files → ${packaged}`, ...result.warnings.map((w) => `warning: ${w}`)],
      { output: packaged, shards: result.shards, otherFiles: result.otherFiles, bytes: result.bytes },
    );

    // 5. Verify as a subscriber holding the key and trusting the producer's signer
    const trusted = [publicHalf(signer)];
    const report = await verifyModel(packaged, { masterKeys: [master], trustedSigners: trusted });
    const handle = await openModel(join(packaged, result.shards[0] ?? ''), { masterKeys: [master], trustedSigners: trusted });
    let tensorLine: string;
    try {
      const name = handle.offsetKeys()[0] ?? '';
      const tensor = await handle.getTensor(name);
      tensorLine = `read ${name}: ${tensor.dtype} [${tensor.shape.join(', ')}], ${tensor.data.length} bytes decrypted in memory`;
    } finally {
      await handle.close();
    }
    steps.record(
      'Verify: trusted signer, every tensor decrypted and checked against its signed digest, manifest of side files',
      [
        `verdict: ${report.ok ? 'OK' : 'FAILED'}; ${report.files.length} files, ${report.files.reduce((a, f) => a + f.tensors, 0)} tensors, ${report.manifest?.checked ?? 0} side files checked`,
        `signer: ${report.files[0]?.signer?.fingerprint ?? 'none'} (pinned)`,
        tensorLine,
        `by hand: model-vault verify ${packaged} --trust ${join(keysDir, 'producer-signing.pub.jwk')} --key ${join(keysDir, 'producer-master.jwk')}`,
      ],
      { ok: report.ok, problems: report.problems },
    );
    if (!report.ok) throw new Error('demo: the freshly packaged model did not verify');

    // 6. Tampering is caught
    const configPath = join(packaged, 'config.json');
    const original = await readFile(configPath);
    await appendFile(configPath, '\n');
    const tampered = await verifyModel(packaged, { trustedSigners: trusted, headerOnly: true });
    await writeFile(configPath, original);
    const problem = tampered.problems[0];
    steps.record(
      'Tamper check: a changed config.json is refused',
      [`verdict: ${tampered.ok ? 'OK (unexpected!)' : 'refused'}${problem === undefined ? '' : ` — [${problem.code}] ${problem.message}`}`, 'config.json restored'],
      { refused: !tampered.ok, code: problem?.code },
    );
    if (tampered.ok) throw new Error('demo: a tampered config was not detected');

    // 7. Offline rotation of the master key
    const newMaster = generateMasterKey('aes256gcm');
    await rewrapModel(packaged, { old: { masterKeys: [master], trustedSigners: trusted }, masterKey: newMaster, signingKey: signer as SigningKey & { seed: Uint8Array } });
    await writeKeyFile(join(keysDir, 'producer-master-2.jwk'), serializeJwk(newMaster, { includeSecret: true }));
    steps.record(
      'Rotate the master key offline: data keys rewrapped, headers re-signed, tensor data untouched',
      [keyLine('new master key', newMaster), `retired for this model: ${master.kid ?? '(none)'}`],
      { newMaster: { kid: newMaster.kid, fingerprint: fingerprintOf(newMaster) } },
    );

    // 8. Verify again: the new key opens it, the old one no longer does
    const after = await verifyModel(packaged, { masterKeys: [newMaster], trustedSigners: trusted });
    const withOld = await verifyModel(packaged, { masterKeys: [master], trustedSigners: trusted });
    steps.record(
      'Verify again after rotation',
      [`with the new key: ${after.ok ? 'OK' : 'FAILED'}`, `with the old key: ${withOld.ok ? 'still opens (unexpected!)' : `refused (${withOld.problems[0]?.code ?? 'error'})`}`],
      { newKeyOk: after.ok, oldKeyRefused: !withOld.ok },
    );
    if (!after.ok || withOld.ok) throw new Error('demo: rotation did not take effect');

    if (io.json) io.out(JSON.stringify({ ok: true, workDir, steps: steps.records }));
    else io.out(`\nDemo finished. Files are in ${workDir}.`);
    return EXIT.OK;
  },
};

export const commands: readonly CliCommand[] = [demoCommand];
