// The one place where vigild is assembled. Each part of the product attaches itself to the
// Agent with one call here, in start order (it is stopped in reverse): the cluster first (the
// others use its membership and messaging), then the watchdog, quorum and witness, then metrics, then the
// hierarchy engine (it asks the quorum gate before anything comes in service); the admin
// socket last, so commands are only accepted once everything they may touch is running.
// The agent's command table is built here too, and each part's admin commands registered in it.
import { registerHierarchyCommands } from '../admin/commands/hierarchy.js';
import { registerCoreCommands } from '../admin/commands/index.js';
import { AdminCommands } from '../admin/registry.js';
import { AdminServer } from './admin-server.js';
import type { Agent } from './agent.js';
import { lcdFlushSubsystem } from './lcd-flush.js';
import { attachCluster } from './wire-cluster.js';
import { attachHierarchy } from './wire-hierarchy.js';
import { attachMetrics } from './wire-metrics.js';
import { attachReplication } from './wire-replication.js';
import { NasMetrics } from '../metrics/nas-metrics.js';
import { parseInfo } from '../hierarchy/lcd-view.js';
import { attachQuorum } from './wire-quorum.js';
import { attachWatchdog } from './wire-watchdog.js';
import { standbyMonitorFor } from '../standby/standby-monitor.js';
import { standbyBootServiceFor } from './wire-standby.js';

/** Attaches every subsystem to `agent` (which holds the platform) and returns its command table. */
export function composeAgent(agent: Agent): AdminCommands {
  const commands = new AdminCommands();
  registerCoreCommands(commands);
  agent.addSubsystem(lcdFlushSubsystem(agent));
  const cluster = attachCluster(agent, commands, agent.platform.scheduling);
  // The watchdog before quorum (the gate's survivor hold includes the watchdog's lease and
  // timeout) and long before the hierarchy: armed before anything can come in service, and
  // stopped (disarmed) only after the hierarchies were taken out of service.
  const watchdog = attachWatchdog(agent);
  // Quorum before the hierarchy: the engine asks its gate before anything comes in service.
  const quorum = attachQuorum(agent, cluster, watchdog);
  const metrics = attachMetrics(agent, { cluster, probes: agent.platform.timedStat, quorum, watchdog });
  // After metrics, so the hierarchy's kits, probes and moves are measured by its recorder.
  const nasMounts = () =>
    agent.lcd.instances({ system: agent.localSystem, app: 'gen', type: 'nas' }).map((i) => ({ tag: i.tag, mountPoint: parseInfo(i.info)['mountPoint'] ?? '' }));
  const probes = agent.platform.timedStat;
  const nasMetrics = new NasMetrics(metrics.metrics.registry, () => probes.counters().parkedByKey, nasMounts);
  // The recovery-server standby's vigil_standby_* metrics, when the VIGIL_STANDBY_* keys name this system.
  const standbyMonitor = standbyMonitorFor(agent.config, agent.platform, agent.log, metrics.metrics.registry);
  if (standbyMonitor) agent.addSubsystem(standbyMonitor);
  // Before the hierarchy: its kit is registered there, and backups are marked out of date before
  // anything could be restored.
  const replication = attachReplication(agent, cluster, metrics.metrics.registry, quorum);
  const hierarchy = attachHierarchy(agent, cluster, quorum, metrics.recorder, nasMetrics, [replication.kit]);
  registerHierarchyCommands(commands, () => hierarchy.service);
  // The self-fence lease: bounded while anything is in service here, renewed from quorum evidence.
  watchdog.bind({ evidenceAtMs: () => quorum.evidenceAtMs(), serving: () => hierarchy.service?.servesAnything() ?? false });
  // An active recovery-server standby brings its hierarchies in service once the primary is decided dead.
  const standbyBoot = standbyBootServiceFor(agent, cluster, hierarchy);
  if (standbyBoot) agent.addSubsystem(standbyBoot);
  agent.addSubsystem(new AdminServer(agent.config.VIGIL_ADMIN_SOCKET, agent.context, agent.log, agent.platform.peerCredentials, commands));
  return commands;
}
