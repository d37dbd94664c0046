// NasTools over nfs-common's showmount and glibc's getent, each a child process with a time
// limit (a name lookup can hang on an unreachable DNS server; showmount on a dead NFS server).
import { hostname, networkInterfaces } from 'node:os';

import { runProgram } from '../../common/run-program.js';
import type { ExportListResult, Identity, NasTools } from '../nas-tools.js';

export class LinuxNasTools implements NasTools {
  async exportList(server: string, timeoutMs: number): Promise<ExportListResult> {
    const r = await runProgram('showmount', ['-e', '--no-headers', server], { timeoutMs, killGraceMs: 500 });
    if (r.timedOut) return { ok: false, timedOut: true, reason: `showmount -e ${server} did not answer within ${timeoutMs} ms` };
    if (r.spawnError) return { ok: false, timedOut: false, reason: `showmount could not start (install nfs-common): ${r.spawnError}` };
    if (r.code !== 0) return { ok: false, timedOut: false, reason: `showmount -e ${server}: ${(r.stderr || r.stdout).trim().split('\n').at(-1)}` };
    return { ok: true, text: r.stdout };
  }

  async resolve(name: string, timeoutMs: number): Promise<string[]> {
    const out: string[] = [];
    for (const db of ['ahostsv4', 'ahostsv6']) {
      const r = await runProgram('getent', [db, name], { timeoutMs, killGraceMs: 200 });
      if (r.timedOut) throw new Error(`looking up ${name} did not finish within ${timeoutMs} ms`);
      if (r.code !== 0) continue; // 2: not found in this family
      for (const line of r.stdout.split('\n')) {
        const addr = line.trim().split(/\s+/)[0];
        if (addr && !out.includes(addr)) out.push(addr);
      }
      if (out.length) break;
    }
    return out;
  }

  identity(): Identity {
    const addresses: string[] = [];
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) if (!a.internal) addresses.push(a.address);
    }
    const full = hostname().toLowerCase();
    const names = [...new Set([full, full.split('.')[0]!])];
    return { addresses, names };
  }
}
