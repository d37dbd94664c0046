// One VM: its qemu process, QMP connection and guest agent, with the fault injections that act on
// a single node (crash, freeze/thaw, link cut, disk failure, halt from inside).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { AgentClient, type Command, type ExecOptions, type ExecResult, type SpawnOptions } from './agent-client.js';
import type { GuestImage } from './image.js';
import { QmpClient } from './qmp.js';
import { killTracked, track, untrack } from './reaper.js';
import type { NicPlan, NodePlan } from './topology.js';
import { qemuMarker } from './paths.js';
import { waitFor, type WaitOptions } from '../lib/wait.js';

export interface NodeLaunch {
  clusterId: string;
  runDir: string;
  image: GuestImage;
  plan: NodePlan;
  /** Socket paths of the segment hubs, by segment name. */
  hubs: Map<string, string>;
  /** Socket path of this node's end of each serial wire it is on, in ttyS1.. order. */
  serialEnds: string[];
  sharedScsiImage?: string;
}

export class CommandFailed extends Error {
  constructor(readonly node: string, readonly cmd: Command, readonly result: ExecResult) {
    super(`${node}: '${Array.isArray(cmd) ? cmd.join(' ') : cmd}' ${result.timedOut ? 'timed out' : `exited ${result.code ?? result.signal}`}\n${result.stderr}${result.stdout}`);
  }
}

/**
 * An x86-64-v2 CPU (SSE4.2, POPCNT) rather than `max`: with `max`, glibc and V8 pick AVX2 code
 * that TCG emulates slowly, and boots measured 15-20 % longer. VMCLUSTER_CPU overrides it.
 */
const GUEST_CPU = 'qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+rdrand';

/**
 * qboot rather than SeaBIOS: it only sets up memory and the ACPI/MP tables and jumps to the
 * kernel, where SeaBIOS spends a few hundred milliseconds of emulated time probing devices first.
 * Its MP table has no PCI interrupt routes (with acpi=noirq the kernel logs "can't find IRQ for
 * PCI INT A"): every device here is virtio-pci with MSI-X, so none needs one. VMCLUSTER_BIOS
 * overrides it ('' for qemu's default SeaBIOS).
 */
function guestBios(): string {
  if (process.env.VMCLUSTER_BIOS !== undefined) return process.env.VMCLUSTER_BIOS;
  return fs.existsSync('/usr/share/qemu/qboot.rom') ? 'qboot.rom' : '';
}

export class VmNode {
  readonly name: string;
  readonly plan: NodePlan;
  /** Guest paths of the local data disks, in order (/dev/vda, /dev/vdb, ...). */
  readonly localDisks: string[];
  /** Host paths of the local disk images (sparse raw files). */
  readonly localDiskImages: string[];
  readonly consoleSocket: string;
  readonly consoleLog: string;
  readonly qmpSocket: string;
  readonly agent: AgentClient;
  qmp: QmpClient | undefined;
  proc: ChildProcess | undefined;
  /** Milliseconds from qemu start to the agent answering. */
  bootMs = 0;
  state: 'off' | 'booting' | 'running' | 'frozen' | 'crashed' = 'off';

  private constructor(private readonly launch: NodeLaunch, agent: AgentClient) {
    this.plan = launch.plan;
    this.name = launch.plan.name;
    this.agent = agent;
    const r = launch.runDir;
    this.consoleSocket = path.join(r, `${this.name}.console`);
    this.consoleLog = path.join(r, `${this.name}.console.log`);
    this.qmpSocket = path.join(r, `${this.name}.qmp`);
    this.localDiskImages = launch.plan.localDisksMb.map((_, i) => path.join(r, `${this.name}-disk${i}.img`));
    this.localDisks = launch.plan.localDisksMb.map((_, i) => `/dev/vd${String.fromCharCode(97 + i)}`);
  }

