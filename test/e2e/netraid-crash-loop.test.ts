// No lost acknowledged write (issue #16): a scsi/netraid mirror between two VMs (lkdr0: /dev/md0
// over each node's 8 MiB /dev/vda, replicated over the LAN; the LCD and replica states on an ext4
// /dev/vdb that survives a crash), and a loop of crashes under a steady write load.
// Each round: the writer (guest/netraid-record-writer.ts) on the primary appends numbered 4 KiB
// records to /dev/md0 and, after each write and fdatasync returned, prints the record's number to
// the serial console, whose qemu log file on the host outlives the VM. After a random (seeded)
// time the primary's qemu is SIGKILLed; the backup must take lkdr0 over, and its /dev/md0 must
// hold every record the host saw acknowledged (the ring of slots: a slot may hold a later record
// instead). The crashed VM boots again, its vigild rejoins as the backup, is resynchronized (the
// kind, full or partial, measured from the bytes the primary sent over /dev/nbd0), and the roles
// swap for the next round: one cluster for the whole loop.
// Safety on every round: until the primary is killed, the backup never brings lkdr0 in service
// nor declares the primary dead (its own log, on the host's clock).
// VIGIL_NETRAID_CRASHES (default 20) sets the number of crashes, VIGIL_NETRAID_SEED replays a run
// (the seed is printed). An acknowledgement that was still in the guest's tty buffer when the VM
// died never reaches the host and is not counted; records on the device newer than the last
// acknowledgement seen are reported as that window.
import fs from 'node:fs';
import path from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../helpers/prng.js';
import { GuestVigil, guestClockOffset, snapshotBuild, startConnectedPair, useFailoverCluster } from './helpers-failover.js';
import { repoRoot, vmUnavailable, type VmNode } from './helpers/vmcluster.js';
import { parseAcks, RECORD_BYTES, verifyRecords } from './guest/netraid-records.js';

const title = vmUnavailable ? `scsi/netraid crash loop (skipped: ${vmUnavailable})` : 'scsi/netraid crash loop';
const PORT = '7366';
const DATA_DISK = '/dev/vda';
const STATE_DISK = '/dev/vdb';
const MD = '/dev/md0';
const GO_FILE = '/run/netraid-writer.go';

function crashCount(): number {
  const raw = process.env.VIGIL_NETRAID_CRASHES ?? '20';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`VIGIL_NETRAID_CRASHES must be a whole number ≥ 1, not ${JSON.stringify(raw)}`);
  return n;
}
function seedOf(): number {
  const raw = process.env.VIGIL_NETRAID_SEED;
  if (raw === undefined || raw === '') return Math.floor(Math.random() * 2 ** 32);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) throw new Error(`VIGIL_NETRAID_SEED must be a whole number 0..2^32-1, not ${JSON.stringify(raw)}`);
  return n;
}
const CRASHES = crashCount();
const SEED = seedOf();

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};

interface Round {
  round: number;
  crashed: string;
  acked: number;
  mangled: number;
  lost: number;
  /** Valid records on the new primary newer than the last acknowledgement the host saw. */
  beyondLastAck: number;
  loadMs: number;
  failoverMs: number;
  /** From the start of the rebooted system's vigild to its rejoin as a current backup. */
  rejoinMs: number;
  resync: string;
  roundMs: number;
}

