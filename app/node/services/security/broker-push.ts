/**
 * The rotation wizard's last step: carrying the signed rotation bundle to the broker from the app, instead of saving
 * it and taking it there by hand (app/broker/README.md §10, `POST /v1/rotations`).
 *
 * - `brokerTarget`: the app's broker (the broker session, ../broker-session.ts: embedded or remote) and this
 *   machine's producer enrollment, with the recipient the new master key must be wrapped for (`<broker id>:<box
 *   key>`, from the enrollment, so the broker can unwrap it), and the models this app published.
 * - `pushBundle`: the kept bundle is sent exactly as signed (the broker verifies it against the model's signing key
 *   and unwraps the new key with its own box key), with the rotated folder's headers, as the producer's device.
 *   Before anything is sent, the app checks what it can check locally so a mistake is named with what to do: the
 *   bundle rotates the master key only and wraps it for this broker; it covers one model's files by their names
 *   (the broker matches files by the names they were published under); every header on disk is the one the bundle
 *   lists (the folder was not changed since the rotation). A cancel before the upload sends nothing.
 *
 * Nothing secret is read here: headers are public, the bundle holds the new key wrapped for the broker only.
 */
import { promises as fs } from 'node:fs';
import { join, sep } from 'node:path';
import { AppError } from '../../../errors.ts';
import { toB64std } from '../../../crypto/encoding.ts';
import type { BrokerTarget, BundlePushResult } from '../../../ipc/ops/security.ts';
import { headerSha256, parseRotationBundle } from '../../../keys/rotation-bundle.ts';
import { brokerBoxPub } from '../../broker/profile.ts';
import { readHeaderBytesOfFile } from '../../format/file-source.ts';
import type { HandlerContext } from '../../router.ts';
import type { BrokerSession } from '../broker-session.ts';
import { readState } from '../producer/state.ts';
import { readBundle } from './rotation.ts';

export interface BrokerPushDeps {
  readonly dataDir: string;
  readonly session: BrokerSession;
}

function brokerLabel(session: BrokerSession, url: string): string {
  return session.mode === 'embedded' ? `embedded broker (${url})` : url;
}

export async function brokerTarget(deps: BrokerPushDeps, location: string): Promise<BrokerTarget> {
  const found = await deps.session.profile('producer');
  const p = found?.profile;
  const state = await readState(deps.dataDir);
  const models = state.packages.flatMap((x) => (x.publication === null ? [] : [{ modelId: x.publication.modelId, name: x.name, output: x.output }]));
  const seen = new Set<string>();
  return {
    broker: { mode: deps.session.mode, location },
    producer: p === undefined ? null : { name: p.name, brokerId: p.brokerId, recipient: `${p.brokerId}:${toB64std(brokerBoxPub(p))}` },
    // The latest publication of each model id (packages are recorded oldest first).
    models: [...models].reverse().filter((m) => (seen.has(m.modelId) ? false : (seen.add(m.modelId), true))),
  };
}

function cancelled(): AppError {
  return new AppError('CANCELLED', 'Sending the bundle was cancelled before the upload: nothing was sent to the broker.');
}

export async function pushBundle(deps: BrokerPushDeps, req: { bundleId: string; folder: string; modelId: string }, ctx: HandlerContext): Promise<BundlePushResult> {
  ctx.progress({ phase: 'checking', done: 0, total: 1, message: 'Reading the signed bundle' });
  const { text } = await readBundle(deps.dataDir, req.bundleId);
  const bundle = parseRotationBundle(text);
  if (bundle.sign !== undefined) {
    throw new AppError('UNSUPPORTED', 'This bundle also rotates the signing key, which the broker takes as a new publication: publish the model again from the Publish view with the new signing key.');
  }
  if (bundle.enc === undefined) throw new AppError('VALIDATION', 'This bundle does not rotate the master key, so the broker has nothing to import. Nothing was sent.');
  const found = await deps.session.profile('producer');
  if (found === undefined) throw new AppError('NOT_FOUND', 'This machine is not enrolled as a producer with the broker: enroll it in the Publish view, then send the bundle.');
  const brokerId = found.profile.brokerId;
  if (!bundle.enc.wrapped.some((w) => w.recipient === brokerId)) {
    throw new AppError('VALIDATION', `The new master key in this bundle is not wrapped for this app's broker (${brokerId}), so it could not unwrap it. Run the rotation again with “Wrap for this app's broker”, then send the new bundle. Nothing was sent.`);
  }
  const nested = bundle.models.filter((m) => m.path.includes('/'));
  if (nested.length > 0) {
    throw new AppError('VALIDATION', `This bundle covers files in subfolders (${nested[0]?.path ?? ''}…), but the broker takes one model's files by the names they were published under. Rotate the published model's own folder, then send that bundle. Nothing was sent.`);
  }
  const record = (await readState(deps.dataDir)).packages.filter((x) => x.publication?.modelId === req.modelId).at(-1);
  if (record !== undefined) {
    const want = [...record.shards].sort().join('\n');
    const have = bundle.models.map((m) => m.path).sort().join('\n');
    if (want !== have) throw new AppError('VALIDATION', `${req.modelId} was published with the files ${record.shards.join(', ')}, but this bundle covers ${bundle.models.map((m) => m.path).join(', ')}. Pick the model this folder holds. Nothing was sent.`);
  }

  const total = bundle.models.length + 2;
  const files: { path: string; header: Uint8Array }[] = [];
  for (const [i, m] of bundle.models.entries()) {
    if (ctx.signal.aborted) throw cancelled();
    const full = join(req.folder, ...m.path.split('/'));
    const st = await fs.stat(full).catch(() => undefined);
    if (st?.isFile() !== true) throw new AppError('NOT_FOUND', `${m.path} is not in ${req.folder}${sep}: send the bundle from the folder that was rotated. Nothing was sent.`);
    const header = await readHeaderBytesOfFile(full);
    if (headerSha256(header) !== m.newHeaderSha256) {
      throw new AppError('MANIFEST_MISMATCH', `${m.path} is not the file this rotation wrote (it changed since, or the folder is another copy). Rotate the folder again, then send the new bundle. Nothing was sent.`);
    }
    files.push({ path: m.path, header });
    ctx.progress({ phase: 'checking', done: i + 1, total, message: `Checked ${m.path} against the bundle` });
  }
  if (ctx.signal.aborted) throw cancelled();
  const { url } = await deps.session.endpoint();
  ctx.progress({ phase: 'sending', done: bundle.models.length + 1, total, message: `Sending the signed bundle and ${files.length} header(s) to the broker` });
  const r = await deps.session.withDevice('producer', ({ client }) => client.pushRotation(req.modelId, text, files));
  ctx.progress({ phase: 'done', done: total, total, message: 'The broker accepted the bundle' });
  return { bundleId: bundle.bundleId, modelId: r.modelId, broker: brokerLabel(deps.session, url), files: r.files, resubscribed: r.resubscribed };
}
