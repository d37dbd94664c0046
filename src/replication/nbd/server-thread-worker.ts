// Entry of the NBD server's worker thread (see server-thread.ts): one NbdServer with
// synchronous export I/O, driven by request messages from the main thread and answering each
// with {id, ok, value} or {id, ok: false, message, number}; log lines are forwarded. With
// dataPath 'native' the transmission phase runs on the Linux platform's data path (the addon,
// loaded here on this thread only then).
import { parentPort, workerData } from 'node:worker_threads';
import { VigilError } from '../../common/errors.js';
import { NbdServer, type MirrorExport } from './server.js';
import type { ThreadRequest, ThreadResponse, ThreadWorkerData } from './server-thread.js';

const data = workerData as ThreadWorkerData;
const port = parentPort!;
/** Block device sizes resolved by the main thread (through the platform) before each export. */
const deviceSizes = new Map<string, number>();

const dataPath = data.dataPath === 'native' ? new (await import('../../platform/linux/nbd-data-path.js')).LinuxNbdDataPath() : undefined;

const server = new NbdServer({
  ...(dataPath ? { dataPath } : {}),
  ...(data.ioThreads !== undefined ? { ioThreads: data.ioThreads } : {}),
  clusterSecret: Buffer.from(data.clusterSecret),
  deviceSize: async (path) => {
    const size = deviceSizes.get(path);
    if (size === undefined) throw new VigilError(0, `no size known for block device ${path}`, { path });
    return size;
  },
  io: 'sync',
  ...(data.listExports !== undefined ? { listExports: data.listExports } : {}),
  ...(data.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: data.handshakeTimeoutMs } : {}),
  log: (level, msg, fields) => port.postMessage({ log: { level, msg, fields } } satisfies ThreadResponse),
});

async function handle(req: ThreadRequest): Promise<unknown> {
  switch (req.op) {
    case 'listen':
      return server.listen(req.host, req.port);
    case 'export':
      if (req.deviceSizeBytes !== undefined) deviceSizes.set(req.spec.path, req.deviceSizeBytes);
      return server.exportMirror(req.spec as MirrorExport);
    case 'unexport':
      return server.unexportMirror(req.mirror);
    case 'counters':
      return server.counters();
    case 'close':
      return server.close();
  }
}

port.on('message', (req: ThreadRequest) => {
  handle(req).then(
    (value) => port.postMessage({ id: req.id, ok: true, value } satisfies ThreadResponse),
    (err: unknown) =>
      port.postMessage({
        id: req.id,
        ok: false,
        message: (err as Error).message,
        number: err instanceof VigilError ? err.number : 0,
      } satisfies ThreadResponse),
  );
});
