// Attaches the cluster comm layer to vigild. It builds a ClusterNode from the LCD's TCP, TTY and DISK
// comm paths of this system and the tunables (LCMHBEATTIME, LCMNUMHBEATS, VIGIL_KEY_FILE),
// follows net_create / net_remove while running, writes the membership's path and system
// states into the LCD, and gives admin commands `-d destsys` by forwarding them as a request
// to the other agent, which runs them locally. States loaded from disk are only last-known:
// they are shown as UNKNOWN until the comm layer confirms them. Without a usable key file the
// layer cannot run; it says so (log, commands, /healthz) and picks the key up once it is fixed,
// without a restart. It also asks the platform to keep the agent scheduled under load
// (memory locked, real-time priority where permitted) so heartbeats go out on time.
import { commPathKey, type CommPath } from '../lcd/schema.js';
import type { AdminCommands } from '../admin/registry.js';
import type { AdminReply, AdminRequest } from '../admin/protocol.js';
import type { ClusterView } from '../admin/context.js';
import { VigilError } from '../common/errors.js';
import { readKeyFile } from '../cluster/cluster-key.js';
import { ClusterNode, type ClusterStats } from '../cluster/cluster-node.js';
import { pathIdOf, type PathConfig } from '../cluster/comm-path.js';
import type { MembershipOutput } from '../cluster/membership.js';
import { stayScheduled } from '../cluster/stay-scheduled.js';
import type { Scheduling } from '../platform/platform.js';
import type { Agent, Subsystem } from './agent.js';
import { checkDiskPathDevice } from '../cluster/disk-path-check.js';

/** Message type that carries a forwarded administration request. */
export const ADMIN_FORWARD_MESSAGE = 'admin.request';
/** Forwarded commands may do real work on the other side (an LCD write, a restore). */
const FORWARD_TIMEOUT_MS = 60_000;

export interface ClusterSubsystem extends Subsystem, ClusterView {
  /** The running node (undefined before start, or while no key and no comm path exist). */
  readonly node: ClusterNode | undefined;
  /** Cheap snapshot for metrics and lcdstatus; undefined when no node runs. */
  stats(): ClusterStats | undefined;
  /** Why the cluster layer is degraded (for /healthz), or undefined when it is not. */
  problem(): string | undefined;
  /** Calls `listener` with the node once it runs (at once if it does): the node may start after the agent, once a key and a comm path exist. */
  onNode(listener: (node: ClusterNode) => void): void;
}

/** How often an unusable key file is looked at again. */
const KEY_RETRY_MS = 1000;
/** How often the CPU budget demotions of the real-time event loop are looked at (and logged if any). */
const BUDGET_REPORT_MS = 10_000;

function toPathConfig(p: CommPath): PathConfig | undefined {
  if (p.type === 'TCP') return { type: 'TCP', otherSystem: p.otherSystem, priority: p.priority, localAddress: p.localAddress, remoteAddress: p.remoteAddress, port: p.port };
  if (p.type === 'TTY') return { type: 'TTY', otherSystem: p.otherSystem, priority: p.priority, device: p.device, baud: p.baud };
  if (p.type === 'DISK') return { type: 'DISK', otherSystem: p.otherSystem, priority: p.priority, device: p.device };
  return undefined;
}

class WiredCluster implements ClusterSubsystem {
  readonly name = 'cluster';
  node: ClusterNode | undefined;
  private readonly nodeListeners: Array<(node: ClusterNode) => void> = [];
  /** ClusterNode path id -> the LCD's commPathKey, to record states. */
  private readonly lcdKeys = new Map<string, string>();
  private unsubscribe: (() => void) | undefined;
  private reconciling: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Why the key file cannot be used, while comm paths wait for it. */
  private keyError: string | undefined;
  private keyRetry: NodeJS.Timeout | undefined;
  /** Reports the real-time event loop's CPU budget demotions (native/realtime.cc) as they happen. */
  private budgetReport: NodeJS.Timeout | undefined;

  constructor(
    private readonly agent: Agent,
    private readonly commands: AdminCommands,
    private readonly scheduling: Scheduling | undefined,
  ) {}

