// The standby's monitor inside a running vigild (on the primary and on an active standby): every
// heartbeat interval it reads the primary's record from the shared LUN (PrimaryRecordReader: SG_IO,
// or O_DIRECT where SG_IO does not apply) and the standby's state file, and exposes them as the
// vigil_standby_* metric families at scrape time:
//   vigil_standby_info{role,primary,standby}          1
//   vigil_standby_state{state}                        1 for the standby's state (the standby only)
//   vigil_standby_primary_record_sequence             the primary's last record's sequence
//   vigil_standby_primary_record_age_seconds          now minus the record's own time (wall clocks)
//   vigil_standby_heartbeat_age_seconds               since the record last advanced, by this
//                                                     system's monotonic clock (clock-skew free)
// Nothing here decides anything: the takeover is `vigil standby`'s alone.
import * as fsp from 'node:fs/promises';
import { Gauge, type Registry } from 'prom-client';
import { readKeyFile } from '../cluster/cluster-key.js';
import { type DiskRecord, diskRecordKey, RecordTracker } from '../cluster/disk-record.js';
import type { DiskPlatform } from '../cluster/disk-path.js';
import type { VigilConfig } from '../common/config.js';
import { PrimaryRecordReader } from './primary-record-reader.js';
import { standbySettings, type StandbySettings } from './standby-settings.js';
import { type StandbyStateRecord, standbyStatePath } from './standby-state-file.js';

const STATES = ['listening', 'taking_over', 'active'] as const;

export interface StandbyMonitorLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

export class StandbyMonitor {
  readonly name = 'standby-monitor';
  private timer: NodeJS.Timeout | undefined;
  private reader: PrimaryRecordReader | undefined;
  private busy = false;
  private failing = false;
  private record: DiskRecord | undefined;
  private lastAdvanceMs: number | undefined;
  private tracker = new RecordTracker();
  private state: StandbyStateRecord | undefined;
  private pollsWithoutRecord = 0;

  constructor(
    private readonly s: StandbySettings,
    private readonly platform: DiskPlatform,
    private readonly log: StandbyMonitorLog,
    registry: Registry,
  ) {
    const self = this;
    const registers = [registry];
    new Gauge({ name: 'vigil_standby_info', help: 'The recovery-server roles (fixed in configuration) and this system\'s role among them.', labelNames: ['role', 'primary', 'standby'], registers }).set({ role: s.role, primary: s.primary, standby: s.standby }, 1);
    if (s.role === 'standby') {
      new Gauge({
        name: 'vigil_standby_state',
        help: 'The standby\'s state as `vigil standby` last wrote it: listening, taking_over or active (1 for the current one).',
        labelNames: ['state'],
        registers,
        collect() {
          this.reset();
          const cur = self.state?.state;
          for (const st of STATES) this.set({ state: st }, cur === st ? 1 : 0);
        },
      });
    }
    new Gauge({
      name: 'vigil_standby_primary_record_sequence',
      help: 'Sequence number of the primary\'s last disk heartbeat record read from the shared LUN.',
      registers,
      collect() {
        this.reset();
        if (self.record) this.set(Number(self.record.seq));
      },
    });
    new Gauge({
      name: 'vigil_standby_primary_record_age_seconds',
      help: 'This system\'s wall clock minus the time written in the primary\'s last record (includes any clock difference).',
      registers,
      collect() {
        this.reset();
        if (self.record) this.set(Math.max(0, (Date.now() - self.record.timeMs) / 1000));
      },
    });
    new Gauge({
      name: 'vigil_standby_heartbeat_age_seconds',
      help: 'Seconds since this system last saw the primary\'s record advance on the shared LUN (monotonic clock).',
      registers,
      collect() {
        this.reset();
        if (self.lastAdvanceMs !== undefined) this.set((performance.now() - self.lastAdvanceMs) / 1000);
      },
    });
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.s.heartbeatIntervalMs);
    void this.poll();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async poll(): Promise<void> {
    if (this.busy) return; // the last read is still in the kernel
    this.busy = true;
    try {
      if (this.s.role === 'standby') {
        try {
          this.state = JSON.parse(await fsp.readFile(standbyStatePath(this.s.stateDir), 'utf8')) as StandbyStateRecord;
        } catch {
          this.state = undefined;
        }
      }
      this.reader ??= await PrimaryRecordReader.open(this.s.device, this.s.primary, diskRecordKey(readKeyFile(this.s.keyFile)), this.platform, Math.max(1000, this.s.heartbeatIntervalMs * 2));
      const r = (await this.reader.read()).record;
      // A primary without a DISK comm path to the standby writes no record: the standby would
      // take over at its next boot. Say so, once, after a few intervals (the path starts with vigild).
      if (this.s.role === 'primary' && !r && ++this.pollsWithoutRecord === 5) {
        this.log.warn({ device: this.s.device }, `this primary writes no heartbeat record on ${this.s.device}: the standby ${this.s.standby} would take over at its next boot; create the DISK comm path: net_create -S ${this.s.standby} -T DISK -D ${this.s.device}`);
      }
      if (r) {
        this.record = r;
        if (this.tracker.observe(r, Date.now()).heartbeat) this.lastAdvanceMs = performance.now();
      }
      if (this.failing) this.log.info({ device: this.s.device }, 'standby monitor reads the heartbeat area again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.log.warn({ device: this.s.device, error: (err as Error).message }, 'standby monitor cannot read the heartbeat area');
      this.failing = true;
    } finally {
      this.busy = false;
    }
  }
}

/** The monitor for vigild when the VIGIL_STANDBY_* keys name this system, else undefined. */
export function standbyMonitorFor(config: VigilConfig, platform: DiskPlatform, log: StandbyMonitorLog, registry: Registry): StandbyMonitor | undefined {
  const s = standbySettings(config);
  if (!s || s.role === 'none') return undefined;
  return new StandbyMonitor(s, platform, log, registry);
}
