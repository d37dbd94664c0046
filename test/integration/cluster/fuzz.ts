// Frame fuzzers for the cluster integration tests: streams of random and mutated frames (bit
// flips, truncations, huge lengths, replays, plus some valid frames) thrown at a TCP listener or
// written into a serial line. The fuzzer holds the cluster key and runs the session handshake on
// TCP, so its "valid" frames really are valid and its mutations exercise authentication, not
// just the parser. Without a session (the serial line) its non-Hello frames cannot be valid.
import { connect } from 'node:net';
import { randomBytes, randomInt } from 'node:crypto';
import { openSync, writeSync, closeSync } from 'node:fs';
import { ClusterKey, SESSION_NONCE_BYTES } from '../../../src/cluster/cluster-key.js';
import { FIXED_HEADER_BYTES, FrameType, openFrame, sealFrame } from '../../../src/cluster/frame-codec.js';
import { parseHello } from '../../../src/cluster/session.js';
import { TcpFrameReader, ttyWrap } from '../../../src/cluster/stream-framing.js';

export class FrameForge {
  private seq = 0n;
  private helloSeq = 0n;
  private readonly epoch = randomBytes(8).readBigUInt64BE(0);
  private nonce = randomBytes(SESSION_NONCE_BYTES);
  private sessionKey: Buffer | undefined;
  readonly sent: Buffer[] = [];
  constructor(private readonly key: ClusterKey, readonly sender: string, readonly receiver: string) {}
  /** A valid Hello announcing a fresh nonce (and forgetting the previous session). */
  hello(extra: Record<string, unknown> = {}): Buffer {
    this.nonce = randomBytes(SESSION_NONCE_BYTES);
    this.sessionKey = undefined;
    const body = Buffer.from(JSON.stringify({ n: this.nonce.toString('hex'), e: '', ...extra }));
    return sealFrame(this.key, { type: FrameType.Hello, sender: this.sender, receiver: this.receiver, epoch: this.epoch, seq: this.helloSeq++, timestampMs: Date.now() }, body);
  }
  /** Takes the victim's answering Hello: later frames are sealed with this session's keys. */
  session(answer: Buffer): boolean {
    const r = openFrame(this.key, answer, this.sender);
    const body = r.ok ? parseHello(r.frame.payload) : undefined;
    if (!body || body.e !== this.nonce.toString('hex')) return false;
    this.sessionKey = this.key.sessionKey(this.sender, this.receiver, this.nonce, Buffer.from(body.n, 'hex'));
    this.seq = 0n;
    this.sent.length = 0;
    return true;
  }
  valid(type: FrameType = FrameType.Heartbeat, payload: Buffer = randomBytes(8)): Buffer {
    const f = sealFrame(this.sessionKey ?? this.key, { type, sender: this.sender, receiver: this.receiver, epoch: this.epoch, seq: this.seq++, timestampMs: Date.now() }, payload);
    if (this.sent.length < 512) this.sent.push(f);
    return f;
  }
  /** A valid frame with one bit flipped past the fixed header (authentication must catch it). */
  bodyFlip(): Buffer {
    const f = Buffer.from(this.valid(FrameType.Heartbeat, randomBytes(randomInt(0, 64))));
    const bit = randomInt(FIXED_HEADER_BYTES * 8, f.length * 8);
    f[bit >> 3]! ^= 1 << (bit & 7);
    return f;
  }
  replay(): Buffer {
    return this.sent.length ? this.sent[randomInt(0, this.sent.length)]! : this.valid();
  }
  /** Something that leaves a byte stream unparseable: header flips, huge lengths, truncation, noise. */
  fatal(): Buffer {
    const f = Buffer.from(this.valid());
    switch (randomInt(0, 4)) {
      case 0: {
        const bit = randomInt(0, 8 * 8);
        f[bit >> 3]! ^= 1 << (bit & 7);
        return f;
      }
      case 1:
        f.writeUInt32BE(randomInt(2 ** 21, 2 ** 32 - 1), 32);
        return f;
      case 2:
        return Buffer.concat([f.subarray(0, randomInt(1, f.length)), randomBytes(randomInt(1, 200))]);
      default:
        return randomBytes(randomInt(1, 300));
    }
  }
}

