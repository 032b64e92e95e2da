/**
 * Handlers of the security operations (app/ipc/ops/security.ts): key inventory, keyset changes, the offline rotation
 * wizard (with sending its signed bundle to the app's broker) and the audit log viewer. Every act is audited
 * (app/node/services/security/audit.ts), failures included.
 * Responses carry kids, fingerprints, paths and states only: never key bytes or passphrases.
 */
import { AppError } from '../../errors.ts';
import type { SECURITY_OPERATIONS } from '../../ipc/ops/security.ts';
import { describeKey, fingerprintOf, generateMasterKey, generateSigningKey } from '../../keys/key.ts';
import { readAuditLogText, AuditLog } from '../audit/log.ts';
import { changeKeysetState, keysetFilePort, keysetsPath, loadKeysets } from '../keys/keyset-file.ts';
import { trustStorePath, type Env } from '../keys/paths.ts';
import { loadTrustStore } from '../keys/trust-file.ts';
import { rotateFolder, type BrokerRecipient } from '../keys/rotate-folder.ts';
import { fromB64std } from '../../crypto/encoding.ts';
import type { HandlersOf } from '../router.ts';
import { brokerSessionOf } from './broker-session.ts';
import type { ServiceDeps } from './index.ts';
import { SecurityAudit, auditView } from './security/audit.ts';
import { brokerTarget, pushBundle } from './security/broker-push.ts';
import { inventory, keyRow } from './security/inventory.ts';
import { absoluteFolder, dryRun, exportBundle, keepBundle, readBundle, resultOf, rotationOptions, scanFolder, unfinishedRotation } from './security/rotation.ts';
import { SecurityStores } from './security/stores.ts';

