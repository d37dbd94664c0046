// Attaches the hierarchy engine to vigild: builds the kits (gen/app, gen/filesys over the agent's
// platform), the HierarchyService over the agent's LCD (whose admin commands compose.ts
// registers), and joins the service to the cluster: membership events (system alive/dead/restarted) drive
// failover and switchback, and the cluster's authenticated messaging carries engine messages
// (HIER_MESSAGE) and the steps of extend/unextend/delete (HIER_TASK).
//
// Tunables (validated in common/config.ts before anything starts): LKCHECKINTERVAL (seconds
// between quickChecks), per-kit overrides LKCHECKINTERVAL_GEN_APP / LKCHECKINTERVAL_GEN_FILESYS,
// VIGIL_LOCAL_RECOVERY_ATTEMPTS and
// VIGIL_LOCAL_RECOVERY_WINDOW (seconds) for the local-recovery budget, and VIGIL_HALT_ACTION:
// what a kit's halt request does: 'sysrq' (immediate power-off through /proc/sysrq-trigger)
// or 'exit' (default: vigild ends itself and every process it started at once, its services
// included — NodePower.endAgent —, so the peers see this system die and take over). VIGIL_FSTAB names the fstab that
// gen/filesys edits (default /etc/fstab; tests point it at a copy). The NAS kit (gen/nas, and
// NFS file systems in gen/filesys) runs with LKNFSSYSCALLTO, LKNFSTIMEOUT and LKNASERROR;
// VIGIL_NAS_TMPDIR is where its mount-authorization check mounts (default the system's tmp).
//
// Quorum and witness (wire-quorum.ts) stand between the membership and the engine: nothing
// comes in service while the quorum gate is closed, and a system declared dead is handed to
// the engine only once the witness confirmed it.
//
// When vigild stops (SIGTERM), the hierarchies in service here are taken out of service first.
import type { VigilConfig } from '../common/config.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { MembershipOutput } from '../cluster/membership.js';
import { ScsiFence } from '../fencing/scsi-fence.js';
import { AppKit } from '../kits/app/app-kit.js';
import { FilesysKit } from '../kits/filesys/filesys-kit.js';
import { NasKit } from '../kits/nas/nas-kit.js';
import { NfsFilesys } from '../kits/nas/nfs-filesys.js';
import type { NasMetricsEvents } from '../kits/nas/nas-metrics-events.js';
import { NO_NAS_METRICS } from '../kits/nas/nas-metrics-events.js';
import { KitRegistry, type Kit } from '../kits/kit.js';
import type { PeerMessage } from '../hierarchy/engine.js';
import { HIER_MESSAGE, HIER_TASK, HierarchyService } from '../hierarchy/service.js';
import { handleTaskStep } from '../hierarchy/tasks.js';
import { instrumentKit, instrumentTimedStat } from '../metrics/instrument.js';
import type { MetricsRecorder } from '../metrics/recorder.js';
import type { Agent, Subsystem } from './agent.js';
import type { ClusterSubsystem } from './wire-cluster.js';
import type { QuorumSubsystem } from './wire-quorum.js';

/** Within the agent's per-subsystem stop limit (10 s). */
const STOP_REMOVE_LIMIT_MS = 8_000;

export interface HierarchySubsystem extends Subsystem {
  readonly service: HierarchyService | undefined;
}

class WiredHierarchy implements HierarchySubsystem {
  readonly name = 'hierarchy';
  service: HierarchyService | undefined;
  private attachedTo: ClusterNode | undefined;
  private readonly listeners: Array<() => void> = [];
  /** When this system last joined the cluster: vigild's start, then each peer seen coming ALIVE. */
  private memberSince = Date.now();

  constructor(
    private readonly agent: Agent,
    private readonly cluster: ClusterSubsystem | undefined,
    private readonly metrics: HierarchyMetrics | undefined,
    private readonly quorum: QuorumSubsystem,
    private readonly nasMetrics: NasMetricsEvents | undefined,
    /** Kits built by other subsystems (scsi/netraid, from wire-replication.ts). */
    private readonly extraKits: Kit[] = [],
  ) {}