  async start(): Promise<void> {
    const { agent } = this;
    if (this.scheduling) {
      const scheduled = stayScheduled(this.scheduling, agent.config.VIGIL_REALTIME_PRIORITY, (level, msg, fields) => agent.log[level]({ ...fields }, `cluster: ${msg}`));
      if (scheduled.realtimePriority !== undefined) {
        // Each demotion means the event loop was busy enough to starve the kernel's network and
        // disk work on its CPU: worth a line, at most one per BUDGET_REPORT_MS.
        const scheduling = this.scheduling;
        let seen = scheduling.state().budgetDemotions;
        this.budgetReport = setInterval(() => {
          const now = scheduling.state().budgetDemotions;
          if (now > seen) agent.log.info({ demotions: now - seen, total: now }, 'cluster: the real-time event loop was busy and ran at normal priority for a while (CPU budget)');
          seen = now;
        }, BUDGET_REPORT_MS);
        this.budgetReport.unref();
      }
    }
    agent.context.forward = (destsys, req) => this.forward(destsys, req);
    agent.context.cluster = this;
    // What the LCD holds from the last run is history: nothing is ALIVE until heard again.
    for (const p of agent.lcd.commPaths({ system: agent.localSystem })) agent.lcd.setCommPathState(commPathKey(p), 'UNKNOWN');
    for (const s of agent.lcd.systems()) if (s.name !== agent.localSystem) agent.lcd.setSystemState(s.name, 'UNKNOWN');
    agent.context.checkDiskPathDevice = (device) => checkDiskPathDevice(device, this.agent.platform);
    agent.context.diskPathIo = (device) => this.node?.diskPathIo(device);
    this.unsubscribe = agent.lcd.onChange((c) => {
      if (c.kind === 'config') this.reconcileSoon();
    });
    this.reconcileSoon();
    await this.reconciling;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.keyRetry);
    clearInterval(this.budgetReport);
    delete this.agent.context.forward;
    delete this.agent.context.cluster;
    delete this.agent.context.checkDiskPathDevice;
    delete this.agent.context.diskPathIo;
    await this.reconciling;
    await this.node?.stop();
  }

  stats(): ClusterStats | undefined {
    return this.node?.stats();
  }

  keyProblem(): string | undefined {
    try {
      readKeyFile(this.agent.config.VIGIL_KEY_FILE);
      return undefined;
    } catch (err) {
      return `${(err as Error).message}; run \`vigil keygen\` and copy the key to every node (mode 0600)`;
    }
  }

  onNode(listener: (node: ClusterNode) => void): void {
    this.nodeListeners.push(listener);
    if (this.node) listener(this.node);
  }

  problem(): string | undefined {
    return this.node ? undefined : this.keyError && `no cluster key: ${this.keyError}`;
  }

  pathStatus(key: string): { state: string; reason?: string } | undefined {
    if (!this.node) {
      const ours = this.agent.lcd.commPaths({ system: this.agent.localSystem }).some((p) => p.type !== 'DISK' && commPathKey(p) === key);
      return this.keyError && ours ? { state: 'UNKNOWN', reason: 'no cluster key' } : undefined;
    }
    for (const [id, k] of this.lcdKeys) {
      if (k !== key) continue;
      const p = this.node.stats().paths.find((x) => x.id === id);
      if (p) return p.reason ? { state: p.state, reason: p.reason } : { state: p.state };
    }
    return undefined;
  }

  private async forward(destsys: string, req: AdminRequest): Promise<AdminReply> {
    if (!this.node) {
      throw new VigilError(0, this.keyError ? `the cluster layer is not running: ${this.keyError}` : `no comm path to system ${destsys} (the cluster layer is not running)`);
    }
    return (await this.node.request(destsys, ADMIN_FORWARD_MESSAGE, req, { timeoutMs: FORWARD_TIMEOUT_MS })) as AdminReply;
  }

  /** Serialises reconciliations: LCD changes can come in bursts. */
  private reconcileSoon(): void {
    this.reconciling = this.reconciling.then(() => this.reconcile()).catch((err: unknown) => {
      this.agent.log.error({ err }, 'cluster: applying comm path changes failed');
    });
  }

  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const { agent } = this;
    const wanted = new Map<string, { cfg: PathConfig; key: string }>();
    for (const p of agent.lcd.commPaths({ system: agent.localSystem })) {
      const cfg = toPathConfig(p);
      if (cfg) wanted.set(pathIdOf(cfg), { cfg, key: commPathKey(p) });
    }
    if (!this.node) {
      if (wanted.size === 0) {
        this.keyError = undefined;
        return;
      }
      let secret: Buffer;
      try {
        secret = readKeyFile(agent.config.VIGIL_KEY_FILE);
      } catch (err) {
        // Comm paths without a key cannot be authenticated: say so loudly (once per distinct
        // problem), and look at the file again soon: a fixed key is picked up without a restart.
        const message = (err as Error).message;
        if (message !== this.keyError) {
          agent.log.error({ err: message, keyFile: agent.config.VIGIL_KEY_FILE }, 'cluster: comm paths are configured but the cluster key cannot be used; run `vigil keygen` and copy the key to every node (mode 0600)');
        }
        this.keyError = message;
        clearTimeout(this.keyRetry);
        this.keyRetry = setTimeout(() => this.reconcileSoon(), KEY_RETRY_MS);
        this.keyRetry.unref();
        return;
      }
      if (this.keyError) agent.log.info({ keyFile: agent.config.VIGIL_KEY_FILE }, 'cluster: the cluster key is usable now; starting the comm paths');
      this.keyError = undefined;
      const node = new ClusterNode({
        localSystem: agent.localSystem,
        secret,
        heartbeatIntervalMs: Math.round(agent.config.LCMHBEATTIME * 1000),
        missedHeartbeats: agent.config.LCMNUMHBEATS,
        neverConnectedGraceMs: agent.config.VIGIL_COMM_CONNECT_GRACE * 1000,
        paths: [],
        log: (level, msg, fields) => agent.log[level]({ ...fields }, `cluster: ${msg}`),
        disk: this.agent.platform,
      });
      node.on('membership', (o: MembershipOutput) => this.record(o));
      node.handle(ADMIN_FORWARD_MESSAGE, (body, from) => {
        const req = body as AdminRequest;
        // A forwarded request runs here; it is never forwarded again (no loops between agents).
        const { destsys: _ignored, ...local } = req;
        agent.log.info({ from, command: req.command }, 'cluster: running a forwarded admin command');
        return this.commands.dispatch(local as AdminRequest, agent.context);
      });
      await node.start();
      this.node = node;
      for (const l of this.nodeListeners) l(node);
    }
    const node = this.node;
    for (const s of node.stats().paths) {
      if (!wanted.has(s.id)) {
        await node.removePath(s.id);
        this.lcdKeys.delete(s.id);
      }
    }
    const have = new Set(node.stats().paths.map((p) => p.id));
    for (const [id, w] of wanted) {
      this.lcdKeys.set(id, w.key);
      if (!have.has(id)) await node.addPath(w.cfg);
    }
  }

  private record(o: MembershipOutput): void {
    const lcd = this.agent.lcd;
    switch (o.type) {
      case 'path-up':
      case 'path-down': {
        const key = this.lcdKeys.get(o.pathId);
        if (key) lcd.setCommPathState(key, o.type === 'path-up' ? 'ALIVE' : 'DEAD');
        break;
      }
      case 'system-alive':
        lcd.setSystemState(o.system, 'ALIVE');
        break;
      case 'system-dead':
        lcd.setSystemState(o.system, 'DEAD');
        break;
      default:
        break;
    }
  }
}

/**
 * Adds the cluster subsystem to the agent (call from compose.ts, before the subsystems that use
 * it). With `scheduling`, the agent locks its memory and runs its event loop at
 * VIGIL_REALTIME_PRIORITY when it starts.
 */
export function attachCluster(agent: Agent, commands: AdminCommands, scheduling?: Scheduling): ClusterSubsystem {
  const c = new WiredCluster(agent, commands, scheduling);
  agent.addSubsystem(c);
  return c;
}