  static async create(launch: NodeLaunch): Promise<VmNode> {
    const agent = await AgentClient.listen(path.join(launch.runDir, `${launch.plan.name}.agent`), launch.plan.name);
    const node = new VmNode(launch, agent);
    launch.plan.localDisksMb.forEach((mb, i) => {
      const fd = fs.openSync(node.localDiskImages[i]!, 'w');
      fs.ftruncateSync(fd, mb * 1024 * 1024);
      fs.closeSync(fd);
    });
    return node;
  }

  /** The address of this node on a segment (default the shared LAN). */
  ip(segment = 'lan'): string {
    const nic = this.plan.nics.find((n) => n.segment === segment);
    if (!nic) throw new Error(`${this.name} is not on segment ${segment}`);
    return nic.ip;
  }

  private qemuArgs(): string[] {
    const { image, plan, clusterId, hubs, serialEnds } = this.launch;
    const net = plan.nics.map((n: NicPlan) => `${n.segment}@${n.mac}@${n.ip}/${n.prefix}`).join(',');
    const append = [
      'console=ttyS0',
      'quiet',
      'loglevel=3',
      'panic=-1',
      'tsc=reliable',
      // A TSC calibrated while the host is starved can run many times too fast, and
      // tsc=reliable stops the kernel from ever correcting it: guest time limits and
      // heartbeats would then be wrong. HPET is emulated from the host clock, so its rate holds.
      'clocksource=hpet',
      // Under TCG on a loaded host the IO-APIC timer check can miss its ticks and panic the boot.
      'no_timer_check',
      // PCI interrupt routing from the MP table: evaluating the ACPI link devices (_SB_.LNKx) in
      // the kernel's AML interpreter cost 1.6 s of every boot under TCG.
      'acpi=noirq',
      // The crypto self-tests cost 0.7 s of every boot under TCG; the kernel's crypto is not under test.
      'cryptomgr.notests',
      // A test VM running only our own code has no boundary for these to protect, and the
      // retpolines and buffer clearing are slow to emulate.
      'mitigations=off',
      // Also for a test VM only: no read-only kernel text (mark_rodata_ro and its W+X scan cost
      // 0.25-0.4 s under TCG), and no KDF108 self-test, blktrace or kprobe-event tracers, which
      // nothing here uses (together about 0.5 s of every boot; see `npm run bench -- vm-boot`).
      'rodata=off',
      'initcall_blacklist=crypto_kdf108_init,init_blk_tracer,init_kprobe_trace',
      `vmc.name=${plan.name}`,
      `vmc.modules=${image.modulesDir}`,
      `vmc.net=${net}`,
      // Extra kernel parameters for investigations (e.g. initcall_debug); later ones win.
      ...(process.env.VMCLUSTER_APPEND ? [process.env.VMCLUSTER_APPEND] : []),
    ].join(' ');
    const a = [
      '-name', `${qemuMarker}:${clusterId}:${plan.name}`,
      ...(guestBios() ? ['-bios', guestBios()] : []),
      '-machine', 'pc', '-accel', 'tcg,tb-size=128', '-cpu', process.env.VMCLUSTER_CPU ?? GUEST_CPU, '-smp', '1', '-m', String(plan.memMb),
      '-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none', '-no-reboot',
      '-kernel', image.kernel, '-initrd', image.initrd, '-append', append,
      '-fsdev', 'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
      '-device', 'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
      '-chardev', `socket,id=con,path=${this.consoleSocket},server=on,wait=off,logfile=${this.consoleLog}`,
      '-serial', 'chardev:con',
    ];
    serialEnds.forEach((p, i) => a.push('-chardev', `socket,id=ser${i + 1},path=${p},reconnect=1`, '-serial', `chardev:ser${i + 1}`));
    a.push(
      '-device', 'virtio-serial-pci,id=vser',
      '-chardev', `socket,id=agent,path=${this.agent.path},reconnect=1`,
      '-device', 'virtserialport,bus=vser.0,chardev=agent,name=vmc.agent',
      '-qmp', `unix:${this.qmpSocket},server=on,wait=off`,
    );
    for (const n of plan.nics) {
      a.push('-netdev', `stream,id=net-${n.segment},addr.type=unix,addr.path=${hubs.get(n.segment)},server=off`);
      a.push('-device', `virtio-net-pci,netdev=net-${n.segment},id=nic-${n.segment},mac=${n.mac}`);
    }
    this.localDiskImages.forEach((img, i) => {
      a.push('-drive', `file=${img},if=none,id=disk${i},format=raw,cache=writeback,werror=report,rerror=report`);
      a.push('-device', `virtio-blk-pci,drive=disk${i},id=vdisk${i},serial=vmc-disk${i}`);
    });
    if (plan.sharedScsi && this.launch.sharedScsiImage) {
      a.push('-device', 'virtio-scsi-pci,id=scsi0');
      a.push('-drive', `file=${this.launch.sharedScsiImage},if=none,id=shared0,format=raw,file.locking=off,cache=writethrough`);
      a.push('-device', 'scsi-hd,drive=shared0,bus=scsi0.0,share-rw=on,id=shd0,serial=vmc-shared0');
    }
    return a;
  }

