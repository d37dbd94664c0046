// One Vigil NBD server (on its worker thread, as vigild runs it) in its own process, for the NBD benchmark (so the benchmark's client does
// not share an event loop with the server it measures). Arguments: HOST PATH SECRET_HEX MIRROR
// GENERATION PRIMARY. Exports PATH (a file; block devices need the platform and are not used by
// the benchmark), prints one JSON line {port, exportName} and serves until SIGTERM.
import { ExportTokenKey } from '../../src/replication/nbd/export-token.js';
import { NbdServerThread } from '../../src/replication/nbd/server-thread.js';

async function main(): Promise<void> {
  const [host, path, secretHex, mirror, generation, primary] = process.argv.slice(2);
  if (!host || !path || !secretHex || !mirror || !generation || !primary) {
    throw new Error('usage: nbd-server-proc HOST PATH SECRET_HEX MIRROR GENERATION PRIMARY');
  }
  const secret = Buffer.from(secretHex, 'hex');
  const server = new NbdServerThread({
    clusterSecret: secret,
    deviceSize: async (p) => Promise.reject(new Error(`the benchmark exports files only, not ${p}`)),
  });
  const { port } = await server.listen(host, 0);
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
