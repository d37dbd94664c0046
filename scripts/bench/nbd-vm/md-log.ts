// md's own account of a copy, read from the kernel log: md prints "md: recovery of RAID array
// md0" when a copy onto a member begins and "md: md0: recovery done." (or "interrupted") when it
// ends, stamped with the kernel's clock, on which a mark line written to /dev/kmsg also lands. The mirror benchmark times resyncs with these stamps
// rather than by polling from the host, whose round trip to a TCG guest (a node process per
// netraid_status) is seconds and would swamp a partial resync of a fraction of a second.

export interface MdCopy {
  /** "recovery" (a member being rebuilt or re-added) or "resync" (halves compared and copied). */
  kind: string;
  startS: number;
  endS: number;
  outcome: 'done' | 'interrupted';
}

const STAMP = /^\[\s*(\d+\.\d+)\]\s+(.*)$/;

/** The copies of `md` (e.g. "md0") in `dmesg` output, in order; a copy still running is left out. */
export function mdCopies(dmesg: string, md: string): MdCopy[] {
  const esc = md.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const begin = new RegExp(`^md: (\\w+) of RAID array ${esc}$`);
  const end = new RegExp(`^md: ${esc}: (\\w+) (done|interrupted)\\.$`);
  const out: MdCopy[] = [];
  let open: { kind: string; startS: number } | undefined;
  for (const line of dmesg.split('\n')) {
    const m = STAMP.exec(line.trim());
    if (!m) continue;
    const t = Number(m[1]);
    const text = m[2]!.trim();
    const b = begin.exec(text);
    if (b) {
      open = { kind: b[1]!, startS: t };
      continue;
    }
    const e = end.exec(text);
    if (e && open && e[1] === open.kind) {
      out.push({ kind: open.kind, startS: open.startS, endS: t, outcome: e[2] as 'done' | 'interrupted' });
      open = undefined;
    }
  }
  return out;
}

/** The one completed copy of `md` that began at or after `sinceS` (kernel clock); throws unless exactly one. */
export function copyAfter(dmesg: string, md: string, sinceS: number): MdCopy {
  const copies = mdCopies(dmesg, md).filter((c) => c.startS >= sinceS);
  const done = copies.filter((c) => c.outcome === 'done');
  if (done.length !== 1 || copies.length !== 1) {
    throw new Error(`expected one completed copy of ${md} since ${sinceS} s, found ${JSON.stringify(copies)}`);
  }
  return done[0]!;
}

/**
 * The kernel-clock stamp of the line `mark` the benchmark wrote to /dev/kmsg just before a
 * command, so the command's start and md's copy are read on one clock; throws unless it is there.
 */
export function markStamp(dmesg: string, mark: string): number {
  for (const line of dmesg.split('\n')) {
    const m = STAMP.exec(line.trim());
    if (m && m[2]!.trim() === mark) return Number(m[1]);
  }
  throw new Error(`kernel log has no line ${JSON.stringify(mark)}`);
}