  /** Start qemu (without waiting for the guest). */
  start(): void {
    if (this.proc && this.state !== 'crashed' && this.state !== 'off') throw new Error(`${this.name} already running`);
    fs.rmSync(this.consoleLog, { force: true });
    const qemu = process.env.VMCLUSTER_QEMU ?? 'qemu-system-x86_64';
    const proc = spawn('setpriv', ['--pdeathsig', 'KILL', '--', qemu, ...this.qemuArgs()], {
      detached: true,
      stdio: ['ignore', 'ignore', fs.openSync(path.join(this.launch.runDir, `${this.name}.qemu.err`), 'w')],
    });
    this.proc = proc;
    this.state = 'booting';
    track(proc.pid!);
    proc.on('exit', () => {
      untrack(proc.pid!);
      if (this.proc === proc) {
        this.state = this.state === 'off' ? 'off' : 'crashed';
        this.qmp?.close();
      }
    });
  }

  /** Start and wait until the guest agent answers. */
  async boot(deadlineMs = 60_000): Promise<void> {
    const t0 = Date.now();
    this.start();
    const proc = this.proc!;
    const exited = new Promise<never>((_, reject) =>
      proc.once('exit', (code, sig) => {
        let err = '';
        try {
          err = fs.readFileSync(path.join(this.launch.runDir, `${this.name}.qemu.err`), 'utf8');
        } catch {}
        reject(new Error(`${this.name}: qemu exited (${code ?? sig}) during boot: ${err}`));
      }),
    );
    exited.catch(() => {});
    this.qmp = await Promise.race([QmpClient.connect(this.qmpSocket, deadlineMs), exited]);
    try {
      await Promise.race([this.agent.waitReady(deadlineMs - (Date.now() - t0)), exited]);
    } catch (e) {
      let con = '';
      try {
        con = fs.readFileSync(this.consoleLog, 'utf8').slice(-3000);
      } catch {}
      throw new Error(`${(e as Error).message}\n--- ${this.name} console ---\n${con}`);
    }
    this.bootMs = Date.now() - t0;
    this.state = 'running';
  }

  // ---- guest control -------------------------------------------------------------------------

  exec(cmd: Command, opts?: ExecOptions): Promise<ExecResult> {
    return this.agent.exec(cmd, opts);
  }

  /** exec that throws CommandFailed on a non-zero exit or timeout; returns stdout. */
  async run(cmd: Command, opts?: ExecOptions): Promise<string> {
    const r = await this.agent.exec(cmd, opts);
    if (r.code !== 0 || r.timedOut) throw new CommandFailed(this.name, cmd, r);
    return r.stdout;
  }

