// The server's handshake state machine, driven byte by byte without sockets: option handling
// (GO, INFO, EXPORT_NAME, ABORT, LIST, unknown options), refusals and malformed input.
import { describe, expect, it } from 'vitest';
import { ByteQueue } from '../../../src/replication/nbd/byte-queue.js';
import { ExportFence } from '../../../src/replication/nbd/export-fence.js';
import { ExportTokenKey } from '../../../src/replication/nbd/export-token.js';
import { ServerNegotiation, type NegotiationStep } from '../../../src/replication/nbd/server-negotiation.js';
import * as P from '../../../src/replication/nbd/protocol.js';

const key = new ExportTokenKey(Buffer.alloc(32, 9));
const good = key.exportName({ mirror: 'data', generation: 2, clientSystem: 'n1' });
const stale = key.exportName({ mirror: 'data', generation: 1, clientSystem: 'n1' });

function machine(list?: string[]) {
  const fence = new ExportFence<{ size: number }>(key);
  fence.set('data', { generation: 2, primary: 'n1' }, { size: 1 << 20 });
  const n = new ServerNegotiation({
    admit: (name) => fence.admit(name),
    facts: (t) => ({ sizeBytes: t.size, transmissionFlags: 0x0d, description: 'the data disk' }),
    list: () => list,
    blockSize: { minimum: 1, preferred: 4096, maximum: 1 << 25 },
  });
  const q = new ByteQueue();
  const feed = (...bufs: Buffer[]): NegotiationStep<{ size: number }> => {
    for (const b of bufs) q.push(b);
    return n.step(q);
  };
  return { n, feed };
}

/** Splits the server's output into option replies. */
function replies(send: Buffer[]): { option: number; replyType: number; data: Buffer }[] {
  const all = Buffer.concat(send);
  const out = [];
  for (let at = 0; at < all.length; ) {
    const h = P.decodeOptionReplyHeader(all.subarray(at, at + 20));
    out.push({ option: h.option, replyType: h.replyType, data: all.subarray(at + 20, at + 20 + h.length) });
    at += 20 + h.length;
  }
  return out;
}

const flags = (f: number) => P.encodeClientFlags(f);
const FIXED = P.NBD_FLAG_C_FIXED_NEWSTYLE | P.NBD_FLAG_C_NO_ZEROES;