describe.skipIf(!!vmUnavailable)(title, () => {
  let build: ReturnType<typeof snapshotBuild> | undefined;
  let writerJs = '';
  beforeAll(() => {
    build = snapshotBuild();
    // The writer bundled with its record format into one plain .mjs beside the snapshot: node
    // starts it in the guest without tsx (seconds of emulated start-up saved on every round).
    writerJs = path.join(path.dirname(build.srcDir), 'netraid-record-writer.mjs');
    buildSync({ entryPoints: [path.join(repoRoot, 'test/e2e/guest/netraid-record-writer.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: writerJs, logLevel: 'error' });
  });
  afterAll(() => build?.remove());
  const cluster = useFailoverCluster({ nodes: 2, p2p: [['node1', 'node2']], localDisksMb: [8, 8] });

  let agents: GuestVigil[] = [];
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    for (const v of agents) {
      if (v.node.state !== 'running') continue;
      const diag = await v.node.exec('cat /proc/mdstat; dmesg | tail -40', { timeoutMs: 60_000 }).catch((e: Error) => ({ stdout: '', stderr: e.message }));
      console.log(`--- ${v.node.name} vigild log (tail) ---\n${await v.logTail(8000)}\n--- ${v.node.name} mdstat, dmesg ---\n${diag.stdout}${diag.stderr}`);
    }
  });

  it(`${CRASHES} SIGKILLs of the primary under fsync'd writes: every acknowledged record is on the new primary, and the backup never serves before the crash`, { timeout: 600_000 + CRASHES * 150_000 }, async () => {
    console.log(`e2e netraid crash loop: ${CRASHES} crashes, seed ${SEED} (replay with VIGIL_NETRAID_SEED=${SEED})`);
    const random = prng(SEED);
    const c = cluster();
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    const v1 = new GuestVigil(n1, build!.srcDir);
    const v2 = new GuestVigil(n2, build!.srcDir);
    agents = [v1, v2];
    const configure = (v: GuestVigil) =>
      v.configure({
        VIGIL_NODE_NAME: v.node.name,
        VIGIL_STATE_DIR: '/var/lib/vigil',
        VIGIL_ADMIN_SOCKET: '/run/vigil/admin.sock',
        VIGIL_KEY_FILE: '/etc/vigil/cluster.key',
        VIGIL_METRICS_ADDRESS: 'off',
        VIGIL_LOG_LEVEL: 'info',
        LCMHBEATTIME: '1',
        LCMNUMHBEATS: '3',
        LKCHECKINTERVAL: '10',
        VIGIL_NBD_TIMEOUT: '4',
        VIGIL_NETRAID_BITMAP_CHUNK_KB: '1024',
      });
    // Modules, and the state directory on its own disk: like /var/lib on a real system it
    // survives the crash (the rest of the guest's / is a tmpfs overlay).
    const prepare = async (n: VmNode, fresh: boolean) => {
      await n.run(`modprobe raid1 && modprobe nbd nbds_max=1 && modprobe ext4 && ${fresh ? `mkfs.ext4 -q -F ${STATE_DISK} && ` : ''}mkdir -p /var/lib/vigil && mount ${STATE_DISK} /var/lib/vigil`, { timeoutMs: 120_000 });
    };
    await Promise.all([prepare(n1, true), prepare(n2, true)]);
    for (const v of [v1, v2]) await configure(v);
    const key = await startConnectedPair(v1, v2, PORT);
    await v1.must([
      'create', '-a', 'scsi/netraid', '-t', 'lkdr0', '-i', MD, '--switchback', 'intelligent',
      '--info', 'number=0', `partition@node1=${DATA_DISK}`, `partition@node2=${DATA_DISK}`, `address@node1=${n1.ip('lan')}`, `address@node2=${n2.ip('lan')}`,
    ]);
    await v1.must(['extend', '-t', 'lkdr0', '-s', 'node2', '--accept-defaults']);
    const slots = Math.floor(Number((await n1.run(`blockdev --getsize64 ${MD}`)).trim()) / RECORD_BYTES);
    const mdBytes = slots * RECORD_BYTES;

    /** The backup has rejoined: OSU on it, ISP on the primary, md there in sync with both halves. */
    const rejoined = async (primary: GuestVigil, backup: GuestVigil) => {
      if ((await backup.states()).lkdr0 !== 'OSU' || (await primary.states()).lkdr0 !== 'ISP') return false;
      const [degraded, action] = (await primary.node.run(`cat /sys/block/md0/md/degraded /sys/block/md0/md/sync_action`)).trim().split(/\s+/);
      return degraded === '0' && action === 'idle';
    };
    await n1.waitFor(() => rejoined(v1, v2), { deadlineMs: 240_000, intervalMs: 1000, what: 'lkdr0 ISP on node1, OSU on node2, md0 in sync' });
    console.log(`e2e netraid crash loop: lkdr0 mirrored, ${slots} record slots of 4 KiB`);

    const offsets = new Map<string, { offsetMs: number; uncertaintyMs: number }>();
    for (const n of [n1, n2]) offsets.set(n.name, await guestClockOffset(n));
    /** Sectors written to /dev/nbd0 on `n` so far (the resync and the writer's traffic to the backup). */
    const nbdWrittenSectors = async (n: VmNode) => Number((await n.run('cat /sys/block/nbd0/stat')).trim().split(/\s+/)[6]);
    /** Starts the writer on the primary, waiting for GO_FILE; resolves once it is ready. */
    const startWriter = async (n: VmNode, first: number) => {
      await n.run(`rm -f ${GO_FILE}`);
      const log = `/tmp/writer-${first}.log`;
      await n.spawn(['node', writerJs, MD, String(first), String(slots), String(Math.floor(random() * 2 ** 32)), GO_FILE, '/dev/ttyS0'], { log });
      await n.waitFor(async () => (await n.readFile(log)).toString().includes('writer ready'), { deadlineMs: 60_000, intervalMs: 200, what: 'record writer ready' });
    };

    let [primary, backup] = [v1, v2];
    const allAcked = new Set<number>();
    let next = 1;
    const rounds: Round[] = [];
    await startWriter(primary.node, next);
    for (let round = 1; round <= CRASHES; round++) {
      const roundAt = Date.now();
      const [pv, bv] = [primary, backup];
      const P = pv.node;
      const B = bv.node;
      // The load starts; once the host has seen the first acknowledgement the crash comes after a
      // random 0.3-3.3 s of steady writing.
      await P.writeFile(GO_FILE, 'go\n');
      const loadAt = Date.now();
      await P.waitFor(() => parseAcks(fs.readFileSync(P.consoleLog, 'latin1')).acked.length > 0, { deadlineMs: 60_000, intervalMs: 100, what: 'first acknowledged record on the console' });
      await new Promise((r) => setTimeout(r, 300 + Math.floor(random() * 3000)));
      const crashAt = Date.now();
      await P.crash();
      const loadMs = crashAt - loadAt;
      // The console log is all the host keeps of the writer: read before the next boot replaces it.
      const { acked, mangled } = parseAcks(fs.readFileSync(P.consoleLog, 'latin1'));
      for (const n of acked) allAcked.add(n);
      // The crashed VM boots again meanwhile (not after the last crash); its vigild starts only
      // once the backup took over.
      const rebooting = (async () => {
        if (round === CRASHES) return;
        await P.boot(300_000);
        await prepare(P, false);
        await configure(pv);
        await P.writeFile('/etc/vigil/cluster.key', key, 0o600);
        offsets.set(P.name, await guestClockOffset(P));
      })();
      rebooting.catch(() => undefined);

      await B.waitFor(async () => (await bv.states()).lkdr0 === 'ISP', { deadlineMs: 120_000, intervalMs: 250, what: `lkdr0 in service on ${B.name} after the crash of ${P.name} (round ${round})` });
      const seenAt = Date.now();
      const off = offsets.get(B.name)!;
      const tookOverAt = (await bv.logTime(/^lkdr0: \S+ -> ISP$/, crashAt - 60_000, off.offsetMs)) ?? seenAt;
      const failoverMs = tookOverAt - crashAt;

      // Safety: nothing in service on the backup, nor the primary declared dead, before the crash.
      const early = (await bv.logTail(10_000_000))
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { time: number; msg: string })
        .filter((l) => (/ -> IS[PU]$/.test(l.msg) || /system dead/.test(l.msg)) && l.time - off.offsetMs < crashAt - off.uncertaintyMs);
      expect(early.map((l) => `${new Date(l.time - off.offsetMs).toISOString()} ${l.msg}`), `round ${round}: ${B.name} served or lost ${P.name} before ${new Date(crashAt).toISOString()} (the crash)`).toEqual([]);

      // Every acknowledged record, of this round and all before, on the new primary's mirror.
      const area = (await B.exec(['dd', `if=${MD}`, `bs=${RECORD_BYTES}`, `count=${slots}`, 'iflag=direct', 'status=none'], { timeoutMs: 120_000 })).stdoutBytes;
      expect(area.length, `read ${MD} on ${B.name}`).toBe(mdBytes);
      const v = verifyRecords(area, slots, allAcked);
      const lastAck = acked.length ? Math.max(...acked) : next - 1;
      const r: Round = {
        round,
        crashed: P.name,
        acked: acked.length,
        mangled,
        lost: v.lost.length,
        beyondLastAck: Math.max(0, v.maxFound - lastAck),
        loadMs,
        failoverMs,
        rejoinMs: 0,
        resync: '',
        roundMs: 0,
      };
      rounds.push(r);
      expect(v.lost.slice(0, 20), `round ${round}: acknowledged records missing on ${B.name} after the crash of ${P.name} (${v.lost.length} of ${v.checked})`).toEqual([]);
      // Every acknowledged number of this round was one the writer issued in order from `next`.
      expect(acked.every((n) => n >= next)).toBe(true);
      next = Math.max(v.maxFound, lastAck) + 1;

      if (round < CRASHES) {
        // The new primary's writer waits for the next round while the crashed system rejoins.
        await startWriter(B, next);
        await rebooting;
        const sentBefore = await nbdWrittenSectors(B);
        const startAt = Date.now();
        await pv.start();
        await B.waitFor(() => rejoined(bv, pv), { deadlineMs: 300_000, intervalMs: 500, what: `${P.name} back as the backup of lkdr0, resynchronized (round ${round})` });
        r.rejoinMs = Date.now() - startAt;
        const sent = (await nbdWrittenSectors(B)) - sentBefore;
        r.resync = `${sent * 512 >= 0.9 * mdBytes ? 'full' : 'partial'} (${Math.round((sent * 512) / 1024)} KiB)`;
        [primary, backup] = [backup, primary];
      }
      r.roundMs = Date.now() - roundAt;
      console.log(`e2e netraid crash loop: round ${round}: ${JSON.stringify(r)}`);
    }

    const failovers = rounds.map((r) => r.failoverMs);
    const lost = rounds.reduce((s, r) => s + r.lost, 0);
    console.log(
      [
        `e2e netraid crash loop REPORT (seed ${SEED}):`,
        `  crashes survived: ${rounds.length}/${CRASHES}`,
        `  acknowledged records seen by the host: ${allAcked.size}; lost: ${lost}`,
        `  acknowledgements mangled on the console (not counted): ${rounds.reduce((s, r) => s + r.mangled, 0)}`,
        `  records on the new primary newer than the last acknowledgement seen, per round: ${rounds.map((r) => r.beyondLastAck).join(' ')}`,
        `  resync per rejoin: ${rounds.map((r) => r.resync || '-').join(', ')}`,
        `  failover (SIGKILL -> ISP in the new primary's log) ms: median ${median(failovers)}, max ${Math.max(...failovers)}`,
        `  round ms: median ${median(rounds.map((r) => r.roundMs))}, max ${Math.max(...rounds.map((r) => r.roundMs))}, total ${rounds.reduce((s, r) => s + r.roundMs, 0)}`,
      ].join('\n'),
    );
    expect(lost).toBe(0);
    expect(rounds.length).toBe(CRASHES);
  });
});
