// NBD wire format: exact bytes of the messages (as the protocol document lays them out), round
// trips, and refusal of malformed input; the fencing tokens and the fence's decisions.
import { describe, expect, it } from 'vitest';
import { ByteQueue } from '../../../src/replication/nbd/byte-queue.js';
import { ExportFence } from '../../../src/replication/nbd/export-fence.js';
import { ExportTokenKey, parseExportName } from '../../../src/replication/nbd/export-token.js';
import * as P from '../../../src/replication/nbd/protocol.js';
import { ReplyBufferPool } from '../../../src/replication/nbd/reply-buffers.js';

describe('NBD protocol encoding', () => {
  it('server greeting is NBDMAGIC, IHAVEOPT and the 16-bit handshake flags', () => {
    const g = P.encodeServerGreeting(P.NBD_FLAG_FIXED_NEWSTYLE | P.NBD_FLAG_NO_ZEROES);
    expect(g.toString('hex')).toBe(`${Buffer.from('NBDMAGIC').toString('hex')}${Buffer.from('IHAVEOPT').toString('hex')}0003`);
    expect(P.decodeServerGreeting(g).handshakeFlags).toBe(3);
  });
  it('refuses oldstyle servers and foreign greetings', () => {
    const old = Buffer.alloc(18);
    old.writeBigUInt64BE(P.NBD_MAGIC, 0);
    old.writeBigUInt64BE(0x00420281861253n, 8);
    expect(() => P.decodeServerGreeting(old)).toThrow(/oldstyle/);
    expect(() => P.decodeServerGreeting(Buffer.alloc(18))).toThrow(/NBDMAGIC/);
  });
  it('option request and option reply layouts', () => {
    const o = P.encodeOption(P.NBD_OPT_GO, Buffer.from([1, 2, 3]));
    expect(o.toString('hex')).toBe('49484156454f5054' + '00000007' + '00000003' + '010203');
    expect(P.decodeOptionHeader(o.subarray(0, 16))).toEqual({ option: 7, length: 3 });
    const r = P.encodeOptionReply(P.NBD_OPT_GO, P.NBD_REP_ERR_POLICY, Buffer.from('no'));
    expect(r.toString('hex')).toBe('0003e889045565a9' + '00000007' + '80000002' + '00000002' + '6e6f');
    expect(P.decodeOptionReplyHeader(r.subarray(0, 20))).toEqual({ option: 7, replyType: 0x80000002, length: 2 });
  });
  it('GO/INFO data: name length, name, info count, info types', () => {
    const d = P.encodeInfoRequest('disk', [P.NBD_INFO_BLOCK_SIZE, P.NBD_INFO_NAME]);
    expect(d.toString('hex')).toBe('00000004' + '6469736b' + '0002' + '0003' + '0001');
    expect(P.decodeInfoRequest(d)).toEqual({ exportName: 'disk', infoTypes: [3, 1] });
    expect(() => P.decodeInfoRequest(Buffer.concat([d, Buffer.from([0])]))).toThrow(/announces 2/);
    const bad = Buffer.from(d);
    bad.writeUInt32BE(1000, 0);
    expect(() => P.decodeInfoRequest(bad)).toThrow(/does not fit/);
  });
  it('NBD_INFO_EXPORT and NBD_INFO_BLOCK_SIZE', () => {
    const e = P.encodeInfoExport(1n << 40n, P.NBD_FLAG_HAS_FLAGS | P.NBD_FLAG_SEND_FUA);
    expect(e.toString('hex')).toBe('0000' + '0000010000000000' + '0009');
    expect(P.decodeInfo(e)).toEqual({ type: 0, sizeBytes: 1n << 40n, transmissionFlags: 9 });
    expect(P.decodeInfo(P.encodeInfoBlockSize(1, 4096, 1 << 25))).toEqual({ type: 3, minimum: 1, preferred: 4096, maximum: 1 << 25 });
  });
  it('EXPORT_NAME reply is padded with 124 zeroes unless NO_ZEROES', () => {
    expect(P.encodeExportNameReply(512n, 1, false).length).toBe(134);
    expect(P.encodeExportNameReply(512n, 1, true).toString('hex')).toBe('0000000000000200' + '0001');
  });
  it('request and simple reply layouts', () => {
    const req = { flags: P.NBD_CMD_FLAG_FUA, type: P.NBD_CMD_WRITE, cookie: 0x0102030405060708n, offset: 4096n, length: 512 };
    const b = P.encodeRequest(req);
    expect(b.toString('hex')).toBe('25609513' + '0001' + '0001' + '0102030405060708' + '0000000000001000' + '00000200');
    expect(P.decodeRequest(b)).toEqual(req);
    const rep = P.encodeSimpleReply(5, 9n);
    expect(rep.toString('hex')).toBe('67446698' + '00000005' + '0000000000000009');
    expect(P.decodeSimpleReply(rep)).toEqual({ error: 5, cookie: 9n });
    const sr = Buffer.from(rep);
    sr.writeUInt32BE(P.NBD_STRUCTURED_REPLY_MAGIC, 0);
    expect(() => P.decodeSimpleReply(sr)).toThrow(/structured reply/);
    expect(() => P.decodeRequest(Buffer.alloc(28))).toThrow(/bad magic/);
  });
});