  /**
   * Run a set-up script (`set -e` first) with the guest's static busybox from /run/vmc, where
   * each mkdir, ln, echo, seq or ls is a busybox applet out of RAM: under TCG the same script in
   * dash, whose every command is a host binary loaded and dynamically linked over 9p, took 15-30
   * times as long (60 mkdir/ln/echo: 4.8-8.6 s against 0.3 s). Busybox runs its own applet for
   * any command it has one of, so give the host's tools (modprobe, mount of a network file
   * system, iscsiadm, ...) by absolute path.
   */
  runScript(lines: string[], opts?: ExecOptions): Promise<string> {
    return this.run(['/run/vmc/busybox', 'sh', '-c', ['set -e', ...lines].join('\n')], opts);
  }

  spawn(cmd: Command, opts?: SpawnOptions): Promise<{ pid: number; log: string }> {
    return this.agent.spawn(cmd, opts);
  }

  kill(pid: number, signal?: NodeJS.Signals): Promise<void> {
    return this.agent.kill(pid, signal);
  }

  procs() {
    return this.agent.procs();
  }

  readFile(guestPath: string): Promise<Buffer> {
    return this.agent.readFile(guestPath);
  }

  writeFile(guestPath: string, data: string | Buffer, mode?: number): Promise<void> {
    return this.agent.writeFile(guestPath, data, mode);
  }

  /** Poll `predicate` (which may run guest commands) until it returns true. */
  waitFor(predicate: () => boolean | Promise<boolean>, opts: WaitOptions): Promise<void> {
    return waitFor(predicate, { ...opts, what: `${this.name}: ${opts.what ?? 'condition'}` });
  }

  // ---- faults --------------------------------------------------------------------------------

  /** Crash: SIGKILL the qemu process (its process group). */
  async crash(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((r) => proc.once('exit', r));
    killTracked(proc.pid!);
    await gone;
    this.state = 'crashed';
  }

  /** Freeze the whole VM (QMP stop): no CPU, no I/O, sockets stay open. */
  async freeze(): Promise<void> {
    await this.requireQmp().execute('stop');
    this.state = 'frozen';
  }

  async thaw(): Promise<void> {
    await this.requireQmp().execute('cont');
    this.state = 'running';
  }

  /** Cut (up=false) or restore a NIC's link (QMP set_link); the guest sees carrier loss. */
  async setLink(segment: string, up: boolean): Promise<void> {
    await this.requireQmp().execute('set_link', { name: `nic-${segment}`, up });
  }

  /** Fail local disk i for good: its backend is deleted and every further I/O returns EIO. */
  async failDisk(i: number): Promise<void> {
    const out = await this.requireQmp().hmp(`drive_del disk${i}`);
    if (out.trim()) throw new Error(`${this.name}: drive_del disk${i}: ${out}`);
  }

  /** Halt from inside the guest (sysrq 'o': immediate power off, no clean shutdown). */
  async haltFromInside(): Promise<void> {
    const proc = this.proc!;
    const gone = new Promise((r) => proc.once('exit', r));
    await this.agent.exec('echo o > /proc/sysrq-trigger', { timeoutMs: 5000 }).catch(() => {});
    await gone;
    this.state = 'crashed';
  }

  qmpExecute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    return this.requireQmp().execute<T>(command, args);
  }

  private requireQmp(): QmpClient {
    if (!this.qmp || this.qmp.closed) throw new Error(`${this.name}: not running (no QMP)`);
    return this.qmp;
  }

  /** qemu's resident set size in KiB (0 when not running). */
  rssKb(): number {
    const pid = this.proc?.pid;
    if (!pid) return 0;
    // setpriv execs qemu in place, so the pid is qemu's.
    try {
      const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) : 0;
    } catch {
      return 0;
    }
  }

  /** Kill qemu and close the host ends. */
  async destroy(): Promise<void> {
    const proc = this.proc;
    this.state = 'off';
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((r) => proc.once('exit', r));
      killTracked(proc.pid!);
      await gone;
    }
    this.qmp?.close();
    this.agent.close();
  }
}
