// No lost acknowledged write (issue #16): a scsi/netraid mirror between two VMs (lkdr0: /dev/md0
// over each node's 8 MiB /dev/vda, replicated over the LAN; the LCD and replica states on an ext4
// /dev/vdb that survives a crash; comm paths over the LAN and the point-to-point link), made once
// for two cases that leave it as they found it: the replication link dies under a writer (below,
// at the case), and a loop of crashes under a steady write load.
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
  /** The backup has rejoined: OSU on it, ISP on the primary, md there in sync with both halves. */
  const rejoined = async (primary: GuestVigil, backup: GuestVigil) => {
    if ((await backup.states()).lkdr0 !== 'OSU' || (await primary.states()).lkdr0 !== 'ISP') return false;
    const [degraded, action] = (await primary.node.run(`cat /sys/block/md0/md/degraded /sys/block/md0/md/sync_action`)).trim().split(/\s+/);
    return degraded === '0' && action === 'idle';
  };

  interface Pair {
    n1: VmNode;
    n2: VmNode;
    v1: GuestVigil;
    v2: GuestVigil;
    key: Buffer;
    slots: number;
    mdBytes: number;
  }
  let pairing: Promise<Pair> | undefined;
  /**
   * The cases' common start, made once for the file (the first case to run makes it): both
   * vigilds connected, lkdr0 in service on node1 and mirrored to node2, in sync. Each case
   * leaves it so again, or fails.
   */
  const mirroredPair = () => (pairing ??= makePair());
  async function makePair(): Promise<Pair> {
    const c = cluster();
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    const v1 = new GuestVigil(n1, build!.srcDir);
    const v2 = new GuestVigil(n2, build!.srcDir);
    agents = [v1, v2];
    await Promise.all([prepare(n1, true), prepare(n2, true)]);
    for (const v of [v1, v2]) await configure(v);
    const key = await startConnectedPair(v1, v2, PORT);
    await v1.must([
      'create', '-a', 'scsi/netraid', '-t', 'lkdr0', '-i', MD, '--switchback', 'intelligent',
      '--info', 'number=0', `partition@node1=${DATA_DISK}`, `partition@node2=${DATA_DISK}`, `address@node1=${n1.ip('lan')}`, `address@node2=${n2.ip('lan')}`,
    ]);
    await v1.must(['extend', '-t', 'lkdr0', '-s', 'node2', '--accept-defaults']);
    const slots = Math.floor(Number((await n1.run(`blockdev --getsize64 ${MD}`)).trim()) / RECORD_BYTES);
    await n1.waitFor(() => rejoined(v1, v2), { deadlineMs: 240_000, intervalMs: 1000, what: 'lkdr0 ISP on node1, OSU on node2, md0 in sync' });
    console.log(`e2e netraid: lkdr0 mirrored, ${slots} record slots of 4 KiB`);
    return { n1, n2, v1, v2, key, slots, mdBytes: slots * RECORD_BYTES };
  }

  /**
   * The next record number to write. Records of an earlier case stay on the device, and record n
   * is the same block whoever writes it: a later case that wrote the same numbers again could not
   * tell its own lost write from the earlier copy.
   */
  let nextRecord = 1;

  /** Starts the writer on `n`, waiting for GO_FILE; resolves once it is ready. */
  const startWriter = async (n: VmNode, first: number, slots: number, seed: number) => {
    await n.run(`rm -f ${GO_FILE}`);
    const log = `/tmp/writer-${first}.log`;
    await n.spawn(['node', writerJs, MD, String(first), String(slots), String(seed >>> 0), GO_FILE, '/dev/ttyS0'], { log });
    await n.waitFor(async () => (await n.readFile(log)).toString().includes('writer ready'), { deadlineMs: 60_000, intervalMs: 200, what: 'record writer ready' });
  };

  // The replication link (NBD over the LAN) dies under the writer while the comm paths on the
  // point-to-point link stay up. The kernel holds node1's writes to the backup half (NBD
  // dead-connection hold: md acknowledges nothing node2 did not get) until node2 recorded itself
  // out of date; then md drops the half and node1 acknowledges records alone. node1's qemu is
  // SIGKILLed: node2, whose copy misses those records, must refuse lkdr0. node1, the last
  // primary, comes back first, goes in service again by itself (node2 hands it the stranded
  // lkdr0), and must hold every acknowledged record;
  // node2 is resynchronized, which leaves the pair as the next case expects it.
  it('the replication link dies under a writer', { timeout: 600_000 }, async () => {
    const { n1, n2, v1, v2, key, slots, mdBytes } = await mirroredPair();
    const caseAt = Date.now();
    const [clock1, clock2] = [await guestClockOffset(n1), await guestClockOffset(n2)];
    /** node2's log lines from host time `from` on, with host times. */
    const log2 = async (from: number) =>
      (await v2.logTail(10_000_000))
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { time: number; msg: string; level: number })
        .map((l) => ({ ...l, hostAt: l.time - clock2.offsetMs }))
        .filter((l) => l.hostAt >= from - clock2.uncertaintyMs);
    const first = nextRecord;
    const acksNow = () => parseAcks(fs.readFileSync(n1.consoleLog, 'latin1')).acked.filter((n) => n >= first);
    await startWriter(n1, first, slots, SEED);
    await n1.writeFile(GO_FILE, 'go\n');
    await n1.waitFor(() => acksNow().length >= 40, { deadlineMs: 60_000, intervalMs: 100, what: 'the writer acknowledges records' });

    // Cut, then follow the acknowledgements (host time of each change of their count) until the
    // hold has ended and node1 acknowledged a good number of records alone.
    const cutAt = Date.now();
    const atCut = acksNow().length;
    await n1.setLink('lan', false);
    const seen: Array<{ at: number; count: number }> = [{ at: cutAt, count: atCut }];
    let hold: { ended: string; heldMs: number; time: number } | undefined;
    let atHoldEnd = 0;
    await n1.waitFor(
      async () => {
        const count = acksNow().length;
        if (count !== seen.at(-1)!.count) seen.push({ at: Date.now(), count });
        if (!hold) {
          const line = (await n1.run(`grep -F '"msg":"replication: link hold ended"' ${GuestVigil.log} | tail -1`)).trim();
          if (line) [hold, atHoldEnd] = [JSON.parse(line) as { ended: string; heldMs: number; time: number }, count];
          return false;
        }
        return count >= atHoldEnd + 40;
      },
      { deadlineMs: 120_000, intervalMs: 250, what: 'the link hold ends and node1 acknowledges records without the backup' },
    );
    // How the hold ended: node2 confirmed its out-of-date record (not the kernel's bound, not a
    // declared death: node2 stayed reachable over the point-to-point link).
    expect(hold!.ended, `the hold ended ${JSON.stringify(hold)}`).toBe('backup-acknowledged');
    const outdated = (await log2(cutAt)).find((l) => /^netraid: lkdr0 on node2 is out of date/.test(l.msg));
    // The writer stood still from the cut until after node2's record: the first acknowledgement
    // after the longest silence reached the host no earlier than node2 logged its record.
    let stall = { from: cutAt, to: cutAt };
    for (let i = 1; i < seen.length; i++) if (seen[i]!.at - seen[i - 1]!.at > stall.to - stall.from) stall = { from: seen[i - 1]!.at, to: seen[i]!.at };
    expect(outdated, "node2's log: lkdr0 recorded out of date").toBeDefined();
    expect(stall.to + clock2.uncertaintyMs).toBeGreaterThanOrEqual(outdated!.hostAt);
    expect((await v2.states()).lkdr0, 'node2 shows lkdr0 out of date (OSF) before the crash').toBe('OSF');

    const crashAt = Date.now();
    await n1.crash();
    // The console log outlives the VM: read it before the boot replaces it.
    const { acked, mangled } = parseAcks(fs.readFileSync(n1.consoleLog, 'latin1'));
    const mine = acked.filter((n) => n >= first);
    expect(mine.length).toBeGreaterThanOrEqual(atHoldEnd + 40);

    // node2 declares node1 dead, tries lkdr0, and refuses it: out of date, with the reason.
    let refusal: { msg: string; hostAt: number } | undefined;
    await n2.waitFor(async () => (refusal = (await log2(crashAt)).find((l) => /^restore lkdr0 failed/.test(l.msg))) !== undefined, {
      deadlineMs: 90_000,
      intervalMs: 500,
      what: 'node2 tries lkdr0 after the crash of node1 and refuses it',
    });
    expect(refusal!.msg).toMatch(/104013[\s\S]*out of date[\s\S]*node1 lost its (replication link|backup half)/);
    // And it stays so: never in service on node2 (polled a while, and node2's own log).
    for (let i = 0; i < 5; i++) {
      expect((await v2.states()).lkdr0).toBe('OSF');
      await new Promise((r) => setTimeout(r, 1000));
    }
    // What node2 would have served: its own partition (md metadata 1.0: the data from offset 0)
    // lacks acknowledged records.
    const stale = (await n2.exec(['dd', `if=${DATA_DISK}`, `bs=${RECORD_BYTES}`, `count=${slots}`, 'iflag=direct', 'status=none'], { timeoutMs: 120_000 })).stdoutBytes;
    const onNode2 = verifyRecords(stale, slots, mine);
    expect(onNode2.lost.length, "acknowledged records missing from node2's copy").toBeGreaterThan(0);

    // node1, the last primary, comes back first: its agent's cleanup at start, then in service by
    // itself (seed 003, scenario 2): node2, which found lkdr0 stranded, hands it to node1 once
    // node1's state sync shows it runs nowhere; node1's kit restores it. No administrator.
    const bootAt = Date.now();
    await n1.boot(300_000);
    await prepare(n1, false);
    await configure(v1);
    await n1.writeFile('/etc/vigil/cluster.key', key, 0o600);
    await v1.start();
    const backAt = Date.now();
    const whenBack = { node1: (await v1.states()).lkdr0, node2: (await v2.states()).lkdr0 };
    await n1.waitFor(async () => (await v1.states()).lkdr0 === 'ISP', { deadlineMs: 120_000, intervalMs: 500, what: 'lkdr0 in service on node1 again, by itself' });
    const inServiceMs = Date.now() - backAt;
    const handed = (await log2(bootAt)).find((l) => /^hierarchy lkdr0 handed to node1: stranded/.test(l.msg));
    expect(handed, "node2's log: the stranded lkdr0 handed to node1").toBeDefined();
    const area = (await n1.exec(['dd', `if=${MD}`, `bs=${RECORD_BYTES}`, `count=${slots}`, 'iflag=direct', 'status=none'], { timeoutMs: 120_000 })).stdoutBytes;
    expect(area.length).toBe(mdBytes);
    const onNode1 = verifyRecords(area, slots, mine);
    expect(onNode1.lost.slice(0, 20), `acknowledged records missing on node1 after its return (${onNode1.lost.length} of ${onNode1.checked})`).toEqual([]);
    // Never in service on node2 during the whole case.
    const served = (await log2(caseAt)).filter((l) => /^lkdr0: \S+ -> IS[PU]$/.test(l.msg));
    expect(served.map((l) => `${new Date(l.hostAt).toISOString()} ${l.msg}`)).toEqual([]);
    nextRecord = Math.max(onNode1.maxFound, ...mine) + 1;

    // node2 becomes the backup again (resynchronized): the pair as the next case expects it.
    await n1.waitFor(() => rejoined(v1, v2), { deadlineMs: 240_000, intervalMs: 1000, what: 'node2 back as the resynchronized backup of lkdr0' });
    console.log(
      [
        'e2e netraid link cut REPORT:',
        `  acknowledged records: ${mine.length} (${atCut} before the cut, ${atHoldEnd} when the hold's end was seen); mangled on the console: ${mangled}`,
        `  hold: ended ${hold!.ended} after ${hold!.heldMs} ms; the writer stood still ${stall.to - stall.from} ms (host view); node2 recorded out of date ${outdated!.hostAt - cutAt} ms after the cut`,
        `  SIGKILL of node1 -> node2 refused lkdr0 after ${refusal!.hostAt - crashAt} ms: ${refusal!.msg.slice(0, 300)}`,
        `  node2's copy lacks ${onNode2.lost.length} of ${onNode2.checked} acknowledged records; node1's device after its return lacks ${onNode1.lost.length}`,
        `  node1 booted and its vigild ready ${backAt - bootAt} ms (lkdr0 there ${whenBack.node1}, on node2 ${whenBack.node2}); in service on node1 by itself ${inServiceMs} ms later`,
        `  case ${Date.now() - caseAt} ms`,
      ].join('\n'),
    );
  });

  it(`${CRASHES} SIGKILLs of the primary under fsync'd writes: every acknowledged record is on the new primary, and the backup never serves before the crash`, { timeout: 600_000 + CRASHES * 150_000 }, async () => {
    console.log(`e2e netraid crash loop: ${CRASHES} crashes, seed ${SEED} (replay with VIGIL_NETRAID_SEED=${SEED})`);
    const random = prng(SEED);
    // Before the pair is made: run alone, this case checks the making of it too.
    const loopAt = Date.now();
    const { n1, n2, v1, v2, key, slots, mdBytes } = await mirroredPair();
    // An earlier case left the pair so too (or failed, and this one fails here with its state).
    await n1.waitFor(() => rejoined(v1, v2), { deadlineMs: 240_000, intervalMs: 1000, what: 'lkdr0 ISP on node1, OSU on node2, md0 in sync' });

    const offsets = new Map<string, { offsetMs: number; uncertaintyMs: number }>();
    for (const n of [n1, n2]) offsets.set(n.name, await guestClockOffset(n));
    /** Sectors written to /dev/nbd0 on `n` so far (the resync and the writer's traffic to the backup). */
    const nbdWrittenSectors = async (n: VmNode) => Number((await n.run('cat /sys/block/nbd0/stat')).trim().split(/\s+/)[6]);
    let [primary, backup] = [v1, v2];
    const allAcked = new Set<number>();
    let next = nextRecord;
    const rounds: Round[] = [];
    await startWriter(primary.node, next, slots, Math.floor(random() * 2 ** 32));
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

      // Safety: nothing in service on the backup, nor the primary declared dead, before the crash
      // (since this case began: an earlier case may have crashed a node on purpose; from round 2
      // on the backup's log begins with its reboot in this loop anyway).
      const early = (await bv.logTail(10_000_000))
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { time: number; msg: string })
        .filter((l) => (/ -> IS[PU]$/.test(l.msg) || /system dead/.test(l.msg)) && l.time - off.offsetMs >= loopAt - off.uncertaintyMs && l.time - off.offsetMs < crashAt - off.uncertaintyMs);
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
      nextRecord = next;

      if (round < CRASHES) {
        // The new primary's writer waits for the next round while the crashed system rejoins.
        await startWriter(B, next, slots, Math.floor(random() * 2 ** 32));
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
