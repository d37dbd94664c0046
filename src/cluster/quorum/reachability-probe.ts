// The I/O half of tcp_remote quorum: a TCP connect to one witness host with a time limit. A
// host counts reachable when the connection is established within the limit; the connection
// is closed at once (the witness can be any listener: nothing is sent). The decision is the
// gate's (gate.ts); this only reports what the network answered.
import * as net from 'node:net';

export interface ProbeTarget {
  /** "host:port" label, as in QUORUM_HOSTS. */
  label: string;
  host: string;
  port: number;
}

export type ConnectProbe = (target: ProbeTarget, timeoutMs: number) => Promise<boolean>;

/** Resolves true when a TCP connection to the target is established within timeoutMs. */
export const tcpConnectProbe: ConnectProbe = (target, timeoutMs) =>
  new Promise((resolve) => {
    const socket = net.connect({ host: target.host, port: target.port });
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });

/** Label of a QUORUM_HOSTS entry ("[v6]:port" for IPv6 literals). */
export function hostLabel(h: { host: string; port: number }): string {
  return h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`;
}

/**
 * Runs a round of probes when asked: each host concurrently, each bounded by the time limit,
 * reporting every answer through `report`. Rounds may overlap (each connect is bounded), so a
 * slow host never delays a fresh round.
 */
export class ReachabilityProbe {
  private stopped = false;

  constructor(
    private readonly targets: readonly ProbeTarget[],
    private readonly timeoutMs: number,
    private readonly report: (label: string, reachable: boolean, roundStartMs: number) => void,
    private readonly connect: ConnectProbe = tcpConnectProbe,
  ) {}

  round(roundStartMs: number): void {
    for (const t of this.targets) {
      void this.connect(t, this.timeoutMs).then(
        (ok) => !this.stopped && this.report(t.label, ok, roundStartMs),
        () => !this.stopped && this.report(t.label, false, roundStartMs),
      );
    }
  }

  stop(): void {
    this.stopped = true;
  }
}
