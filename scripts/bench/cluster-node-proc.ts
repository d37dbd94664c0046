// Bench and test entry: runs one ClusterNode in its own process from a JSON config file and reports on
// stdout, one JSON object per line: membership outputs as they happen, and a stats snapshot
// (with event-loop delay) whenever a line "stats" arrives on stdin. Used by the multi-process
// integration tests and benches in place of a full vigild.
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { readKeyFile } from '../../src/cluster/cluster-key.js';
import type { PathConfig } from '../../src/cluster/comm-path.js';
import { stayScheduled } from '../../src/cluster/stay-scheduled.js';
import { createLinuxPlatform } from '../../src/platform/linux/index.js';

interface NodeMainConfig {
  localSystem: string;
  keyFile: string;
  heartbeatIntervalMs: number;
  missedHeartbeats: number;
  neverConnectedGraceMs?: number;
  paths: PathConfig[];
  /** As vigild's VIGIL_REALTIME_PRIORITY: SCHED_RR priority and memory locked; 0 or absent: neither. */
  realtimePriority?: number;
}

const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as NodeMainConfig;
const eld = monitorEventLoopDelay({ resolution: 5 });
eld.enable();
const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
};
const platform = createLinuxPlatform();
const scheduled = stayScheduled(platform.scheduling, cfg.realtimePriority ?? 0, (level, msg, fields) => {
  if (level === 'warn') process.stderr.write(`${cfg.localSystem}: ${msg} ${JSON.stringify(fields ?? {})}\n`);
});
const node = new ClusterNode({
  localSystem: cfg.localSystem,
  secret: readKeyFile(cfg.keyFile),
  heartbeatIntervalMs: cfg.heartbeatIntervalMs,
  missedHeartbeats: cfg.missedHeartbeats,
  neverConnectedGraceMs: cfg.neverConnectedGraceMs,
  paths: cfg.paths,
  disk: platform, // DISK paths: SG_IO, or O_DIRECT on a loop device
});
node.on('membership', (o) => out({ ev: 'membership', t: Date.now(), ...o }));
node.handle('echo', (body, from) => ({ body, from, at: cfg.localSystem }));
await node.start();
out({ ev: 'started', t: Date.now(), pid: process.pid, scheduled });
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'stats') {
    out({ ev: 'stats', t: Date.now(), stats: node.stats(), eventLoopDelayMs: { max: eld.max / 1e6, p99: eld.percentile(99) / 1e6, mean: eld.mean / 1e6 } });
  }
});
const stop = (): void => {
  void node.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
