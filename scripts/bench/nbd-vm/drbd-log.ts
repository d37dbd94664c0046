// DRBD's own account of a resync, read from the kernel log, as md-log.ts reads md's: DRBD 8.4
// prints "block drbd0: Began resync as SyncSource (will sync N KB [B bits set])." when a resync
// starts and "block drbd0: Resync done (total T sec; paused P sec; R K/sec)" when it ends, both
// stamped with the kernel's clock, on which the benchmark's /dev/kmsg marks also land. Its own
// "total T sec" has whole seconds only, so the stamps are what the benchmark uses.

export interface DrbdResync {
  /** "SyncSource" or "SyncTarget": which side this log is from. */
  role: string;
  startS: number;
  endS: number;
  /** What DRBD said it would copy, KiB (the bits set in its bitmap, 4 KiB each). */
  willSyncKiB: number;
  bitsSet: number;
}

const STAMP = /^\[\s*(\d+\.\d+)\]\s+(.*)$/;

/** The completed resyncs of DRBD minor device `dev` (e.g. "drbd0") in `dmesg` output, in order. */
export function drbdResyncs(dmesg: string, dev: string): DrbdResync[] {
  const esc = dev.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // The device's name ends the prefix ("block drbd0: "): drbd10 is another device.
  const begin = new RegExp(`(?:^|\\s)${esc}: Began resync as (\\w+) \\(will sync (\\d+) KB \\[(\\d+) bits set\\]\\)`);
  const end = new RegExp(`(?:^|\\s)${esc}: Resync done \\(total \\d+ sec`);
  const out: DrbdResync[] = [];
  let open: { role: string; startS: number; willSyncKiB: number; bitsSet: number } | undefined;
  for (const line of dmesg.split('\n')) {
    const m = STAMP.exec(line.trim());
    if (!m) continue;
    const t = Number(m[1]);
    const text = m[2]!;
    const b = begin.exec(text);
    if (b) {
      // A resync that began again before it ended was restarted (a reconnect): the last begin counts.
      open = { role: b[1]!, startS: t, willSyncKiB: Number(b[2]), bitsSet: Number(b[3]) };
      continue;
    }
    if (end.test(text) && open) {
      out.push({ ...open, endS: t });
      open = undefined;
    }
  }
  return out;
}

/** The one completed resync of `dev` that began at or after `sinceS` (kernel clock); throws unless exactly one. */
export function resyncAfter(dmesg: string, dev: string, sinceS: number): DrbdResync {
  const found = drbdResyncs(dmesg, dev).filter((r) => r.startS >= sinceS);
  if (found.length !== 1) throw new Error(`expected one completed resync of ${dev} since ${sinceS} s, found ${JSON.stringify(found)}`);
  return found[0]!;
}

export interface ProcDrbdMinor {
  /** Connection state: Connected, WFConnection, StandAlone, SyncSource, ... */
  cs: string;
  /** Roles, local/peer: Primary/Secondary, ... (absent when unconfigured). */
  ro?: string;
  /** Disk states, local/peer: UpToDate/UpToDate, ... */
  ds?: string;
  /** KiB out of sync with the peer, from the statistics line. */
  oosKiB?: number;
}

/** Minor `minor`'s entry in DRBD 8.4's /proc/drbd, or undefined when it has none. */
export function procDrbd(text: string, minor: number): ProcDrbdMinor | undefined {
  const lines = text.split('\n');
  const head = new RegExp(`^\\s*${minor}: cs:(\\S+)(?: ro:(\\S+))?(?: ds:(\\S+))?`);
  for (let i = 0; i < lines.length; i++) {
    const m = head.exec(lines[i]!);
    if (!m) continue;
    // The statistics line follows its minor's state line (indented, no "N:" of its own).
    const stats = lines[i + 1] !== undefined && !/^\s*\d+: /.test(lines[i + 1]!) ? lines[i + 1]! : '';
    const oos = /\boos:(\d+)/.exec(stats);
    return { cs: m[1]!, ...(m[2] ? { ro: m[2] } : {}), ...(m[3] ? { ds: m[3] } : {}), ...(oos ? { oosKiB: Number(oos[1]) } : {}) };
  }
  return undefined;
}
