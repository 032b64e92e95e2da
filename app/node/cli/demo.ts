/**
 * `model-vault demo`: the whole story on embedded defaults, one printed step at a time, with real keys, real files
 * and the real services. Nothing secret is printed: keys appear as kid and fingerprint only; the demo's key files are
 * written 0600 into the demo folder so the printed commands can be re-run by hand.
 */
import { appendFile, chmod, copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
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
import { planRotation, rotateFolder } from '../keys/rotate-folder.ts';
import { getStatus } from '../services/status.ts';
import { BrokerClient } from '../../broker/client.ts';
import { seedSigner } from '../../broker/request-signing.ts';
import { generateBoxKeyPair } from '../../broker/seal.ts';
import { randomBytes } from '../../crypto/random.ts';
import { ctEqual } from '../../crypto/bytes.ts';
import { toHex } from '../../crypto/encoding.ts';
import { headerBytesOf } from '../../format/safetensors.ts';
import { fetchHttpPort } from '../broker/http-port.ts';
import { kekFromBytes } from '../broker/kek.ts';
import { startBroker, type RunningBroker } from '../broker/start.ts';
import { RESOURCES_DIR } from '../paths.ts';
import { verifyRevocationList } from '../../broker/documents.ts';
import { parseSafetensors } from '../../format/safetensors.ts';
import { filePolicyEvaluator } from '../../policy/file-policy.ts';
import { fuseAvailable } from '../mount/fuse.ts';
import { licenceGuard } from '../mount/guard.ts';
import { MountManager, type MountInfo } from '../mount/manager.ts';
import { readThroughMount } from '../mount/demo-reader.ts';
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
    'inspect and verify it; show that a changed config is caught; start an embedded broker (SQLite) and publish;',
    'enroll a subscriber device, subscribe, and get the key released (personalized headers, a per-subscriber key',
    'wrapped to the device); verify the subscriber copy; mount it for an inference runtime (FUSE, else loopback HTTP)',
    'guarded by the licence, and read a tensor through the mount with a real reader (Python safetensors when',
    'installed); rotate the master key offline (dry run, journal, signed bundle), carry the bundle to the broker,',
    'watch the subscriber re-sync with its key unchanged, and verify again.',
    '',
    '  --dir DIR   where to write the demo files (default: a new folder under the system temp directory)',
    '  --json      print a JSON summary of every step on stdout (the narration goes to stderr)',
  ].join('\n'),
  async run(args, io) {
    const dirFlag = stringFlag(args, 'dir');
    const workDir = dirFlag === undefined ? await mkdtemp(join(tmpdir(), 'model-vault-demo-')) : resolve(io.cwd, dirFlag);
    await mkdir(workDir, { recursive: true });
    const steps = new StepPrinter(io, 13);

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

    // 7–9. The key broker: publish, subscribe, key release (embedded, SQLite, on 127.0.0.1)
    const brokerDir = join(workDir, 'broker');
    await mkdir(brokerDir, { recursive: true, mode: 0o700 });
    const bootstrap = toHex(randomBytes(16));
    let broker: RunningBroker | undefined;
    try {
      broker = await startBroker({ dbSpec: join(brokerDir, 'broker.sqlite'), kek: kekFromBytes(randomBytes(32)), bootstrapSecret: bootstrap });
      const producerSeed = randomBytes(32);
      const producerBox = generateBoxKeyPair();
      const producer = new BrokerClient({ baseUrl: broker.url, http: fetchHttpPort(), signer: seedSigner(producerSeed) });
      const info = await producer.info();
      const brokerBoxPub = new Uint8Array(Buffer.from(info.boxPubB64u, 'base64url'));
      await producer.enroll({ name: 'Demo Producer', role: 'producer', label: 'demo laptop', boxPub: producerBox.publicKey, bootstrap });
      const shardFiles = await Promise.all(result.shards.map(async (path) => ({ path, file: new Uint8Array(await readFile(join(packaged, path))) })));
      const releasePolicy = await readFile(join(RESOURCES_DIR, 'policies', 'licence-expiry.rego'), 'utf8');
      const modelId = 'demo.llama-tiny';
      await producer.publish({
        modelId,
        name: 'Demo tiny Llama',
        mode: 'open',
        durationDays: 30,
        deviceLimit: 2,
        graceDays: 3,
        policy: releasePolicy,
        files: shardFiles.map((f) => ({ path: f.path, header: headerBytesOf(f.file) })),
        masterKey: { alg: 'aes256gcm', ...(master.kid === undefined ? {} : { kid: master.kid }), key: master.key },
        signingSeed: signer.seed ?? new Uint8Array(0),
        brokerBoxPub,
      });
      steps.record(
        'Start the embedded key broker and publish: headers, release policy and keys (sealed to the broker), never the weights',
        [`broker at ${broker.url} (SQLite ${join(brokerDir, 'broker.sqlite')})`, `model ${modelId}: ${shardFiles.length} shard headers, release policy resources/policies/licence-expiry.rego`],
        { broker: broker.url, modelId, shards: shardFiles.length },
      );

      const subscriberBox = generateBoxKeyPair();
      const subscriber = new BrokerClient({ baseUrl: broker.url, http: fetchHttpPort(), signer: seedSigner(randomBytes(32)) });
      const enrolled = await subscriber.enroll({ name: 'Demo Subscriber', role: 'subscriber', label: 'gpu workstation', boxPub: subscriberBox.publicKey });
      const subscription = await subscriber.subscribe(modelId);
      steps.record(
        'Enroll a subscriber device and subscribe: a licence with expiry and a device limit',
        [`subscriber ${enrolled.identityId}, subscription ${subscription.subscriptionId} (${subscription.status})`, `licence expires ${subscription.expiresAt === null ? 'never' : new Date(subscription.expiresAt).toISOString()}, devices ${subscription.devices.length}`],
        { subscriptionId: subscription.subscriptionId, status: subscription.status, expiresAt: subscription.expiresAt },
      );

      const local = new Map(shardFiles.map((f) => [f.path, headerBytesOf(f.file)]));
      const released = await subscriber.releaseKey(modelId, local, { os: process.platform, app_version: status.version }, subscriberBox);
      const subscriberCopy = join(workDir, 'subscriber', 'demo-model.cryptotensors');
      await mkdir(subscriberCopy, { recursive: true });
      for (const f of shardFiles) {
        const header = released.synced.get(f.path) ?? headerBytesOf(f.file);
        const data = f.file.subarray(headerBytesOf(f.file).length);
        const out = new Uint8Array(header.length + data.length);
        out.set(header, 0);
        out.set(data, header.length);
        await writeFile(join(subscriberCopy, f.path), out);
      }
      for (const other of result.otherFiles) {
        await mkdir(join(subscriberCopy, other, '..'), { recursive: true });
        await copyFile(join(packaged, other), join(subscriberCopy, other));
      }
      const subscriberKey = { alg: released.alg, kid: released.kid, key: released.key };
      const subscriberTrust = [{ publicKey: released.verifyKey }];
      const personal = await verifyModel(subscriberCopy, { masterKeys: [subscriberKey], trustedSigners: subscriberTrust });
      const producerKeyOnCopy = await verifyModel(subscriberCopy, { masterKeys: [master], trustedSigners: subscriberTrust });
      const subscriberKeyOnOriginal = await verifyModel(packaged, { masterKeys: [subscriberKey], trustedSigners: trusted });
      const distinct = !ctEqual(released.key, master.key);
      steps.record(
        'Key release: header hashes checked, policy evaluated, personalized headers synced, a per-subscriber key wrapped to the device',
        [
          `${released.synced.size} personalized headers received; subscriber key kid ${released.kid} (fingerprint ${fingerprintOf({ ...subscriberKey, kind: 'master', algSpelling: released.alg })}), never shown in clear`,
          `subscriber copy verifies with the subscriber key: ${personal.ok ? 'OK' : 'FAILED'}`,
          `the producer key on the subscriber copy: ${producerKeyOnCopy.ok ? 'opens (unexpected!)' : 'refused'}; the subscriber key on the producer's file: ${subscriberKeyOnOriginal.ok ? 'opens (unexpected!)' : 'refused'}`,
        ],
        { synced: released.synced.size, personalOk: personal.ok, keysDistinct: distinct, producerKeyRefused: !producerKeyOnCopy.ok, subscriberKeyRefusedOnOriginal: !subscriberKeyOnOriginal.ok },
      );
      if (!personal.ok || !distinct || producerKeyOnCopy.ok || subscriberKeyOnOriginal.ok) throw new Error('demo: key release did not isolate the subscriber');

      // 10–11. Mount the subscriber copy for a runtime, guarded by the licence, and read a tensor through it
      const brokerSignPub = new Uint8Array(Buffer.from(info.signPubB64u, 'base64url'));
      const sync = await subscriber.sync();
      const licence = sync.subscriptions.find((x) => x.subscriptionId === released.subscriptionId)?.licence ?? null;
      const guard = licenceGuard({ licence, brokerPub: brokerSignPub, deviceId: subscriber.signer.deviceId, revocations: verifyRevocationList(sync.revocations, brokerSignPub) });
      const mountMode = fuseAvailable().available ? 'fuse' : 'http';
      const mounts = await MountManager.create({ env: { ...io.env, MODEL_VAULT_RUNTIME_DIR: join(workDir, 'run') }, owner: 'cli' });
      let mounted: MountInfo | undefined;
      try {
        mounted = await mounts.start({ model: subscriberCopy, mode: mountMode, keys: { masterKeys: [subscriberKey], trustedSigners: subscriberTrust }, guard, policyEvaluator: filePolicyEvaluator });
        steps.record(
          `Mount the subscriber copy (${mountMode === 'fuse' ? 'FUSE, read-only, direct_io' : 'loopback HTTP with a per-mount token: FUSE is not available here'}), guarded by the licence`,
          [
            mountMode === 'fuse' ? `folder ${mounted.mountpoint ?? ''} (private runtime folder, 0700)` : `url ${mounted.url ?? ''} (token in ${mounted.tokenFile ?? ''}, 0600)`,
            `${mounted.files.length} files: shards decrypted on read into plain safetensors, side files as signed; licence until ${new Date(mounted.licence?.notAfter ?? 0).toISOString()}`,
            `by hand: model-vault mount ${subscriberCopy} --mode ${mountMode} --model-id ${modelId}   (then model-vault mounts / unmount)`,
          ],
          { mode: mountMode, files: mounted.files.length, licensed: mounted.licence !== undefined },
        );
        const shard = result.shards[0] ?? '';
        const plainShard = new Uint8Array(await readFile(join(modelDir, shard)));
        const plainHeader = parseSafetensors(plainShard);
        const tensorName = plainHeader.tensors.find((t) => t.end > t.begin)?.name ?? '';
        const read = await readThroughMount(mounted, mounts.httpToken(mounted.id), shard, tensorName, io.env);
        const original = plainHeader.byName.get(tensorName);
        const want = original === undefined ? new Uint8Array(0) : plainShard.subarray(plainHeader.dataStart + original.begin, plainHeader.dataStart + original.end);
        const identical = ctEqual(read.data, want);
        read.data.fill(0);
        steps.record(
          'Read a tensor through the mount with a real reader and compare it with the original',
          [`${read.reader} read ${tensorName} (${read.dtype} [${read.shape.join(', ')}], ${want.length} bytes) from ${shard}: ${identical ? 'identical to the original' : 'DIFFERENT (unexpected!)'}`],
          { reader: read.reader, tensor: tensorName, identical },
        );
        if (!identical) throw new Error('demo: the tensor read through the mount differs from the original');
      } finally {
        await mounts.stopAll('shutdown');
      }
      // 12. Offline rotation of the master key, carried to the broker as a signed bundle
      const newMaster = generateMasterKey('aes256gcm');
      const rotationOptions = { oldMasterKeys: [master], newMasterKey: newMaster, oldSigningKey: signer, trustedSigners: trusted };
      const plan = await planRotation(packaged, rotationOptions);
      const bundlePath = join(workDir, 'rotation-bundle.json');
      const rotation = await rotateFolder(packaged, { ...rotationOptions, brokerRecipients: [{ id: info.brokerId, publicKey: brokerBoxPub }], bundleOut: bundlePath });
      await writeKeyFile(join(keysDir, 'producer-master-2.jwk'), serializeJwk(newMaster, { includeSecret: true }));
      const rotatedFiles = await Promise.all(result.shards.map(async (path) => ({ path, header: headerBytesOf(new Uint8Array(await readFile(join(packaged, path)))) })));
      const pushed = await producer.pushRotation(modelId, await readFile(bundlePath, 'utf8'), rotatedFiles);
      const resynced = await subscriber.releaseKey(modelId, released.synced, { os: process.platform, app_version: status.version }, subscriberBox);
      steps.record(
        'Rotate the master key offline (dry run, then rewrap and re-sign; tensor data untouched) and carry the signed bundle to the broker',
        [
          `dry run: ${plan.totals.filesToRewrap} files to rewrap, ${plan.totals.wrappedKeysChanging} wrapped keys and ${plan.totals.signaturesChanging} signatures change, ${plan.totals.dataBytesUntouched} data bytes untouched`,
          keyLine('new master key', newMaster),
          `bundle ${rotation.bundle.bundleId} → ${bundlePath}; the broker re-personalized ${String(pushed.resubscribed ?? 0)} subscription(s)`,
          `the subscriber keeps its key (${ctEqual(resynced.key, released.key) ? 'unchanged' : 'changed!'}) and picked up ${resynced.synced.size} new personalized headers at its next key release`,
        ],
        { filesRewrapped: rotation.files.filter((f) => f.result === 'rewrapped').length, bundle: bundlePath, subscriberKeyUnchanged: ctEqual(resynced.key, released.key), resynced: resynced.synced.size },
      );

      // 13. Verify again: the new key opens the producer's copy, the old one no longer does
      const after = await verifyModel(packaged, { masterKeys: [newMaster], trustedSigners: trusted });
      const withOld = await verifyModel(packaged, { masterKeys: [master], trustedSigners: trusted });
      steps.record(
        'Verify again after rotation',
        [`with the new key: ${after.ok ? 'OK' : 'FAILED'}`, `with the old key: ${withOld.ok ? 'still opens (unexpected!)' : `refused (${withOld.problems[0]?.code ?? 'error'})`}`],
        { newKeyOk: after.ok, oldKeyRefused: !withOld.ok },
      );
      if (!after.ok || withOld.ok) throw new Error('demo: rotation did not take effect');
    } finally {
      await broker?.close();
    }

    if (io.json) io.out(JSON.stringify({ ok: true, workDir, steps: steps.records }));
    else io.out(`\nDemo finished. Files are in ${workDir}.`);
    return EXIT.OK;
  },
};

export const commands: readonly CliCommand[] = [demoCommand];
