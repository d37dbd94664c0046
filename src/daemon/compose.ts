// The one place where vigild is assembled. Each part of the product attaches itself to the
// Agent with one call here, in start order (it is stopped in reverse): the cluster first (the
// others use its membership and messaging), then metrics, then the hierarchy engine; the admin
// socket last, so commands are only accepted once everything they may touch is running.
import { registerCoreCommands } from '../admin/commands/index.js';
import { AdminServer } from './admin-server.js';
import type { Agent } from './agent.js';
import { createLinuxPlatform } from '../platform/linux/index.js';
import { lcdFlushSubsystem } from './lcd-flush.js';
import { attachCluster } from './wire-cluster.js';
import { attachHierarchy } from './wire-hierarchy.js';
import { attachMetrics } from './wire-metrics.js';
import { NasMetrics } from '../metrics/nas-metrics.js';
import { parseInfo } from '../hierarchy/lcd-view.js';

export function composeAgent(agent: Agent): void {
  registerCoreCommands();
  agent.addSubsystem(lcdFlushSubsystem(agent));
  const cluster = attachCluster(agent);
  // The native probe counters are process-wide, so any TimedStat reads those of the kits' probes.
  const metrics = attachMetrics(agent, { cluster, probes: createLinuxPlatform().timedStat });
  // After metrics, so the hierarchy's kits, probes and moves are measured by its recorder.
  const nasMounts = () =>
    agent.lcd.instances({ system: agent.localSystem, app: 'gen', type: 'nas' }).map((i) => ({ tag: i.tag, mountPoint: parseInfo(i.info)['mountPoint'] ?? '' }));
  const probes = createLinuxPlatform().timedStat;
  const nasMetrics = new NasMetrics(metrics.metrics.registry, () => probes.counters().parkedByKey, nasMounts);
  attachHierarchy(agent, cluster, metrics.recorder, nasMetrics);
  agent.addSubsystem(new AdminServer(agent.config.VIGIL_ADMIN_SOCKET, agent.context, agent.log, createLinuxPlatform().peerCredentials));
}
