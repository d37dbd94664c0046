// The NFS benchmark's client: a Prober on each cluster node asking its own server (127.0.0.1).
// There is no VM outside the cluster to ask from in that topology: the only other VM is the NFS
// server, the one that is frozen, and a cut of a node's LAN link would hide its answers from any
// VM on the LAN. What is measured is still when the application answers, on which node.
import type { VmNode } from '../../vmcluster/node.js';
import { Prober } from './prober.js';

/** Between two requests: the loop runs on the nodes under test (one vCPU each), so less often than the storage VM's. */
const INTERVAL_MS = 250;

export class LocalProbers {
  private probers = new Map<string, Prober>();

  constructor(readonly nodes: VmNode[]) {}

  /** Start (or, after a reboot, start again) a prober on every node. */
  async start(): Promise<void> {
    this.probers = new Map(this.nodes.map((n) => [n.name, new Prober(n, new Map([[n.name, '127.0.0.1']]), INTERVAL_MS)]));
    for (const p of this.probers.values()) await p.start();
  }

  /** Host time of the first answer from `node` after host time `afterMs`, or undefined. */
  async answeredAt(node: string, afterMs: number): Promise<number | undefined> {
    return this.probers.get(node)!.answeredAt(node, afterMs);
  }

  /** The node whose server answers now, if any. */
  async answering(): Promise<string | undefined> {
    for (const p of this.probers.values()) {
      const n = await p.answering();
      if (n) return n;
    }
    return undefined;
  }

  /** The prober logs (name -> text) to keep beside the results. */
  async logs(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const [name, p] of this.probers) {
      if (p.storage.state !== 'running') continue;
      out[`${name}-probe.log`] = (await p.storage.readFile(p.log(name)).catch(() => Buffer.alloc(0))).toString();
    }
    return out;
  }
}