export interface TcpFuzzResult { frames: number; connections: number }

/**
 * Sends `total` frames to host:port from `localAddress`. Three connections in four complete the
 * handshake (Hello, the victim's answer, a valid first frame) and then carry a burst of body
 * flips, replays and valid frames; every connection ends with one stream-breaking frame; the
 * victim closes it and the fuzzer reconnects.
 */
export async function fuzzTcp(opts: {
  forge: FrameForge; host: string; port: number; localAddress: string; total: number; burst: number;
  hello: { from: string; to: string; port: number };
}): Promise<TcpFuzzResult> {
  let frames = 0;
  let connections = 0;
  while (frames < opts.total) {
    const authenticated = connections % 4 !== 3;
    connections++;
    await new Promise<void>((resolve) => {
      const s = connect({ host: opts.host, port: opts.port, localAddress: opts.localAddress });
      const done = (): void => {
        clearTimeout(timer);
        s.destroy();
        resolve();
      };
      const timer = setTimeout(done, 10_000);
      s.on('error', done);
      s.on('close', done);
      const burst = (): void => {
        const parts: Buffer[] = [];
        if (authenticated) {
          parts.push(opts.forge.valid());
          for (let i = 0; i < opts.burst && frames + parts.length < opts.total; i++) {
            const r = randomInt(0, 10);
            parts.push(r < 6 ? opts.forge.bodyFlip() : r < 8 ? opts.forge.replay() : opts.forge.valid());
          }
        }
        parts.push(opts.forge.fatal());
        frames += parts.length;
        s.write(Buffer.concat(parts));
        // The victim closes on the stream-breaking frame; if it did not, stop after a while anyway.
        s.end();
      };
      s.on('connect', () => {
        if (!authenticated) {
          burst();
          return;
        }
        s.write(opts.forge.hello(opts.hello));
        frames++;
        const reader = new TcpFrameReader(1024);
        const onData = (chunk: Buffer): void => {
          const { frames: got } = reader.push(chunk, 1);
          if (got.length === 0) return;
          s.off('data', onData);
          if (!opts.forge.session(got[0]!)) {
            done();
            return;
          }
          burst();
          s.resume();
        };
        s.on('data', onData);
      });
    });
  }
  return { frames, connections };
}

/** Writes `total` garbage, CRC-valid-but-forged, replayed and valid frames into a tty device. */
export async function fuzzTty(opts: { forge: FrameForge; device: string; total: number }): Promise<number> {
  const fd = openSync(opts.device, 'w');
  let frames = 0;
  try {
    while (frames < opts.total) {
      const chunk: Buffer[] = [];
      for (let i = 0; i < 200 && frames < opts.total; i++, frames++) {
        const r = randomInt(0, 11);
        if (r < 3) chunk.push(randomBytes(randomInt(1, 120))); // line noise
        else if (r < 6) chunk.push(ttyWrap(opts.forge.bodyFlip())); // CRC fine, authentication fails
        else if (r === 10) chunk.push(ttyWrap(opts.forge.hello())); // authentic, but not from this line's peer
        else if (r < 8) {
          const w = ttyWrap(opts.forge.valid()); // CRC breaks
          const at = randomInt(1, w.length - 1);
          w[at] = (w[at]! ^ (1 << randomInt(0, 8))) || 1;
          chunk.push(w);
        } else if (r < 9) chunk.push(ttyWrap(opts.forge.replay()));
        else chunk.push(ttyWrap(opts.forge.valid()));
      }
      writeSync(fd, Buffer.concat(chunk));
      // Let the victim (and the legit peer) have the line between bursts.
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    closeSync(fd);
  }
  return frames;
}
