// remote_verify with a fake clock: confirmed when every asked system says "not alive" or lets
// the time limit pass; one "still alive" vetoes and the question is asked again later; a
// suspect seen alive again is forgotten; nobody to ask confirms at once; a round vetoed by
// systems that have since declared the death themselves (they asked us) is asked again at once.
import { describe, expect, it } from 'vitest';
import { WitnessVerifier, type WitnessOutput } from '../../../src/cluster/witness-verify.js';

const asks = (o: WitnessOutput[]) => o.flatMap((x) => (x.type === 'ask' ? [[x.to, x.round] as const] : []));

describe('WitnessVerifier', () => {
  const w = () => new WitnessVerifier({ timeLimitMs: 2_000, retryMs: 1_000 });

  it('asks every visible system and confirms when all say they do not see it', () => {
    const v = w();
    const out = v.step({ type: 'suspect', system: 'n3', visible: ['n2', 'n4', 'n3'], nowMs: 0 });
    expect(asks(out).map(([to]) => to)).toEqual(['n2', 'n4']);
    const round = asks(out)[0]![1];
    expect(v.step({ type: 'answer', system: 'n3', from: 'n2', round, seesAlive: false, nowMs: 10 })).toEqual([]);
    expect(v.step({ type: 'answer', system: 'n3', from: 'n4', round, seesAlive: false, nowMs: 20 })).toEqual([{ type: 'confirmed-dead', system: 'n3', asked: ['n2', 'n4'] }]);
    expect(v.pending()).toEqual([]);
  });

  it('one system still seeing it vetoes; asked again after retryMs; confirmed once it too loses it', () => {
    const v = w();
    const r1 = asks(v.step({ type: 'suspect', system: 'n3', visible: ['n2'], nowMs: 0 }))[0]![1];
    expect(v.step({ type: 'answer', system: 'n3', from: 'n2', round: r1, seesAlive: true, nowMs: 5 })).toEqual([{ type: 'vetoed', system: 'n3', by: ['n2'] }]);
    expect(v.tick(1_004)).toEqual([]);
    const again = v.tick(1_005);
    expect(asks(again).map(([to]) => to)).toEqual(['n2']);
    const r2 = asks(again)[0]![1];
    expect(r2).not.toBe(r1);
    // A late answer of the old round changes nothing.
    expect(v.step({ type: 'answer', system: 'n3', from: 'n2', round: r1, seesAlive: false, nowMs: 1_006 })).toEqual([]);
    expect(v.step({ type: 'answer', system: 'n3', from: 'n2', round: r2, seesAlive: false, nowMs: 1_007 })).toEqual([{ type: 'confirmed-dead', system: 'n3', asked: ['n2'] }]);
  });

  it('a system that does not answer within the time limit cannot vouch: confirmed at the limit', () => {
    const v = w();
    const r = asks(v.step({ type: 'suspect', system: 'n3', visible: ['n2', 'n4'], nowMs: 0 }))[0]![1];
    v.step({ type: 'answer', system: 'n3', from: 'n2', round: r, seesAlive: false, nowMs: 10 });
    expect(v.tick(1_999)).toEqual([]);
    expect(v.tick(2_000)).toEqual([{ type: 'confirmed-dead', system: 'n3', asked: ['n2', 'n4'] }]);
  });

  it('a failed question counts like silence', () => {
    const v = w();
    const r = asks(v.step({ type: 'suspect', system: 'n3', visible: ['n2'], nowMs: 0 }))[0]![1];
    expect(v.step({ type: 'no-answer', system: 'n3', from: 'n2', round: r, nowMs: 3 })).toEqual([{ type: 'confirmed-dead', system: 'n3', asked: ['n2'] }]);
  });

  it('a still-alive answer within the limit wins over the others being silent', () => {
    const v = w();
    const r = asks(v.step({ type: 'suspect', system: 'n3', visible: ['n2', 'n4'], nowMs: 0 }))[0]![1];
    v.step({ type: 'answer', system: 'n3', from: 'n4', round: r, seesAlive: true, nowMs: 10 });
    expect(v.tick(2_000)).toEqual([{ type: 'vetoed', system: 'n3', by: ['n4'] }]);
  });

  it('nobody to ask (two systems): confirmed at once', () => {
    expect(w().step({ type: 'suspect', system: 'n2', visible: [], nowMs: 0 })).toEqual([{ type: 'confirmed-dead', system: 'n2', asked: [] }]);
  });

  it('a suspect seen alive again is dropped: no confirmation ever comes', () => {
    const v = w();
    v.step({ type: 'suspect', system: 'n3', visible: ['n2'], nowMs: 0 });
    v.step({ type: 'cleared', system: 'n3', nowMs: 100 });
    expect(v.tick(10_000)).toEqual([]);
    expect(v.pending()).toEqual([]);
  });

  it('vetoers that declare the death themselves since (they ask us) bring the next round at once, not after retryMs', () => {
    const v = w();
    const r1 = asks(v.step({ type: 'suspect', system: 'n3', visible: ['n2', 'n4', 'n5'], nowMs: 0 }))[0]![1];
    v.step({ type: 'answer', system: 'n3', from: 'n2', round: r1, seesAlive: false, nowMs: 5 });
    v.step({ type: 'answer', system: 'n3', from: 'n4', round: r1, seesAlive: true, nowMs: 6 });
    expect(v.step({ type: 'answer', system: 'n3', from: 'n5', round: r1, seesAlive: true, nowMs: 7 })).toEqual([{ type: 'vetoed', system: 'n3', by: ['n4', 'n5'] }]);
    // One of two vetoers declared it dead: still vetoed by the other, nothing asked.
    expect(v.step({ type: 'peer-suspects', system: 'n3', from: 'n4', nowMs: 200 })).toEqual([]);
    // A system that did not veto asking changes nothing either.
    expect(v.step({ type: 'peer-suspects', system: 'n3', from: 'n2', nowMs: 250 })).toEqual([]);
    const again = v.step({ type: 'peer-suspects', system: 'n3', from: 'n5', nowMs: 300 });
    expect(again[0]).toEqual({ type: 'vetoes-withdrawn', system: 'n3', by: ['n4', 'n5'] });
    // The new round asks everyone again, and its answers decide.
    expect(asks(again).map(([to]) => to)).toEqual(['n2', 'n4', 'n5']);
    const r2 = asks(again)[0]![1];
    expect(r2).not.toBe(r1);
    v.step({ type: 'answer', system: 'n3', from: 'n2', round: r2, seesAlive: false, nowMs: 310 });
    v.step({ type: 'answer', system: 'n3', from: 'n4', round: r2, seesAlive: false, nowMs: 311 });
    expect(v.step({ type: 'answer', system: 'n3', from: 'n5', round: r2, seesAlive: false, nowMs: 312 })).toEqual([{ type: 'confirmed-dead', system: 'n3', asked: ['n2', 'n4', 'n5'] }]);
    // No retry of the old round comes later.
    expect(v.tick(5_000)).toEqual([]);
  });

  it('a vetoer that asked while the round ran (its answer was older) brings the next round at once', () => {
    const v = w();
    const r1 = asks(v.step({ type: 'suspect', system: 'n3', visible: ['n2'], nowMs: 0 }))[0]![1];
    expect(v.step({ type: 'peer-suspects', system: 'n3', from: 'n2', nowMs: 3 })).toEqual([]);
    const out = v.step({ type: 'answer', system: 'n3', from: 'n2', round: r1, seesAlive: true, nowMs: 5 });
    expect(out.slice(0, 2)).toEqual([
      { type: 'vetoed', system: 'n3', by: ['n2'] },
      { type: 'vetoes-withdrawn', system: 'n3', by: ['n2'] },
    ]);
    const r2 = asks(out)[0]![1];
    expect(r2).not.toBe(r1);
    expect(v.step({ type: 'answer', system: 'n3', from: 'n2', round: r2, seesAlive: false, nowMs: 9 })).toEqual([{ type: 'confirmed-dead', system: 'n3', asked: ['n2'] }]);
  });

  it('a veto repeated in the early round waits retryMs: an ask from before that round does not count again', () => {
    const v = w();
    const r1 = asks(v.step({ type: 'suspect', system: 'n3', visible: ['n2'], nowMs: 0 }))[0]![1];
    v.step({ type: 'answer', system: 'n3', from: 'n2', round: r1, seesAlive: true, nowMs: 5 });
    const r2 = asks(v.step({ type: 'peer-suspects', system: 'n3', from: 'n2', nowMs: 100 }))[0]![1];
    // n2 sees n3 alive again (it came back there): vetoed, and asked again only after retryMs.
    expect(v.step({ type: 'answer', system: 'n3', from: 'n2', round: r2, seesAlive: true, nowMs: 110 })).toEqual([{ type: 'vetoed', system: 'n3', by: ['n2'] }]);
    expect(v.tick(1_109)).toEqual([]);
    expect(asks(v.tick(1_110)).map(([to]) => to)).toEqual(['n2']);
  });

  it('an ask about a system not suspected here is ignored', () => {
    const v = w();
    expect(v.step({ type: 'peer-suspects', system: 'n3', from: 'n2', nowMs: 0 })).toEqual([]);
    expect(v.pending()).toEqual([]);
  });
});
