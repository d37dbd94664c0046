// Shared helpers for the cluster integration tests: condition polling, free ports, config builders.
import { createServer } from 'node:net';
import type { PathConfig } from '../../../src/cluster/comm-path.js';

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string, everyMs = 10): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (cond()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
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
