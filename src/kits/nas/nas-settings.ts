// The NAS tunables the kits run with: LKNFSSYSCALLTO, LKNFSTIMEOUT and LKNASERROR (already
// validated by src/common/config.ts, with the 107009 fallback applied there), in milliseconds.
export interface NasSettings {
  /** LKNFSSYSCALLTO: one system call on the mount, ms. */
  syscallMs: number;
  /** LKNFSTIMEOUT: how long probes may fail before the export is declared failed, ms. */
  overallMs: number;
  /** LKNASERROR: what a failed export does. */
  onError: 'switch' | 'halt';
}

export const SEED_NAS_SETTINGS: NasSettings = { syscallMs: 5_000, overallMs: 120_000, onError: 'switch' };

/** The mount-authorization check's limit: room for three timed calls and slack (the 107009 rule's budget). */
export function mountCheckMs(s: NasSettings): number {
  return 3 * s.syscallMs + 5_000;
}
