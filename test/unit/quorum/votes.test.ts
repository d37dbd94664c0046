// The quorum verdict from one view: majority (with witness hosts as votes and the tie rule),
// tcp_remote, none. Both sides of a partition are computed to show at most one has quorum.
import { describe, expect, it } from 'vitest';
import { countVotes, type VoteFacts } from '../../../src/cluster/quorum/votes.js';

const facts = (f: Partial<VoteFacts>): VoteFacts => ({
  mode: 'majority', local: 'n1', systems: ['n1', 'n2', 'n3'], alive: new Set(), hosts: [], reachable: new Set(), ...f,
});

describe('majority', () => {
  it('three systems: two together have quorum, one alone has not', () => {
    expect(countVotes(facts({ local: 'n1', alive: new Set(['n2']) }))).toMatchObject({ quorum: true, votes: 2, total: 3 });
    expect(countVotes(facts({ local: 'n3', alive: new Set() }))).toMatchObject({ quorum: false, votes: 1, total: 3 });
  });
  it('counts only configured systems as votes', () => {
    expect(countVotes(facts({ alive: new Set(['stranger', 'other']) }))).toMatchObject({ quorum: false, votes: 1 });
  });
  it('two systems and a witness host: the side that reaches the witness wins, the other loses', () => {
    const base = { systems: ['n1', 'n2'], hosts: ['w:1'] };
    expect(countVotes(facts({ ...base, local: 'n2', reachable: new Set(['w:1']) }))).toMatchObject({ quorum: true, votes: 2, total: 3 });
    expect(countVotes(facts({ ...base, local: 'n1', reachable: new Set() }))).toMatchObject({ quorum: false, votes: 1, total: 3 });
    // Both together without the witness still have quorum.
    expect(countVotes(facts({ ...base, alive: new Set(['n2']) }))).toMatchObject({ quorum: true, votes: 2 });
  });
  it('two systems without a witness: the survivor keeps quorum (the risk the agent logs)', () => {
    const v = countVotes(facts({ systems: ['n1', 'n2'], local: 'n2' }));
    expect(v.quorum).toBe(true);
    expect(v.reason).toMatch(/without a witness/);
  });
  it('a tie goes to the side holding the lowest-named system, on both sides alike', () => {
    const four = { systems: ['d', 'b', 'a', 'c'] };
    const ab = countVotes(facts({ ...four, local: 'b', alive: new Set(['a']) }));
    const cd = countVotes(facts({ ...four, local: 'c', alive: new Set(['d']) }));
    expect(ab).toMatchObject({ quorum: true, votes: 2, total: 4 });
    expect(ab.reason).toMatch(/tie, won \(the side with a wins ties\)/);
    expect(cd).toMatchObject({ quorum: false, votes: 2, total: 4 });
    // Two systems and two witness hosts, each side reaching one host: a tie, broken the same way.
    const two = { systems: ['n1', 'n2'], hosts: ['w1:1', 'w2:1'] };
    expect(countVotes(facts({ ...two, local: 'n1', reachable: new Set(['w1:1']) })).quorum).toBe(true);
    expect(countVotes(facts({ ...two, local: 'n2', reachable: new Set(['w2:1']) })).quorum).toBe(false);
  });
});

describe('tcp_remote', () => {
  const hosts = ['a:1', 'b:1', 'c:1'];
  it('needs more than half of the quorum hosts; the systems do not count', () => {
    expect(countVotes(facts({ mode: 'tcp_remote', hosts, reachable: new Set(['a:1', 'c:1']) }))).toMatchObject({ quorum: true, votes: 2, total: 3 });
    expect(countVotes(facts({ mode: 'tcp_remote', hosts, reachable: new Set(['a:1']), alive: new Set(['n2', 'n3']) }))).toMatchObject({ quorum: false, votes: 1 });
    expect(countVotes(facts({ mode: 'tcp_remote', hosts: ['a:1', 'b:1'], reachable: new Set(['a:1']) })).quorum).toBe(false);
  });
});

describe('none', () => {
  it('always has quorum', () => {
    expect(countVotes(facts({ mode: 'none', local: 'n3' })).quorum).toBe(true);
  });
});
