// ClusterNode: the comm layer of one agent. It owns the TCP listeners and the paths, sends a
// heartbeat on every connected path each LCMHBEATTIME, feeds what arrives into the membership
// state machine, re-emits its decisions as events, and carries request/response messaging over
// the best live path. stats() is a cheap snapshot for the metrics scrape and lcdstatus.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { ClusterKey } from './cluster-key.js';
import type { CommPathLink, PathConfig, PathContext, TcpPathConfig } from './comm-path.js';
import { pathIdOf } from './comm-path.js';
import { ClusterCounters, type CountersSnapshot } from './counters.js';
import { describeFailure, FailureLog, isAuthFailure } from './failure-log.js';
import { FrameGuard } from './frame-guard.js';
import { FrameType, type OpenedFrame } from './frame-codec.js';
import { Membership, type LinkState, type MembershipOutput } from './membership.js';
import { Messaging, type RequestHandler, type Route } from './messaging.js';
import { TcpListener } from './tcp-listener.js';
import { TcpPath } from './tcp-path.js';
import { TtyPath } from './tty-path.js';
import { DiskAreas, DiskPath, type DiskPlatform } from './disk-path.js';
import { diskRecordKey } from './disk-record.js';

export type ClusterLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface ClusterNodeOptions {
  localSystem: string;
  /** The 32-byte cluster secret (readKeyFile). */
  secret: Buffer;
  /** LCMHBEATTIME in milliseconds (sub-second values work). */
  heartbeatIntervalMs: number;
  /** LCMNUMHBEATS. */
  missedHeartbeats: number;
  /** How long a path never connected stays quiet (VIGIL_COMM_CONNECT_GRACE; default interval x misses). */
  neverConnectedGraceMs?: number;
  paths: PathConfig[];
  /** Largest accepted difference between a frame's timestamp and our clock (default 30 s). */
  maxClockSkewMs?: number;
  /** Default time limit of request() (default 10 s). */
  requestTimeoutMs?: number;
  /** Time a new TCP connection has to complete its handshake (default 5 s). */
  helloTimeoutMs?: number;
  /** Least time between two log lines for the same (source, failure reason) (default 60 s). */
  failureLogIntervalMs?: number;
  log?: ClusterLog;
  /** SG_IO / O_DIRECT access for DISK comm paths (disk-path.ts); without it they are refused. */
  disk?: DiskPlatform;
  /** Least time between two judgements of the paths' silence (default none: each at the next deadline; tests). */
  judgeEveryMs?: number;
}

export interface PathStats {
  id: string;
  type: 'TCP' | 'TTY' | 'DISK';
  system: string;
  priority: number;
  state: LinkState;
  /** Why the path is not ALIVE, in words (e.g. "bad key"), when a refusal on it says so. */
  reason?: string;
  connected: boolean;
  /** Last heartbeat round trip, ms (null before the first answer). */
  rttMs: number | null;
  /** Time since the last authentic frame on the path, ms (null if none yet). */
  lastHeartbeatAgeMs: number | null;
}

export interface SystemStats {
  name: string;
  state: LinkState;
  alivePaths: number;
  paths: number;
}

export interface ClusterStats {
  localSystem: string;
  heartbeatIntervalMs: number;
  missedHeartbeats: number;
  paths: PathStats[];
  systems: SystemStats[];
  counters: CountersSnapshot;
}

interface PathRuntime {
  link: CommPathLink;
  config: PathConfig;
  rttMs: number | null;
  /** The send time (performance.now()) of the latest own heartbeat the peer echoed on this path. */
  echoedAtMs: number | undefined;
  heardEver: boolean;
  /** Last refusal on the path worth reporting; cleared when the path comes up. */
  lastFailure: string | undefined;
}

export class ClusterNode extends EventEmitter {
  readonly localSystem: string;
  private readonly counters = new ClusterCounters();
  private readonly guard: FrameGuard;
  private readonly membership: Membership;
  private readonly messaging: Messaging;
  private readonly paths = new Map<string, PathRuntime>();
  private readonly tcpListeners = new Map<string, TcpListener>();
  private readonly log: ClusterLog;
  private readonly failureLog: FailureLog;
  private readonly ctx: PathContext;
  private hbTimer: NodeJS.Timeout | undefined;
  /** The armed judgement of the paths' silence, when it runs, and when the last one ran (performance.now()). */
  private judgeTimer: NodeJS.Timeout | undefined;
  private judgeAtMs = 0;
  private judgedAtMs = Number.NEGATIVE_INFINITY;
  private listenRetry: NodeJS.Timeout | undefined;
  private running = false;
  private readonly diskAreas: DiskAreas | undefined;

