/**
 * Handlers of the producer operations (app/ipc/ops/producer.ts): staging of dropped files (web host), scan,
 * producer keys, package (task, cancellable, leaves nothing behind), verify/inspect (domain `model`), publish to the
 * broker (task), published models with subscribers and audit, and the dialog operations' web-host answer.
 *
 * The policy the producer writes in the editor is a Model Vault access policy (`package modelvault`, with the input
 * document of app/policy/README.md): the broker evaluates it at every key release. It is also signed into every
 * shard header as the `remote` policy (the format's slot "for KMS key release", never evaluated by loaders), so the
 * subscriber can read the exact terms it was published under. The `local` file policy stays the reference-mode
 * `allow` the reference loader evaluates without input (a Model Vault policy there would deny every load).
 */
import { mkdir, rm, rmdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AppError } from '../../errors.ts';
import { randomBytes } from '../../crypto/random.ts';
import { toHex } from '../../crypto/encoding.ts';
import type { EncryptChoice, InspectView, PRODUCER_OPERATIONS } from '../../ipc/ops/producer.ts';
import type { EncryptSelection } from '../../format/writer.ts';
import { fingerprintOfPublicKey } from '../../keys/key.ts';
import { evaluatePolicy, type PolicyInput } from '../../policy/index.ts';
import { folderLayout, packageModel } from '../format/package.ts';
import { inspectFile } from '../format/inspect.ts';
import { ioError } from '../format/file-source.ts';
import { resolveKey } from '../keys/sources.ts';
import { KeychainKeyStore } from '../keys/keychain-keystore.ts';
import { trustStorePath, type Env } from '../keys/paths.ts';
import { loadTrustStore } from '../keys/trust-file.ts';
import type { HandlersOf, HandlerContext } from '../router.ts';
import type { ServiceDeps } from './index.ts';
import { ownMasterKey, ownSigner, producerKeyInfo, unlockProducerKeys } from './producer/keys.ts';
import { scanModel } from './producer/scan.ts';
import { Staging } from './producer/staging.ts';
import { updateState } from './producer/state.ts';
import { buildVerifyView, trustedKeysOf } from './producer/verify-view.ts';
import { approveSubscription, enrollProducer, listProducerModels, producerIdentity, publishPackage, type PublishDeps } from './producer/publish.ts';
import { brokerSessionOf } from './broker-session.ts';

/** The file-embedded policy in the reference's form (package model, no input), so the reference loader accepts it. */
export const FILE_POLICY = 'package model\n\nimport rego.v1\n\n# Access decisions with subscriber, device and licence facts happen at the broker (the signed remote policy).\ndefault allow := true\n';

const SAMPLE_INPUT: PolicyInput = {
  action: 'load',
  time: '2026-01-01T12:00:00Z',
  subscriber: { id: 'policy-check', roles: [] },
  model: { id: 'policy-check', tensors: [] },
};

/** Refuses a policy that does not parse or compile in Model Vault mode, with the engine's row:col. */
export function checkAccessPolicy(source: string): void {
  if (source.trim() === '') return;
  const d = evaluatePolicy(source, SAMPLE_INPUT, { mode: 'vault' });
  if (d.outcome === 'invalid_policy' || d.outcome === 'invalid_rule_path') {
    const where = d.location === undefined ? '' : ` (line ${d.location.row}, column ${d.location.col})`;
    throw new AppError('POLICY_INVALID', `The access policy does not compile${where}: ${d.message.slice(0, 300)}. Fix it in the policy step; the editor marks the spot.`);
  }
}

export function selectionOf(choice: EncryptChoice): EncryptSelection {
  switch (choice.mode) {
    case 'all':
      return 'all';
    case 'list':
      return [...choice.names];
    case 'pattern':
      try {
        return new RegExp(choice.pattern, 'u');
      } catch {
        throw new AppError('VALIDATION', 'The tensor name pattern is not a valid regular expression. Fix it or pick tensors from the list.');
      }
  }
}

function slug(name: string): string {
  const s = name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 60);
  return s === '' ? 'model' : s;
}

