// NodePower on Linux: the magic SysRq trigger. 'o' powers off and 'b' reboots at once, with
// no sync and no unmount (that is the point: a node that lost quorum must not flush one more
// write). Writing /proc/sysrq-trigger works for root whatever kernel.sysrq says (that sysctl
// only governs the keyboard). If the write fails (no procfs, not root) vigild ends itself and
// everything it started (endAgent), so the node at least stops serving.
import { writeFileSync } from 'node:fs';
import type { NodePower } from '../platform.js';
import { killMarkedProcesses } from './agent-mark.js';

const SYSRQ_TRIGGER = '/proc/sysrq-trigger';

export class LinuxNodePower implements NodePower {
  /** `agentMark`: the mark vigild's programs carry (agent-mark.ts); without one only vigild's group is ended. */
  constructor(private readonly agentMark?: string) {}

  powerOff(reason: string): void {
    this.trigger('o', reason);
  }

  reboot(reason: string): void {
    this.trigger('b', reason);
  }

  endAgent(reason: string): void {
    process.stderr.write(`vigild: ending vigild and every process it started: ${reason}\n`);
    // The services first: once vigild is gone nothing would end them.
    if (this.agentMark) {
      try {
        killMarkedProcesses(this.agentMark);
      } catch (err) {
        process.stderr.write(`vigild: finding the processes vigild started failed (${(err as Error).message})\n`);
      }
    }
    try {
      process.kill(-process.pid, 'SIGKILL');
    } catch {
      process.kill(process.pid, 'SIGKILL');
    }
  }

  private trigger(key: 'o' | 'b', reason: string): void {
    process.stderr.write(`vigild: sysrq '${key}' now: ${reason}\n`);
    try {
      writeFileSync(SYSRQ_TRIGGER, key);
    } catch (err) {
      process.stderr.write(`vigild: ${SYSRQ_TRIGGER} failed (${(err as Error).message})\n`);
    }
    // The kernel acts at once; if it did not (or the write failed), end everything vigild runs.
    this.endAgent(`sysrq '${key}' did not stop the node: ${reason}`);
  }
}
