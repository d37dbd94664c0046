// A queue of received bytes for parsers that read fixed-size records out of a stream: chunks
// are kept as they arrived and only copied when a record straddles two chunks, so the payload
// of a large WRITE can be handed to writev() as the original chunks without concatenation.

export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  private total = 0;

  get length(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** The next `n` bytes as one Buffer (a view when they sit in one chunk), or undefined if fewer are queued. */
  take(n: number): Buffer | undefined {
    if (n > this.total) return undefined;
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (const part of this.takeParts(n)!) {
      part.copy(out, filled);
      filled += part.length;
    }
    return out;
  }

  /** A copy of the next `n` bytes without consuming them, or undefined if fewer are queued. */
  peek(n: number): Buffer | undefined {
    if (n > this.total) return undefined;
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let skip = this.head;
    for (const chunk of this.chunks) {
      if (filled === n) break;
      const part = chunk.subarray(skip, skip + (n - filled));
      part.copy(out, filled);
      filled += part.length;
      skip = 0;
    }
    return out;
  }

  /** The next `n` bytes as the list of views over the received chunks (no copy), or undefined if fewer are queued. */
  takeParts(n: number): Buffer[] | undefined {
    if (n > this.total) return undefined;
    const parts: Buffer[] = [];
    let want = n;
    while (want > 0) {
      const first = this.chunks[0]!;
      const avail = first.length - this.head;
      const use = Math.min(avail, want);
      parts.push(first.subarray(this.head, this.head + use));
      this.advance(use);
      want -= use;
    }
    return parts;
  }

  /** Everything queued, emptying the queue. */
  drain(): Buffer {
    return this.take(this.total) ?? Buffer.alloc(0);
  }

  private advance(n: number): void {
    this.total -= n;
    this.head += n;
    while (this.chunks.length > 0 && this.head >= this.chunks[0]!.length) {
      this.head -= this.chunks[0]!.length;
      this.chunks.shift();
    }
  }
}
