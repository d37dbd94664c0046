// The client of the side-by-side benchmark: a loop per cluster node on the storage VM (same LAN,
// not a cluster member) asking http://<node>:8080/id every 100 ms and logging each change of the
// answer ("<uptime s> <node name>" or "<uptime s> down"). "Answering on X" is the first line
// naming X after a fault, mapped to the host's clock through the storage VM's uptime. The NFS
// benchmark runs one on each cluster node for its own server instead (local-probers.ts).
import type { VmNode } from '../../vmcluster/node.js';
import { httpGet } from './app.js';
import { guestUptimeToHost, measureClock, type ClockMap } from './clock.js';

const BB = '/run/vmc/busybox';

export class Prober {
  private clock: ClockMap | undefined;

  constructor(
    readonly storage: VmNode,
    readonly targets: Map<string, string>,
    /** between two requests (the NFS benchmark probes from the cluster nodes themselves: less often) */
    readonly intervalMs = 100,
  ) {}

  log(node: string): string {
    return `/var/log/peers-probe-${node}.log`;
  }

  async start(): Promise<void> {
    for (const [name, ip] of this.targets) {
      const loop = [
        'last=',
        'while :; do',
        `  r=$(${httpGet(ip, 1)}); [ -n "$r" ] || r=down`,
        '  if [ "$r" != "$last" ]; then read up _ </proc/uptime; echo "$up $r"; last=$r; fi',
        `  ${BB} usleep ${this.intervalMs * 1000}`,
        'done',
      ].join('\n');
      await this.storage.run(`: > ${this.log(name)}`);
      await this.storage.spawn([BB, 'sh', '-c', loop], { log: this.log(name) });
    }
    this.clock = await measureClock(this.storage);
  }

  /** Host time of the first answer "<node>" from `node` after host time `afterMs`, or undefined. */
  async answeredAt(node: string, afterMs: number): Promise<number | undefined> {
    const text = (await this.storage.readFile(this.log(node))).toString();
    for (const line of text.split('\n')) {
      const [up, who] = line.trim().split(' ');
      if (who !== node) continue;
      const at = guestUptimeToHost(this.clock!, Number(up));
      if (at > afterMs) return at;
    }
    return undefined;
  }

  /** Which node answers now (its last logged state), if any. */
  async answering(): Promise<string | undefined> {
    for (const node of this.targets.keys()) {
      const lines = (await this.storage.readFile(this.log(node))).toString().trim().split('\n');
      const last = lines[lines.length - 1]?.split(' ')[1];
      if (last === node) return node;
    }
    return undefined;
  }

  async waitAnswer(node: string, afterMs: number, deadlineMs: number): Promise<number> {
    const until = Date.now() + deadlineMs;
    for (;;) {
      const at = await this.answeredAt(node, afterMs);
      if (at !== undefined) return at;
      if (Date.now() > until) throw new Error(`${node} did not answer within ${deadlineMs} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
