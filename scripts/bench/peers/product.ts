// What the side-by-side scenarios need from a product (Pacemaker+Corosync, or Vigil) running on the
// two cluster nodes: bring it up with the hierarchy in service, bring a rebooted node back, move
// the hierarchy, and read its own log for when it saw each event (guest clock, mapped to the host).
import type { VmNode } from '../../vmcluster/node.js';

/** Events of one failover, host ms, from the product's own log on the node that took over. */
export interface Timeline {
  /** the peer declared dead / membership lost */
  detectedAt?: number;
  /** the product decided where the hierarchy goes */
  decidedAt?: number;
  /** the dead node was fenced */
  fencedAt?: number;
  /** the file system was mounted */
  mountedAt?: number;
  /** the application was started */
  startedAt?: number;
}

export interface Setting {
  /** label of the pairing, e.g. fast/equal-settings */
  label: string;
  /** Vigil: seconds between heartbeats and heartbeats missed */
  hbSec: number;
  hbMisses: number;
  /** Corosync totem token, ms */
  tokenMs: number;
}

export interface Product {
  readonly name: 'pacemaker' | 'vigil';
  /** Configure and start on both nodes; the hierarchy in service on `first`. */
  setup(nodes: VmNode[], device: string, first: string): Promise<void>;
  /** After a node rebooted: configure and start it again, and wait until it is a member. */
  rejoin(node: VmNode): Promise<void>;
  /** Issue a switchover to `to` (returns when the command returned). */
  switchover(to: string): Promise<void>;
  /** Undo what a switchover left behind (Pacemaker's location constraint). */
  afterSwitchover(): Promise<void>;
  /** Timeline of the takeover on `node` of a peer failure after host time `afterMs`. */
  takeoverTimeline(node: VmNode, afterMs: number): Promise<Timeline>;
  /** Host time at which `node` logged the application's monitor failure after `afterMs`. */
  monitorFailedAt(node: VmNode, afterMs: number): Promise<number | undefined>;
  /** Guest pids of the product's own processes on `node` (for CPU and RSS). */
  agentPids(node: VmNode): Promise<number[]>;
  /** Add `count` more idle resources (each with its monitor) beside the hierarchy. */
  addIdleResources(node: VmNode, count: number): Promise<void>;
  /** Configuration files (name -> text) to keep beside the results. */
  configFiles(): Record<string, string>;
  /** The logs of both nodes (name -> text) to keep beside the results. */
  logs(nodes: VmNode[]): Promise<Record<string, string>>;
  /** For each named pattern, the first line of the product's log on `node` after host time `afterMs` (host ms and the line). */
  logEvents(node: VmNode, patterns: Record<string, RegExp>, afterMs: number): Promise<Record<string, HostEvent>>;
  /** The product's own view of the resources on `node` (crm_mon / ins_list text), kept with a sample. */
  status(node: VmNode): Promise<string>;
}

/** A product log line found for a named event, in host ms. */
export interface HostEvent {
  atMs: number;
  line: string;
}
