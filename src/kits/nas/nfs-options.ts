// NFS mount options: which ones a protected mount carries to the other systems, and which ones
// deserve a warning at create time because of what current kernels actually do with them.
// Pure functions.

/** Options worth carrying from a live mount (the kernel's view adds addr=, clientaddr=... which are per system). */
const CARRIED = new Set([
  'vers', 'nfsvers', 'minorversion', 'proto', 'port', 'hard', 'soft', 'softerr', 'timeo', 'retrans', 'rsize', 'wsize',
  'sec', 'ro', 'rw', 'noac', 'ac', 'actimeo', 'acregmin', 'acregmax', 'acdirmin', 'acdirmax', 'lookupcache', 'lock',
  'nolock', 'cto', 'nocto', 'noatime', 'nodiratime', 'relatime', 'nosuid', 'nodev', 'noexec', 'nconnect', 'fsc', 'nofsc',
]);

export function carriedOptions(kernelOptions: string[]): string[] {
  return kernelOptions.filter((o) => CARRIED.has(o.split('=')[0]!));
}

/** Create-time warnings about options, in the order given. */
export function optionWarnings(options: string[], timing: { syscallMs: number; overallMs: number }): string[] {
  const names = new Set(options.map((o) => o.split('=')[0]!));
  const value = (k: string) => options.find((o) => o.startsWith(`${k}=`))?.split('=')[1];
  const w: string[] = [];
  if (names.has('intr') || names.has('nointr')) {
    w.push('"intr"/"nointr" have had no effect since Linux 2.6.25: NFS waits end only on a fatal signal (SIGKILL), whatever the option says');
  }
  if (names.has('soft') || names.has('softerr')) {
    const timeo = Number(value('timeo') ?? 600) / 10;
    const retrans = Number(value('retrans') ?? 2);
    const give = timeo * (retrans + 1);
    w.push(
      `"${names.has('softerr') ? 'softerr' : 'soft'}": after about ${give} s without an answer (timeo ${timeo} s x ${retrans + 1} tries) applications get ` +
        'an error instead of waiting; writes in flight can be lost. Prefer "hard" unless the applications handle I/O errors',
    );
  }
  if (names.has('bg')) w.push('"bg": a mount the server does not answer reports success and retries in the background, hiding a failed restore');
  if (!names.has('soft') && !names.has('softerr')) {
    w.push(
      '"hard" (the default): while the server is dead, every process using the mount waits in the kernel until it answers or gets SIGKILL. ' +
        'The monitor abandons such calls on their own threads, and taking the mount out of service ends its users and detaches it lazily',
    );
  }
  if (names.has('nocto')) w.push('"nocto": files opened on another system after a failover may show stale contents for up to the attribute cache time');
  return w;
}
