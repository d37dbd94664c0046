// What the node needs from any comm path (TCP, TTY): an identity, a priority, whether it can
// carry a frame right now, and a way to send one. Paths run the session handshake (session.ts),
// authenticate what they receive through the shared FrameGuard and report only authentic
// session frames from their own peer; refusals worth an administrator's eye go to failed().
import type { ClusterCounters } from './counters.js';
import type { FrameGuard } from './frame-guard.js';
import type { FrameType, OpenedFrame } from './frame-codec.js';

export type CommPathKind = 'TCP' | 'TTY' | 'DISK';

/** Shape-compatible with the LCD's TcpCommPath record (src/lcd/schema.ts). */
export interface TcpPathConfig {
  type: 'TCP';
  otherSystem: string;
  priority: number;
  localAddress: string;
  remoteAddress: string;
  port: number;
}

/** Shape-compatible with the LCD's TtyCommPath record (src/lcd/schema.ts). */
export interface TtyPathConfig {
  type: 'TTY';
  otherSystem: string;
  priority: number;
  device: string;
  baud: number;
}

/** Shape-compatible with the LCD's DiskCommPath record (src/lcd/schema.ts); see disk-path.ts. */
export interface DiskPathConfig {
  type: 'DISK';
  otherSystem: string;
  priority: number;
  device: string;
}

export type PathConfig = TcpPathConfig | TtyPathConfig | DiskPathConfig;

/** Stable identity of a path on this node (also the label in stats and metrics). */
export function pathIdOf(cfg: PathConfig): string {
  return cfg.type === 'TCP'
    ? `${cfg.otherSystem}/TCP/${cfg.localAddress}-${cfg.remoteAddress}:${cfg.port}`
    : `${cfg.otherSystem}/${cfg.type}/${cfg.device}`;
}

export interface PathContext {
  localSystem: string;
  guard: FrameGuard;
  counters: ClusterCounters;
  /** An authentic session frame from this path's peer. */
  onFrame(path: CommPathLink, frame: OpenedFrame): void;
  /** The path's session got its keys: a heartbeat now lets the peer confirm it at once. */
  sessionReady(path: CommPathLink): void;
  /** A frame or connection refused for a reason worth reporting (logged rate-limited, shown with the path). */
  failed(path: CommPathLink | undefined, source: string, reason: string): void;
  /** LCMHBEATTIME in ms (TTY paths repeat their Hello at this pace until the session is confirmed). */
  heartbeatIntervalMs: number;
  /** Largest accepted clock difference of a frame's timestamp. */
  maxSkewMs: number;
  log(level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void;
  /** Reconnect/reopen backoff bounds. */
  retryMinMs: number;
  retryMaxMs: number;
}

export interface CommPathLink {
  readonly id: string;
  readonly kind: CommPathKind;
  readonly peer: string;
  readonly priority: number;
  /** Largest payload this path carries (TTY: small control messages only). */
  readonly maxPayload: number;
  /** True when a frame handed to send() has a transport to go out on. */
  connected(): boolean;
  /** Seals and queues one frame; false when not connected or the path is backed up. */
  send(type: FrameType, payload: Buffer): boolean;
  /** Drops the current connection or session so the next one starts clean (called when the path is declared dead). */
  reset(): void;
  start(): void;
  stop(): Promise<void>;
}

/** Exponential backoff with a little jitter so two nodes do not retry in lockstep. */
export function backoffMs(attempt: number, minMs: number, maxMs: number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 16));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
