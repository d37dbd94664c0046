// The NBD server on its own worker thread: what vigild runs. The data path (parsing requests,
// disk I/O, replies) never touches vigild's main event loop, so a resync at full speed cannot
// delay heartbeats, and export I/O is synchronous on that thread (no hop to libuv's pool and
// back per request, and a disk that hangs blocks this thread alone, never the pool the rest of
// vigild's file I/O shares). Same API as NbdServer; each call is a message to the thread with a
// time limit, so a thread stuck in the kernel is reported instead of waited on forever. Block
// device sizes are looked up here, on the main thread, through the platform.
import { stat } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { VigilError } from '../../common/errors.js';
import type { DeviceSizeLookup } from './export-file.js';
import type { MirrorExport, NbdServerCounters, NbdServerLog } from './server.js';

export interface NbdServerThreadOptions {
  clusterSecret: Buffer;
  deviceSize: DeviceSizeLookup;
  listExports?: boolean;
  handshakeTimeoutMs?: number;
  log?: NbdServerLog;
  /** Time limit of each call to the thread (default 10 s). */
  callTimeoutMs?: number;
  /**
   * Where the transmission phase runs: 'native', the platform's data path (the Linux addon's
   * threads, what vigild uses), or 'typescript' (default: transmission.ts on this worker
   * thread, which needs no addon — the unit tests run it).
   */
  dataPath?: 'native' | 'typescript';
  /** I/O threads per connection of the native data path. */
  ioThreads?: number;
}

export interface ThreadWorkerData {
  clusterSecret: Uint8Array;
  dataPath?: 'native' | 'typescript';
  ioThreads?: number;
  listExports?: boolean;
  handshakeTimeoutMs?: number;
}

export type ThreadRequest = { id: number } & (
  | { op: 'listen'; host: string; port: number }
  | { op: 'export'; spec: MirrorExport; deviceSizeBytes?: number }
  | { op: 'unexport'; mirror: string }
  | { op: 'counters' }
  | { op: 'close' }
);

export type ThreadResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; message: string; number: number }
  | { log: { level: 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, unknown> } };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Defined only in the bundled vigild and CLI (scripts/bundle-dist.mjs). */
declare const VIGIL_NBD_WORKER_URL: string | undefined;

export class NbdServerThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextId = 1;
  private failure: Error | undefined;
  private readonly log: NbdServerLog;

  constructor(private readonly options: NbdServerThreadOptions) {
    this.log = options.log ?? (() => undefined);
    const here = fileURLToPath(import.meta.url);
    // Bundled vigild and CLI (scripts/bundle-dist.mjs): the worker's bundle, at the path the bundler
    // set relative to vigild's file. Compiled: the .js beside this file. From sources (tests run
    // TypeScript): the .ts, with tsx's loader registered in the thread first (a dev dependency).
    const fromSources = here.endsWith('.ts');
    const entry =
      typeof VIGIL_NBD_WORKER_URL === 'string'
        ? fileURLToPath(new URL(VIGIL_NBD_WORKER_URL, import.meta.url))
        : here.replace(/server-thread\.(ts|js)$/, `server-thread-worker.${fromSources ? 'ts' : 'js'}`);
    const workerData: ThreadWorkerData = {
      clusterSecret: new Uint8Array(options.clusterSecret),
      ...(options.listExports !== undefined ? { listExports: options.listExports } : {}),
      ...(options.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: options.handshakeTimeoutMs } : {}),
      ...(options.dataPath !== undefined ? { dataPath: options.dataPath } : {}),
      ...(options.ioThreads !== undefined ? { ioThreads: options.ioThreads } : {}),
    };
    this.worker = fromSources
      ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(pathToFileURL(entry).href)}); });`, { eval: true, workerData })
      : new Worker(entry, { workerData });
    this.worker.on('message', (m: ThreadResponse) => this.onMessage(m));
    this.worker.on('error', (err) => this.fail(new VigilError(0, `NBD server thread failed: ${err.message}`, {}, { cause: err })));
    this.worker.on('exit', (code) => this.fail(new VigilError(0, `NBD server thread exited (code ${code})`)));
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return this.call({ op: 'listen', host, port }) as Promise<{ host: string; port: number }>;
  }

  async exportMirror(spec: MirrorExport): Promise<void> {
    const st = await stat(spec.path);
    const deviceSizeBytes = st.isBlockDevice() ? await this.options.deviceSize(spec.path) : undefined;
    await this.call({ op: 'export', spec, ...(deviceSizeBytes !== undefined ? { deviceSizeBytes } : {}) });
  }

  async unexportMirror(mirror: string): Promise<void> {
    await this.call({ op: 'unexport', mirror });
  }

  counters(): Promise<NbdServerCounters> {
    return this.call({ op: 'counters' }) as Promise<NbdServerCounters>;
  }

  /** Closes the server, then ends the thread (terminated if it does not answer in time). */
  async close(): Promise<void> {
    try {
      if (!this.failure) await this.call({ op: 'close' });
    } finally {
      this.worker.removeAllListeners('exit');
      await this.worker.terminate();
    }
  }

  private call(req: DistributiveOmit<ThreadRequest, 'id'>): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const timeoutMs = this.options.callTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new VigilError(0, `NBD server thread did not answer ${req.op} within ${timeoutMs} ms (stuck in disk I/O?)`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.worker.postMessage({ id, ...req });
    });
  }

  private onMessage(m: ThreadResponse): void {
    if ('log' in m) return this.log(m.log.level, m.log.msg, m.log.fields);
    const p = this.pending.get(m.id);
    if (!p) return; // answered after its time limit
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.value);
    else p.reject(new VigilError(m.number, m.message));
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.log('error', err.message);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}
