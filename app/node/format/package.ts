/**
 * The streaming packager (`packageModel`): plain safetensors file or model folder in, encrypted and signed
 * CryptoTensors out. Never holds the model in memory: tensors are streamed in blocks, v2 chunks are encrypted by a
 * pool of node:crypto worker threads, v1 tensors by a streaming cipher. Output is atomic (temp, fsync, rename);
 * cancellation (AbortSignal) removes everything. Plaintext tensors get signed SHA-256 digests (W-4); folders get a
 * signed manifest of every other file, embedded in every shard (`__ct_manifest__`).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { AppError, BugError } from '../../errors.ts';
import { NONCE_BYTES, TAG_BYTES, aeadKeyBytes } from '../../crypto/aead.ts';
import { wipe } from '../../crypto/bytes.ts';
import { randomBytes } from '../../crypto/random.ts';
import { createSha256, toHex } from '../../crypto/sha256.ts';
import { policyText, type EncryptionEntry, type PolicyTexts } from '../../format/crypto-metadata.ts';
import type { MasterKey, SigningKey } from '../../format/keys.ts';
import type { SafetensorsHeader } from '../../format/safetensors.ts';
import { chunkCount, drawBaseIv, wrapDek } from '../../format/tensor-cipher.ts';
import { buildHeader, encDescriptorFor, extraReservedFor, planModel, userMetadataFor, type EncryptOptions, type EncryptSelection, type ModelPlan } from '../../format/writer.ts';
import { manifestText, type FolderManifest } from '../../format/manifest.ts';
import { nodeAead, streamSealer } from './node-aead.ts';
import { AeadPool, sharedPool } from './aead-pool.ts';
import { commit, ensureAbsent, fsyncPath, removeQuietly, tempPathFor, TEMP_MARK } from '../atomic.ts';
import { openFileSource, ioError, readModelHeader } from './file-source.ts';

export const BLOCK_BYTES = 8 * 1024 * 1024;

export interface PackageProgress {
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly tensorsDone: number;
  readonly tensorsTotal: number;
  readonly bytesPerSecond: number;
  /** Seconds left, or null before there is a rate. */
  readonly etaSeconds: number | null;
  readonly file: string;
}

export interface PackageOptions {
  readonly input: string;
  readonly output: string;
  readonly masterKey: MasterKey;
  readonly signingKey: SigningKey;
  readonly encrypt?: EncryptSelection;
  readonly version?: 1 | 2;
  readonly chunkSize?: number;
  readonly policy?: Partial<PolicyTexts>;
  /** Extra user metadata, merged over the input's. */
  readonly metadata?: ReadonlyMap<string, string>;
  readonly digests?: boolean;
  readonly onProgress?: (p: PackageProgress) => void;
  readonly signal?: AbortSignal;
  /** Worker threads (default: one per core). */
  readonly workers?: number;
  readonly overwrite?: boolean;
}

export interface PackageResult {
  readonly output: string;
  readonly shards: readonly string[];
  readonly otherFiles: readonly string[];
  readonly bytes: number;
  readonly warnings: readonly string[];
}

function cancelled(): AppError {
  return new AppError('CANCELLED', 'Packaging was cancelled; nothing was written.');
}

class Progress {
  private readonly started = performance.now();
  bytesDone = 0;
  tensorsDone = 0;
  private lastEmit = 0;
  constructor(readonly bytesTotal: number, readonly tensorsTotal: number, private readonly cb: ((p: PackageProgress) => void) | undefined) {}
  emit(file: string, force = false): void {
    if (this.cb === undefined) return;
    const now = performance.now();
    if (!force && now - this.lastEmit < 100) return;
    this.lastEmit = now;
    const secs = (now - this.started) / 1000;
    const rate = secs > 0 ? this.bytesDone / secs : 0;
    this.cb({ bytesDone: this.bytesDone, bytesTotal: this.bytesTotal, tensorsDone: this.tensorsDone, tensorsTotal: this.tensorsTotal, bytesPerSecond: rate, etaSeconds: rate > 0 ? (this.bytesTotal - this.bytesDone) / rate : null, file });
  }
}

async function readExact(h: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await h.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new AppError('IO_ERROR', 'The input file shrank while it was being read.');
    done += bytesRead;
  }
  return buf;
}

