// Developer CLI for the VM cluster:
//   up [--nodes N] [--nfs] [--storage] [--scsi] [--serial] [--p2p] [--disk-mb MB]   boot and stay in the foreground
//   shell NODE            attach to NODE's console (a root shell; Ctrl-] detaches)
//   exec NODE -- CMD...   run a command in NODE through the guest agent (via the `up` process)
//   fault NODE freeze|thaw|crash|link-down|link-up [SEGMENT]
//   down                  stop the cluster started by `up`
//   cleanup [--all]       kill stray qemus (owner gone; --all: every one we started) and run dirs
//   image                 prepare the kernel/initramfs cache and print the paths
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Command } from 'commander';
import { Cluster } from './cluster.js';
import { prepareImage } from './image.js';
import { cacheRoot } from './paths.js';
import { cleanupStrays, listMarkedQemus } from './reaper.js';
import type { TopologySpec } from './topology.js';

const statePath = path.join(cacheRoot, 'current.json');
const self = 'npx tsx scripts/vmcluster/cli.ts';

interface UpState {
  pid: number;
  clusterId: string;
  runDir: string;
  control: string;
  nodes: { name: string; ip: string; console: string; consoleLog: string }[];
}

function readState(): UpState {
  let st: UpState;
  try {
    st = JSON.parse(fs.readFileSync(statePath, 'utf8')) as UpState;
  } catch {
    throw new Error(`no cluster is up (no ${statePath}); start one with '${self} up'`);
  }
  try {
    process.kill(st.pid, 0);
  } catch {
    throw new Error(`the 'up' process ${st.pid} is gone; run '${self} cleanup'`);
  }
  return st;
}

/** One request to the `up` process's control socket. */
function control(req: Record<string, unknown>): Promise<{ ok: boolean; result?: unknown; error?: string }> {
  const st = readState();
  return new Promise((resolve, reject) => {
    const sock = net.connect(st.control);
    let buf = '';
    sock.on('data', (d) => (buf += d.toString()));
    sock.on('end', () => {
      try {
        resolve(JSON.parse(buf));
      } catch {
        reject(new Error(`bad reply from control socket: ${buf}`));
      }
    });
    sock.on('error', reject);
    sock.end(JSON.stringify(req) + '\n');
  });
}

async function serveControl(cluster: Cluster, socketPath: string): Promise<net.Server> {
  // Half-open: the client ends its side after the request and still reads the reply.
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    let buf = '';
    sock.on('data', (d) => (buf += d.toString()));
    sock.on('end', async () => {
      let reply: unknown;
      try {
        const req = JSON.parse(buf) as { op: string; node: string; cmd?: string[]; segment?: string; timeoutMs?: number };
        const node = cluster.node(req.node);
        let result: unknown;
        switch (req.op) {
          case 'exec':
            result = await node.exec(req.cmd!.length === 1 ? req.cmd![0]! : req.cmd!, { timeoutMs: req.timeoutMs });
            break;
          case 'freeze':
            result = await node.freeze();
            break;
          case 'thaw':
            result = await node.thaw();
            break;
          case 'crash':
            result = await node.crash();
            break;
          case 'link-down':
          case 'link-up':
            result = await node.setLink(req.segment ?? 'lan', req.op === 'link-up');
            break;
          default:
            throw new Error(`unknown op ${req.op}`);
        }
        reply = { ok: true, result };
      } catch (e) {
        reply = { ok: false, error: (e as Error).message };
      }
      sock.end(JSON.stringify(reply));
    });
    sock.on('error', () => {});
  });
  fs.rmSync(socketPath, { force: true });
  await new Promise<void>((r) => server.listen(socketPath, r));
  return server;
}

const program = new Command('vmcluster').description('qemu VM cluster for real-kernel tests');