async function trustInputs(dataDir: string, env: Env) {
  const trustStore = await loadTrustStore(trustStorePath(env));
  const own = await ownSigner(dataDir, env);
  const trustedSigners = trustedKeysOf(trustStore);
  if (own !== undefined) trustedSigners.push({ publicKey: own.publicKey, kid: own.kid });
  return { trustStore, trustedSigners, ownFingerprints: new Set(own === undefined ? [] : [fingerprintOfPublicKey(own.publicKey)]) };
}

/** Master keys for `model:verify`: the producer's own, else the key sources (keychain, env) by kid. */
function verifyMasterKeys(dataDir: string, env: Env) {
  return async (d: { kid?: string }) => {
    if (d.kid === undefined) return undefined;
    const own = await ownMasterKey(dataDir, env, d.kid);
    if (own !== undefined) return own;
    try {
      const r = await resolveKey({ use: 'master', kid: d.kid }, { keychain: () => KeychainKeyStore.open(), env });
      return r.key.kind === 'master' ? r.key : undefined;
    } catch (e) {
      if (e instanceof AppError && (e.code === 'KEY_NOT_FOUND' || e.code === 'KEYCHAIN_UNAVAILABLE')) return undefined;
      throw e;
    }
  };
}

function cancelledError(): AppError {
  return new AppError('CANCELLED', 'Packaging was cancelled; nothing was written.');
}

