// The end of the standby's boot: after `vigil standby` took over (its state file says active),
// vigild brings the protected hierarchies in service here. A freshly started vigild has never
// seen the primary alive, so the primary's death is no event for its failover logic; this
// subsystem supplies the step instead, once per start: as soon as the cluster layer has decided
// the primary is not ALIVE (its start-up grace over), every hierarchy root this system holds that
// is not in service is brought in service, as an administrator's in-service would. A primary that
// is ALIVE (it came back, or the state is stale) stops it: nothing is brought in service then.
import * as fsp from 'node:fs/promises';
import type { StandbySettings } from './standby-settings.js';
import { type StandbyStateRecord, standbyStatePath } from './standby-state-file.js';

export interface StandbyBootDeps {
  /** ALIVE / DEAD / UNKNOWN, or undefined when the cluster layer has no path to it. */
  systemState(name: string): string | undefined;
  /** Tags of the hierarchy roots on this system that are not in service. */
  rootsOutOfService(): string[];
  inService(tag: string): Promise<{ ok: boolean; message: string }>;
  log: { info(fields: Record<string, unknown>, msg: string): void; warn(fields: Record<string, unknown>, msg: string): void };
  /** How long an undecided primary (no path, or UNKNOWN) is waited for: the membership's grace. */
  graceMs: number;
}

export class StandbyBootService {
  readonly name = 'standby-boot';
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private busy = false;

  constructor(
    private readonly s: StandbySettings,
    private readonly d: StandbyBootDeps,
  ) {}

  start(): void {
    this.startedAt = Date.now();
    this.timer = setInterval(() => void this.poll(), 1000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private done(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async poll(): Promise<void> {
    if (this.busy || !this.timer) return;
    this.busy = true;
    try {
      let st: StandbyStateRecord;
      try {
        st = JSON.parse(await fsp.readFile(standbyStatePath(this.s.stateDir), 'utf8')) as StandbyStateRecord;
      } catch {
        return this.done(); // the listener never ran here: an ordinary start
      }
      if (st.state !== 'active') return this.done();
      const primary = this.d.systemState(this.s.primary);
      if (primary === 'ALIVE') {
        this.d.log.warn({ primary: this.s.primary }, `standby active but ${this.s.primary} is ALIVE: not bringing hierarchies in service here`);
        return this.done();
      }
      if (primary !== 'DEAD' && Date.now() - this.startedAt < this.d.graceMs) return; // still undecided
      const tags = this.d.rootsOutOfService();
      this.d.log.info({ primary: this.s.primary, tags }, `standby took over from ${this.s.primary} (${st.why}): bringing ${tags.length ? tags.join(', ') : 'no hierarchy'} in service`);
      this.done();
      for (const tag of tags) {
        const r = await this.d.inService(tag);
        if (r.ok) this.d.log.info({ tag }, `standby: ${tag} in service`);
        else this.d.log.warn({ tag, error: r.message }, `standby: ${tag} could not be brought in service: ${r.message}`);
      }
    } finally {
      this.busy = false;
    }
  }
}