program
  .command('up')
  .description('boot a cluster and keep it up until Ctrl-C or `down`')
  .option('--nodes <n>', 'cluster nodes (the NFS and storage VMs count toward the limit of 4 VMs)', '2')
  .option('--nfs', 'add an NFS server VM exporting /srv/nfs (mount <ip>:/ with vers=4.2)')
  .option('--storage [mb]', 'add a storage VM exporting one LUN over iSCSI (LIO) that every node logs in to (default 32 MB)')
  .option('--scsi [mb]', 'a shared SCSI disk on every node (default 16 MB)')
  .option('--serial', 'a serial link between each consecutive pair of nodes (/dev/ttyS1...)')
  .option('--p2p', 'an extra point-to-point network link between node1 and node2')
  .option('--disk-mb <mb>', 'size of each node\'s local data disk', '64')
  .action(async (o: { nodes: string; nfs?: boolean; storage?: boolean | string; scsi?: boolean | string; serial?: boolean; p2p?: boolean; diskMb: string }) => {
    const n = Number(o.nodes);
    const names = Array.from({ length: n }, (_, i) => `node${i + 1}`);
    const spec: TopologySpec = {
      nodes: n,
      nfs: !!o.nfs,
      localDisksMb: [Number(o.diskMb)],
      sharedScsiMb: o.scsi ? (typeof o.scsi === 'string' ? Number(o.scsi) : 16) : 0,
      iscsiLunsMb: o.storage ? [typeof o.storage === 'string' ? Number(o.storage) : 32] : [],
      serial: o.serial ? names.slice(1).map((b, i) => [names[i]!, b] as [string, string]) : [],
      p2p: o.p2p && n >= 2 ? [['node1', 'node2']] : [],
    };
    const t0 = Date.now();
    const cluster = await Cluster.start(spec, { log: (m) => console.log(m) });
    const controlPath = path.join(cluster.runDir, 'control.sock');
    const server = await serveControl(cluster, controlPath);
    const state: UpState = {
      pid: process.pid,
      clusterId: cluster.id,
      runDir: cluster.runDir,
      control: controlPath,
      nodes: cluster.nodes.map((x) => ({ name: x.name, ip: x.ip(), console: x.consoleSocket, consoleLog: x.consoleLog })),
    };
    fs.writeFileSync(statePath, JSON.stringify(state, null, 2));
    console.log(`cluster ${cluster.id} up in ${Date.now() - t0} ms (peak qemu RSS so far ${Math.round(cluster.sampleMemory() / 1024)} MiB)`);
    for (const x of cluster.nodes) {
      const extra = x.plan.nics.map((nic) => `${nic.segment}=${nic.ip}`).join(' ');
      console.log(`  ${x.name.padEnd(6)} ${extra}  boot ${x.bootMs} ms  disks ${x.localDisks.join(' ') || '-'}`);
      console.log(`         shell: ${self} shell ${x.name}    exec: ${self} exec ${x.name} -- CMD`);
    }
    if (spec.nfs) console.log(`  NFS: mount -t nfs -o vers=4.2 ${cluster.nfsMountSource()} /mnt`);
    if (spec.iscsiLunsMb?.length) {
      const disks = names.map((x) => `${x} ${cluster.iscsiDisk(x)}`).join(', ');
      console.log(`  iSCSI: LUN 0 of ${cluster.storage.ip()}:3260 (SCSI-3 persistent reservations: sg_persist) is ${disks}`);
    }
    if (spec.serial?.length) for (const [a, b] of spec.serial) console.log(`  serial: ${a} ${cluster.serialDevice(a, b)} <-> ${b} ${cluster.serialDevice(b, a)}`);
    console.log(`the checkout is at ${path.resolve('.')} inside every node (read-only); Ctrl-C or '${self} down' stops the cluster`);
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      server.close();
      await cluster.teardown();
      fs.rmSync(statePath, { force: true });
      console.log('cluster down');
      process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

program
  .command('shell <node>')
  .description("attach to a node's console (root shell); Ctrl-] detaches")
  .action(async (name: string) => {
    const node = readState().nodes.find((x) => x.name === name);
    if (!node) throw new Error(`no node ${name}`);
    const sock = net.connect(node.console);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    process.stderr.write(`attached to ${name} console; press Enter for a prompt, Ctrl-] to detach\r\n`);
    const stdin = process.stdin;
    if (stdin.isTTY) stdin.setRawMode(true);
    stdin.on('data', (d: Buffer) => {
      if (d.includes(0x1d)) {
        sock.destroy();
        process.exit(0);
      }
      sock.write(d);
    });
    sock.pipe(process.stdout);
    sock.on('close', () => process.exit(0));
  });

program
  .command('exec <node> <cmd...>')
  .description('run a command in a node (one argument is run by /bin/sh -c)')
  .option('--timeout <ms>', 'kill the command after this long')
  .action(async (name: string, cmd: string[], o: { timeout?: string }) => {
    const r = await control({ op: 'exec', node: name, cmd, timeoutMs: o.timeout ? Number(o.timeout) : undefined });
    if (!r.ok) throw new Error(r.error);
    const res = r.result as { code: number | null; stdoutB64?: string; stdout: string; stderr: string; timedOut: boolean };
    process.stdout.write(res.stdout);
    process.stderr.write(res.stderr);
    process.exitCode = res.timedOut ? 124 : (res.code ?? 1);
  });

program
  .command('fault <node> <kind> [segment]')
  .description('inject a fault: freeze | thaw | crash | link-down | link-up (segment default lan)')
  .action(async (name: string, kind: string, segment?: string) => {
    const r = await control({ op: kind, node: name, segment });
    if (!r.ok) throw new Error(r.error);
    console.log(`${name}: ${kind} done`);
  });

program
  .command('down')
  .description('stop the cluster started by `up`')
  .action(async () => {
    const st = readState();
    process.kill(st.pid, 'SIGTERM');
    const until = Date.now() + 20_000;
    while (Date.now() < until) {
      try {
        process.kill(st.pid, 0);
        await new Promise((r) => setTimeout(r, 100));
      } catch {
        console.log(`cluster ${st.clusterId} down`);
        return;
      }
    }
    throw new Error(`the 'up' process ${st.pid} did not exit; try '${self} cleanup --all'`);
  });

program
  .command('cleanup')
  .description('kill stray qemus started by this harness and remove their run directories')
  .option('--all', 'also kill clusters whose owning process is still alive')
  .action((o: { all?: boolean }) => {
    const killed = cleanupStrays(!!o.all);
    for (const q of killed) console.log(`killed qemu ${q.pid} (${q.cluster}:${q.node})`);
    if (!killed.length) console.log('no stray qemu processes');
  });

program
  .command('image')
  .description('prepare (or reuse) the kernel and initramfs')
  .action(() => {
    const t0 = Date.now();
    console.log(JSON.stringify(prepareImage((m) => console.log(m)), null, 2));
    console.log(`ready in ${Date.now() - t0} ms`);
  });

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(`vmcluster: ${e.message}`);
  process.exit(1);
});