  constructor(private readonly opts: ClusterNodeOptions) {
    super();
    this.localSystem = opts.localSystem;
    this.log = opts.log ?? (() => undefined);
    this.failureLog = new FailureLog((level, msg, fields) => this.log(level, msg, fields), opts.failureLogIntervalMs ?? 60_000);
    this.membership = new Membership({ heartbeatIntervalMs: opts.heartbeatIntervalMs, missedHeartbeats: opts.missedHeartbeats, neverConnectedGraceMs: opts.neverConnectedGraceMs });
    const maxSkewMs = opts.maxClockSkewMs ?? 30_000;
    this.guard = new FrameGuard(opts.localSystem, new ClusterKey(opts.secret), (s) => this.isPeer(s), this.counters, maxSkewMs);
    this.messaging = new Messaging((s) => this.routes(s), opts.requestTimeoutMs ?? 10_000);
    this.ctx = {
      localSystem: opts.localSystem,
      guard: this.guard,
      counters: this.counters,
      onFrame: (p, f) => this.onFrame(p, f),
      sessionReady: (p) => this.sendHeartbeat(p),
      failed: (p, source, reason) => this.failed(p ? [p.id] : [], source, reason),
      heartbeatIntervalMs: opts.heartbeatIntervalMs,
      maxSkewMs,
      log: (level, msg, fields) => this.log(level, msg, fields),
      retryMinMs: Math.min(100, opts.heartbeatIntervalMs),
      retryMaxMs: Math.max(1000, Math.min(5000, opts.heartbeatIntervalMs * opts.missedHeartbeats)),
    };
    if (opts.disk) {
      this.diskAreas = new DiskAreas({
        localSystem: opts.localSystem,
        bootId: this.guard.epoch,
        recordKey: diskRecordKey(opts.secret),
        platform: opts.disk,
        intervalMs: opts.heartbeatIntervalMs,
        ioTimeoutMs: Math.max(1000, opts.heartbeatIntervalMs * opts.missedHeartbeats),
        ctx: this.ctx,
      });
    }
    for (const cfg of opts.paths) this.createPath(cfg);
  }

  /** How a DISK path's device is accessed ('SG_IO: ...' or 'O_DIRECT: ...'), for net_list and logs. */
  diskPathIo(device: string): string | undefined {
    return this.diskAreas?.describe(device);
  }

  /**
   * What this system's DISK path records say from the next write on: `yielding` once it lost
   * quorum and took everything out of service, so that a peer that sees it over DISK paths alone
   * (a network-only cut) counts it gone and may take over what it gave up; `running` again once
   * quorum is back. TCP and TTY paths are unaffected.
   */
  setDiskPresence(p: 'running' | 'yielding'): void {
    this.diskAreas?.setPresence(p);
  }

  /** Binds the listeners and starts heartbeats. Resolves once every listener that can bind has. */
  async start(): Promise<void> {
    this.running = true;
    await this.syncListeners();
    const now = performance.now();
    for (const rt of this.paths.values()) {
      this.apply(this.membership.step({ type: 'path-added', pathId: rt.link.id, system: rt.link.peer, nowMs: now }));
      rt.link.start();
    }
    const hb = this.opts.heartbeatIntervalMs;
    this.hbTimer = setInterval(() => this.sendHeartbeats(), hb);
    // Counted as a judgement for judgeEveryMs: the first comes no sooner than that after start.
    this.judgedAtMs = performance.now();
    this.armJudge();
  }

  /**
   * Arms the next judgement of the paths' silence for the moment a path's limit passes
   * (membership.nextDueMs), unless an earlier one is armed. Detection so lags the limit by a
   * timer's precision, not a polling interval, and an idle node wakes about once per limit rather
   * than ten times a second. The judgement runs in setImmediate, i.e. after this loop turn's I/O:
   * when our own process was starved of CPU, the heartbeats that arrived meanwhile are counted
   * before any path is declared dead (timers run before I/O in a turn, so a plain timer would
   * miss them).
   */
  private armJudge(): void {
    if (!this.running) return;
    const due = this.membership.nextDueMs();
    if (due === undefined) return;
    // Strictly past the limit (membership's rule), and no sooner than judgeEveryMs after the last judgement.
    const at = Math.max(due + 1, this.judgedAtMs + (this.opts.judgeEveryMs ?? 0));
    if (this.judgeTimer !== undefined && this.judgeAtMs <= at) return;
    clearTimeout(this.judgeTimer);
    this.judgeAtMs = at;
    this.judgeTimer = setTimeout(() => {
      this.judgeTimer = undefined;
      setImmediate(() => this.judge());
    }, Math.max(0, Math.ceil(at - performance.now())));
  }

