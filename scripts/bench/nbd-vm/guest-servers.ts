// The two NBD servers the VM benchmarks compare, started on a guest and stopped again: Vigil's
// (scripts/bench/nbd-server-proc.ts, the NbdServerThread vigild runs, exporting a block device
// sized through the Linux platform) and Debian's nbd-server, each on the given address and port,
// flush and FUA on. Each reports its process id, so the benchmark can read the server's CPU time.
import { randomBytes } from 'node:crypto';
import type { VmNode } from '../../vmcluster/node.js';
import { repoRoot } from '../../vmcluster/paths.js';
import { treeCpuMs } from './proc-cpu.js';

export type ServerKind = 'vigil' | 'debian';

export interface GuestNbdServer {
  kind: ServerKind;
  host: string;
  port: number;
  exportName: string;
  /** The server's process: its CPU time covers its threads and nbd-server's connection children. */
  pid: number;
  stop(): Promise<void>;
  /** What to add to an error about this server: its log, whether it runs, what listens on node2. */
  diagnose(): Promise<string>;
}

export interface ExportSpec {
  host: string;
  port: number;
  device: string;
  /** Mirror name and epoch of Vigil's export (the fencing token's fields); Debian's export is named `mirror`. */
  mirror: string;
  generation: number;
  primary: string;
}

export function startGuestServer(node: VmNode, kind: ServerKind, spec: ExportSpec): Promise<GuestNbdServer> {
  return kind === 'vigil' ? startVigil(node, spec) : startDebian(node, spec);
}

/** CPU milliseconds of the server `pid` in the guest, its connection children included (proc-cpu.ts). */
export async function guestCpuMs(node: VmNode, pid: number): Promise<number> {
  // A process may end between the glob and the read: cat's complaint about it is ignored.
  const r = await node.exec(['/run/vmc/busybox', 'sh', '-c', 'cat /proc/[0-9]*/stat 2>/dev/null; true']);
  return treeCpuMs(r.stdout, pid);
}

async function startVigil(node: VmNode, spec: ExportSpec): Promise<GuestNbdServer> {
  const secret = randomBytes(32).toString('hex');
  // A log of its own per start: the agent appends to an existing log, so a fixed name would show
  // the previous pass's announcement (old port state, old secret's export name) to this one.
  const log = `/tmp/vigil-nbd-${spec.port}-${secret.slice(0, 12)}.log`;
  const argv = [process.execPath, `${repoRoot}/dist/scripts/bench/nbd-server-proc.js`, spec.host, spec.device, secret, spec.mirror, String(spec.generation), spec.primary, String(spec.port)];
  const child = await node.spawn(argv, { log });
  let announced: { port: number; exportName: string } | undefined;
  await node.waitFor(
    async () => {
      const text = (await node.exec(['cat', log])).stdout;
      const line = text.split('\n').find((l) => l.startsWith('{"port"'));
      if (line) announced = JSON.parse(line) as { port: number; exportName: string };
      if (!announced && !(await node.procs()).some((p) => p.pid === child.pid && !p.exited)) throw new Error(`Vigil NBD server exited before listening: ${text}`);
      return announced !== undefined;
    },
    { deadlineMs: 120_000, intervalMs: 500, what: 'Vigil NBD server listening' },
  );
  // Listening as announced, seen from the kernel (not only from the process's own line).
  await waitListening(node, spec.host, announced!.port, () => diagnose(node, child.pid, log));
  return {
    kind: 'vigil',
    host: spec.host,
    port: announced!.port,
    exportName: announced!.exportName,
    pid: child.pid,
    stop: async () => {
      await node.kill(child.pid, 'SIGTERM');
      // It prints its counters on SIGTERM, then exits: proof the requests reached it.
      await node.waitFor(async () => /"transmission"/.test((await node.exec(['cat', log])).stdout), { deadlineMs: 30_000, intervalMs: 300, what: 'Vigil NBD server counters' });
      await node.waitFor(async () => !(await node.procs()).some((p) => p.pid === child.pid && !p.exited), { deadlineMs: 30_000, intervalMs: 300, what: 'Vigil NBD server exit' });
    },
    diagnose: () => diagnose(node, child.pid, log),
  };
}

async function startDebian(node: VmNode, spec: ExportSpec): Promise<GuestNbdServer> {
  const conf = `/tmp/nbd-server-${spec.port}.conf`;
  const pidFile = `/tmp/nbd-server-${spec.port}.pid`;
  const lines = ['[generic]', '  user = root', '  group = root', `  listenaddr = ${spec.host}`, `  port = ${spec.port}`, `[${spec.mirror}]`, `  exportname = ${spec.device}`, '  flush = true', '  fua = true', ''];
  await node.writeFile(conf, lines.join('\n'));
  await node.run(['nbd-server', '-C', conf, '-p', pidFile], { timeoutMs: 60_000 });
  let pid = 0;
  await node.waitFor(
    async () => {
      const r = await node.exec(['cat', pidFile]);
      pid = Number(r.stdout.trim());
      return r.code === 0 && pid > 0;
    },
    { deadlineMs: 30_000, intervalMs: 200, what: 'nbd-server pid file' },
  );
  await waitListening(node, spec.host, spec.port, () => diagnose(node, pid, undefined));
  return {
    kind: 'debian',
    host: spec.host,
    port: spec.port,
    exportName: spec.mirror,
    pid,
    stop: async () => {
      await node.exec(`kill ${pid}`);
      await node.waitFor(async () => (await node.exec(`kill -0 ${pid}`)).code !== 0, { deadlineMs: 30_000, intervalMs: 200, what: 'nbd-server exit' });
    },
    diagnose: () => diagnose(node, pid, undefined),
  };
}

async function waitListening(node: VmNode, host: string, port: number, why: () => Promise<string>): Promise<void> {
  try {
    await node.waitFor(async () => (await node.exec(`ss -Hltn src ${host}:${port}`)).stdout.includes(`${host}:${port}`), {
      deadlineMs: 30_000,
      intervalMs: 200,
      what: `a listener on ${host}:${port}`,
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await why()}`, { cause: err });
  }
}

async function diagnose(node: VmNode, pid: number, log: string | undefined): Promise<string> {
  const r = await node.exec(`echo "--- ${node.name} process ${pid}:"; ls -d /proc/${pid} 2>&1; echo "--- listening:"; ss -ltnp; ${log ? `echo "--- ${log}:"; tail -c 3000 ${log}` : 'true'}; echo "--- kernel:"; dmesg | tail -20`, { timeoutMs: 30_000 });
  return r.stdout + r.stderr;
}
