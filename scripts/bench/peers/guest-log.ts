// Timestamps of the products' log lines. Corosync (timestamp: hires) and Pacemaker write
// "Mon DD HH:MM:SS.mmm" in the guest's local time (UTC in these guests); vigild writes JSON lines
// with "time" in ms since the epoch.
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SYSLOG_STAMP = /^(\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?/;

/** Guest ms of a syslog-style stamped line, or undefined. The year is the host's (logs span minutes). */
export function syslogStampMs(line: string, year = new Date().getUTCFullYear()): number | undefined {
  const m = SYSLOG_STAMP.exec(line);
  if (!m) return undefined;
  const mon = MONTHS.indexOf(m[1]!);
  if (mon < 0) return undefined;
  const frac = m[6] ? Number(`0.${m[6]}`) * 1000 : 0;
  return Date.UTC(year, mon, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])) + frac;
}

/** Guest ms of the first line after `afterGuestMs` matching `re`. */
export function firstStampedAfter(text: string, re: RegExp, afterGuestMs: number): number | undefined {
  for (const line of text.split('\n')) {
    if (!re.test(line)) continue;
    const at = syslogStampMs(line);
    if (at !== undefined && at >= afterGuestMs) return at;
  }
  return undefined;
}

/** Guest ms of the first vigild JSON log record after `afterGuestMs` whose msg matches `re`. */
export function firstVigilAfter(text: string, re: RegExp, afterGuestMs: number): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: { time?: number; msg?: string };
    try {
      rec = JSON.parse(line) as { time?: number; msg?: string };
    } catch {
      continue;
    }
    if (typeof rec.time === 'number' && rec.time >= afterGuestMs && re.test(rec.msg ?? '')) return rec.time;
  }
  return undefined;
}

/** A log line found for a named event: its guest ms and its text (the outcome is often in it). */
export interface LoggedEvent {
  atGuestMs: number;
  line: string;
}

/**
 * For each named pattern, the first line at or after `afterGuestMs` that matches it, in a syslog-
 * stamped log (Corosync, Pacemaker) or a vigild JSON log (the line is then the record's msg).
 */
export function firstEvents(text: string, format: 'syslog' | 'vigil', patterns: Record<string, RegExp>, afterGuestMs: number): Record<string, LoggedEvent> {
  const out: Record<string, LoggedEvent> = {};
  for (const raw of text.split('\n')) {
    let at: number | undefined;
    let line = raw;
    if (format === 'syslog') at = syslogStampMs(raw);
    else {
      if (!raw.startsWith('{')) continue;
      try {
        const rec = JSON.parse(raw) as { time?: number; msg?: string };
        at = typeof rec.time === 'number' ? rec.time : undefined;
        line = rec.msg ?? '';
      } catch {
        continue;
      }
    }
    if (at === undefined || at < afterGuestMs) continue;
    for (const [name, re] of Object.entries(patterns)) if (!out[name] && re.test(line)) out[name] = { atGuestMs: at, line: line.trim() };
  }
  return out;
}