  start(): void {
    const { agent } = this;
    const config = agent.config;
    const plat = agent.platform;
    const m = this.metrics;
    const timedStat = m ? instrumentTimedStat(plat.timedStat, m) : plat.timedStat;
    const kits = new KitRegistry();
    const fsPlatform = { mountTable: plat.mounts, timedStat, mountControl: plat.mountControl, holders: plat.mountHolders, probe: plat.fsProbe };
    const fstabPath = config.VIGIL_FSTAB;
    // LKNFSSYSCALLTO / LKNFSTIMEOUT (after the 107009 fallback of config.ts) and LKNASERROR.
    const nasSettings = { syscallMs: agent.config.LKNFSSYSCALLTO * 1000, overallMs: agent.config.LKNFSTIMEOUT * 1000, onError: agent.config.LKNASERROR };
    const nasTools = plat.nasTools;
    const nasMetrics = this.nasMetrics ?? NO_NAS_METRICS;
    // The SCSI reservation fence of gen/filesys (docs/fencing.md). A system that was fenced
    // registers again only after it has seen a peer come ALIVE since (it rejoined the cluster).
    const scsiFence = new ScsiFence(plat.scsi, {
      system: agent.localSystem,
      memberSince: () => this.memberSince,
      log: (level, msg, fields) => agent.log[level]({ ...fields, component: 'fence' }, msg),
    });
    for (const kit of [
      new AppKit(plat.programs, (path, timeoutMs) => plat.timedStat.stat(path, timeoutMs)),
      new FilesysKit(fsPlatform, {
        fstabPath,
        fence: { service: scsiFence, defaultOn: agent.config.VIGIL_SCSI_FENCE === 'on' },
        nfs: new NfsFilesys(fsPlatform, { fstabPath, settings: nasSettings, tools: nasTools, metrics: nasMetrics }),
      }),
      new NasKit(fsPlatform, { settings: nasSettings, tools: nasTools, fstabPath, metrics: nasMetrics, tmpDir: config.VIGIL_NAS_TMPDIR }),
      ...this.extraKits,
    ]) {
      kits.register(m ? instrumentKit(kit, m) : kit);
    }
    // Per-kit quickCheck intervals (validated with the rest of the configuration at start-up).
    const byApp: Record<string, number> = {};
    if (config.LKCHECKINTERVAL_GEN_APP !== undefined) byApp['gen/app'] = config.LKCHECKINTERVAL_GEN_APP * 1000;
    if (config.LKCHECKINTERVAL_GEN_FILESYS !== undefined) byApp['gen/filesys'] = config.LKCHECKINTERVAL_GEN_FILESYS * 1000;
    if (config.LKCHECKINTERVAL_GEN_NAS !== undefined) byApp['gen/nas'] = config.LKCHECKINTERVAL_GEN_NAS * 1000;
    const svc = new HierarchyService({
      lcd: agent.lcd,
      kits,
      // Routine check results come at debug, hundreds a second at 1,000 resources: a level that
      // is off costs only this test.
      log: (level, msg, fields) => {
        if (agent.log.isLevelEnabled(level)) agent.log[level]({ ...fields, component: 'hierarchy' }, msg);
      },
      // Checks start within a tick of being due: 50 ms keeps each resource's interval well
      // within 10% of LKCHECKINTERVAL (a tick with nothing due costs a pass over the resources).
      tickMs: 50,
      checkIntervalMs: agent.config.LKCHECKINTERVAL * 1000,
      checkIntervalByApp: byApp,
      recovery: {
        maxAttempts: config.VIGIL_LOCAL_RECOVERY_ATTEMPTS,
        windowMs: config.VIGIL_LOCAL_RECOVERY_WINDOW * 1000,
      },
      quorum: () => this.quorum.mayBringInService(),
      quorumWaiting: () => this.quorum.closedOnlyForAWhile(),
      // The peers declare this system dead after LCMNUMHBEATS missed heartbeats; two heartbeat
      // intervals more cover the difference between their detection and this watch's ticks.
      stallLimitMs: (config.LCMNUMHBEATS + 2) * config.LCMHBEATTIME * 1000,
      haltNode: (reason) => this.halt(reason, config.VIGIL_HALT_ACTION),
      events: m,
    });
    this.service = svc;
    svc.taskHandler = (from, body) => handleTaskStep(svc, from, body);
    // The quorum loss action's osu: given up, so a peer that saw this system come back (and so
    // dropped its own failover) still takes them over once its gate allows.
    this.quorum.bindHierarchy({ takeAllOutOfService: (limitMs) => svc.takeAllOutOfService(limitMs, 'quorum lost'), quorumChanged: () => svc.quorumChanged() });
    svc.start();
    // The cluster node is created once comm paths and a key exist, possibly after we start.
    this.cluster?.onNode(() => this.attachCluster());
  }

