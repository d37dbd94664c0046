// Frame sealing/opening, replay window, and the TCP/TTY stream readers.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, statSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterKey, generateClusterSecret, readKeyFile, writeKeyFile } from '../../../src/cluster/cluster-key.js';
import { FrameType, openFrame, sealFrame, type FrameHeader } from '../../../src/cluster/frame-codec.js';
import { ReplayGuard } from '../../../src/cluster/replay-guard.js';
import { cobsDecode, cobsEncode, TcpFrameReader, TtyFrameReader, ttyWrap } from '../../../src/cluster/stream-framing.js';

const key = new ClusterKey(generateClusterSecret());
const hdr = (seq: number, over: Partial<FrameHeader> = {}): FrameHeader => ({
  type: FrameType.Heartbeat, sender: 'alpha', receiver: 'beta', epoch: 42n, seq: BigInt(seq), timestampMs: 1_700_000_000_000, ...over,
});

describe('frame codec', () => {
  it('round-trips and hides the payload', () => {
    const payload = Buffer.from('secret heartbeat payload');
    const f = sealFrame(key, hdr(7), payload);
    expect(f.includes(payload)).toBe(false);
    const r = openFrame(key, f, 'beta');
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.frame.payload.toString()).toBe('secret heartbeat payload');
      expect(r.frame.header.seq).toBe(7n);
      expect(r.frame.header.sender).toBe('alpha');
    }
  });
  it('rejects a frame for another receiver, a wrong key, and any bit flip', () => {
    const f = sealFrame(key, hdr(1), Buffer.from('x'.repeat(40)));
    expect(openFrame(key, f, 'gamma')).toEqual({ ok: false, reason: 'wrong_receiver' });
    expect(openFrame(new ClusterKey(generateClusterSecret()), f, 'beta')).toEqual({ ok: false, reason: 'bad_tag' });
    for (let bit = 0; bit < f.length * 8; bit++) {
      const m = Buffer.from(f);
      m[bit >> 3]! ^= 1 << (bit & 7);
      expect(openFrame(key, m, 'beta').ok).toBe(false);
    }
    expect(openFrame(key, f.subarray(0, f.length - 1), 'beta')).toEqual({ ok: false, reason: 'truncated' });
  });
  it('refuses huge declared lengths before reading them', () => {
    const f = sealFrame(key, hdr(1), Buffer.alloc(10));
    f.writeUInt32BE(0xffffffff, 32);
    expect(openFrame(key, f, 'beta')).toEqual({ ok: false, reason: 'oversize' });
    const r = new TcpFrameReader(4096).push(f);
    expect(r.fatal).toBe('oversize');
  });
});

describe('replay guard', () => {
  const now = 1_000_000;
  it('accepts each sequence once, within the window and out of order', () => {
    const g = new ReplayGuard(30_000);
    expect(g.accept('a', 1n, 10n, now, now)).toBe('ok');
    expect(g.accept('a', 1n, 10n, now, now)).toBe('replay');
    expect(g.accept('a', 1n, 8n, now, now)).toBe('ok');
    expect(g.accept('a', 1n, 8n, now, now)).toBe('replay');
    expect(g.accept('a', 1n, 2000n, now, now)).toBe('ok');
    expect(g.accept('a', 1n, 10n, now, now)).toBe('replay'); // fell out of the window
    expect(g.accept('a', 1n, 1999n, now, now)).toBe('ok');
    expect(g.accept('a', 1n, 1999n - 40n, now, now)).toBe('ok');
    expect(g.accept('a', 1n, 1999n - 40n, now, now)).toBe('replay');
  });
  it('refuses stale timestamps and frames of a previous boot', () => {
    const g = new ReplayGuard(30_000);
    expect(g.accept('a', 1n, 5n, now - 31_000, now)).toBe('stale');
    expect(g.accept('a', 1n, 5n, now, now)).toBe('ok');
    expect(g.accept('a', 2n, 0n, now, now)).toBe('ok'); // peer rebooted
    expect(g.epochOf('a')).toBe(2n);
    expect(g.accept('a', 1n, 6n, now, now)).toBe('old_epoch');
    expect(g.accept('a', 2n, 0n, now, now)).toBe('replay');
  });
});

describe('stream framing', () => {
  it('cobs round-trips arbitrary data', () => {
    for (let n = 0; n < 700; n += 13) {
      const d = randomBytes(n);
      for (let i = 0; i < n; i += 7) d[i] = 0;
      const e = cobsEncode(d);
      expect(e.includes(0)).toBe(false);
      expect(cobsDecode(e)!.equals(d)).toBe(true);
    }
  });
  it('TCP reader splits concatenated frames across arbitrary chunk boundaries', () => {
    const frames = [1, 2, 3].map((s) => sealFrame(key, hdr(s), randomBytes(s * 50)));
    const all = Buffer.concat(frames);
    const r = new TcpFrameReader(4096);
    const got: Buffer[] = [];
    for (let i = 0; i < all.length; i += 17) got.push(...r.push(all.subarray(i, i + 17)).frames);
    expect(got.map((g) => g.toString('hex'))).toEqual(frames.map((f) => f.toString('hex')));
  });
  it('TTY reader resynchronises after garbage and rejects corrupted frames by CRC', () => {
    const r = new TtyFrameReader(512);
    const f1 = sealFrame(key, hdr(1), Buffer.from('one'));
    const f2 = sealFrame(key, hdr(2), Buffer.from('two'));
    const corrupted = ttyWrap(f2);
    corrupted[10]! ^= 0x40;
    if (corrupted[10] === 0) corrupted[10] = 1;
    const stream = Buffer.concat([randomBytes(3000), ttyWrap(f1), corrupted, Buffer.from([1, 2, 3]), ttyWrap(f2)]);
    const got: Buffer[] = [];
    const rejects: string[] = [];
    for (let i = 0; i < stream.length; i += 31) {
      const o = r.push(stream.subarray(i, i + 31));
      got.push(...o.frames);
      rejects.push(...o.rejects);
    }
    expect(got.map((g) => g.toString('hex'))).toContain(f1.toString('hex'));
    expect(got.map((g) => g.toString('hex'))).toContain(f2.toString('hex'));
    expect(rejects.length).toBeGreaterThan(0);
  });
});

describe('key file', () => {
  it('is written 0600, read back, and refused when readable by others', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-key-'));
    try {
      const p = join(dir, 'cluster.key');
      const s = generateClusterSecret();
      writeKeyFile(p, s);
      expect(statSync(p).mode & 0o777).toBe(0o600);
      expect(readKeyFile(p).equals(s)).toBe(true);
      expect(() => writeKeyFile(p, generateClusterSecret())).toThrow(/already exists/);
      chmodSync(p, 0o644);
      expect(() => readKeyFile(p)).toThrow(/must be 0600/);
      writeFileSync(join(dir, 'bad'), 'hello', { mode: 0o600 });
      expect(() => readKeyFile(join(dir, 'bad'))).toThrow(/not a vigil cluster key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
