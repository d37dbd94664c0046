// Messaging over fake routes: best live path first, size limits (TTY carries only small
// messages), time limits, failure without a path, remote errors, and failing on system death.
import { describe, expect, it, vi } from 'vitest';
import { FrameType, type OpenedFrame } from '../../../src/cluster/frame-codec.js';
import { Messaging, type Route } from '../../../src/cluster/messaging.js';

interface Sent { route: string; type: FrameType; payload: Buffer }

/** Two Messaging endpoints wired through routes that deliver synchronously (or drop). */
function pair(routesA: Array<{ id: string; maxPayload: number; up?: boolean }>) {
  const sent: Sent[] = [];
  let b!: Messaging;
  let a!: Messaging;
  const deliver = (to: () => Messaging, sender: string, type: FrameType, payload: Buffer): void => {
    const frame: OpenedFrame = { header: { type, sender, receiver: 'x', epoch: 1n, seq: 0n, timestampMs: 0 }, payload };
    queueMicrotask(() => to().onFrame(frame));
  };
  const mk = (r: { id: string; maxPayload: number; up?: boolean }): Route => ({
    id: r.id,
    maxPayload: r.maxPayload,
    send: (type, payload) => {
      if (r.up === false) return false;
      sent.push({ route: r.id, type, payload });
      deliver(() => b, 'alpha', type, payload);
      return true;
    },
  });
  a = new Messaging((s) => (s === 'bravo' ? routesA.map(mk) : []), 200);
  b = new Messaging(() => [{ id: 'back', maxPayload: 1 << 20, send: (type, payload) => (deliver(() => a, 'bravo', type, payload), true) }], 200);
  return { a, b, sent };
}

describe('messaging', () => {
  it('uses the first route that can carry the message: small ones on TTY, large ones skip it', async () => {
    const { a, b, sent } = pair([{ id: 'tty', maxPayload: 256 }, { id: 'tcp', maxPayload: 1 << 20 }]);
    b.handle('echo', (body, from) => ({ body, from }));
    await expect(a.request('bravo', 'echo', 'hi')).resolves.toEqual({ body: 'hi', from: 'alpha' });
    expect(sent.at(-1)!.route).toBe('tty');
    const big = 'x'.repeat(1000);
    await expect(a.request('bravo', 'echo', big)).resolves.toEqual({ body: big, from: 'alpha' });
    expect(sent.at(-1)!.route).toBe('tcp');
  });

  it('falls over to the next route when the best one refuses the frame, and fails when none can', async () => {
    const { a, b, sent } = pair([{ id: 'p1', maxPayload: 1 << 20, up: false }, { id: 'p2', maxPayload: 1 << 20 }]);
    b.handle('ping', () => 'pong');
    await expect(a.request('bravo', 'ping', null)).resolves.toBe('pong');
    expect(sent.map((s) => s.route)).toEqual(['p2']);
    const only = pair([{ id: 'tty', maxPayload: 256 }]);
    await expect(only.a.request('bravo', 'ping', 'x'.repeat(600))).rejects.toThrow(/can carry a \d+-byte message/);
    await expect(only.a.request('nobody', 'ping', null)).rejects.toThrow(/no live comm path to system nobody/);
  });

  it('reports remote errors with their product number, unknown types, and time limits', async () => {
    const { a, b } = pair([{ id: 'tcp', maxPayload: 1 << 20 }]);
    const { VigilError } = await import('../../../src/common/errors.js');
    b.handle('boom', () => {
      throw new VigilError(424, 'cannot remove the local system');
    });
    b.handle('slow', () => new Promise(() => undefined));
    await expect(a.request('bravo', 'boom', null)).rejects.toMatchObject({ number: 424 });
    await expect(a.request('bravo', 'what', null)).rejects.toThrow(/no handler for message type what/);
    vi.useFakeTimers();
    try {
      const p = a.request('bravo', 'slow', null, { timeoutMs: 50 });
      const check = expect(p).rejects.toThrow(/within 50 ms/);
      await vi.advanceTimersByTimeAsync(60);
      await check;
    } finally {
      vi.useRealTimers();
    }
  });

  it('fails pending requests at once when the system is declared dead', async () => {
    const { a, b } = pair([{ id: 'tcp', maxPayload: 1 << 20 }]);
    b.handle('slow', () => new Promise(() => undefined));
    const p = a.request('bravo', 'slow', null, { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 5));
    a.systemDead('bravo');
    await expect(p).rejects.toThrow(/died before answering/);
  });

  it('ignores malformed payloads', () => {
    const { a } = pair([]);
    const frame = (payload: string): OpenedFrame => ({ header: { type: FrameType.Request, sender: 's', receiver: 'x', epoch: 1n, seq: 0n, timestampMs: 0 }, payload: Buffer.from(payload) });
    expect(a.onFrame(frame('not json'))).toBe(false);
    expect(a.onFrame(frame('{"no":"id"}'))).toBe(false);
    expect(a.onFrame(frame('{"id":1}'))).toBe(false);
  });
});
