// The NBD server with the TypeScript transmission: the shared client-visible suite
// (test/helpers/nbd-server-suite.ts) on the test's thread with thread-pool I/O and on its own
// worker thread with synchronous I/O, then what only this path has: the I/O modes and the
// reply-buffer backpressure. The native data path runs the same suite in
// test/integration/nbd-server-native.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { negotiateClient } from '../../../src/replication/nbd/client-handshake.js';
import { ExportTokenKey } from '../../../src/replication/nbd/export-token.js';
import { NbdServer } from '../../../src/replication/nbd/server.js';
import { NbdServerThread } from '../../../src/replication/nbd/server-thread.js';
import { ExportFile } from '../../../src/replication/nbd/export-file.js';
import { NbdTransmissionClient } from '../../../src/replication/nbd/transmission-client.js';
import { nbdServerSuite } from '../../helpers/nbd-server-suite.js';

const secret = randomBytes(32);
const key = new ExportTokenKey(secret);

nbdServerSuite('in-process', (options) => new NbdServer(options));
nbdServerSuite('worker thread', (options) => new NbdServerThread(options));

describe('export I/O modes', () => {
  it('synchronous export I/O is refused on the main thread', async () => {
    await expect(ExportFile.open(__filename, async () => 0, 'sync')).rejects.toThrow(/only allowed on a worker thread/);
  });
  it('a call the server thread does not answer in time is reported, not waited on', async () => {
    const t = new NbdServerThread({ clusterSecret: secret, deviceSize: async () => 0, callTimeoutMs: 1 });
    await expect(t.counters()).rejects.toThrow(/did not answer counters within 1 ms/);
    await t.close().catch(() => undefined);
  });
});

describe('backpressure', () => {
  it('serves a pipeline of reads far larger than the reply buffer limit without stalling', async () => {
    const dir2 = mkdtempSync(join(tmpdir(), 'vigil-nbd-bp-'));
    const img = join(dir2, 'big.img');
    writeFileSync(img, '');
    truncateSync(img, 32 * 1024 * 1024);
    for (const kind of ['in-process', 'worker thread'] as const) {
      const options = { clusterSecret: secret, deviceSize: async () => 0 };
      const srv = kind === 'in-process' ? new NbdServer(options) : new NbdServerThread(options);
      const { port: p } = await srv.listen('127.0.0.1', 0);
      await srv.exportMirror({ mirror: 'big', path: img, generation: 1, primary: 'n' });
      const s = connect({ host: '127.0.0.1', port: p });
      await new Promise<void>((r) => s.once('connect', () => r()));
      await negotiateClient(s, { exportName: key.exportName({ mirror: 'big', generation: 1, clientSystem: 'n' }) });
      const c = new NbdTransmissionClient(s);
      // 20 reads of 8 MiB sent at once: 160 MiB of replies against a 64 MiB limit.
      const reads = await Promise.all(Array.from({ length: 20 }, (_, i) => c.read((i % 4) * 8 * 1024 * 1024, 8 * 1024 * 1024)));
      expect(reads.every((b) => b.length === 8 * 1024 * 1024)).toBe(true);
      await c.disconnect();
      await srv.close();
    }
    rmSync(dir2, { recursive: true, force: true });
  }, 60_000);
});
