// Benchmark on the VM pair (`npm run bench -- nbd-server-vm`; skipped with the reason where VMs
// cannot run): Vigil's NBD server against Debian's nbd-server exporting the SAME partition,
// node2's local disk, one server at a time, to the kernel's NBD client on node1 over their
// point-to-point link, which is how the mirror uses it (md on node1 writes through /dev/nbdN).
// Per server and round: sequential O_DIRECT write (ending with a flush: dd conv=fsync) and read
// of 256 MiB with dd, 1 MiB requests one at a time as md passes a sequential writer's, timed in
// the guest; then 4 KiB random writes at queue depth 1 and 16 with fio (libaio, O_DIRECT),
// completion-latency p50/p99 and IOPS; and the server's CPU time per GiB moved sequentially.
// Rounds alternate the order (nbd-server first, then Vigil first, ...) so a drift of the host's
// load falls on both. node2's page cache is dropped before each sequential pass, so reads come
// from its disk. Prints each server's figures (median over rounds) and the Vigil / nbd-server
// ratios: throughput and IOPS higher is better, latency and CPU lower is better.
// NBD_VM_ROUNDS sets the rounds (default 2). Needs fio, nbd-client and nbd-server on the host.
import { spawnSync } from 'node:child_process';
import { Cluster, vmclusterUnavailableReason } from '../vmcluster/cluster.js';
import type { VmNode } from '../vmcluster/node.js';
import { parseRandWrite, randWriteArgs, type LatencyFigures } from './nbd-vm/fio.js';
import { guestCpuMs, startGuestServer, type GuestNbdServer, type ServerKind } from './nbd-vm/guest-servers.js';
import { lastLineNs, median, mibPerS, ratio, timedShell } from './nbd-vm/stats.js';

const DISK_MB = 512;
const SEQ_MB = 256;
const REGION_BYTES = SEQ_MB * 2 ** 20;
const QD1_OPS = 2000;
const QD16_OPS = 4000;
const PORTS: Record<ServerKind, number> = { vigil: 10809, debian: 10810 };
const NBD = '/dev/nbd0';

interface Round {
  seqWriteMiBps: number;
  seqReadMiBps: number;
  seqWriteCpuMsPerGiB: number;
  seqReadCpuMsPerGiB: number;
  qd1: LatencyFigures;
  qd16: LatencyFigures;
}

export async function bench(): Promise<Record<string, unknown>> {
  const unavailable = vmclusterUnavailableReason();
  if (unavailable) return { skipped: unavailable };
  const missing = ['fio', 'nbd-client', 'nbd-server'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length > 0) throw new Error(`nbd-server-vm benchmark cannot run here: missing ${missing.join(', ')} (Debian packages fio, nbd-client, nbd-server)`);
  const rounds = Number(process.env.NBD_VM_ROUNDS ?? 2);
  const c = await Cluster.start({ nodes: 2, p2p: [['node1', 'node2']], localDisksMb: [DISK_MB] });
  try {
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    const device = n2.localDisks[0]!;
    await n1.run('modprobe nbd');
    // Allocate the region in the host's sparse image first, so no server pays for it.
    await n2.run(`dd if=/dev/zero of=${device} bs=1M count=${SEQ_MB} oflag=direct conv=fsync status=none`, { timeoutMs: 600_000 });
    const per: Record<ServerKind, Round[]> = { vigil: [], debian: [] };
    for (let r = 0; r < rounds; r++) {
      const order: ServerKind[] = r % 2 === 0 ? ['debian', 'vigil'] : ['vigil', 'debian'];
      for (const kind of order) {
        const server = await startGuestServer(n2, kind, { host: n2.ip('p2p1'), port: PORTS[kind], device, mirror: 'bench', generation: 1, primary: 'node1' });
        try {
          per[kind].push(await measure(n1, n2, server));
        } finally {
          await server.stop();
        }
      }
    }
    const v = summarize(per.vigil);
    const d = summarize(per.debian);
    return {
      kernel: c.image.kernelVersion,
      link: 'node1 -> node2 over p2p1 (virtio-net through the harness hub)',
      client: 'kernel NBD client (nbd-client, one connection, 4 KiB blocks)',
      exportMiB: DISK_MB,
      sequentialMiB: SEQ_MB,
      randomOps: { qd1: QD1_OPS, qd16: QD16_OPS },
      rounds,
      vigil: v,
      debianNbdServer: d,
      ratioVigilOverDebian: {
        seqWrite: ratio(v.seqWriteMiBps, d.seqWriteMiBps),
        seqRead: ratio(v.seqReadMiBps, d.seqReadMiBps),
        seqWriteCpuPerGiB: ratio(v.seqWriteCpuMsPerGiB, d.seqWriteCpuMsPerGiB),
        seqReadCpuPerGiB: ratio(v.seqReadCpuMsPerGiB, d.seqReadCpuMsPerGiB),
        qd1P50Latency: ratio(v.randWrite4kQd1.p50Ms, d.randWrite4kQd1.p50Ms),
        qd1P99Latency: ratio(v.randWrite4kQd1.p99Ms, d.randWrite4kQd1.p99Ms),
        qd1Iops: ratio(v.randWrite4kQd1.iops, d.randWrite4kQd1.iops),
        qd16P50Latency: ratio(v.randWrite4kQd16.p50Ms, d.randWrite4kQd16.p50Ms),
        qd16P99Latency: ratio(v.randWrite4kQd16.p99Ms, d.randWrite4kQd16.p99Ms),
        qd16Iops: ratio(v.randWrite4kQd16.iops, d.randWrite4kQd16.iops),
      },
      perRound: { vigil: per.vigil, debianNbdServer: per.debian },
    };
  } finally {
    await c.teardown();
  }
}

