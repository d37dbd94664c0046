// NodePower on Linux: the magic SysRq trigger. 'o' powers off and 'b' reboots at once, with
// no sync and no unmount (that is the point: a node that lost quorum must not flush one more
// write). Writing /proc/sysrq-trigger works for root whatever kernel.sysrq says (that sysctl
// only governs the keyboard). If the write fails (no procfs, not root) the process group is
// killed instead, so the node at least stops serving: its services die with vigild.
import { writeFileSync } from 'node:fs';
import type { NodePower } from '../platform.js';

const SYSRQ_TRIGGER = '/proc/sysrq-trigger';

export class LinuxNodePower implements NodePower {
  powerOff(reason: string): void {
    this.trigger('o', reason);
  }

  reboot(reason: string): void {
    this.trigger('b', reason);
  }

  private trigger(key: 'o' | 'b', reason: string): void {
    process.stderr.write(`vigild: sysrq '${key}' now: ${reason}\n`);
    try {
      writeFileSync(SYSRQ_TRIGGER, key);
    } catch (err) {
      process.stderr.write(`vigild: ${SYSRQ_TRIGGER} failed (${(err as Error).message}); killing vigild's process group instead\n`);
    }
    // The kernel acts at once; if it did not (or the write failed), end everything vigild runs.
    try {
      process.kill(-process.pid, 'SIGKILL');
    } catch {
      process.kill(process.pid, 'SIGKILL');
    }
  }
}
