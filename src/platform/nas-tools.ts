// What the NAS kit asks of the system besides mounts and probes: the server's export list
// (showmount -e), a name lookup, and this system's own addresses and names. Each call has a
// time limit: a server that does not answer, or a resolver that hangs, must not hold a create,
// an extend or a failover. linux/nas-tools.ts runs nfs-common's showmount and getent as child
// processes; memory/nas-tools.ts answers what a test sets.

/** This system as an NFS server's export list may name it. */
export interface Identity {
  /** This system's addresses (IPv4 and IPv6). */
  addresses: string[];
  /** This system's names (short and fully qualified), lower case. */
  names: string[];
}

export type ExportListResult =
  | { ok: true; text: string }
  /** `timedOut`: the server did not answer within the limit; otherwise the program's message. */
  | { ok: false; timedOut: boolean; reason: string };

export interface NasTools {
  /** `showmount -e` of the server within timeoutMs. */
  exportList(server: string, timeoutMs: number): Promise<ExportListResult>;
  /** The IPv4 (then IPv6) addresses a host name resolves to, within timeoutMs; [] when it has none. */
  resolve(name: string, timeoutMs: number): Promise<string[]>;
  /** This system's addresses and names, as an export list would name it. */
  identity(): Identity;
}
