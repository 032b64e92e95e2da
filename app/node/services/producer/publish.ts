/**
 * Publishing a packaged model to the broker, and what the broker knows about the producer's models (subscribers,
 * audit entries). Through the shared broker session (../broker-session.ts): the embedded broker is started on
 * 127.0.0.1 on first use; the producer's device key signs every request. The model's master key and signing seed
 * are sealed to the broker's box key inside `BrokerClient.publish`; only headers (never weights) are uploaded.
 */
import { join } from 'node:path';
import { AppError } from '../../../errors.ts';
import type { ProducerIdentity, ProducerModels, PublishOutcome, PublishedModel } from '../../../ipc/ops/producer.ts';
import type { SubscriptionView } from '../../../broker/messages.ts';
import type { AppConfig } from '../../config.ts';
import { brokerBoxPub } from '../../broker/profile.ts';
import { readHeaderBytesOfFile } from '../../format/file-source.ts';
import type { Env } from '../../keys/paths.ts';
import type { HandlerContext } from '../../router.ts';
import type { BrokerSession } from '../broker-session.ts';
import { unlockPackageKeys } from './keys.ts';
import { readState, updateState, type PackageRecord } from './state.ts';

export interface PublishDeps {
  readonly dataDir: string;
  readonly env: Env;
  readonly config: AppConfig;
  readonly session: BrokerSession;
}

async function packageRecord(dataDir: string, packageId: string): Promise<PackageRecord> {
  const p = (await readState(dataDir)).packages.find((x) => x.packageId === packageId);
  if (p === undefined) throw new AppError('NOT_FOUND', 'This packaged model is not in the producer record any more. Package it again.');
  return p;
}

export async function producerIdentity(deps: PublishDeps): Promise<ProducerIdentity> {
  const found = await deps.session.profile('producer');
  const p = found?.profile;
  return {
    broker: { mode: deps.config.broker.mode, location: deps.config.broker.location },
    enrolled: p === undefined ? null : { name: p.name, identityId: p.identityId, deviceId: p.deviceId, brokerId: p.brokerId, enrolledAt: p.enrolledAt },
  };
}

export async function enrollProducer(deps: PublishDeps, r: { name: string; label: string; invite?: string | undefined; bootstrap?: string | undefined }): Promise<ProducerIdentity> {
  await deps.session.enroll('producer', { name: r.name, label: r.label, ...(r.invite === undefined ? {} : { invite: r.invite }), ...(r.bootstrap === undefined ? {} : { bootstrap: r.bootstrap }) });
  return producerIdentity(deps);
}

export async function publishPackage(
  deps: PublishDeps,
  req: { packageId: string; modelId: string; mode: 'open' | 'approval'; durationDays: number; deviceLimit: number; graceDays: number },
  ctx: HandlerContext,
): Promise<PublishOutcome> {
  const rec = await packageRecord(deps.dataDir, req.packageId);
  const paths = rec.shards.map((s) => (rec.shards.length === 1 && rec.output.endsWith('.safetensors') ? { path: s, full: rec.output } : { path: s, full: join(rec.output, s) }));
  const total = paths.length + 2;
  ctx.progress({ phase: 'reading headers', done: 0, total, message: 'Reading the signed shard headers' });
  const files: { path: string; header: Uint8Array }[] = [];
  for (const [i, f] of paths.entries()) {
    if (ctx.signal.aborted) throw new AppError('CANCELLED', 'Publishing was cancelled; nothing was sent.');
    files.push({ path: f.path, header: await readHeaderBytesOfFile(f.full) });
    ctx.progress({ phase: 'reading headers', done: i + 1, total, message: `${i + 1} of ${paths.length} headers` });
  }
  const keys = await unlockPackageKeys(deps.dataDir, deps.env, rec.masterKid, rec.signerKid);
  try {
    if (ctx.signal.aborted) throw new AppError('CANCELLED', 'Publishing was cancelled; nothing was sent.');
    ctx.progress({ phase: 'publishing', done: paths.length + 1, total, message: 'Sealing the keys to the broker and uploading the headers' });
    const { url } = await deps.session.endpoint();
    const r = await deps.session.withDevice('producer', ({ profile, client }) =>
      client.publish({
        modelId: req.modelId,
        name: rec.name,
        mode: req.mode,
        durationDays: req.durationDays,
        deviceLimit: req.deviceLimit,
        graceDays: req.graceDays,
        ...(rec.policy.trim() === '' ? {} : { policy: rec.policy }),
        files,
        masterKey: { alg: rec.alg, kid: rec.masterKid, key: keys.master.key },
        signingSeed: keys.signer.seed,
        brokerBoxPub: brokerBoxPub(profile),
      }),
    );
    await updateState(deps.dataDir, (s) => ({
      ...s,
      packages: s.packages.map((p) => (p.packageId === rec.packageId ? { ...p, publication: { modelId: r.modelId, publishedAt: new Date().toISOString(), mode: req.mode, broker: deps.config.broker.mode === 'embedded' ? 'embedded broker' : url } } : p)),
    }));
    ctx.progress({ phase: 'published', done: total, total });
    return { modelId: r.modelId, files: r.files, resubscribed: r.resubscribed, broker: deps.config.broker.mode === 'embedded' ? `embedded broker (${url})` : url };
  } finally {
    keys.close();
  }
}

function brokerNoteOf(e: unknown): string {
  if (e instanceof AppError) return e.message;
  throw e;
}

export async function listProducerModels(deps: PublishDeps): Promise<ProducerModels> {
  const state = await readState(deps.dataDir);
  const published = state.packages.filter((p) => p.publication !== null);
  let brokerNote: string | null = null;
  let subscriptions: readonly SubscriptionView[] = [];
  const audit = new Map<string, PublishedModel['audit']>();
  if (published.length > 0) {
    try {
      await deps.session.withDevice('producer', async ({ client }) => {
        subscriptions = (await client.producerSubscriptions()).subscriptions;
        for (const p of published) {
          const id = p.publication?.modelId as string;
          if (audit.has(id)) continue;
          const entries = (await client.audit(id)).entries;
          audit.set(id, entries.slice(-50).reverse().map((e) => ({ seq: e.seq, at: e.time, action: e.action, actor: e.actor, outcome: e.result })));
        }
      });
    } catch (e) {
      brokerNote = brokerNoteOf(e);
    }
  }
  const models: PublishedModel[] = [...state.packages].reverse().map((p) => {
    const modelId = p.publication?.modelId;
    return {
      packageId: p.packageId,
      name: p.name,
      output: p.output,
      packagedAt: p.packagedAt,
      signerFingerprint: p.signerFingerprint,
      alg: p.alg,
      bytes: p.bytes,
      publication: p.publication,
      subscribers:
        modelId === undefined
          ? []
          : subscriptions
              .filter((s) => s.modelId === modelId)
              .map((s) => ({ subscriptionId: s.subscriptionId, subscriberId: s.subscriber, status: s.status, expiresAt: s.expiresAt, devices: s.devices.length })),
      audit: modelId === undefined ? [] : (audit.get(modelId) ?? []),
    };
  });
  return { models, brokerNote };
}

export async function approveSubscription(deps: PublishDeps, subscriptionId: string): Promise<{ status: string }> {
  const view = await deps.session.withDevice('producer', ({ client }) => client.approve(subscriptionId));
  return { status: view.status };
}