  /**
   * A stopping agent takes what it runs out of service first (like lkstop), telling the peers,
   * so nothing keeps running unwatched and no peer fails it over as if this node had crashed.
   */
  async stop(): Promise<void> {
    const svc = this.service;
    if (svc) {
      const left = await svc.takeAllOutOfService(STOP_REMOVE_LIMIT_MS);
      if (left.length) this.agent.log.error({ hierarchies: left }, 'hierarchy: still in service while stopping');
    }
    for (const off of this.listeners.splice(0)) off();
    svc?.stop();
  }

  private halt(reason: string, action: VigilConfig['VIGIL_HALT_ACTION']): void {
    this.agent.log.fatal({ reason, action }, 'hierarchy: a recovery kit asked for this node to halt');
    // sysrq: immediate power-off (NodePower ends vigild and its services if the kernel did not act).
    if (action === 'sysrq') this.agent.platform.nodePower.powerOff(reason);
    this.agent.platform.nodePower.endAgent(reason);
  }

  private attachCluster(): void {
    const node = this.cluster?.node;
    const svc = this.service;
    if (!node || !svc || node === this.attachedTo) return;
    this.attachedTo = node;
    node.handle(HIER_MESSAGE, (body, from) => {
      svc.handlePeerMessage(from, body as PeerMessage);
      return { ok: true };
    });
    node.handle(HIER_TASK, (body, from) => handleTaskStep(svc, from, body));
    svc.setTransport({ request: (system, type, body, timeoutMs) => node.request(system, type, body, { timeoutMs }) });
    // The hierarchy layer hears of a system's return when it can talk to it: what it does then
    // (the state sync both ways, the word a withheld failover waits for) is messages, and a
    // system back through a DISK path alone (its disk heartbeat usually precedes the TCP
    // session by a few hundred ms) cannot receive them. Such a return waits for a TCP/TTY path.
    const notYetUp = new Set<string>();
    const up = (system: string) => {
      if (node.reachable(system)) {
        notYetUp.delete(system);
        svc.systemUp(system);
      } else notYetUp.add(system);
    };
    const onMembership = (o: MembershipOutput) => {
      if (o.type === 'path-up') {
        if (node.systemState(o.system) !== 'ALIVE' || !node.reachable(o.system)) return;
        if (notYetUp.has(o.system)) up(o.system);
        // A member that stayed ALIVE through a DISK path while its TCP/TTY paths were down:
        // what either side said meanwhile (a give-up, a state change) went nowhere, so both
        // sides sync again.
        else svc.peerReachable(o.system);
        return;
      }
      if (o.type === 'system-alive') {
        this.memberSince = Date.now();
        this.quorum.systemAlive(o.system);
        up(o.system);
      } else if (o.type === 'system-dead') {
        notYetUp.delete(o.system);
        // The engine hears of the death once the witness agrees (remote_verify).
        this.quorum.confirmDeath(o.system, () => {
          if (node.systemState(o.system) !== 'DEAD') return;
          svc.systemDown(o.system);
          svc.quorumChanged();
        });
        return;
      } else if (o.type === 'system-restarted') {
        // It came back before being declared dead: whatever it ran is gone.
        svc.systemDown(o.system);
        up(o.system);
      } else return;
      svc.quorumChanged();
    };
    node.on('membership', onMembership);
    this.listeners.push(() => node.off('membership', onMembership));
    for (const s of this.agent.lcd.systems()) {
      if (s.name !== this.agent.localSystem && node.systemState(s.name) === 'ALIVE') up(s.name);
    }
    this.agent.log.info({ system: this.agent.localSystem }, 'hierarchy: joined the cluster messaging');
  }
}

/** What the hierarchy reports to metrics: moves, and (through wrapped kits) checks, recoveries, probes. */
export type HierarchyMetrics = Pick<MetricsRecorder, 'failover' | 'switchover' | 'quickCheck' | 'localRecovery' | 'probe'>;

/** Adds the hierarchy subsystem (call from compose.ts after attachCluster and attachQuorum; pass the metrics recorder to be measured). */
export function attachHierarchy(
  agent: Agent,
  cluster: ClusterSubsystem | undefined,
  quorum: QuorumSubsystem,
  metrics?: HierarchyMetrics,
  nasMetrics?: NasMetricsEvents,
  extraKits: Kit[] = [],
): HierarchySubsystem {
  const h = new WiredHierarchy(agent, cluster, metrics, quorum, nasMetrics, extraKits);
  agent.addSubsystem(h);
  return h;
}
