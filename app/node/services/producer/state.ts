/**
 * The producer's own record, `<data dir>/producer/state.json` (0600, atomic writes under a file lock): which keys in
 * the key store are the producer's (kids only), and the models packaged and published from this machine. Holds no
 * secret: kids, fingerprints, paths, names and dates.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as v from 'valibot';
import { AppError } from '../../../errors.ts';
import { MASTER_ALGS } from '../../../ipc/ops/producer.ts';
import { readTextIfExists, withFileLock, writeFileAtomic } from '../../atomic.ts';

const PublicationSchema = v.strictObject({
  modelId: v.string(),
  publishedAt: v.string(),
  mode: v.picklist(['open', 'approval']),
  broker: v.string(),
});

const PackageSchema = v.strictObject({
  packageId: v.string(),
  name: v.string(),
  output: v.string(),
  packagedAt: v.string(),
  signerKid: v.string(),
  signerFingerprint: v.string(),
  masterKid: v.string(),
  alg: v.picklist(MASTER_ALGS),
  bytes: v.number(),
  shards: v.array(v.string()),
  /** The access policy (Model Vault mode) sent to the broker at publish time; also signed into the header. */
  policy: v.string(),
  publication: v.nullable(PublicationSchema),
});

const StateSchema = v.strictObject({
  format: v.literal('model-vault/producer'),
  version: v.literal(1),
  keys: v.strictObject({
    store: v.nullable(v.picklist(['keychain', 'file'])),
    signerKid: v.nullable(v.string()),
    masterKids: v.record(v.picklist(MASTER_ALGS), v.string()),
  }),
  packages: v.array(PackageSchema),
});

export type ProducerState = v.InferOutput<typeof StateSchema>;
export type PackageRecord = v.InferOutput<typeof PackageSchema>;

export function statePath(dataDir: string): string {
  return join(dataDir, 'producer', 'state.json');
}

function empty(): ProducerState {
  return { format: 'model-vault/producer', version: 1, keys: { store: null, signerKid: null, masterKids: {} }, packages: [] };
}

export async function readState(dataDir: string): Promise<ProducerState> {
  const path = statePath(dataDir);
  const text = await readTextIfExists(path);
  if (text === undefined) return empty();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AppError('VALIDATION', `The producer record ${path} is not valid JSON. Move it away; packaged models stay where they are.`);
  }
  const r = v.safeParse(StateSchema, json);
  if (!r.success) throw new AppError('VALIDATION', `The producer record ${path} is malformed. Move it away; packaged models stay where they are.`);
  return r.output;
}

/** Read-modify-write under the file lock. */
export async function updateState(dataDir: string, change: (s: ProducerState) => ProducerState): Promise<ProducerState> {
  const path = statePath(dataDir);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  return withFileLock(path, async () => {
    const next = change(await readState(dataDir));
    await writeFileAtomic(path, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
    return next;
  });
}
