// NasTools in memory for unit tests: the export list every server answers (or that it does not
// answer in time, or that its mount daemon is not there), host names and what they resolve to,
// and this system's identity — each a field a test sets.
import type { ExportListResult, Identity, NasTools } from '../nas-tools.js';

export class MemoryNasTools implements NasTools {
  /** What `showmount -e` prints for any server. */
  exports = '/export 10.0.0.0/24\n/other 192.168.9.9\n';
  /** The server does not answer within the limit. */
  listHangs = false;
  /** The server answers, but without a mount daemon. */
  listMissing = false;
  /** Host name -> addresses. */
  names: Record<string, string[]> = { nfshost: ['10.0.0.5'] };
  me: Identity = { addresses: ['10.0.0.11'], names: ['node1', 'node1.example.com'] };

  async exportList(server: string, timeoutMs: number): Promise<ExportListResult> {
    if (this.listHangs) return { ok: false, timedOut: true, reason: `showmount -e ${server} did not answer within ${timeoutMs} ms` };
    if (this.listMissing) return { ok: false, timedOut: false, reason: 'RPC: Program not registered' };
    return { ok: true, text: this.exports };
  }

  async resolve(name: string): Promise<string[]> {
    return this.names[name] ?? [];
  }

  identity(): Identity {
    return this.me;
  }
}
