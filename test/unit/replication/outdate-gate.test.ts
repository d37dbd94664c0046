// OutdateGate alone: what it asks for, in which order, and which late outcomes it ignores.
import { describe, expect, it } from 'vitest';

import { OutdateGate, type GateAction } from '../../../src/replication/outdate-gate.js';

const gate = () =>
  new OutdateGate(
    { device: '/dev/md1', backup: 'b', holdBoundMs: 40_000, outdateRetryMs: 1000, reconnectDelayMs: 500, maxReconnectDelayMs: 2000, releaseRetryMs: 1000 },
    'a lost its link',
  );
const kinds = (a: GateAction[]) => a.filter((x) => x.kind !== 'log').map((x) => x.kind);

describe('OutdateGate', () => {
  it('a dead link asks the backup first and tries the link again; releases only on the backup\'s confirmation', () => {
    const g = gate();
    expect(kinds(g.linkDead(0, true))).toEqual(['send-outdate', 'try-reconnect']);
    expect(g.holding).toBe(true);
    expect(g.tick(100, false)).toEqual([]);
    expect(g.outdateAcked()).toEqual([{ kind: 'release' }]);
    // Still holding until the release went through.
    expect(g.holding).toBe(true);
    expect(g.released(900)).toEqual([{ kind: 'hold-ended', how: 'backup-acknowledged', heldMs: 900 }]);
    expect(g.holding).toBe(false);
  });

  it('an unanswered request is sent again after the retry delay; membership\'s verdict releases', () => {
    const g = gate();
    g.linkDead(0, true);
    expect(kinds(g.outdateFailed(10, 'timeout'))).toEqual([]);
    expect(g.tick(500, false)).toEqual([]);
    expect(g.tick(1010, false)).toEqual([{ kind: 'send-outdate', reason: 'a lost its link' }]);
    expect(kinds(g.tick(1200, true))).toEqual(['release']);
    // A late confirmation changes nothing: the release is under way.
    expect(g.outdateAcked()).toEqual([]);
    expect(g.released(2000)).toEqual([{ kind: 'hold-ended', how: 'backup-dead', heldMs: 2000 }]);
  });

  it('the link back before any confirmation: reconfigure, then assert current (the request may have arrived)', () => {
    const g = gate();
    g.linkDead(0, true);
    expect(g.reconnectStarting()).toBe(true);
    expect(g.linkBack()).toEqual([{ kind: 'reconfigure' }]);
    expect(kinds(g.reconnected(300))).toEqual(['hold-ended', 'assert-current']);
    expect(g.holding).toBe(false);
    expect(g.outdateAcked()).toEqual([]);
  });

  it('a confirmation first: a connection that arrives later is discarded, not handed to the device', () => {
    const g = gate();
    g.linkDead(0, true);
    expect(g.reconnectStarting()).toBe(true);
    g.outdateAcked();
    expect(g.linkBack()).toEqual([{ kind: 'discard-connection' }]);
    expect(g.reconnected(10)).toEqual([]);
  });

  it('failed reconnects back off up to the limit', () => {
    const g = gate();
    g.linkDead(0, true);
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      g.reconnectStarting();
      delays.push(...g.reconnectFailed().map((a) => (a.kind === 'try-reconnect' ? a.delayMs : -1)));
    }
    expect(delays).toEqual([500, 1000, 2000, 2000]);
  });

  it('md fails the leg during the hold: the kernel bound passed (an error); during a release it is the release', () => {
    const g = gate();
    g.linkDead(0, true);
    const out = g.legFailed(40_500);
    expect(out.find((a) => a.kind === 'log')).toMatchObject({ level: 'error' });
    expect(out.find((a) => a.kind === 'hold-ended')).toEqual({ kind: 'hold-ended', how: 'kernel-timeout', heldMs: 40_500 });
    const h = gate();
    h.linkDead(0, true);
    h.outdateAcked();
    expect(h.legFailed(100)).toEqual([]);
    expect(h.released(120)).toEqual([{ kind: 'hold-ended', how: 'backup-acknowledged', heldMs: 120 }]);
  });

  it('a failed release is tried again; a backup that is not current is released at once; a second notice changes nothing', () => {
    const g = gate();
    g.linkDead(0, true);
    g.outdateAcked();
    expect(g.releaseFailed(10, 'EBUSY')[0]).toMatchObject({ kind: 'log', level: 'error' });
    expect(g.tick(500, false)).toEqual([]);
    expect(g.tick(1010, false)).toEqual([{ kind: 'release' }]);
    const n = gate();
    expect(kinds(n.linkDead(0, false))).toEqual(['release']);
    expect(n.linkDead(5, false)).toEqual([]);
    expect(n.released(7)).toEqual([{ kind: 'hold-ended', how: 'backup-not-current', heldMs: 7 }]);
  });
});
