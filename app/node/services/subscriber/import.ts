/**
 * Importing a model into the subscriber's library. The weights are ciphertext and travel any way they like; what
 * makes a copy this subscriber's is its headers. With a subscription, each shard is written as the personalized
 * header the broker holds for this subscriber (the data keys rewrapped under the per-subscriber key, re-signed)
 * followed by the shard's tensor data, byte for byte; other files (config, tokenizer) are copied. Without a
 * subscription, files are copied as they are.
 *
 * The copy is written into `<library>/models/.importing-<id>/` with bounded chunks (progress: bytes, rate, ETA) and
 * renamed into place at the end; a cancel or a failure removes it, so nothing is left behind.
 */
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AppError } from '../../../errors.ts';
import { randomBytes } from '../../../crypto/random.ts';
import { toHex } from '../../../crypto/encoding.ts';
import { PREFIX_BYTES, readHeaderLength } from '../../../format/safetensors.ts';
import type { ImportedModel } from '../../../ipc/ops/subscriber.ts';
import { folderLayout } from '../../format/package.ts';
import type { HandlerContext } from '../../router.ts';
import type { Library } from './library.ts';

const CHUNK_BYTES = 4 * 1024 * 1024;
const PROGRESS_EVERY_MS = 100;

export interface PersonalizedHeaders {
  readonly modelId: string;
  readonly subscriptionId: string;
  /** Shard path (as published) → the personalized header bytes (prefix + JSON + padding). */
  readonly headers: ReadonlyMap<string, Uint8Array>;
}

export interface ImportInput {
  /** A model folder or one shard file. */
  readonly path: string;
  readonly name: string;
  readonly personalized?: PersonalizedHeaders;
}

interface Planned {
  readonly rel: string;
  readonly full: string;
  readonly size: number;
  /** The header to write instead of the file's own one (shards of a subscription). */
  readonly header?: Uint8Array;
}

function cancelled(): AppError {
  return new AppError('CANCELLED', 'The import was cancelled; nothing was kept.');
}

async function headerEnd(full: string, size: number): Promise<number> {
  const fh = await fs.open(full, 'r');
  try {
    const prefix = new Uint8Array(PREFIX_BYTES);
    const { bytesRead } = await fh.read(prefix, 0, PREFIX_BYTES, 0);
    if (bytesRead !== PREFIX_BYTES) throw new AppError('FORMAT_INVALID', `${basename(full)} is too short to be a safetensors file.`);
    return PREFIX_BYTES + readHeaderLength(prefix, size);
  } finally {
    await fh.close();
  }
}

async function plan(input: ImportInput): Promise<Planned[]> {
  const st = await fs.stat(input.path).catch((e: unknown) => {
    throw new AppError('NOT_FOUND', `Cannot read ${basename(input.path)} (${(e as NodeJS.ErrnoException).code ?? 'error'}). Check that it still exists.`);
  });
  let shards: { rel: string; full: string }[];
  let others: { rel: string; full: string }[] = [];
  if (st.isFile()) {
    if (!input.path.endsWith('.safetensors')) throw new AppError('VALIDATION', 'Drop a model folder or a .safetensors file.');
    shards = [{ rel: basename(input.path), full: input.path }];
  } else {
    const layout = await folderLayout(input.path);
    shards = layout.shards.map((rel) => ({ rel, full: join(input.path, rel) }));
    others = layout.others.map((rel) => ({ rel, full: join(input.path, rel) }));
  }
  if (shards.length === 0) throw new AppError('VALIDATION', 'There is no .safetensors file in what you dropped. Drop the model folder the publisher sent you.');
  const p = input.personalized;
  if (p !== undefined) {
    const missing = [...p.headers.keys()].filter((path) => !shards.some((s) => s.rel === path));
    const extra = shards.filter((s) => !p.headers.has(s.rel)).map((s) => s.rel);
    if (missing.length > 0 || extra.length > 0) {
      const want = [...p.headers.keys()].sort().join(', ');
      throw new AppError('VALIDATION', `These files are not the shards of ${p.modelId}: the broker expects ${want}${missing.length > 0 ? `; missing ${missing.join(', ')}` : ''}${extra.length > 0 ? `; not part of it: ${extra.join(', ')}` : ''}. Drop the folder the publisher sent for this model.`);
    }
  }
  const out: Planned[] = [];
  for (const s of [...shards, ...others]) {
    const size = (await fs.stat(s.full)).size;
    const header = p?.headers.get(s.rel);
    out.push({ ...s, size, ...(header === undefined ? {} : { header }) });
  }
  return out;
}

class Meter {
  #done = 0;
  #last = 0;
  readonly #start = Date.now();
  constructor(
    private readonly total: number,
    private readonly ctx: HandlerContext,
  ) {}

