// What an administration command handler may use: the agent's LCD, configuration, identity and
// logger, and (once the cluster is attached) a way to run a request on another system's agent.
import type { Logger } from 'pino';
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
  /** Refuses (throws a VigilError) a device that cannot carry DISK heartbeats; set by the cluster layer. */
  checkDiskPathDevice?: (device: string) => Promise<string>;
  /** How the running DISK path on `device` reaches it ('SG_IO: ...' / 'O_DIRECT: ...'); set by the cluster layer. */
  diskPathIo?: (device: string) => string | undefined;
}
