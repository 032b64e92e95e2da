/**
 * The subscriber's library of imported models: `<data dir>/subscriber/models/<localId>/` (the imported copy, 0700)
 * and the index `<data dir>/subscriber/library.json` (0600; ids, names, paths, origin, last verification: nothing
 * secret). Every change is a locked read-modify-write written atomically.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { AppError } from '../../../errors.ts';
import type { ImportedModel } from '../../../ipc/ops/subscriber.ts';
import { readTextIfExists, withFileLock, writeFileAtomic } from '../../atomic.ts';

const EntrySchema = v.strictObject({
  localId: v.pipe(v.string(), v.regex(/^[0-9a-f]{16}$/)),
  name: v.string(),
  path: v.string(),
  importedAt: v.string(),
  bytes: v.number(),
  files: v.array(v.string()),
  origin: v.picklist(['broker', 'file']),
  modelId: v.nullable(v.string()),
  subscriptionId: v.nullable(v.string()),
  lastVerified: v.nullable(v.strictObject({ at: v.string(), ok: v.boolean() })),
});
const IndexSchema = v.strictObject({ format: v.literal('model-vault/subscriber-library'), version: v.literal(1), models: v.array(EntrySchema) });
type Index = v.InferOutput<typeof IndexSchema>;

export function subscriberRoot(dataDir: string): string {
  return join(dataDir, 'subscriber');
}

export class Library {
  readonly root: string;
  readonly modelsDir: string;
  readonly #index: string;

  constructor(dataDir: string) {
    this.root = subscriberRoot(dataDir);
    this.modelsDir = join(this.root, 'models');
    this.#index = join(this.root, 'library.json');
  }

  async #read(): Promise<Index> {
    const text = await readTextIfExists(this.#index);
    if (text === undefined) return { format: 'model-vault/subscriber-library', version: 1, models: [] };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new AppError('VALIDATION', `The subscriber library index ${this.#index} is not valid JSON. Move it away; the imported copies in ${this.modelsDir} are untouched.`);
    }
    const r = v.safeParse(IndexSchema, json);
    if (!r.success) throw new AppError('VALIDATION', `The subscriber library index ${this.#index} is malformed. Move it away; the imported copies in ${this.modelsDir} are untouched.`);
    return r.output;
  }

  async #change<T>(fn: (i: Index) => T): Promise<T> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    return withFileLock(this.#index, async () => {
      const index = await this.#read();
      const out = fn(index);
      await writeFileAtomic(this.#index, JSON.stringify(index, null, 2) + '\n', { mode: 0o600 });
      return out;
    });
  }

  async list(): Promise<ImportedModel[]> {
    return (await this.#read()).models.slice().sort((a, b) => (a.importedAt < b.importedAt ? 1 : -1));
  }

  async get(localId: string): Promise<ImportedModel> {
    const m = (await this.#read()).models.find((x) => x.localId === localId);
    if (m === undefined) throw new AppError('NOT_FOUND', 'That model is no longer in the library. Import it again.');
    return m;
  }

  async add(entry: ImportedModel): Promise<void> {
    await this.#change((i) => {
      i.models.push({ ...entry, files: [...entry.files] });
    });
  }

  async setVerified(localId: string, ok: boolean): Promise<void> {
    await this.#change((i) => {
      const m = i.models.find((x) => x.localId === localId);
      if (m !== undefined) m.lastVerified = { at: new Date().toISOString(), ok };
    });
  }

  /** Removes the entry and its copy; true if there was one. */
  async remove(localId: string): Promise<boolean> {
    const entry = await this.#change((i) => {
      const at = i.models.findIndex((x) => x.localId === localId);
      return at < 0 ? undefined : i.models.splice(at, 1)[0];
    });
    if (entry === undefined) return false;
    await fs.rm(join(this.modelsDir, entry.localId), { recursive: true, force: true });
    return true;
  }
}
