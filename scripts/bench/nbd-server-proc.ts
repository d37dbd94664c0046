// One Vigil NBD server (on its worker thread, as vigild runs it) in its own process, for the NBD
// benchmarks (so the benchmark's client does not share an event loop with the server it
// measures). Arguments: HOST PATH SECRET_HEX MIRROR GENERATION PRIMARY [PORT]. Exports PATH, a
// file or a block device (sized through the Linux platform's block devices, as vigild does: the
// VM benchmarks export a guest's disk), on PORT (default: any free one), prints one JSON line
// {port, exportName} and serves until SIGTERM, when it prints its counters on stderr. The
// transmission phase runs on the native data path, as in vigild; VIGIL_NBD_DATA_PATH=typescript
// measures the TypeScript reference instead (VIGIL_NBD_IO_THREADS: the native I/O threads).
import { ExportTokenKey } from '../../src/replication/nbd/export-token.js';
import { NbdServerThread } from '../../src/replication/nbd/server-thread.js';

async function main(): Promise<void> {
  const [host, path, secretHex, mirror, generation, primary, portArg] = process.argv.slice(2);
  if (!host || !path || !secretHex || !mirror || !generation || !primary) {
    throw new Error('usage: nbd-server-proc HOST PATH SECRET_HEX MIRROR GENERATION PRIMARY [PORT]');
  }
  const secret = Buffer.from(secretHex, 'hex');
  const server = new NbdServerThread({
    clusterSecret: secret,
    // The thread's first answer (listen) waits for it to load its modules: on a TCG guest, over
    // 9p, that can pass the 10 s default, which would end this process before it listens.
    callTimeoutMs: 60_000,
    dataPath: process.env.VIGIL_NBD_DATA_PATH === 'typescript' ? 'typescript' : 'native',
    ...(process.env.VIGIL_NBD_IO_THREADS ? { ioThreads: Number(process.env.VIGIL_NBD_IO_THREADS) } : {}),
    // Loaded only for a block device (the native data path loads the addon on the server's thread).
    deviceSize: async (p) => {
      const { LinuxBlockDevices } = await import('../../src/platform/linux/block-devices.js');
      return (await new LinuxBlockDevices().info(p, 10_000)).sizeBytes;
    },
  });
  const { port } = await server.listen(host, portArg ? Number(portArg) : 0);
  const gen = Number(generation);
  await server.exportMirror({ mirror, path, generation: gen, primary });
  const exportName = new ExportTokenKey(secret).exportName({ mirror, generation: gen, clientSystem: primary });
  process.stdout.write(`${JSON.stringify({ port, exportName })}\n`);
  process.once('SIGTERM', () => {
    void server
      .counters()
      .then((c) => process.stderr.write(`${JSON.stringify(c)}\n`))
      .then(() => server.close())
      .then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
