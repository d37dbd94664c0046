// Attaches data replication to vigild: the scsi/netraid kit (registered by wire-hierarchy), the
// backup side of every mirror (ReplicaServer, which runs our NBD server on a worker thread on
// the replication address chosen at extend and exports this system's partition to the current
// primary at the current generation), and the NETRAID_MESSAGE handler on the cluster's
// authenticated messaging, through which the primary asks for the export, reports a backup out
// of date and a resync complete. The NBD server and the export tokens use the cluster key.
//
// At start every resource this system was the backup of is recorded out of date: its NBD
// sessions ended with the previous process, and the primary may have written since.
// Tunables: LKDR_SPEED_LIMIT, VIGIL_NBD_TIMEOUT, VIGIL_NETRAID_BITMAP_CHUNK_KB,
// VIGIL_NETRAID_CALL_TIMEOUT_MS and VIGIL_NETRAID_LINK_HOLD (replication/config.ts; the hold's
// default follows LCMHBEATTIME x LCMNUMHBEATS). A held mirror goes on without its backup once
// membership declared the backup dead and the quorum gate lets this system act.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

import { readKeyFile } from '../cluster/cluster-key.js';
import { runProgram } from '../common/run-program.js';
import { replicationError } from '../replication/errors.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { NetraidKit } from '../kits/netraid/netraid-kit.js';
import { handleNetraidMessage, NETRAID_MESSAGE, peersOver, type NetraidMessage } from '../kits/netraid/peer-messages.js';
import { TcpBackupLink } from '../replication/backup-link.js';
import { replicationConfig } from '../replication/config.js';
import { ExportTokenKey } from '../replication/nbd/export-token.js';
import { NbdServerThread } from '../replication/nbd/server-thread.js';
import { ReplicaServer } from '../replication/replica-server.js';
import { ReplicaStates, type StateFiles } from '../replication/replica-state.js';
import type { Registry } from 'prom-client';

import { registerReplicationMetrics, type ReplicationRecorder, type ReplicationSample } from '../replication/replication-metrics.js';
import type { Agent, Subsystem } from './agent.js';
import type { ClusterSubsystem } from './wire-cluster.js';
import type { QuorumSubsystem } from './wire-quorum.js';

/** A peer that does not answer within this is treated as unreachable. */
const PEER_TIMEOUT_MS = 5_000;

export interface ReplicationSubsystem extends Subsystem {
  readonly kit: NetraidKit;
}

class WiredReplication implements ReplicationSubsystem {
  readonly name = 'replication';
  readonly kit: NetraidKit;
  private readonly replica: ReplicaServer;
  private readonly states: ReplicaStates;
  private attachedTo: ClusterNode | undefined;
  /** Backup states reported before their instance was recorded (showBackupState). */
  private readonly unshownBackupState = new Map<string, { current: boolean; reason: string }>();
  private unsubscribeLcd: (() => void) | undefined;

