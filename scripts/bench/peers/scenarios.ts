// The measured faults of the side-by-side benchmark, the same steps for either product: crash of
// the active node (SIGKILL of its qemu), freeze (QMP stop), manual switchover, the application's
// monitor failing, and idle CPU/RSS. Each repetition reads the prober (storage VM) for when the
// application answered and the product's own log on the taking-over node for its timeline.
import type { Cluster } from '../../vmcluster/cluster.js';
import type { VmNode } from '../../vmcluster/node.js';
import { killApp } from './app.js';
import type { Prober } from './prober.js';
import type { Product, Timeline } from './product.js';

export interface FailoverSample {
  from: string;
  to: string;
  totalMs: number;
  detectionMs?: number;
  restMs?: number;
  /** each timeline event relative to the fault, ms */
  timelineMs: Record<string, number | undefined>;
}

export interface Ctx {
  cluster: Cluster;
  nodes: VmNode[];
  device: string;
  prober: Prober;
  product: Product;
  log: (m: string) => void;
  answerDeadlineMs: number;
}

export async function activeNode(ctx: Ctx): Promise<VmNode> {
  const until = Date.now() + 300_000;
  for (;;) {
    const name = await ctx.prober.answering();
    if (name) return ctx.cluster.node(name);
    if (Date.now() > until) throw new Error(`${ctx.product.name}: no node answers`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const other = (ctx: Ctx, n: VmNode): VmNode => ctx.nodes.find((x) => x !== n)!;

/** Boot a crashed (or frozen, then killed) node again, log it in to the LUN and let the product take it back. */
export async function rebootNode(ctx: Ctx, n: VmNode): Promise<void> {
  if (n.state !== 'crashed') await n.crash();
  await n.boot(300_000);
  const [dev] = await ctx.cluster.iscsiLogin(n);
  if (dev !== ctx.device) throw new Error(`${n.name} sees the LUN as ${dev} after its reboot, not ${ctx.device}`);
  await ctx.product.rejoin(n);
}

function relative(tl: Timeline, t0: number): Record<string, number | undefined> {
  return Object.fromEntries(Object.entries(tl).map(([k, v]) => [k.replace(/At$/, 'Ms'), v === undefined ? undefined : Math.round(v - t0)]));
}

/** Crash or freeze the active node; measure until the survivor answers; bring the node back. */
export async function nodeFailure(ctx: Ctx, kind: 'crash' | 'freeze'): Promise<FailoverSample> {
  const a = await activeNode(ctx);
  const s = other(ctx, a);
  const t0 = Date.now();
  if (kind === 'crash') await a.crash();
  else await a.freeze();
  const answered = await ctx.prober.waitAnswer(s.name, t0, ctx.answerDeadlineMs);
  await new Promise((r) => setTimeout(r, 1000)); // the product's last log lines
  const tl = await ctx.product.takeoverTimeline(s, t0);
  const sample: FailoverSample = {
    from: a.name,
    to: s.name,
    totalMs: Math.round(answered - t0),
    detectionMs: tl.detectedAt === undefined ? undefined : Math.round(tl.detectedAt - t0),
    restMs: tl.detectedAt === undefined ? undefined : Math.round(answered - tl.detectedAt),
    timelineMs: { ...relative(tl, t0), answeredMs: Math.round(answered - t0) },
  };
  ctx.log(`${ctx.product.name} ${kind} ${a.name}->${s.name}: ${JSON.stringify(sample.timelineMs)}`);
  // Without fencing a thawed node would still hold the mount: it is killed and rebooted, as a fence would.
  await rebootNode(ctx, a);
  return sample;
}

/**
 * After a repetition whose survivor never answered: every node not running (crashed, or frozen
 * and so killed) is booted again and rejoins, and some node must answer within the deadline.
 */
export async function recoverAfterFailure(ctx: Ctx): Promise<true> {
  for (const n of ctx.nodes) if (n.state !== 'running') await rebootNode(ctx, n);
  await activeNode(ctx);
  return true;
}

export async function switchover(ctx: Ctx): Promise<FailoverSample> {
  const a = await activeNode(ctx);
  const s = other(ctx, a);
  const t0 = Date.now();
  await ctx.product.switchover(s.name);
  const answered = await ctx.prober.waitAnswer(s.name, t0, ctx.answerDeadlineMs);
  await ctx.product.afterSwitchover();
  const sample = { from: a.name, to: s.name, totalMs: Math.round(answered - t0), timelineMs: { answeredMs: Math.round(answered - t0) } };
  ctx.log(`${ctx.product.name} switchover ${a.name}->${s.name}: ${sample.totalMs} ms`);
  return sample;
}

export interface MonitorSample {
  node: string;
  /** where it answered again (the same node: local restart) */
  answeredOn: string;
  totalMs: number;
  detectionMs?: number;
  restMs?: number;
}

export async function monitorFailure(ctx: Ctx, after: () => Promise<void>): Promise<MonitorSample> {
  const a = await activeNode(ctx);
  const t0 = Date.now();
  await killApp(a);
  const until = Date.now() + ctx.answerDeadlineMs;
  let answered: number | undefined;
  let on = a.name;
  while (answered === undefined) {
    for (const n of ctx.nodes) {
      const at = await ctx.prober.answeredAt(n.name, t0);
      if (at !== undefined) {
        answered = at;
        on = n.name;
        break;
      }
    }
    if (answered !== undefined) break;
    if (Date.now() > until) throw new Error(`${ctx.product.name}: the application did not answer again after its monitor failed`);
    await new Promise((r) => setTimeout(r, 500));
  }
  await new Promise((r) => setTimeout(r, 1000));
  // The failure is seen where the server was killed, wherever it answered again.
  const failed = await ctx.product.monitorFailedAt(a, t0);
  await after();
  const sample: MonitorSample = {
    node: a.name,
    answeredOn: on,
    totalMs: Math.round(answered - t0),
    detectionMs: failed === undefined ? undefined : Math.round(failed - t0),
    restMs: failed === undefined ? undefined : Math.round(answered - failed),
  };
  ctx.log(`${ctx.product.name} monitor failure on ${a.name}: ${JSON.stringify(sample)}`);
  return sample;
}

export interface IdleSample {
  resources: number;
  windowS: number;
  /** CPU of the product's own processes, % of one guest CPU, per node */
  agentCpuPct: Record<string, number>;
  /** the same including the children they reaped (monitors) */
  agentCpuWithChildrenPct: Record<string, number>;
  /** sum of VmRSS of the product's processes, MiB, per node */
  agentRssMiB: Record<string, number>;
  /** whole guest busy %, per node */
  guestBusyPct: Record<string, number>;
  /** per node, the product's processes that ended or were replaced during the window (not counted) */
  endedDuringWindow?: Record<string, number[]>;
}

interface ProcTimes {
  own: number;
  children: number;
  /** start time in ticks since boot: a different one is another process under the same pid */
  start: number;
}

async function cpuSnapshot(n: VmNode, pids: number[]): Promise<{ procs: Map<number, ProcTimes>; rssKb: number; busy: number; total: number }> {
  const script = [
    'head -1 /proc/stat',
    ...pids.map((p) => `cat /proc/${p}/stat 2>/dev/null; grep VmRSS /proc/${p}/status 2>/dev/null || true`),
  ];
  const out = await n.run(['/run/vmc/busybox', 'sh', '-c', script.join('; ')], { timeoutMs: 60_000 });
  const procs = new Map<number, ProcTimes>();
  let rssKb = 0;
  let busy = 0;
  let total = 0;
  for (const line of out.split('\n')) {
    if (line.startsWith('cpu ')) {
      const f = line.trim().split(/\s+/).slice(1).map(Number);
      total = f.reduce((x, y) => x + y, 0);
      busy = total - (f[3] ?? 0) - (f[4] ?? 0);
    } else if (line.startsWith('VmRSS:')) rssKb += Number(/(\d+)/.exec(line)![1]);
    else if (line.includes(') ')) {
      const pid = Number(line.slice(0, line.indexOf(' ')));
      const f = line.slice(line.lastIndexOf(') ') + 2).split(' ').map(Number);
      procs.set(pid, { own: f[11]! + f[12]!, children: f[13]! + f[14]!, start: f[19]! });
    }
  }
  return { procs, rssKb, busy, total };
}

export async function idle(ctx: Ctx, resources: number, windowS: number): Promise<IdleSample> {
  const pids = new Map<string, number[]>();
  for (const n of ctx.nodes) pids.set(n.name, await ctx.product.agentPids(n));
  const before = await Promise.all(ctx.nodes.map((n) => cpuSnapshot(n, pids.get(n.name)!)));
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, windowS * 1000));
  const after = await Promise.all(ctx.nodes.map((n) => cpuSnapshot(n, pids.get(n.name)!)));
  const secs = (Date.now() - t0) / 1000;
  const r: IdleSample = { resources, windowS: Math.round(secs), agentCpuPct: {}, agentCpuWithChildrenPct: {}, agentRssMiB: {}, guestBusyPct: {} };
  ctx.nodes.forEach((n, i) => {
    const b = before[i]!;
    const a = after[i]!;
    // Only processes alive through the whole window count; one that ended or was replaced (an
    // agent daemon restarted, or killed for memory) is named instead of making the sum wrong.
    let own = 0;
    let withChildren = 0;
    const gone: number[] = [];
    for (const [pid, pb] of b.procs) {
      const pa = a.procs.get(pid);
      if (!pa || pa.start !== pb.start) {
        gone.push(pid);
        continue;
      }
      own += pa.own - pb.own;
      withChildren += pa.own + pa.children - pb.own - pb.children;
    }
    if (gone.length) (r.endedDuringWindow ??= {})[n.name] = gone;
    // USER_HZ is 100 in these kernels: ticks / s = % of one CPU.
    r.agentCpuPct[n.name] = Math.round((own / secs) * 10) / 10;
    r.agentCpuWithChildrenPct[n.name] = Math.round((withChildren / secs) * 10) / 10;
    r.agentRssMiB[n.name] = Math.round(a.rssKb / 102.4) / 10;
    r.guestBusyPct[n.name] = Math.round(((a.busy - b.busy) / Math.max(1, a.total - b.total)) * 1000) / 10;
  });
  ctx.log(`${ctx.product.name} idle with ${resources} resources: ${JSON.stringify(r)}`);
  return r;
}
