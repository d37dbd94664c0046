// What an administration command handler may use: the agent's LCD, configuration, identity and
// logger, and (once the cluster is attached) a way to run a request on another system's agent.
import type { Logger } from 'pino';
import type { WatchdogStatus } from '../cluster/quorum/self-fence-lease.js';
import type { QuorumStatus } from '../cluster/quorum/storage-status.js';
import type { VigilConfig } from '../common/config.js';
import type { Lcd } from '../lcd/lcd.js';
import type { AdminReply, AdminRequest } from './protocol.js';

export interface AgentContext {
  lcd: Lcd;
  config: VigilConfig;
  /** This node's system name (same as lcd.localSystem). */
  localSystem: string;
  log: Logger;
  /**
   * Run `req` on the agent of `destsys` and return its reply. Filled in by the cluster's
   * messaging; absent when no cluster is attached. The request arrives without `destsys`, and
   * the receiving agent runs it with dispatchAdminRequest() locally.
   */
  forward?: (destsys: string, req: AdminRequest) => Promise<AdminReply>;
  /** The cluster layer's live view, once it is attached (src/daemon/wire-cluster.ts). */
  cluster?: ClusterView;
  /** The quorum subsystem, once it started (src/daemon/wire-quorum.ts): lcdstatus shows its status. */
  quorum?: { status(): QuorumStatus | undefined };
  /** The self-fencing watchdog, once armed (src/daemon/wire-watchdog.ts): lcdstatus shows it. */
  watchdog?: { status(): WatchdogStatus };
  /** Refuses (throws a VigilError) a device that cannot carry DISK heartbeats; set by the cluster layer. */
  checkDiskPathDevice?: (device: string) => Promise<string>;
  /** How the running DISK path on `device` reaches it ('SG_IO: ...' / 'O_DIRECT: ...'); set by the cluster layer. */
  diskPathIo?: (device: string) => string | undefined;
}

/** What admin commands may ask the cluster layer. */
export interface ClusterView {
  /** Why comm paths cannot be authenticated (the cluster key file cannot be used), or undefined. */
  keyProblem(): string | undefined;
  /**
   * The live state of the comm path whose commPathKey() is `key`, with the reason in words when
   * it is not ALIVE (e.g. "bad key"); undefined when the cluster layer has no such path.
   */
  pathStatus(key: string): { state: string; reason?: string } | undefined;
}
