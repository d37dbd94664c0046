// Shared helpers for the cluster integration tests: condition polling, free ports, config builders.
import type { PathConfig } from '../../../src/cluster/comm-path.js';
import { waitFor as poll } from '../../../scripts/lib/wait.js';

export { freePort } from '../../../scripts/lib/free-port.js';

/** Poll `cond` every `everyMs` until it holds; fails naming `what` after `timeoutMs`. */
export function waitFor(cond: () => boolean, timeoutMs: number, what: string, everyMs = 10): Promise<void> {
  return poll(cond, { deadlineMs: timeoutMs, intervalMs: everyMs, what });
}

export interface NodeSpec { name: string; addrs: string[] }

/** Full mesh of TCP paths: path i between two nodes uses each node's i-th address. */
export function meshPaths(nodes: NodeSpec[], self: string, port: number): PathConfig[] {
  const me = nodes.find((n) => n.name === self)!;
  const out: PathConfig[] = [];
  for (const other of nodes) {
    if (other.name === self) continue;
    me.addrs.forEach((addr, i) => {
      out.push({ type: 'TCP', otherSystem: other.name, priority: i + 1, localAddress: addr, remoteAddress: other.addrs[i]!, port });
    });
  }
  return out;
}
