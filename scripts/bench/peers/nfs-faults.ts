// The NFS benchmark's two faults, the same steps for either product: the active node's link to the
// NFS server cut (the cluster link stays: the hierarchy should move to the backup, which still
// reaches the server), and the NFS server frozen for a while, then thawed. Each repetition reads
// the node-local probers for when and where the application answered, and each product's own
// log for its timeline (nfs-events.ts); the product's view of the resources is kept as it was at
// the end of the observation, before the link comes back.
import type { Cluster } from '../../vmcluster/cluster.js';
import type { VmNode } from '../../vmcluster/node.js';
import type { LocalProbers } from './local-probers.js';
import { mergeEvents, nfsFigures, patternsFor, type EventSpec, type NfsFigures } from './nfs-events.js';
import type { HostEvent, Product } from './product.js';

export type NfsFault = 'link-cut' | 'server-freeze';

export interface NfsCtx {
  cluster: Cluster;
  nodes: VmNode[];
  probers: LocalProbers;
  product: Product;
  events: (active: string, backup: string) => Record<string, EventSpec>;
  log: (m: string) => void;
  /** link cut: how long to wait for the backup to answer */
  windowMs: number;
  /** freeze: how long the server stays frozen, and how long to wait for an answer after the thaw */
  freezeMs: number;
  settleMs: number;
}

export interface NfsSample {
  fault: NfsFault;
  from: string;
  to: string;
  /** server-freeze: when the server was thawed, ms after the freeze */
  thawMs?: number;
  figures: NfsFigures;
  /** prober: the application answering on the backup, ms after the fault */
  answeredOnBackupMs?: number;
  /** prober: the first answer from any node after the thaw (server-freeze), ms after the freeze, and where */
  answeredAfterThawMs?: number;
  answeredAfterThawOn?: string;
  /** ms the observation lasted; no answer on the backup within it means the hierarchy did not move */
  observedMs: number;
  /** each event found, ms after the fault, with its log line */
  events: Record<string, { ms: number; line: string }>;
  /** the product's own view of the resources at the end of the observation, per node */
  statusAtEnd: Record<string, string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The node whose application answers (the product put the hierarchy there), waiting up to 5 minutes. */
export async function activeNode(ctx: NfsCtx): Promise<VmNode> {
  const until = Date.now() + 300_000;
  for (;;) {
    const name = await ctx.probers.answering();
    if (name) return ctx.cluster.node(name);
    if (Date.now() > until) throw new Error(`${ctx.product.name}: no node answers`);
    await sleep(1000);
  }
}

/** Poll until `f` gives a value or `ms` passed. */
async function within<T>(ms: number, f: () => Promise<T | undefined>): Promise<T | undefined> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined || Date.now() > until) return v;
    await sleep(1000);
  }
}

async function collect(ctx: NfsCtx, a: VmNode, b: VmNode, t0: number): Promise<{ events: Record<string, HostEvent>; status: Record<string, string> }> {
  await sleep(2000); // the products' last log lines
  const spec = ctx.events(a.name, b.name);
  const events = mergeEvents(await ctx.product.logEvents(a, patternsFor(spec, 'active'), t0), await ctx.product.logEvents(b, patternsFor(spec, 'backup'), t0));
  const status: Record<string, string> = {};
  for (const n of [a, b]) status[n.name] = await ctx.product.status(n).catch((e: Error) => `(status failed: ${e.message})`);
  return { events, status };
}

function sample(fault: NfsFault, a: VmNode, b: VmNode, t0: number, found: { events: Record<string, HostEvent>; status: Record<string, string> }, rest: Partial<NfsSample>): NfsSample {
  return {
    fault,
    from: a.name,
    to: b.name,
    figures: nfsFigures(found.events, t0),
    observedMs: 0,
    ...rest,
    events: Object.fromEntries(Object.entries(found.events).map(([k, e]) => [k, { ms: Math.round(e.atMs - t0), line: e.line.slice(0, 300) }])),
    statusAtEnd: found.status,
  };
}

/** Cut the active node's LAN link (its NFS path; the cluster keeps its point-to-point link) and wait for the backup to answer. */
export async function linkCut(ctx: NfsCtx): Promise<NfsSample> {
  const a = await activeNode(ctx);
  const b = ctx.nodes.find((n) => n !== a)!;
  const t0 = Date.now();
  await a.setLink('lan', false);
  try {
    const answered = await within(ctx.windowMs, () => ctx.probers.answeredAt(b.name, t0));
    const observedMs = Date.now() - t0;
    // Collected with the link still cut: a stop hung on the lost server is still hung.
    const found = await collect(ctx, a, b, t0);
    const s = sample('link-cut', a, b, t0, found, { answeredOnBackupMs: answered === undefined ? undefined : Math.round(answered - t0), observedMs });
    ctx.log(`${ctx.product.name} link-cut ${a.name}: ${JSON.stringify({ ...s.figures, answeredOnBackupMs: s.answeredOnBackupMs })}`);
    return s;
  } finally {
    await a.setLink('lan', true);
  }
}

/** Freeze the NFS server for ctx.freezeMs, thaw it, and wait for the application to answer somewhere. */
export async function serverFreeze(ctx: NfsCtx): Promise<NfsSample> {
  const a = await activeNode(ctx);
  const b = ctx.nodes.find((n) => n !== a)!;
  const nfs = ctx.cluster.nfs;
  const t0 = Date.now();
  await nfs.freeze();
  let thawAt: number;
  try {
    await sleep(ctx.freezeMs);
  } finally {
    await nfs.thaw();
    thawAt = Date.now();
  }
  const first = await within(ctx.settleMs, async () => {
    const at = await Promise.all(ctx.nodes.map(async (n) => ({ n: n.name, at: await ctx.probers.answeredAt(n.name, thawAt) })));
    const got = at.filter((x) => x.at !== undefined).sort((x, y) => x.at! - y.at!);
    return got[0];
  });
  // Something answers again: give the product time to finish what it was doing (a pending stop or
  // move) before its state is read.
  if (first) await sleep(20_000);
  const onBackup = await ctx.probers.answeredAt(b.name, t0);
  const observedMs = Date.now() - t0;
  const found = await collect(ctx, a, b, t0);
  const s = sample('server-freeze', a, b, t0, found, {
    thawMs: Math.round(thawAt - t0),
    answeredOnBackupMs: onBackup === undefined ? undefined : Math.round(onBackup - t0),
    answeredAfterThawMs: first ? Math.round(first.at! - t0) : undefined,
    answeredAfterThawOn: first?.n,
    observedMs,
  });
  ctx.log(`${ctx.product.name} server-freeze (${a.name} active): ${JSON.stringify({ ...s.figures, thawMs: s.thawMs, answeredAfterThawMs: s.answeredAfterThawMs, on: s.answeredAfterThawOn })}`);
  return s;
}
