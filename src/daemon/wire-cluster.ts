// Attaches the cluster comm layer to vigild. It builds a ClusterNode from the LCD's TCP and TTY
// comm paths of this system and the tunables (LCMHBEATTIME, LCMNUMHBEATS, VIGIL_KEY_FILE),
// follows net_create / net_remove while running, writes the membership's path and system
// states into the LCD, and gives admin commands `-d destsys` by forwarding them as a request
// to the other agent, which runs them locally.
import { commPathKey, type CommPath } from '../lcd/schema.js';
import type { AdminCommands } from '../admin/registry.js';
import type { AdminReply, AdminRequest } from '../admin/protocol.js';
import { VigilError } from '../common/errors.js';
import { readKeyFile } from '../cluster/cluster-key.js';
import { ClusterNode, type ClusterStats } from '../cluster/cluster-node.js';
import { pathIdOf, type PathConfig } from '../cluster/comm-path.js';
import type { MembershipOutput } from '../cluster/membership.js';
import type { Agent, Subsystem } from './agent.js';

/** Message type that carries a forwarded administration request. */
export const ADMIN_FORWARD_MESSAGE = 'admin.request';
/** Forwarded commands may do real work on the other side (an LCD write, a restore). */
const FORWARD_TIMEOUT_MS = 60_000;

export interface ClusterSubsystem extends Subsystem {
  /** The running node (undefined before start, or while no key and no comm path exist). */
  readonly node: ClusterNode | undefined;
  /** Cheap snapshot for metrics and lcdstatus; undefined when no node runs. */
  stats(): ClusterStats | undefined;
}

function toPathConfig(p: CommPath): PathConfig | undefined {
  if (p.type === 'TCP') return { type: 'TCP', otherSystem: p.otherSystem, priority: p.priority, localAddress: p.localAddress, remoteAddress: p.remoteAddress, port: p.port };
  if (p.type === 'TTY') return { type: 'TTY', otherSystem: p.otherSystem, priority: p.priority, device: p.device, baud: p.baud };
  // DISK paths are served by the disk heartbeat, not by this layer.
  return undefined;
}

class WiredCluster implements ClusterSubsystem {
  readonly name = 'cluster';
  node: ClusterNode | undefined;
  /** ClusterNode path id -> the LCD's commPathKey, to record states. */
  private readonly lcdKeys = new Map<string, string>();
  private unsubscribe: (() => void) | undefined;
  private reconciling: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly agent: Agent,
    private readonly commands: AdminCommands,
  ) {}

  async start(): Promise<void> {
    const { agent } = this;
    agent.context.forward = (destsys, req) => this.forward(destsys, req);
    this.unsubscribe = agent.lcd.onChange((c) => {
      if (c.kind === 'config') this.reconcileSoon();
    });
    this.reconcileSoon();
    await this.reconciling;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    delete this.agent.context.forward;
    await this.reconciling;
    await this.node?.stop();
  }

  stats(): ClusterStats | undefined {
    return this.node?.stats();
  }

  private async forward(destsys: string, req: AdminRequest): Promise<AdminReply> {
    if (!this.node) throw new VigilError(0, `no comm path to system ${destsys} (the cluster layer is not running)`);
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
      if (wanted.size === 0) return;
      let secret: Buffer;
      try {
        secret = readKeyFile(agent.config.VIGIL_KEY_FILE);
      } catch (err) {
        // Comm paths without a key cannot be authenticated: say so loudly; the next LCD change
        // (or a restart after `vigil keygen`) tries again.
        agent.log.error({ err: (err as Error).message, keyFile: agent.config.VIGIL_KEY_FILE }, 'cluster: comm paths are configured but the cluster key cannot be read; run `vigil keygen` and copy the key to every node');
        return;
      }
      const node = new ClusterNode({
        localSystem: agent.localSystem,
        secret,
        heartbeatIntervalMs: Math.round(agent.config.LCMHBEATTIME * 1000),
        missedHeartbeats: agent.config.LCMNUMHBEATS,
        paths: [],
        log: (level, msg, fields) => agent.log[level]({ ...fields }, `cluster: ${msg}`),
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

/** Adds the cluster subsystem to the agent (call from compose.ts, before the subsystems that use it). */
export function attachCluster(agent: Agent, commands: AdminCommands): ClusterSubsystem {
  const c = new WiredCluster(agent, commands);
  agent.addSubsystem(c);
  return c;
}
