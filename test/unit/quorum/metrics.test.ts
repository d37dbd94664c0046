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

  it('exposes the gate and the storage heartbeat: own record, each peer record, fenced, evictions', async () => {
    const sources = new QuorumSources();
    sources.q = {
      mode: 'storage', present: true, votes: 1, witnesses: [], gateOpen: false,
      storage: {
        device: '/dev/sdq', ownRecordAgeSeconds: 0.4, lastReadAgeSeconds: 0.3, fenced: false,
        peers: [{ system: 'node2', state: 'stopped', unchangedSeconds: 25 }, { system: 'node3', state: 'unknown' }],
        evictions: { won: 2, lost: 0, failed: 1 },
      },
    };
    const metrics = new AgentMetrics({ sources, version: '1' });
    let body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_quorum_present{mode="storage"}')).toBe(1);
    expect(valueOf(body, 'vigil_quorum_gate_open{mode="storage"}')).toBe(0);
    expect(valueOf(body, 'vigil_quorum_storage_own_record_age_seconds{device="/dev/sdq"}')).toBe(0.4);
    expect(valueOf(body, 'vigil_quorum_storage_last_read_age_seconds{device="/dev/sdq"}')).toBe(0.3);
    expect(valueOf(body, 'vigil_quorum_storage_fenced{device="/dev/sdq"}')).toBe(0);
    expect(samples(body, 'vigil_quorum_storage_peer_record_age_seconds{')).toEqual(['vigil_quorum_storage_peer_record_age_seconds{system="node2"} 25']);
    expect(valueOf(body, 'vigil_quorum_storage_peer_record_state{system="node2",state="stopped"}')).toBe(1);
    expect(valueOf(body, 'vigil_quorum_storage_peer_record_state{system="node2",state="moving"}')).toBe(0);
    expect(valueOf(body, 'vigil_quorum_storage_peer_record_state{system="node3",state="unknown"}')).toBe(1);
    expect(samples(body, 'vigil_quorum_storage_evictions_total{')).toEqual([
      'vigil_quorum_storage_evictions_total{outcome="won"} 2',
      'vigil_quorum_storage_evictions_total{outcome="lost"} 0',
      'vigil_quorum_storage_evictions_total{outcome="failed"} 1',
    ]);
    // Fenced, nothing written yet, no evictions (witness only): those series go.
    sources.q = { ...sources.q, present: false, storage: { device: '/dev/sdq', fenced: true, peers: [] } };
    body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_quorum_storage_fenced{device="/dev/sdq"}')).toBe(1);
    expect(samples(body, 'vigil_quorum_storage_own_record_age_seconds{')).toEqual([]);
    expect(samples(body, 'vigil_quorum_storage_peer_record_state{')).toEqual([]);
    expect(samples(body, 'vigil_quorum_storage_evictions_total{')).toEqual([]);
    // Without a storage heartbeat there is no storage series at all.
    sources.q = { mode: 'majority', present: true, votes: 2, witnesses: [], gateOpen: true };
    body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_quorum_gate_open{mode="majority"}')).toBe(1);
    expect(samples(body, 'vigil_quorum_storage_')).toEqual([]);
  });

  it('registers no quorum family without a quorum source', async () => {
    const body = (await new AgentMetrics({ sources: new FakeSources(), version: '1' }).scrape()).body;
    expect(body).not.toMatch(/vigil_quorum_/);
  });
});
