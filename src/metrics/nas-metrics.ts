// The vigil_nas_* families: what the NAS kit reports about NFS exports (probe attempts and their
// latency, abandoned "hung" probes, failures by cause, bad mounts remounted by address, the
// steps of releasing a mount) plus, at scrape time, the probe threads still parked in the
// kernel on each protected NFS mount. Label values are bounded: tags are resources of this
// system, the other labels come from fixed sets.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

import type { NasMetricsEvents } from '../kits/nas/nas-metrics-events.js';
import { CHECK_BUCKETS } from './naming.js';

const PROBE_BUCKETS = [...CHECK_BUCKETS, 60, 120];

export class NasMetrics implements NasMetricsEvents {
  private readonly probeDuration: Histogram<'tag' | 'outcome'>;
  private readonly hung: Counter<'tag'>;
  private readonly failures: Counter<'tag' | 'cause'>;
  private readonly reachable: Gauge<'tag'>;
  private readonly badMounts: Counter<'tag' | 'result'>;
  private readonly releaseSteps: Counter<'step' | 'outcome'>;
  private readonly releaseDuration: Histogram<'step'>;

  /** `parkedOn`: parked probe threads per key (mount point), read at scrape time; `mounts`: tag -> mount point. */
  constructor(registry: Registry, parkedOn?: () => Record<string, number>, mounts?: () => Array<{ tag: string; mountPoint: string }>) {
    const registers = [registry];
    this.probeDuration = new Histogram({
      name: 'vigil_nas_probe_duration_seconds',
      help: 'Duration of each NFS probe attempt (one system call on the mount, bounded by LKNFSSYSCALLTO), by outcome: ok, hung (abandoned), error, capacity (refused: too many stuck).',
      labelNames: ['tag', 'outcome'],
      buckets: PROBE_BUCKETS,
      registers,
    });
    this.hung = new Counter({
      name: 'vigil_nas_hung_probes_total',
      help: 'NFS probe attempts abandoned because the system call did not return within LKNFSSYSCALLTO (the thread stays parked until the kernel lets it go).',
      labelNames: ['tag'],
      registers,
    });
    this.failures = new Counter({
      name: 'vigil_nas_export_failures_total',
      help: 'NFS exports declared failed after LKNFSTIMEOUT without a successful probe, by cause of the last attempt.',
      labelNames: ['tag', 'cause'],
      registers,
    });
    this.reachable = new Gauge({
      name: 'vigil_nas_export_reachable',
      help: '1 when the last monitor run of the NFS export got an answer, 0 when it failed.',
      labelNames: ['tag'],
      registers,
    });
    this.badMounts = new Counter({
      name: 'vigil_nas_bad_mounts_total',
      help: 'File systems found mounted by host name and remounted by address (local recovery), by result.',
      labelNames: ['tag', 'result'],
      registers,
    });
    this.releaseSteps = new Counter({
      name: 'vigil_nas_release_steps_total',
      help: 'Steps taken to release an NFS mount (holders, umount, force, lazy), by outcome.',
      labelNames: ['step', 'outcome'],
      registers,
    });
    this.releaseDuration = new Histogram({
      name: 'vigil_nas_release_step_duration_seconds',
      help: 'Duration of each step of releasing an NFS mount.',
      labelNames: ['step'],
      buckets: PROBE_BUCKETS,
      registers,
    });
    if (parkedOn && mounts) {
      new Gauge({
        name: 'vigil_nas_probes_parked',
        help: 'Probe threads of a protected NFS mount still stuck in the kernel (reclaimed when it answers).',
        labelNames: ['tag'],
        registers,
        collect() {
          this.reset();
          const parked = parkedOn();
          for (const m of mounts()) this.set({ tag: m.tag }, parked[m.mountPoint] ?? 0);
        },
      });
    }
  }

  probeAttempt(tag: string, outcome: string, seconds: number): void {
    try {
      this.probeDuration.observe({ tag, outcome }, seconds);
      if (outcome === 'hung') this.hung.inc({ tag });
    } catch {
      // never disturb the monitor
    }
  }

  exportFailed(tag: string, cause: string): void {
    this.failures.inc({ tag, cause });
  }

  exportReachable(tag: string, reachable: boolean): void {
    this.reachable.set({ tag }, reachable ? 1 : 0);
  }

  badMountRemounted(tag: string, ok: boolean): void {
    this.badMounts.inc({ tag, result: ok ? 'success' : 'failure' });
  }

  releaseStep(step: string, outcome: string, seconds: number): void {
    this.releaseSteps.inc({ step, outcome });
    this.releaseDuration.observe({ step }, seconds);
  }
}
