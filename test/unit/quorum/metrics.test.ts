// The quorum metric families: present (with the mode), votes, each witness host's latest answer;
// nothing registered when the agent has no quorum source, nothing exposed before the gate starts.
import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../../src/metrics/registry.js';
import type { QuorumSnapshot } from '../../../src/metrics/sources.js';
import { FakeSources, samples, valueOf } from '../metrics/fake-sources.js';

class QuorumSources extends FakeSources {
  q: QuorumSnapshot | undefined = { mode: 'tcp_remote', present: true, votes: 1, witnesses: [{ host: '10.0.0.9:7370', reachable: true }, { host: '[fd00::9]:7370', reachable: false }] };
  quorum(): QuorumSnapshot | undefined {
    return this.q;
  }
}

describe('quorum metrics', { timeout: 60_000 }, () => {
  it('exposes presence, votes and witness reachability read at scrape time', async () => {
    const sources = new QuorumSources();
    const metrics = new AgentMetrics({ sources, version: '1' });
    let body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_quorum_present{mode="tcp_remote"}')).toBe(1);
    expect(valueOf(body, 'vigil_quorum_votes{mode="tcp_remote"}')).toBe(1);
    expect(valueOf(body, 'vigil_quorum_witness_reachable{host="10.0.0.9:7370"}')).toBe(1);
    expect(valueOf(body, 'vigil_quorum_witness_reachable{host="[fd00::9]:7370"}')).toBe(0);
    sources.q = { mode: 'tcp_remote', present: false, votes: 0, witnesses: [{ host: '10.0.0.9:7370', reachable: false }] };
    body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_quorum_present{mode="tcp_remote"}')).toBe(0);
    expect(samples(body, 'vigil_quorum_witness_reachable{')).toEqual(['vigil_quorum_witness_reachable{host="10.0.0.9:7370"} 0']);
    sources.q = undefined;
    body = (await metrics.scrape()).body;
    expect(samples(body, 'vigil_quorum_')).toEqual([]);
  });

  it('registers no quorum family without a quorum source', async () => {
    const body = (await new AgentMetrics({ sources: new FakeSources(), version: '1' }).scrape()).body;
    expect(body).not.toMatch(/vigil_quorum_/);
  });
});