export function createSecurityHandlers(deps: ServiceDeps): HandlersOf<typeof SECURITY_OPERATIONS> {
  const env: Env = deps.env ?? process.env;
  const home = deps.config.dataDir;
  // One unlocked file keystore per process: the broker session's, shared with the subscriber and producer views.
  const session = brokerSessionOf(deps);
  const stores = new SecurityStores(env, deps.probeKeychain, session);
  const audit = new SecurityAudit(env, stores);
  const keysets = keysetsPath(env);

  return {
    'security:keys': async () => inventory(stores, await loadKeysets(keysets), await audit.entries()),

    'security:createKey': (req) =>
      audit.record('keys.new', req.kid ?? '-', async () => {
        const opts = req.kid === undefined ? {} : { kid: req.kid };
        const key = req.alg === 'ed25519' ? generateSigningKey(opts) : generateMasterKey(req.alg, opts);
        const store = await stores.writable(req.store);
        const label = req.label?.trim();
        const meta = { createdAt: new Date().toISOString(), origin: 'generated' as const, ...(label === undefined || label === '' ? {} : { label }) };
        await store.put({ key, meta });
        const info = describeKey(key);
        const kid = info.kid ?? '-';
        const row = keyRow({ ...info, kid, meta, store: req.store }, await loadKeysets(keysets), new Map());
        return { value: row, object: kid, details: { keyFingerprint: info.fingerprint, alg: info.alg, keyKind: info.kind, keyStore: req.store } };
      }),

    'security:keyset': (req) =>
      audit.record(`keys.${req.action}`, req.kid, async () => {
        const owner = req.owner ?? 'default';
        const stored = req.action === 'stage' ? (await stores.list()).find((k) => k.kid === req.kid) : undefined;
        if (req.action === 'stage' && stored === undefined) throw new AppError('KEY_NOT_FOUND', `No stored key "${req.kid}" in the keychain or the file keystore.`);
        const { purpose, entry } = await changeKeysetState(keysets, req.action, req.kid, owner, stored);
        const state = entry?.state ?? 'retired';
        return { value: { kid: req.kid, owner, purpose, state }, details: { owner, purpose, state, ...(entry === undefined ? {} : { keyFingerprint: entry.fingerprint }) } };
      }),

    'security:unlock': (req) =>
      audit.record('keys.unlock', stores.filePath, async () => {
        const store = await stores.unlock(req.passphrase);
        const keys = (await store.list()).length;
        return { value: { keys, location: store.path }, details: { keyCount: keys, keyStore: 'file' } };
      }),

    'security:scan': async (req) => scanFolder(req.folder, stores),

    'security:plan': (req) =>
      audit.record('keys.rotate.plan', absoluteFolder(req.folder), async () => {
        const plan = await dryRun(req, stores);
        return {
          value: plan,
          details: { files: plan.files.length, toRewrap: plan.totals.filesToRewrap, problems: plan.problems.length, ...(plan.enc === null ? {} : { newEncKid: plan.enc.newKid }), ...(plan.sign === null ? {} : { newSignKid: plan.sign.newKid }) },
        };
      }),

    'security:rotate': async (req, ctx) => {
      const root = absoluteFolder(req.folder);
      const unfinished = await unfinishedRotation(root);
      if (unfinished !== undefined && req.resume !== true) {
        throw new AppError('ALREADY_EXISTS', `A rotation of this folder was interrupted (rotation ${unfinished.journal.rotationId}, ${unfinished.journal.files.filter((f) => f.state === 'done').length} of ${unfinished.journal.files.length} files done). Resume it first.`);
      }
      if (req.resume === true && unfinished === undefined) throw new AppError('NOT_FOUND', 'There is no interrupted rotation of this folder to resume. Start a new rotation instead.');
      const { options } = await rotationOptions(req, stores, unfinished?.journal);
      const owner = req.owner ?? 'default';
      const steps: { phase: string; at: string; detail?: string }[] = [];
      let lastPhase = '';
      const report = await rotateFolder(root, {
        ...options,
        signal: ctx.signal,
        audit: { log: await audit.log(), actor: audit.actor },
        keysets: keysetFilePort(keysets, owner),
        producer: owner,
        brokerRecipients: (req.brokerKeys ?? []).map(brokerRecipient),
        onProgress: (p) => {
          const message = p.phase === 'rewrap' && p.file !== undefined ? `Rewrapping ${p.file}` : PHASE_TEXT[p.phase];
          ctx.progress({ phase: p.phase, done: p.filesDone, total: p.filesTotal, message });
          if (p.phase !== lastPhase) {
            lastPhase = p.phase;
            steps.push({ phase: p.phase, at: new Date().toISOString(), ...(p.phase === 'rewrap' ? { detail: `${p.filesTotal} file(s)` } : {}) });
          }
        },
      });
      const bundle = await keepBundle(home, report.bundle);
      return resultOf(report, bundle, steps);
    },

    'security:exportBundle': (req) =>
      audit.record('keys.rotate.bundle.export', req.bundleId, async () => {
        const out = await exportBundle(home, req.bundleId, req.path, req.overwrite === true);
        return { value: out, details: { path: out.path.slice(0, 500), bytes: out.bytes, sha256: out.sha256 } };
      }),

    'security:bundle': async (req) => readBundle(home, req.bundleId),

    'security:brokerTarget': async () => brokerTarget({ dataDir: home, session }, deps.config.broker.location),

    'security:pushBundle': (req, ctx) =>
      audit.record('keys.rotate.bundle.push', req.bundleId, async () => {
        const out = await pushBundle({ dataDir: home, session }, { ...req, folder: absoluteFolder(req.folder) }, ctx);
        return { value: out, details: { model: out.modelId, files: out.files.length, resubscribed: out.resubscribed, broker: out.broker.slice(0, 200) } };
      }),

    'security:audit': async (req) => {
      const listed = await stores.list().catch(() => []);
      const ours = new Map(listed.filter((k) => k.kind === 'signing').map((k) => [k.fingerprint, k.kid]));
      const trust = await loadTrustStore(trustStorePath(env)).catch(() => undefined);
      const trusted = new Set([...ours.keys(), ...(trust?.entries.filter((e) => e.trusted).map((e) => e.fingerprint) ?? [])]);
      return auditView(audit.path, await readAuditLogText(audit.path), req, ours, trusted);
    },

    'security:checkpoint': async (req) => {
      // The request is itself an entry, and the checkpoint signed right after it covers it: the log ends signed.
      const signer = await audit.record('audit.checkpoint.key', req.signingKid, async () => {
        const key = await stores.load(req.signingKid, 'signing');
        return { value: key, details: { keyFingerprint: fingerprintOf(key) } };
      });
      const cp = await new AuditLog(audit.path, { signer }).checkpoint(audit.actor);
      if (cp === undefined) throw new AppError('VALIDATION', 'The audit log already ends with a signed checkpoint: there is nothing new to sign.');
      return { seq: cp.seq, fingerprint: fingerprintOf(signer) };
    },
  };
}

/** `<id>:<base64 X25519 public key>` (the request schema checked the shape). */
function brokerRecipient(text: string): BrokerRecipient {
  const i = text.lastIndexOf(':');
  const publicKey = fromB64std(text.slice(i + 1));
  if (publicKey?.length !== 32) throw new AppError('VALIDATION', 'A broker key is a 32-byte X25519 public key in base64: copy it from the broker.');
  return { id: text.slice(0, i), publicKey };
}

const PHASE_TEXT: Readonly<Record<string, string>> = {
  plan: 'Checking every model under the current keys',
  rewrap: 'Rewrapping',
  verify: 'Verifying every model under the new keys alone',
  promote: 'Promoting the new keys in their keysets',
  bundle: 'Signing the rotation bundle',
  done: 'Done',
};
