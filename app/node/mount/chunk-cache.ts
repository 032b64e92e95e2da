/**
 * A bounded cache of decrypted chunks, shared by every reader of one mount. It holds at most `budgetBytes` of
 * cached plaintext, plus the chunks being decrypted or copied out right now (at most one per concurrent reader):
 * least recently used chunks are evicted and zeroed first. Concurrent reads of one chunk share one decryption. A
 * chunk is zeroed only when no reader is still copying from it (pins).
 */
import { wipe } from '../../crypto/bytes.ts';

export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

export interface CacheStats {
  /** Plaintext bytes held now (cached, in flight, or pinned by a reader after eviction). */
  readonly bytes: number;
  /** The most plaintext ever held at once. */
  readonly peakBytes: number;
  readonly budgetBytes: number;
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
}

interface Loading {
  promise: Promise<Uint8Array>;
  /** Readers waiting for this load besides the one that started it. */
  waiters: number;
}

export class ChunkCache {
  private readonly entries = new Map<string, Uint8Array>();
  private readonly loading = new Map<string, Loading>();
  private readonly pins = new Map<Uint8Array, number>();
  /** Evicted chunks still pinned by a reader: zeroed on their last unpin. */
  private readonly doomed = new Set<Uint8Array>();
  private cachedBytes = 0;
  private extraBytes = 0;
  private peak = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private closed = false;

  constructor(readonly budgetBytes: number = DEFAULT_CACHE_BYTES) {
    if (!Number.isSafeInteger(budgetBytes) || budgetBytes < 0) throw new RangeError('budgetBytes must be a non-negative safe integer');
  }

  /**
   * Runs `use` on the chunk under `key`, loading it with `load` on a miss. `size` is the chunk's plaintext length,
   * known in advance (it is counted while the chunk is decrypted). `use` must copy what it needs: the bytes may be
   * zeroed as soon as it returns.
   */
  async with<T>(key: string, size: number, load: () => Promise<Uint8Array>, use: (data: Uint8Array) => T): Promise<T> {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.hits++;
      this.entries.delete(key); // re-insert: Map order is the recency order
      this.entries.set(key, hit);
      return use(hit);
    }
    const pending = this.loading.get(key);
    let data: Uint8Array;
    if (pending !== undefined) {
      this.hits++;
      pending.waiters++;
      data = await pending.promise; // pinned for us by the loader
    } else {
      this.misses++;
      data = await this.startLoad(key, size, load);
    }
    try {
      return use(data);
    } finally {
      this.unpin(data);
    }
  }

  stats(): CacheStats {
    return { bytes: this.cachedBytes + this.extraBytes, peakBytes: this.peak, budgetBytes: this.budgetBytes, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }

  /** Zeroes and drops every cached chunk; later loads are not kept. */
  close(): void {
    this.closed = true;
    for (const data of this.entries.values()) this.discard(data);
    this.entries.clear();
    this.cachedBytes = 0;
  }

  private startLoad(key: string, size: number, load: () => Promise<Uint8Array>): Promise<Uint8Array> {
    this.extraBytes += size;
    this.notePeak();
    const record: Loading = { promise: Promise.resolve(new Uint8Array(0)), waiters: 0 };
    record.promise = (async () => {
      let data: Uint8Array;
      try {
        data = await load();
      } finally {
        this.extraBytes -= size;
        this.loading.delete(key);
      }
      this.pins.set(data, 1 + record.waiters);
      if (!this.closed && data.length <= this.budgetBytes) {
        this.evictFor(data.length);
        this.entries.set(key, data);
        this.cachedBytes += data.length;
      } else {
        this.doomed.add(data);
        this.extraBytes += data.length;
      }
      this.notePeak();
      return data;
    })();
    this.loading.set(key, record);
    return record.promise;
  }

  private unpin(data: Uint8Array): void {
    const n = (this.pins.get(data) ?? 1) - 1;
    if (n > 0) {
      this.pins.set(data, n);
      return;
    }
    this.pins.delete(data);
    if (this.doomed.delete(data)) {
      this.extraBytes -= data.length;
      wipe(data);
    }
  }

  /** Zeroes a chunk now, or when its last reader is done with it. */
  private discard(data: Uint8Array): void {
    if (this.pins.has(data)) {
      this.doomed.add(data);
      this.extraBytes += data.length;
    } else {
      wipe(data);
    }
  }

  private evictFor(incoming: number): void {
    for (const [key, data] of this.entries) {
      if (this.cachedBytes + incoming <= this.budgetBytes) break;
      this.entries.delete(key);
      this.cachedBytes -= data.length;
      this.evictions++;
      this.discard(data);
    }
  }

  private notePeak(): void {
    this.peak = Math.max(this.peak, this.cachedBytes + this.extraBytes);
  }
}