  add(n: number, file: string, force = false): void {
    this.#done += n;
    const now = Date.now();
    if (!force && now - this.#last < PROGRESS_EVERY_MS) return;
    this.#last = now;
    const seconds = (now - this.#start) / 1000;
    const rate = seconds > 0 ? this.#done / seconds : undefined;
    this.ctx.progress({
      phase: 'copying', done: this.#done, total: this.total, message: `Copying ${file}`,
      ...(rate === undefined || rate === 0 ? {} : { rate, etaSeconds: Math.max(0, (this.total - this.#done) / rate) }),
    });
  }
}

/** Copies `from` (starting at `offset`) into `to`, after `prefix` if given; bounded chunks; honours the signal. */
async function copyInto(from: string, offset: number, to: string, prefix: Uint8Array | undefined, meter: Meter, rel: string, signal: AbortSignal): Promise<void> {
  await fs.mkdir(dirname(to), { recursive: true, mode: 0o700 });
  const src = await fs.open(from, 'r');
  const dst = await fs.open(to, 'wx', 0o600);
  try {
    if (prefix !== undefined) {
      await dst.write(prefix, 0, prefix.length);
      meter.add(prefix.length, rel);
    }
    const buf = new Uint8Array(CHUNK_BYTES);
    let pos = offset;
    for (;;) {
      if (signal.aborted) throw cancelled();
      const { bytesRead } = await src.read(buf, 0, CHUNK_BYTES, pos);
      if (bytesRead === 0) break;
      await dst.write(buf, 0, bytesRead);
      pos += bytesRead;
      meter.add(bytesRead, rel);
    }
    await dst.sync();
  } finally {
    await src.close();
    await dst.close();
  }
}

export async function importModel(library: Library, input: ImportInput, ctx: HandlerContext): Promise<ImportedModel> {
  const files = await plan(input);
  const ends = new Map<string, number>();
  let total = 0;
  for (const f of files) {
    if (f.header !== undefined) {
      const end = await headerEnd(f.full, f.size);
      ends.set(f.rel, end);
      total += f.header.length + (f.size - end);
    } else total += f.size;
  }
  const localId = toHex(randomBytes(8));
  await fs.mkdir(library.modelsDir, { recursive: true, mode: 0o700 });
  const temp = join(library.modelsDir, `.importing-${localId}`);
  const final = join(library.modelsDir, localId);
  await fs.mkdir(temp, { mode: 0o700 });
  const meter = new Meter(total, ctx);
  try {
    for (const f of files) await copyInto(f.full, ends.get(f.rel) ?? 0, join(temp, f.rel), f.header, meter, f.rel, ctx.signal);
    if (ctx.signal.aborted) throw cancelled();
    await fs.rename(temp, final);
  } catch (e) {
    await fs.rm(temp, { recursive: true, force: true });
    throw e;
  }
  meter.add(0, files[files.length - 1]?.rel ?? '', true);
  // A single dropped shard is imported as a folder holding that file; the library points at the file.
  const single = files.length === 1 && files[0] !== undefined ? files[0].rel : undefined;
  const entry: ImportedModel = {
    localId, name: input.name, path: single === undefined ? final : join(final, single), importedAt: new Date().toISOString(), bytes: total,
    files: files.map((f) => f.rel), origin: input.personalized === undefined ? 'file' : 'broker',
    modelId: input.personalized?.modelId ?? null, subscriptionId: input.personalized?.subscriptionId ?? null, lastVerified: null,
  };
  try {
    await library.add(entry);
  } catch (e) {
    await fs.rm(final, { recursive: true, force: true });
    throw e;
  }
  return entry;
}

/** Rewrites the header of one imported shard (after a key release synced newer personalized headers). */
export async function replaceHeader(path: string, header: Uint8Array): Promise<void> {
  const size = (await fs.stat(path)).size;
  const end = await headerEnd(path, size);
  const temp = `${path}.${toHex(randomBytes(6))}.tmp`;
  const never = new AbortController().signal;
  const quiet = new Meter(0, { taskId: '', signal: never, progress: () => undefined });
  try {
    await copyInto(path, end, temp, header, quiet, basename(path), never);
    await fs.rename(temp, path);
  } catch (e) {
    await fs.rm(temp, { force: true });
    throw e;
  }
}

/** The header of one shard (prefix + JSON + padding), as the broker hashes it at key release. */
export async function readShardHeader(path: string): Promise<Uint8Array> {
  const size = (await fs.stat(path)).size;
  const end = await headerEnd(path, size);
  const fh = await fs.open(path, 'r');
  try {
    const out = new Uint8Array(end);
    await fh.read(out, 0, end, 0);
    return out;
  } finally {
    await fh.close();
  }
}
