// The memory twin of NodePower: records each power-off, reboot or end of the agent instead of doing it, so unit
// tests can see that a quorum loss stopped the node, and when, without stopping anything.
import type { NodePower } from '../platform.js';

export interface NodePowerRecord {
  action: 'power-off' | 'reboot' | 'end-agent';
  reason: string;
}

export class MemoryNodePower implements NodePower {
  readonly records: NodePowerRecord[] = [];
  /** Called after each record (a test can stop its fake node there). */
  onAction: ((r: NodePowerRecord) => void) | undefined;

  powerOff(reason: string): void {
    this.record({ action: 'power-off', reason });
  }

  reboot(reason: string): void {
    this.record({ action: 'reboot', reason });
  }

  endAgent(reason: string): void {
    this.record({ action: 'end-agent', reason });
  }

  private record(r: NodePowerRecord): void {
    this.records.push(r);
    this.onAction?.(r);
  }
}