/** One pass over one server: connect the kernel client, sequential write and read, random writes, disconnect. */
async function measure(n1: VmNode, n2: VmNode, server: GuestNbdServer): Promise<Round> {
  const connect = await n1.exec(['nbd-client', server.host, String(server.port), '-N', server.exportName, '-b', '4096', '-t', '60', NBD], { timeoutMs: 60_000 });
  if (connect.code !== 0) throw new Error(`${server.kind}: nbd-client failed (${connect.code}): ${connect.stderr}\n${await server.diagnose()}`);
  try {
    const size = Number((await n1.run(`blockdev --getsize64 ${NBD}`)).trim());
    if (size !== DISK_MB * 2 ** 20) throw new Error(`${server.kind}: ${NBD} has ${size} bytes, the export ${DISK_MB} MiB`);
    const gib = REGION_BYTES / 2 ** 30;
    const seq = async (cmd: string): Promise<{ mibps: number; cpuMsPerGiB: number }> => {
      await n2.run('sync && echo 3 > /proc/sys/vm/drop_caches');
      const cpu0 = await guestCpuMs(n2, server.pid);
      const ns = lastLineNs(await n1.run(timedShell(cmd), { timeoutMs: 600_000 }));
      return { mibps: mibPerS(REGION_BYTES, ns), cpuMsPerGiB: Math.round(((await guestCpuMs(n2, server.pid)) - cpu0) / gib) };
    };
    const write = await seq(`dd if=/dev/zero of=${NBD} bs=1M count=${SEQ_MB} oflag=direct conv=fsync status=none`);
    const read = await seq(`dd if=${NBD} of=/dev/null bs=1M count=${SEQ_MB} iflag=direct status=none`);
    const fio = async (depth: number, ops: number) =>
      parseRandWrite(await n1.run(['fio', ...randWriteArgs({ device: NBD, depth, ops, regionBytes: REGION_BYTES })], { timeoutMs: 600_000 }));
    const qd1 = await fio(1, QD1_OPS);
    const qd16 = await fio(16, QD16_OPS);
    return { seqWriteMiBps: write.mibps, seqReadMiBps: read.mibps, seqWriteCpuMsPerGiB: write.cpuMsPerGiB, seqReadCpuMsPerGiB: read.cpuMsPerGiB, qd1, qd16 };
  } finally {
    await n1.exec(['nbd-client', '-d', NBD], { timeoutMs: 60_000 });
    await n1.waitFor(async () => (await n1.exec(['nbd-client', '-c', NBD])).code !== 0, { deadlineMs: 30_000, intervalMs: 200, what: `${NBD} disconnected` });
  }
}

function summarize(rounds: Round[]) {
  const lat = (pick: (r: Round) => LatencyFigures): Omit<LatencyFigures, 'ops'> => ({
    p50Ms: median(rounds.map((r) => pick(r).p50Ms)),
    p99Ms: median(rounds.map((r) => pick(r).p99Ms)),
    iops: median(rounds.map((r) => pick(r).iops)),
  });
  return {
    seqWriteMiBps: median(rounds.map((r) => r.seqWriteMiBps)),
    seqReadMiBps: median(rounds.map((r) => r.seqReadMiBps)),
    seqWriteCpuMsPerGiB: median(rounds.map((r) => r.seqWriteCpuMsPerGiB)),
    seqReadCpuMsPerGiB: median(rounds.map((r) => r.seqReadCpuMsPerGiB)),
    randWrite4kQd1: lat((r) => r.qd1),
    randWrite4kQd16: lat((r) => r.qd16),
  };
}