async function writeAll(h: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await h.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

interface FileContext {
  readonly pool: AeadPool;
  readonly progress: Progress;
  readonly options: PackageOptions;
  readonly manifest?: string;
  readonly label: string;
}

/**
 * Where the packager reads plaintext from: a plain safetensors file on disk, or (for re-encryption) a verified
 * CryptoTensors file decrypted on the fly, so that plaintext never has to be written to disk. Reads are absolute
 * positions in the plain file's layout (`header.dataStart + tensor.begin + offset`), always within one tensor.
 */
export interface PlainInput {
  readonly header: SafetensorsHeader;
  read(position: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

async function openPlainFile(path: string): Promise<PlainInput> {
  const src = await openFileSource(path);
  try {
    const { parsed } = await readModelHeader(src);
    if (parsed.crypto !== null || parsed.strippedCrypto) throw new AppError('VALIDATION', 'The input is already a CryptoTensors file: rewrap or reencrypt it instead.');
    return { header: parsed.header, read: (position, length) => readExact(src.handle, position, length), close: async () => src.close?.() };
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

async function readPlainHeader(path: string): Promise<{ header: SafetensorsHeader }> {
  const input = await openPlainFile(path);
  await input.close();
  return { header: input.header };
}

/** Packages one plain input into `outPath` (written in place: callers give a temp path). Closes the input. */
async function packageFileTo(input: PlainInput, outPath: string, ctx: FileContext): Promise<ModelPlan> {
  try {
    return await packageInputTo(input, outPath, ctx);
  } finally {
    await input.close();
  }
}

async function packageInputTo(input: PlainInput, outPath: string, ctx: FileContext): Promise<ModelPlan> {
  const { options, pool, progress } = ctx;
  const src = input.header;
  const encOptions: EncryptOptions = {
    masterKey: options.masterKey, signingKey: options.signingKey,
    ...(options.version === undefined ? {} : { version: options.version }),
    ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
    ...(options.encrypt === undefined ? {} : { encrypt: options.encrypt }),
    ...(options.policy === undefined ? {} : { policy: options.policy }),
    ...(options.digests === undefined ? {} : { digests: options.digests }),
    ...(ctx.manifest === undefined ? {} : { manifestText: ctx.manifest }),
    metadata: new Map([...(src.metadata ?? []), ...(options.metadata ?? [])]),
  };
  const plan = planModel(src.tensors, encOptions);
  const keyLen = aeadKeyBytes(plan.alg);
  const params = { alg: plan.alg, chunked: plan.chunked, chunkSize: plan.chunkSize };

  // The header length is known before any encryption: every field has a fixed encoded size.
  const placeholderEntries = new Map<string, EncryptionEntry>();
  const placeholderDigests = new Map<string, string>();
  for (const t of plan.tensors) {
    const len = t.end - t.begin;
    if (!plan.encrypted.has(t.name)) {
      placeholderDigests.set(t.name, '0'.repeat(64));
      continue;
    }
    const base = { wrappedKey: new Uint8Array(keyLen), keyIv: new Uint8Array(NONCE_BYTES), keyTag: new Uint8Array(TAG_BYTES) };
    placeholderEntries.set(t.name, plan.chunked
      ? { ...base, baseIv: new Uint8Array(NONCE_BYTES), tags: new Uint8Array(TAG_BYTES * Math.max(1, chunkCount(len, plan.chunkSize))) }
      : { ...base, iv: new Uint8Array(len === 0 ? 0 : NONCE_BYTES), tag: new Uint8Array(len === 0 ? 0 : TAG_BYTES) });
  }
  const headerParts = (entries: ReadonlyMap<string, EncryptionEntry>, digests: ReadonlyMap<string, string>): Parameters<typeof buildHeader>[0] => ({
    userMetadata: userMetadataFor(encOptions),
    version: plan.version,
    chunkSizeField: plan.chunked ? plan.chunkSize : undefined,
    encDescriptor: encDescriptorFor(options.masterKey),
    signingKey: options.signingKey,
    entries,
    policyText: policyText(options.policy),
    extraReserved: extraReservedFor(encOptions, plan, digests),
    tensors: plan.tensors,
  });
  const headerLen = buildHeader(headerParts(placeholderEntries, placeholderDigests)).length;

  let out: FileHandle | undefined;
  try {
    out = await open(outPath, 'wx', 0o644);
    const srcByName = src.byName;
    const entries = new Map<string, EncryptionEntry>();
    const digests = new Map<string, string>();
    for (const t of plan.tensors) {
      checkAbort(options.signal);
      const s = srcByName.get(t.name);
      if (s === undefined) throw new BugError('package: tensor vanished from the plan');
      const len = t.end - t.begin;
      const inPos = src.dataStart + s.begin;
      const outPos = headerLen + t.begin;
      if (!plan.encrypted.has(t.name)) {
        const h = createSha256();
        for (let off = 0; off < len; off += BLOCK_BYTES) {
          const block = await input.read(inPos + off, Math.min(BLOCK_BYTES, len - off));
          h.update(block);
          await writeAll(out, block, outPos + off);
          progress.bytesDone += block.length;
          progress.emit(ctx.label);
          checkAbort(options.signal);
        }
        digests.set(t.name, toHex(h.digest()));
      } else {
        const dek = randomBytes(keyLen);
        try {
          let fields: Pick<EncryptionEntry, 'iv' | 'tag' | 'baseIv' | 'tags'>;
          if (!params.chunked) {
            if (len === 0) fields = { iv: new Uint8Array(0), tag: new Uint8Array(0) };
            else {
              const iv = randomBytes(NONCE_BYTES);
              const sealer = streamSealer(plan.alg, dek, iv);
              for (let off = 0; off < len; off += BLOCK_BYTES) {
                const block = await input.read(inPos + off, Math.min(BLOCK_BYTES, len - off));
                await writeAll(out, sealer.update(block), outPos + off);
                progress.bytesDone += block.length;
                progress.emit(ctx.label);
                checkAbort(options.signal);
              }
              fields = { iv, tag: sealer.final() };
            }
          } else {
            const k = chunkCount(len, plan.chunkSize);
            const baseIv = drawBaseIv(k);
            if (k === 0) fields = { baseIv, tags: nodeAead.seal(plan.alg, dek, baseIv, new Uint8Array(0)).tag };
            else {
              const tags = new Uint8Array(k * TAG_BYTES);
              const chunksPerBatch = Math.max(1, Math.floor(BLOCK_BYTES / plan.chunkSize));
              const inFlight = new Set<Promise<void>>();
              let failure: unknown;
              for (let first = 0; first < k && failure === undefined; first += chunksPerBatch) {
                checkAbort(options.signal);
                const start = first * plan.chunkSize;
                const end = Math.min(len, (first + chunksPerBatch) * plan.chunkSize);
                const block = await input.read(inPos + start, end - start);
                const outHandle = out;
                const p = pool.run({ op: 'seal', alg: plan.alg, key: dek, baseIv, firstIndex: first, chunkSize: plan.chunkSize, data: block.buffer as ArrayBuffer })
                  .then(async (r) => {
                    tags.set(r.tags as Uint8Array, first * TAG_BYTES);
                    await writeAll(outHandle, r.data, outPos + start);
                    progress.bytesDone += end - start;
                    progress.emit(ctx.label);
                  })
                  .catch((e: unknown) => {
                    failure ??= e;
                  })
                  .finally(() => inFlight.delete(p));
                inFlight.add(p);
                if (inFlight.size >= pool.size * 2) await Promise.race(inFlight);
              }
              await Promise.all(inFlight);
              if (failure !== undefined) throw failure instanceof Error ? failure : new AppError('INTERNAL', 'Encryption failed.');
              fields = { baseIv, tags };
            }
          }
          entries.set(t.name, { ...wrapDek(nodeAead, plan.alg, options.masterKey.key, dek), ...fields });
        } finally {
          wipe(dek);
        }
      }
      progress.tensorsDone++;
      progress.emit(ctx.label);
    }
    const header = buildHeader(headerParts(entries, digests));
    if (header.length !== headerLen) throw new BugError('package: header length changed between plan and write');
    await writeAll(out, header, 0);
    await out.sync();
    return plan;
  } finally {
    await out?.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Folders

const INDEX_FILE = 'model.safetensors.index.json';

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name === '.git' || e.name.includes(TEMP_MARK)) continue;
        await walk(p);
      } else if (e.isFile()) {
        if (e.name.includes(TEMP_MARK)) continue;
        out.push(relative(root, p).split(sep).join('/'));
      } else {
        throw new AppError('VALIDATION', 'The model folder contains a link or special file; only regular files are packaged.');
      }
    }
  }
  await walk(root);
  return out.sort();
}

export async function sha256File(path: string): Promise<string> {
  const h = createSha256();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Uint8Array);
  return toHex(h.digest());
}

export async function folderLayout(root: string): Promise<{ shards: string[]; others: string[] }> {
  const files = await listFiles(root);
  return { shards: files.filter((f) => f.endsWith('.safetensors')), others: files.filter((f) => !f.endsWith('.safetensors')) };
}

export async function packageModel(options: PackageOptions): Promise<PackageResult> {
  if (typeof options !== 'object' || options === null || typeof options.input !== 'string' || typeof options.output !== 'string') throw new AppError('VALIDATION', 'input and output paths are required.');
  const inStat = await stat(options.input).catch((e: unknown) => {
    throw ioError('read the input', e);
  });
  await ensureAbsent(options.output, options.overwrite === true);
  const pool = options.workers === undefined ? sharedPool() : new AeadPool(options.workers);
  const temp = tempPathFor(options.output);
  const warnings = new Set<string>();
  try {
    if (inStat.isFile()) {
      const { header: h } = await readPlainHeader(options.input);
      const progress = new Progress(h.dataLength, h.tensors.length, options.onProgress);
      const plan = await packageFileTo(await openPlainFile(options.input), temp, { pool, progress, options, label: options.input });
      plan.warnings.forEach((w) => warnings.add(w));
      progress.emit(options.input, true);
      await commit(temp, options.output, options.overwrite === true);
      return { output: options.output, shards: [options.output], otherFiles: [], bytes: (await stat(options.output)).size, warnings: [...warnings] };
    }
    const { shards, others } = await folderLayout(options.input);
    if (shards.length === 0) throw new AppError('VALIDATION', 'The folder has no .safetensors files to package.');
    const files: Record<string, string> = {};
    for (const f of others) files[f] = await sha256File(join(options.input, f));
    const manifest: FolderManifest = { version: 1, shards, files };
    const text = manifestText(manifest);
    let total = 0;
    let tensorCount = 0;
    for (const s of shards) {
      const { header: h } = await readPlainHeader(join(options.input, s));
      total += h.dataLength;
      tensorCount += h.tensors.length;
    }
    const progress = new Progress(total, tensorCount, options.onProgress);
    await mkdir(temp, { recursive: false });
    for (const s of shards) {
      const dest = join(temp, s);
      await mkdir(join(dest, '..'), { recursive: true });
      const plan = await packageFileTo(await openPlainFile(join(options.input, s)), dest, { pool, progress, options, manifest: text, label: s });
      plan.warnings.forEach((w) => warnings.add(w));
    }
    for (const f of others) {
      const dest = join(temp, f);
      await mkdir(join(dest, '..'), { recursive: true });
      await copyFile(join(options.input, f), dest);
      await fsyncPath(dest);
      if ((await sha256File(dest)) !== files[f]) throw new AppError('IO_ERROR', 'A file changed while the folder was being packaged. Try again.');
    }
    checkAbort(options.signal);
    progress.emit('', true);
    await fsyncPath(temp).catch(() => undefined);
    await commit(temp, options.output, options.overwrite === true);
    return { output: options.output, shards, otherFiles: others, bytes: total, warnings: [...warnings] };
  } catch (e) {
    await removeQuietly(temp);
    throw e;
  } finally {
    if (options.workers !== undefined) await pool.close();
  }
}

/**
 * Packages one `PlainInput` (e.g. a decrypting view of an existing CryptoTensors file) into `output`, atomically.
 * Used by re-encryption, so plaintext stays in memory, a block at a time.
 */
export async function packagePlainInput(input: PlainInput, output: string, options: Omit<PackageOptions, 'input' | 'output'>): Promise<PackageResult> {
  await ensureAbsent(output, options.overwrite === true);
  const pool = options.workers === undefined ? sharedPool() : new AeadPool(options.workers);
  const temp = tempPathFor(output);
  try {
    const full: PackageOptions = { ...options, input: output, output };
    const progress = new Progress(input.header.dataLength, input.header.tensors.length, options.onProgress);
    const plan = await packageFileTo(input, temp, { pool, progress, options: full, label: output });
    progress.emit(output, true);
    await commit(temp, output, options.overwrite === true);
    return { output, shards: [output], otherFiles: [], bytes: (await stat(output)).size, warnings: [...plan.warnings] };
  } catch (e) {
    await removeQuietly(temp);
    throw e;
  } finally {
    if (options.workers !== undefined) await pool.close();
  }
}

export { INDEX_FILE };

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw cancelled();
}