export function createProducerHandlers(deps: ServiceDeps): HandlersOf<typeof PRODUCER_OPERATIONS> {
  const env: Env = deps.env ?? process.env;
  const dataDir = deps.config.dataDir;
  const staging = new Staging(dataDir);
  const broker = (): PublishDeps => ({ dataDir, env, config: deps.config, session: brokerSessionOf(deps) });

  async function verifyView(path: string, headerOnly: boolean, ctx: HandlerContext) {
    ctx.progress({ phase: 'verifying', done: 0, total: 1, message: 'Checking signature, policy, tensors and manifest' });
    const trust = await trustInputs(dataDir, env);
    const view = await buildVerifyView(path, { ...trust, headerOnly, masterKeys: verifyMasterKeys(dataDir, env) });
    ctx.progress({ phase: 'verified', done: 1, total: 1 });
    return view;
  }

  return {
    'producer:stageBegin': async () => staging.begin(),
    'producer:stageWrite': async (req) => ({ written: await staging.write(req.stagingId, req.path, req.offset, req.bytes) }),
    'producer:stageDiscard': async (req) => ({ removed: await staging.discard(req.stagingId) }),

    'producer:scan': async (req) => {
      const src = await staging.resolveSource(req.source);
      try {
        return await scanModel(src.path, src.name, req.source);
      } finally {
        // Loose files gathered for this scan only: package gathers them again.
        if (req.source.kind === 'paths' && src.staged !== undefined) await staging.discard(src.staged);
      }
    },

    'producer:keys': async (req) => producerKeyInfo(dataDir, env, req.alg),

    'producer:package': async (req, ctx) => {
      checkAccessPolicy(req.policy);
      const encrypt = selectionOf(req.encrypt);
      const src = await staging.resolveSource(req.source);
      const inputIsFile = (await stat(src.path)).isFile();
      const packageId = toHex(randomBytes(8));
      const base = `${slug(req.name)}-${packageId.slice(0, 6)}`;
      const output = req.output ?? join(dataDir, 'producer', 'packages', inputIsFile ? `${base}.safetensors` : base);
      await mkdir(join(output, '..'), { recursive: true, mode: 0o700 });
      const keys = await unlockProducerKeys(dataDir, env, req.alg);
      let written = false;
      try {
        if (ctx.signal.aborted) throw cancelledError();
        const result = await packageModel({
          input: src.path,
          output,
          masterKey: keys.master,
          signingKey: keys.signer,
          encrypt,
          version: req.version,
          policy: { local: FILE_POLICY, ...(req.policy.trim() === '' ? {} : { remote: req.policy }) },
          signal: ctx.signal,
          onProgress: (p) =>
            ctx.progress({
              phase: 'packaging',
              done: p.bytesDone,
              total: p.bytesTotal,
              rate: p.bytesPerSecond,
              ...(p.etaSeconds === null ? {} : { etaSeconds: p.etaSeconds }),
              message: `${p.tensorsDone} of ${p.tensorsTotal} tensors${p.file === '' ? '' : ` · ${basename(p.file)}`}`,
            }),
        });
        written = true;
        if (ctx.signal.aborted) throw cancelledError();
        const trust = await trustInputs(dataDir, env);
        ctx.progress({ phase: 'verifying', done: 0, total: 1, message: 'Verifying the packaged model' });
        const report = await buildVerifyView(output, { ...trust, masterKeys: [keys.master] });
        if (ctx.signal.aborted) throw cancelledError();
        const shardInfos = inputIsFile ? [output] : (await folderLayout(output)).shards.map((s) => join(output, s));
        let encryptedTensors = 0;
        for (const s of shardInfos) encryptedTensors += (await inspectFile(s, s, [])).tensors.filter((t) => t.encrypted).length;
        await updateState(dataDir, (s) => ({
          ...s,
          packages: [
            ...s.packages,
            {
              packageId,
              name: req.name,
              output,
              packagedAt: new Date().toISOString(),
              signerKid: keys.info.signer.kid,
              signerFingerprint: keys.info.signer.fingerprint,
              masterKid: keys.info.master.kid,
              alg: req.alg,
              bytes: result.bytes,
              shards: [...result.shards].map((p) => (inputIsFile ? basename(p) : p)),
              policy: req.policy,
              publication: null,
            },
          ],
        }));
        if (src.staged !== undefined) await staging.discard(src.staged);
        return { packageId, output, shards: result.shards, otherFiles: result.otherFiles, bytes: result.bytes, encryptedTensors, warnings: result.warnings, report };
      } catch (e) {
        if (written) await rm(output, { recursive: true, force: true });
        if (req.output === undefined) await rmdir(join(output, '..')).catch(() => undefined); // only when empty
        if (req.source.kind === 'paths' && src.staged !== undefined) await staging.discard(src.staged);
        throw e;
      } finally {
        keys.close();
      }
    },

    'producer:identity': async () => producerIdentity(broker()),
    'producer:enroll': async (req) => enrollProducer(broker(), req),
    'producer:publish': async (req, ctx) => publishPackage(broker(), req, ctx),
    'producer:models': async () => listProducerModels(broker()),
    'producer:approve': async (req) => approveSubscription(broker(), req.subscriptionId),

    'model:verify': async (req, ctx) => {
      await stat(req.path).catch((e: unknown) => {
        throw ioError('read the model', e);
      });
      return verifyView(req.path, req.headerOnly === true, ctx);
    },

    'model:inspect': async (req): Promise<InspectView> => {
      const st = await stat(req.path).catch((e: unknown) => {
        throw ioError('read the model', e);
      });
      const layout = st.isDirectory() ? await folderLayout(req.path) : { shards: [req.path], others: [] };
      const files = [];
      for (const s of layout.shards) files.push(await inspectFile(st.isDirectory() ? join(req.path, s) : s, s, []));
      const first = files[0];
      if (first === undefined) throw new AppError('VALIDATION', 'The folder has no .safetensors files.');
      return {
        path: req.path,
        kind: st.isDirectory() ? 'folder' : 'file',
        encrypted: first.encrypted,
        bytes: files.reduce((a, f) => a + f.bytes, 0),
        signerKid: first.encryption?.signKid ?? null,
        encryption: first.encryption === null ? null : { version: first.encryption.version, alg: first.encryption.alg, chunkSize: first.encryption.chunkSize, encKid: first.encryption.encKid },
        tensors: files.flatMap((f) => f.tensors.map((t) => ({ name: t.name, shard: basename(f.path), dtype: t.dtype, shape: t.shape.map(Number), bytes: t.bytes, encrypted: t.encrypted, authenticated: t.authenticated }))),
        otherFiles: layout.others,
        policy: first.policy === null ? null : { local: first.policy.local, access: first.policy.remote },
      };
    },

    'dialog:openModel': async () => {
      throw new AppError('UNSUPPORTED', 'There is no native file dialog in the browser: use the folder picker on the page instead.');
    },
    'dialog:chooseOutput': async () => {
      throw new AppError('UNSUPPORTED', 'There is no native save dialog in the browser: packaged models go to the data folder.');
    },
  };
}