describe('server hot-path request decoding', () => {
  it('keeps the cookie opaque, reads offsets as numbers, and an offset past 2^53 as Infinity', () => {
    const b = P.encodeRequest({ flags: 1, type: P.NBD_CMD_READ, cookie: 0xfedcba9876543210n, offset: 0x1234_5678_9abcn, length: 4096 });
    const r = P.decodeServerRequest(b);
    expect(r).toMatchObject({ flags: 1, type: 0, offset: 0x1234_5678_9abc, length: 4096 });
    expect(P.decodeSimpleReply(P.encodeServerReply(5, r))).toEqual({ error: 5, cookie: 0xfedcba9876543210n });
    const far = P.encodeRequest({ flags: 0, type: 0, cookie: 1n, offset: 1n << 60n, length: 1 });
    expect(P.decodeServerRequest(far).offset).toBe(Infinity);
    expect(() => P.decodeServerRequest(Buffer.alloc(28))).toThrow(/bad magic/);
  });
});

describe('byte queue', () => {
  it('takes records across chunk boundaries and hands payloads out as views', () => {
    const q = new ByteQueue();
    q.push(Buffer.from('abc'));
    q.push(Buffer.from('defgh'));
    expect(q.peek(4)!.toString()).toBe('abcd');
    expect(q.take(4)!.toString()).toBe('abcd');
    expect(q.take(5)).toBeUndefined();
    const parts = q.takeParts(3)!;
    expect(parts.map((p) => p.toString())).toEqual(['efg']);
    expect(q.length).toBe(1);
    expect(q.drain().toString()).toBe('h');
  });
});

describe('export tokens and the fence', () => {
  const key = new ExportTokenKey(Buffer.alloc(32, 1));
  const otherKey = new ExportTokenKey(Buffer.alloc(32, 2));
  const fence = new ExportFence<string>(key);
  fence.set('data', { generation: 5, primary: 'node1' }, '/dev/vdb');

  it('admits exactly the current generation and primary with a verifying token', () => {
    const a = fence.admit(key.exportName({ mirror: 'data', generation: 5, clientSystem: 'node1' }));
    expect(a).toMatchObject({ ok: true, mirror: 'data', generation: 5, clientSystem: 'node1', target: '/dev/vdb' });
  });
  it.each([
    ['stale-generation', key.exportName({ mirror: 'data', generation: 4, clientSystem: 'node1' }), P.NBD_REP_ERR_POLICY],
    ['future-generation', key.exportName({ mirror: 'data', generation: 6, clientSystem: 'node1' }), P.NBD_REP_ERR_POLICY],
    ['not-primary', key.exportName({ mirror: 'data', generation: 5, clientSystem: 'node2' }), P.NBD_REP_ERR_POLICY],
    ['bad-token', otherKey.exportName({ mirror: 'data', generation: 5, clientSystem: 'node1' }), P.NBD_REP_ERR_POLICY],
    ['unknown-export', key.exportName({ mirror: 'logs', generation: 5, clientSystem: 'node1' }), P.NBD_REP_ERR_UNKNOWN],
    ['malformed-name', 'data', P.NBD_REP_ERR_POLICY],
  ])('refuses %s', (reason, name, replyType) => {
    expect(fence.admit(name)).toMatchObject({ ok: false, reason, replyType });
  });
  it('a forged token for the current epoch is refused', () => {
    const name = key.exportName({ mirror: 'data', generation: 5, clientSystem: 'node1' });
    const forged = name.slice(0, -1) + (name.endsWith('0') ? '1' : '0');
    expect(fence.admit(forged)).toMatchObject({ ok: false, reason: 'bad-token' });
  });
  it('generations never go back, and one generation has one primary', () => {
    const f = new ExportFence<string>(key);
    f.set('m', { generation: 2, primary: 'a' }, 'x');
    expect(() => f.set('m', { generation: 1, primary: 'a' }, 'x')).toThrow(/older/);
    expect(() => f.set('m', { generation: 2, primary: 'b' }, 'x')).toThrow(/already belongs/);
    f.set('m', { generation: 3, primary: 'b' }, 'x');
    expect(f.isCurrent('m', 2, 'a')).toBe(false);
    expect(f.isCurrent('m', 3, 'b')).toBe(true);
  });
  it('export names parse only in the tokened form', () => {
    expect(parseExportName('m:1:sys:' + 'a'.repeat(32))).toEqual({ mirror: 'm', generation: 1, clientSystem: 'sys', token: 'a'.repeat(32) });
    expect(parseExportName('m:01:sys:' + 'a'.repeat(32))).toBeUndefined();
    expect(parseExportName('m:1:sys:' + 'A'.repeat(32))).toBeUndefined();
    expect(() => key.exportName({ mirror: 'a:b', generation: 1, clientSystem: 's' })).toThrow(/':'/);
    expect(() => key.exportName({ mirror: 'a', generation: -1, clientSystem: 's' })).toThrow(/non-negative/);
  });
});

describe('reply buffer pool', () => {
  it('hands back the same memory after release, sized to the request, and caps what it keeps', () => {
    const pool = new ReplyBufferPool();
    const a = pool.acquire(16 + 256 * 1024);
    expect(a.view.length).toBe(16 + 256 * 1024);
    a.view[0] = 42;
    a.release();
    a.release(); // twice is harmless
    expect(pool.heldBytes).toBe(512 * 1024);
    const b = pool.acquire(300 * 1024);
    expect(b.view.buffer).toBe(a.view.buffer);
    expect(pool.heldBytes).toBe(0);
    // Large replies are not pooled; the pool never keeps more than its cap.
    const big = pool.acquire(16 * 1024 * 1024);
    big.release();
    expect(pool.heldBytes).toBe(0);
    const many = Array.from({ length: 20 }, () => pool.acquire(4 * 1024 * 1024));
    for (const m of many) m.release();
    expect(pool.heldBytes).toBe(32 * 1024 * 1024);
  });
});