  constructor(
    private readonly agent: Agent,
    private readonly cluster: ClusterSubsystem | undefined,
    registry?: Registry,
    quorum?: QuorumSubsystem,
  ) {
    const rc = replicationConfig(agent.config.raw, agent.config.LCMHBEATTIME * 1000 * agent.config.LCMNUMHBEATS);
    const plat = agent.platform;
    const files: StateFiles = {
      read: (path) =>
        readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        }),
      write: async (path, text) => {
        await mkdir(dirname(path), { recursive: true, mode: 0o700 });
        await plat.durableFiles.writeAtomic(path, text, { mode: 0o600, timeoutMs: rc.callTimeoutMs });
      },
      remove: (path) => rm(path, { force: true }),
    };
    const log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => agent.log[level]({ ...fields, component: 'replication' }, msg);
    this.states = new ReplicaStates(agent.config.VIGIL_STATE_DIR, files);
    this.replica = new ReplicaServer({
      localSystem: agent.localSystem,
      states: this.states,
      newServer: () =>
        new NbdServerThread({
          clusterSecret: this.secret(),
          deviceSize: async (path) => (await plat.blockDevices.info(path, rc.callTimeoutMs)).sizeBytes,
          // The transmission phase on the addon's threads: the TypeScript one cost twice Debian
          // nbd-server's CPU for 0.7-0.8 of its throughput (issue #14).
          dataPath: 'native',
          log,
        }),
      inServiceHere: (tag) => this.kit.inService(tag),
      knows: (tag) => agent.lcd.getInstance(tag) !== undefined,
      onBackupState: (tag, current, reason) => this.showBackupState(tag, current, reason),
      log,
    });
    const peers = peersOver(async (system, msg) => {
      const node = this.cluster?.node;
      if (!node) throw new Error('no cluster comm path is running');
      return node.request(system, NETRAID_MESSAGE, msg, { timeoutMs: PEER_TIMEOUT_MS });
    });
    this.kit = new NetraidKit({
      localSystem: agent.localSystem,
      platform: plat,
      config: rc,
      states: this.states,
      replica: this.replica,
      peers,
      linkTo: (host, port, exportName) => new TcpBackupLink({ host, port, exportName }),
      loadModule: async (name) => {
        const r = await runProgram('modprobe', [name], { timeoutMs: rc.callTimeoutMs });
        if (r.code !== 0) throw replicationError(104022, [name], { stderr: r.stderr.trim(), timedOut: r.timedOut });
      },
      exportName: (tag, generation, primary) => new ExportTokenKey(this.secret()).exportName({ mirror: tag, generation, clientSystem: primary }),
      peerDeclaredDead: (system) => this.cluster?.node?.systemState(system) === 'DEAD' && (quorum?.mayBringInService() ?? true),
      holdEnded: (tag, how, heldMs) => {
        this.recorder?.holdEnded(tag, how, heldMs);
        const fields = { component: 'replication', tag, ended: how, heldMs };
        if (how === 'kernel-timeout') agent.log.error(fields, 'replication: a link hold ended by the kernel bound; the backup may not know it is out of date');
        else agent.log.info(fields, 'replication: link hold ended');
      },
      resyncStarted: (tag, kind) => {
        this.recorder?.resyncStarted(tag, kind);
        agent.log.info({ component: 'replication', tag, kind }, `replication: ${kind} resync of the backup started`);
      },
      resyncDone: (tag, kind, ms) => {
        this.recorder?.resyncDone(tag, kind, ms);
        agent.log.info({ component: 'replication', tag, kind, ms }, `replication: ${kind} resync of the backup completed`);
      },
    });
    if (registry) this.recorder = registerReplicationMetrics(registry, () => this.samples());
  }

  private recorder: ReplicationRecorder | undefined;

  /** What the vigil_replication_* families show: every scsi/netraid resource of this system. */
  private async samples(): Promise<ReplicationSample[]> {
    const out: ReplicationSample[] = [];
    for (const i of this.agent.lcd.instances({ system: this.agent.localSystem })) {
      if (i.app !== 'scsi' || i.type !== 'netraid') continue;
      const st = await this.states.get(i.tag).catch(() => undefined);
      if (!st) continue;
      const view = this.kit.view(i.tag);
      // md is asked only while a resync runs; a read that fails shows no rate rather than no scrape.
      const resyncRate = view ? await this.kit.resyncRate(i.tag).catch(() => undefined) : undefined;
      out.push({
        tag: i.tag,
        role: st.role,
        generation: st.generation,
        ...(view ? { mirror: { state: view.state, percent: view.percent, ...(resyncRate === undefined ? {} : { resyncRate }) } } : {}),
        backupOutOfDate: st.role === 'backup' ? !st.current : view !== undefined && view.state !== 'mirroring',
        linkHeld: this.kit.holding(i.tag),
        // Unreadable: no sample rather than a 0 that would say the flag is gone.
        dataCorrupt: await this.states.hasDataCorruptFlag(i.tag).catch(() => undefined),
      });
    }
    return out;
  }

  /**
   * The backup's instance is OSF while it is out of date (lcdstatus shows why) and OSU once a
   * resync completed; an instance in service here is the engine's business, not ours.
   */
  private showBackupState(tag: string, current: boolean, reason: string): void {
    const i = this.agent.lcd.getInstance(tag);
    // Not recorded yet (extend records the instance once the kit's extend returned, and a
    // primary may ask to be served before that): shown as soon as it is (start's LCD listener).
    if (!i) {
      this.unshownBackupState.set(tag, { current, reason });
      return;
    }
    this.unshownBackupState.delete(tag);
    if (i.state === 'ISP' || i.state === 'ISU') return;
    void this.agent.lcd
      .setInstanceState(tag, current ? 'OSU' : 'OSF', current ? '' : `out of date: ${reason}`, undefined, { ifChanged: true })
      .catch((err: Error) => this.agent.log.warn({ err: err.message, tag }, 'replication: cannot record the backup state'));
  }

  /** A backup state reported before its instance existed, shown if the state file still says so (an extend backed out leaves it behind). */
  private async showWhenStillSo(tag: string, current: boolean, reason: string): Promise<void> {
    this.unshownBackupState.delete(tag);
    const st = await this.states.get(tag).catch(() => undefined);
    if (st?.role === 'backup' && st.current === current) this.showBackupState(tag, current, reason);
  }

  /** The cluster key, read when first needed (the key file may appear after vigild started). */
  private secret(): Buffer {
    return readKeyFile(this.agent.config.VIGIL_KEY_FILE);
  }

  async start(): Promise<void> {
    const backups = this.agent.lcd.instances({ system: this.agent.localSystem }).filter((i) => i.app === 'scsi' && i.type === 'netraid');
    await this.kit.systemStarted(backups.map((i) => i.tag));
    for (const i of backups) {
      const st = await this.states.get(i.tag);
      if (st?.role === 'backup' && !st.current) this.showBackupState(i.tag, false, st.outOfDateReason ?? 'not resynchronized');
    }
    this.cluster?.onNode(() => this.attach());
    // A backup state reported before its instance was recorded is shown once the LCD has it.
    this.unsubscribeLcd = this.agent.lcd.onChange(() => {
      for (const [tag, b] of [...this.unshownBackupState]) if (this.agent.lcd.getInstance(tag)) void this.showWhenStillSo(tag, b.current, b.reason);
    });
  }

  async stop(): Promise<void> {
    this.unsubscribeLcd?.();
    this.kit.close();
    await this.replica.close();
  }

  private attach(): void {
    const node = this.cluster?.node;
    if (!node || node === this.attachedTo) return;
    this.attachedTo = node;
    node.handle(NETRAID_MESSAGE, (body, from) =>
      handleNetraidMessage(body as NetraidMessage, from, { replica: this.replica, states: this.states, inService: (t) => this.kit.inService(t) }),
    );
    // A backup system that returns (rebooted, its vigild restarted, its links back) is
    // resynchronized as soon as it answers, not after the reconnect back-off its absence built up.
    for (const event of ['system-alive', 'system-restarted']) node.on(event, (o: { system: string }) => this.kit.peerAlive(o.system));
  }
}

/** Adds the replication subsystem (call from compose.ts after attachCluster, before attachHierarchy). */
export function attachReplication(agent: Agent, cluster?: ClusterSubsystem, registry?: Registry, quorum?: QuorumSubsystem): ReplicationSubsystem {
  const r = new WiredReplication(agent, cluster, registry, quorum);
  agent.addSubsystem(r);
  return r;
}