describe('server negotiation', () => {
  it('offers fixed newstyle and no-zeroes', () => {
    expect(P.decodeServerGreeting(machine().n.greeting()).handshakeFlags).toBe(P.NBD_FLAG_FIXED_NEWSTYLE | P.NBD_FLAG_NO_ZEROES);
  });
  it('GO with an admitted name: NBD_INFO_EXPORT, requested block size, ACK, then transmission', () => {
    const { feed } = machine();
    // Delivered in two pieces: nothing happens until the option is complete.
    const msg = Buffer.concat([flags(FIXED), P.encodeOption(P.NBD_OPT_GO, P.encodeInfoRequest(good, [P.NBD_INFO_BLOCK_SIZE, P.NBD_INFO_DESCRIPTION]))]);
    expect(feed(msg.subarray(0, 10))).toEqual({ kind: 'continue', send: [] });
    const step = feed(msg.subarray(10));
    expect(step.kind).toBe('transmission');
    const r = replies(step.send);
    expect(r.map((x) => x.replyType)).toEqual([P.NBD_REP_INFO, P.NBD_REP_INFO, P.NBD_REP_INFO, P.NBD_REP_ACK]);
    expect(P.decodeInfo(r[0]!.data)).toEqual({ type: P.NBD_INFO_EXPORT, sizeBytes: 1n << 20n, transmissionFlags: 0x0d });
    expect(P.decodeInfo(r[1]!.data)).toMatchObject({ type: P.NBD_INFO_BLOCK_SIZE, preferred: 4096 });
    expect(P.decodeInfo(r[2]!.data)).toEqual({ type: P.NBD_INFO_DESCRIPTION, text: 'the data disk' });
  });
  it('INFO then GO: INFO stays in negotiation', () => {
    const { feed } = machine();
    const s1 = feed(flags(FIXED), P.encodeOption(P.NBD_OPT_INFO, P.encodeInfoRequest(good, [])));
    expect(s1.kind).toBe('continue');
    expect(replies(s1.send).map((x) => x.replyType)).toEqual([P.NBD_REP_INFO, P.NBD_REP_ACK]);
    expect(feed(P.encodeOption(P.NBD_OPT_GO, P.encodeInfoRequest(good, []))).kind).toBe('transmission');
  });
  it('a stale generation gets NBD_REP_ERR_POLICY with a reason, and the client may go on', () => {
    const { n, feed } = machine();
    const s = feed(flags(FIXED), P.encodeOption(P.NBD_OPT_GO, P.encodeInfoRequest(stale, [])));
    expect(s.kind).toBe('continue');
    const [r] = replies(s.send);
    expect(r!.replyType).toBe(P.NBD_REP_ERR_POLICY);
    expect(r!.data.toString()).toMatch(/stale mirror generation 1; the current generation is 2/);
    expect(n.refusals.map((x) => x.reason)).toEqual(['stale-generation']);
    expect(feed(P.encodeOption(P.NBD_OPT_GO, P.encodeInfoRequest(good, []))).kind).toBe('transmission');
  });
  it('EXPORT_NAME: size and flags (padded without NO_ZEROES); a refused name closes', () => {
    const ok = machine().feed(flags(P.NBD_FLAG_C_FIXED_NEWSTYLE), P.encodeOption(P.NBD_OPT_EXPORT_NAME, Buffer.from(good)));
    expect(ok.kind).toBe('transmission');
    expect(Buffer.concat(ok.send).length).toBe(134);
    expect(Buffer.concat(ok.send).readBigUInt64BE(0)).toBe(1n << 20n);
    const refused = machine().feed(flags(FIXED), P.encodeOption(P.NBD_OPT_EXPORT_NAME, Buffer.from(stale)));
    expect(refused).toMatchObject({ kind: 'close', send: [], orderly: true });
  });
  it('ABORT is acknowledged, then the connection closes', () => {
    const s = machine().feed(flags(FIXED), P.encodeOption(P.NBD_OPT_ABORT));
    expect(s.kind).toBe('close');
    expect(replies(s.send)).toMatchObject([{ option: P.NBD_OPT_ABORT, replyType: P.NBD_REP_ACK }]);
  });
  it('LIST: refused by policy by default, the names when enabled, INVALID with data', () => {
    expect(replies(machine().feed(flags(FIXED), P.encodeOption(P.NBD_OPT_LIST)).send)[0]!.replyType).toBe(P.NBD_REP_ERR_POLICY);
    const r = replies(machine(['data', 'logs']).feed(flags(FIXED), P.encodeOption(P.NBD_OPT_LIST)).send);
    expect(r.map((x) => x.replyType)).toEqual([P.NBD_REP_SERVER, P.NBD_REP_SERVER, P.NBD_REP_ACK]);
    expect(P.decodeServerEntry(r[1]!.data)).toBe('logs');
    expect(replies(machine([]).feed(flags(FIXED), P.encodeOption(P.NBD_OPT_LIST, Buffer.from('x'))).send)[0]!.replyType).toBe(P.NBD_REP_ERR_INVALID);
  });
  it('unknown and unsupported options get NBD_REP_ERR_UNSUP', () => {
    const s = machine().feed(flags(FIXED), P.encodeOption(P.NBD_OPT_STRUCTURED_REPLY), P.encodeOption(P.NBD_OPT_STARTTLS), P.encodeOption(99, Buffer.from('zz')));
    expect(replies(s.send).map((x) => [x.option, x.replyType])).toEqual([
      [P.NBD_OPT_STRUCTURED_REPLY, P.NBD_REP_ERR_UNSUP],
      [P.NBD_OPT_STARTTLS, P.NBD_REP_ERR_UNSUP],
      [99, P.NBD_REP_ERR_UNSUP],
    ]);
  });
  it('malformed GO data gets NBD_REP_ERR_INVALID', () => {
    const s = machine().feed(flags(FIXED), P.encodeOption(P.NBD_OPT_GO, Buffer.from([0, 0, 0, 9, 1])));
    expect(replies(s.send)[0]!.replyType).toBe(P.NBD_REP_ERR_INVALID);
  });
  it('closes on a client without fixed newstyle, unknown client flags, bad magic, huge options', () => {
    expect(machine().feed(flags(0))).toMatchObject({ kind: 'close', orderly: false, reason: expect.stringMatching(/fixed newstyle/) });
    expect(machine().feed(flags(1 << 7))).toMatchObject({ kind: 'close', reason: expect.stringMatching(/bits/) });
    expect(machine().feed(flags(FIXED), Buffer.alloc(16))).toMatchObject({ kind: 'close', reason: expect.stringMatching(/IHAVEOPT/) });
    const big = P.encodeOption(P.NBD_OPT_GO).subarray(0, 16);
    big.writeUInt32BE(10_000_000, 12);
    expect(machine().feed(flags(FIXED), big)).toMatchObject({ kind: 'close', reason: expect.stringMatching(/10000000 bytes/) });
  });
});
