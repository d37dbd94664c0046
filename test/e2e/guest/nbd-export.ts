// Runs inside a VM: Vigil's NBD server, on its worker thread as vigild runs it, exporting one
// device on the given address, with the block device's size from the Linux platform (the addon). Arguments: SNAPSHOT_DIR HOST
// PORT DEVICE SECRET_HEX MIRROR GENERATION PRIMARY. Prints {"listening":port} once serving and
// the server's counters as one JSON line on SIGTERM, then exits. Writing {generation, primary}
// to EPOCH_FILE (/tmp/nbd-epoch.json) moves the mirror to that epoch, as the mirror lifecycle
// does at a failover (a file, not a signal: the process under the agent is tsx's parent). The code is loaded from
// SNAPSHOT_DIR: a copy of the compiled dist/src parts and the addon made before the VMs booted
// (see useGuestSnapshot); compiled, because the server's worker thread loads JavaScript.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import path from 'node:path';

const EPOCH_FILE = '/tmp/nbd-epoch.json';

const [snapshotDir, host, port, device, secretHex, mirror, generation, primary] = process.argv.slice(2);
if (!snapshotDir || !host || !port || !device || !secretHex || !mirror || !generation || !primary) {
  console.error('usage: nbd-export.ts SNAPSHOT_DIR HOST PORT DEVICE SECRET_HEX MIRROR GENERATION PRIMARY');
  process.exit(2);
}
const { NbdServerThread } = (await import(path.join(snapshotDir, 'dist', 'src', 'replication', 'nbd', 'server-thread.js'))) as typeof import('../../../src/replication/nbd/server-thread.js');
const { createLinuxPlatform } = (await import(path.join(snapshotDir, 'dist', 'src', 'platform', 'linux', 'index.js'))) as typeof import('../../../src/platform/linux/index.js');

const platform = createLinuxPlatform();
const server = new NbdServerThread({
  clusterSecret: Buffer.from(secretHex, 'hex'),
  deviceSize: async (p) => (await platform.blockDevices.info(p, 10_000)).sizeBytes,
  dataPath: 'native', // as vigild runs it
  log: (level, msg, fields) => console.log(JSON.stringify({ level, msg, ...fields })),
});
const bound = await server.listen(host, Number(port));
await server.exportMirror({ mirror, path: device, generation: Number(generation), primary });
console.log(JSON.stringify({ listening: bound.port }));
watchFile(EPOCH_FILE, { interval: 200 }, (st) => {
  if (st.size === 0) return;
  const epoch = JSON.parse(readFileSync(EPOCH_FILE, 'utf8')) as { generation: number; primary: string };
  server.exportMirror({ mirror, path: device, ...epoch }).then(
    () => console.log(JSON.stringify({ epoch })),
    (err: Error) => console.log(JSON.stringify({ epochError: err.message })),
  );
});
let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  unwatchFile(EPOCH_FILE);
  void server
    .counters()
    .then((counters) => console.log(JSON.stringify({ counters })))
    .then(() => server.close())
    .then(() => process.exit(0));
});
