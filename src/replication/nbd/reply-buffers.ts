// Reuses the buffers of READ replies once the socket has sent them. A fresh large Buffer is
// fresh memory from the allocator: the kernel's copy into it page-faults on every page, and the
// garbage collector frees it late, so a sequential read stream would churn through new memory
// for every request. Buffers are kept by power-of-two capacity, up to a total cap.

const MAX_POOLED_BYTES = 32 * 1024 * 1024;
/** Larger replies are rare (the kernel client sends at most a few hundred KiB): not pooled. */
const MAX_POOLED_CAPACITY = 4 * 1024 * 1024;
const MIN_CAPACITY = 4096;

export interface ReplyBuffer {
  /** Exactly the requested length. */
  readonly view: Buffer;
  /** Gives the memory back; the view must not be used afterwards. */
  release(): void;
}

export class ReplyBufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private pooledBytes = 0;

  acquire(length: number): ReplyBuffer {
    const capacity = capacityFor(length);
    if (capacity > MAX_POOLED_CAPACITY) return { view: Buffer.allocUnsafe(length), release: () => undefined };
    let backing = this.free.get(capacity)?.pop();
    if (backing) this.pooledBytes -= capacity;
    else backing = Buffer.allocUnsafeSlow(capacity);
    const memory = backing;
    let released = false;
    return {
      view: memory.subarray(0, length),
      release: () => {
        if (released) return;
        released = true;
        if (this.pooledBytes + capacity > MAX_POOLED_BYTES) return;
        const l = this.free.get(capacity) ?? [];
        l.push(memory);
        this.free.set(capacity, l);
        this.pooledBytes += capacity;
      },
    };
  }

  /** Bytes held for reuse (for tests). */
  get heldBytes(): number {
    return this.pooledBytes;
  }
}

function capacityFor(length: number): number {
  let c = MIN_CAPACITY;
  while (c < length) c *= 2;
  return c;
}