  private judge(): void {
    if (!this.running) return;
    this.judgedAtMs = performance.now();
    this.apply(this.membership.tick(this.judgedAtMs));
  }

  /**
   * Judges the paths' silence now rather than at the next tick, after this loop turn's I/O (the
   * heartbeats already received count, as in a tick). A peer asking whether this system still
   * sees another (remote_verify) is answered from the silence at its question: the next tick may
   * be up to 100 ms away, and until then the answer would be "alive" for a system whose
   * heartbeats stopped as long ago here as there.
   */
  async judgeNow(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    this.judge();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.hbTimer);
    clearTimeout(this.judgeTimer);
    this.judgeTimer = undefined;
    clearTimeout(this.listenRetry);
    this.messaging.close();
    await Promise.all([...this.paths.values()].map((p) => p.link.stop()));
    await Promise.all([...this.tcpListeners.values()].map((l) => l.close()));
    this.tcpListeners.clear();
  }

  /** Adds a comm path at run time (net_create). */
  async addPath(cfg: PathConfig): Promise<string> {
    const rt = this.createPath(cfg);
    if (this.running) {
      await this.syncListeners();
      this.apply(this.membership.step({ type: 'path-added', pathId: rt.link.id, system: rt.link.peer, nowMs: performance.now() }));
      rt.link.start();
    }
    return rt.link.id;
  }

  /** Removes a comm path at run time (net_remove). */
  async removePath(id: string): Promise<void> {
    const rt = this.paths.get(id);
    if (!rt) return;
    this.paths.delete(id);
    await rt.link.stop();
    this.apply(this.membership.step({ type: 'path-removed', pathId: id, nowMs: performance.now() }));
    if (this.running) await this.syncListeners();
  }

  handle(type: string, handler: RequestHandler): void {
    this.messaging.handle(type, handler);
  }

  /** Sends a request to `system` over its best live path and waits for the answer. */
  request(system: string, type: string, body: unknown, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    return this.messaging.request(system, type, body, opts);
  }

  /**
   * The send time (performance.now()) of the latest heartbeat of ours that `system` echoed, on
   * any path: it was alive after that moment, measured on our own clock (quorum evidence).
   */
  echoedAtMs(system: string): number | undefined {
    let at: number | undefined;
    for (const rt of this.paths.values()) {
      if (rt.link.peer === system && rt.echoedAtMs !== undefined) at = Math.max(at ?? -Infinity, rt.echoedAtMs);
    }
    return at;
  }

  systemState(system: string): LinkState | undefined {
    return this.membership.systemState(system);
  }

  /**
   * Whether this system can vouch that `system` is alive (a remote_verify answer): it is ALIVE
   * here AND some path heard it within (LCMNUMHBEATS - 1) heartbeat intervals. A live system
   * heartbeats every interval on every path, so a witness that has missed all but the last of
   * the heartbeats the asker missed has no evidence of life the asker lacks: it is merely about
   * to declare the same death (the systems of a cluster declare it up to an interval apart).
   * What the witness guards against, a link that failed on the asker's side only, leaves the
   * others hearing the suspect within one interval.
   */
  vouchesFor(system: string): boolean {
    if (this.membership.systemState(system) !== 'ALIVE') return false;
    const silence = this.membership.freshestSilenceMs(system, performance.now());
    const windowMs = Math.max(1, this.opts.missedHeartbeats - 1) * this.opts.heartbeatIntervalMs;
    return silence !== undefined && silence <= windowMs;
  }

  pathState(id: string): LinkState | undefined {
    return this.membership.pathState(id);
  }

  stats(): ClusterStats {
    const now = performance.now();
    const paths: PathStats[] = [];
    for (const rt of this.paths.values()) {
      const silence = this.membership.silenceMs(rt.link.id, now);
      paths.push({
        id: rt.link.id,
        type: rt.link.kind,
        system: rt.link.peer,
        priority: rt.link.priority,
        state: this.membership.pathState(rt.link.id) ?? 'UNKNOWN',
        connected: rt.link.connected(),
        rttMs: rt.rttMs,
        lastHeartbeatAgeMs: rt.heardEver && silence !== undefined ? Math.round(silence) : null,
      });
      const shown = paths[paths.length - 1]!;
      if (shown.state !== 'ALIVE' && rt.lastFailure) {
        shown.reason = describeFailure(rt.lastFailure);
        // Never heard from, but its attempts fail (bad key, handshake refused): not "unknown" to
        // an administrator. Membership still keeps it UNKNOWN, so no system is declared dead for it.
        if (shown.state === 'UNKNOWN') shown.state = 'DEAD';
      }
    }
    const systems: SystemStats[] = this.membership.systemNames().map((name) => ({
      name,
      state: this.membership.systemState(name) ?? 'UNKNOWN',
      alivePaths: this.membership.alivePathsTo(name).length,
      paths: paths.filter((p) => p.system === name).length,
    }));
    return {
      localSystem: this.localSystem,
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      missedHeartbeats: this.opts.missedHeartbeats,
      paths,
      systems,
      counters: this.counters.snapshot(),
    };
  }

  private createPath(cfg: PathConfig): PathRuntime {
    const id = pathIdOf(cfg);
    if (this.paths.has(id)) throw new Error(`comm path ${id} already exists`);
    if (cfg.otherSystem === this.localSystem) throw new Error(`comm path ${id} leads to the local system`);
    if (cfg.type === 'DISK' && !this.diskAreas) throw new Error(`comm path ${id}: DISK paths need the disk platform (ClusterNodeOptions.disk)`);
    const link =
      cfg.type === 'TCP'
        ? new TcpPath(cfg, this.ctx, Math.max(1000, this.opts.heartbeatIntervalMs * this.opts.missedHeartbeats))
        : cfg.type === 'DISK'
          ? new DiskPath(cfg, this.ctx, this.diskAreas!, this.opts.maxClockSkewMs ?? 30_000)
          : new TtyPath(cfg, this.ctx);
    const rt: PathRuntime = { link, config: cfg, rttMs: null, echoedAtMs: undefined, heardEver: false, lastFailure: undefined };
    this.paths.set(id, rt);
    return rt;
  }

  private isPeer(system: string): boolean {
    for (const rt of this.paths.values()) if (rt.link.peer === system) return true;
    return false;
  }

  /** One listener per (local address, port) used by a TCP path this side accepts. */
  private async syncListeners(): Promise<void> {
    const wanted = new Map<string, TcpPathConfig>();
    for (const rt of this.paths.values()) {
      if (rt.config.type !== 'TCP' || (rt.link as TcpPath).dials) continue;
      wanted.set(`${rt.config.localAddress}|${rt.config.port}`, rt.config);
    }
    for (const [k, l] of this.tcpListeners) {
      if (!wanted.has(k)) {
        this.tcpListeners.delete(k);
        await l.close();
      }
    }
    let failed = false;
    for (const [k, cfg] of wanted) {
      if (this.tcpListeners.has(k)) continue;
      const local = cfg.localAddress;
      const port = cfg.port;
      const l = new TcpListener(local, port, this.guard, this.counters, {
        findPath: (peer, localAddr, remote) => this.findAcceptingPath(peer, localAddr, remote, port),
        isConfiguredRemote: (remote) => this.acceptingPaths(local, port, remote).length > 0,
        failed: (remote, reason) => this.failed(this.acceptingPaths(local, port, remote).map((rt) => rt.link.id), `tcp ${remote} -> ${local}:${port}`, reason),
      }, this.opts.helloTimeoutMs ?? 5000);
      try {
        await l.listen();
        this.tcpListeners.set(k, l);
        this.log('info', 'comm path listener bound', { address: cfg.localAddress, port: cfg.port });
      } catch (e) {
        failed = true;
        this.log('error', 'cannot bind comm path listener; retrying', { address: cfg.localAddress, port: cfg.port, error: (e as Error).message });
      }
    }
    clearTimeout(this.listenRetry);
    if (failed && this.running) this.listenRetry = setTimeout(() => void this.syncListeners(), this.ctx.retryMaxMs);
  }

  private findAcceptingPath(peer: string, local: string, remote: string, port: number): TcpPath | undefined {
    for (const rt of this.paths.values()) {
      const c = rt.config;
      if (c.type === 'TCP' && c.otherSystem === peer && c.localAddress === local && c.remoteAddress === remote && c.port === port && !(rt.link as TcpPath).dials) {
        return rt.link as TcpPath;
      }
    }
    return undefined;
  }

  /** Accepting TCP paths on (local, port) whose remote address is `remote`. */
  private acceptingPaths(local: string, port: number, remote: string): PathRuntime[] {
    const out: PathRuntime[] = [];
    for (const rt of this.paths.values()) {
      const c = rt.config;
      if (c.type === 'TCP' && c.localAddress === local && c.port === port && c.remoteAddress === remote && !(rt.link as TcpPath).dials) out.push(rt);
    }
    return out;
  }

  /** A refusal: logged (rate-limited) and remembered on the paths it concerns, when it is about authentication. */
  private failed(pathIds: string[], source: string, reason: string): void {
    if (!isAuthFailure(reason)) return;
    for (const id of pathIds) {
      const rt = this.paths.get(id);
      if (rt) rt.lastFailure = reason;
    }
    this.failureLog.report(source, reason, pathIds.length ? { paths: pathIds } : {});
  }

  private sendHeartbeats(): void {
    for (const rt of this.paths.values()) this.sendHeartbeat(rt.link);
  }

  private sendHeartbeat(link: CommPathLink): void {
    if (!link.connected()) return;
    const payload = Buffer.allocUnsafe(8);
    payload.writeDoubleBE(performance.now(), 0);
    link.send(FrameType.Heartbeat, payload);
  }

  private onFrame(link: CommPathLink, frame: OpenedFrame): void {
    const rt = this.paths.get(link.id);
    if (!rt || rt.link !== link) return;
    rt.heardEver = true;
    const now = performance.now();
    this.apply(this.membership.step({ type: 'heartbeat', pathId: link.id, system: link.peer, epoch: frame.header.epoch, nowMs: now }));
    switch (frame.header.type) {
      case FrameType.Heartbeat:
        if (frame.payload.length === 8) link.send(FrameType.HeartbeatAck, frame.payload);
        break;
      case FrameType.HeartbeatAck:
        if (frame.payload.length === 8) {
          const sentAt = frame.payload.readDoubleBE(0);
          const rtt = now - sentAt;
          if (rtt >= 0 && rtt < 3_600_000) {
            // A DISK path's echo comes back a read interval later: evidence of life, not a round-trip time.
            if (link.kind !== 'DISK') rt.rttMs = Math.round(rtt * 1000) / 1000;
            rt.echoedAtMs = Math.max(rt.echoedAtMs ?? -Infinity, sentAt);
          }
        }
        break;
      case FrameType.Request:
      case FrameType.Response:
        if (!this.messaging.onFrame(frame)) this.counters.drop('unexpected');
        break;
      case FrameType.Hello:
        // Hellos are handled by the paths' handshakes and never reach here.
        break;
    }
  }

  /**
   * Whether a live path to `system` carries messages (TCP or TTY). A system ALIVE through a DISK
   * path alone is not: the DISK path keeps it a member, but a request to it fails (no_path).
   */
  reachable(system: string): boolean {
    for (const rt of this.paths.values()) {
      const l = rt.link;
      if (l.peer === system && l.kind !== 'DISK' && l.connected() && this.membership.pathState(l.id) === 'ALIVE') return true;
    }
    return false;
  }

  private routes(system: string): Route[] {
    const live: CommPathLink[] = [];
    for (const rt of this.paths.values()) {
      if (rt.link.peer === system && rt.link.connected() && this.membership.pathState(rt.link.id) === 'ALIVE') live.push(rt.link);
    }
    // Lowest priority number first; TCP before TTY on a tie (it carries anything).
    return live.sort((a, b) => a.priority - b.priority || (a.kind === b.kind ? 0 : a.kind === 'TCP' ? -1 : 1));
  }

  private apply(outs: MembershipOutput[]): void {
    for (const o of outs) {
      switch (o.type) {
        case 'path-down':
          this.paths.get(o.pathId)?.link.reset();
          this.log('warn', 'comm path dead', { path: o.pathId, system: o.system, remaining: o.remaining });
          break;
        case 'path-up': {
          const rt = this.paths.get(o.pathId);
          if (rt) rt.lastFailure = undefined;
          this.log('info', 'comm path alive', { path: o.pathId, system: o.system });
          break;
        }
        case 'system-dead':
          this.messaging.systemDead(o.system);
          this.log('warn', 'system dead', { system: o.system });
          break;
        case 'system-alive':
          this.log('info', 'system alive', { system: o.system });
          break;
        case 'system-restarted':
          this.log('warn', 'system restarted', { system: o.system });
          break;
        case 'warning':
          this.log('warn', o.message, { system: o.system, path: o.pathId, remaining: o.remaining });
          break;
      }
      this.emit(o.type, o);
      this.emit('membership', o);
    }
    // A step can bring a deadline (a path heard again after it was dead, a path added).
    this.armJudge();
  }
}
