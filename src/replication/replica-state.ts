// What each system durably knows about a replicated resource, kept beside the NetRAID records:
// its role (primary or backup), the mirror generation it last took part in, the primary of that
// generation, and — on a backup — whether its partition is known to hold every acknowledged
// write ("current") or not ("out of date", with the reason). Plus the seeds' data_corrupt flag,
// <TAG>_data_corrupt, present while the resource is in service on this system (written before
// it goes in service, removed when it is taken out cleanly), so a system that crashed while it
// was the primary knows it on its return. Writes go through DurableFiles (fsync'd, atomic).
import { join } from 'node:path';
import { z } from 'zod';

const StateSchema = z.object({
  tag: z.string().min(1),
  role: z.enum(['primary', 'backup']),
  generation: z.number().int().min(0),
  primary: z.string().min(1),
  /** Backup only: false until a resync from the primary completed; true again after it. */
  current: z.boolean(),
  /** Why the backup is out of date (shown by lcdstatus and in the refusal). */
  outOfDateReason: z.string().optional(),
});
export type ReplicaState = z.infer<typeof StateSchema>;

/** The few file operations the store needs (real files in vigild, a map in unit tests). */
export interface StateFiles {
  /** The file's text, or undefined when it does not exist. */
  read(path: string): Promise<string | undefined>;
  /** Atomic and durable (on disk when this resolves). */
  write(path: string, text: string): Promise<void>;
  remove(path: string): Promise<void>;
}

export class ReplicaStates {
  readonly dir: string;

  constructor(
    stateDir: string,
    private readonly files: StateFiles,
  ) {
    this.dir = join(stateDir, 'netraid');
  }

  private stateFile(tag: string): string {
    return join(this.dir, `${tag.replace(/\//g, '_')}.replica.json`);
  }

  /** The seeds' flag file: $LKROOT/subsys/scsi/resources/netraid/$TAG_data_corrupt. */
  dataCorruptFlag(tag: string): string {
    return join(this.dir, `${tag.replace(/\//g, '_')}_data_corrupt`);
  }

  async get(tag: string): Promise<ReplicaState | undefined> {
    const text = await this.files.read(this.stateFile(tag));
    if (text === undefined) return undefined;
    return StateSchema.parse(JSON.parse(text));
  }

  async put(state: ReplicaState): Promise<void> {
    await this.files.write(this.stateFile(state.tag), `${JSON.stringify(StateSchema.parse(state))}\n`);
  }

  async remove(tag: string): Promise<void> {
    await this.files.remove(this.stateFile(tag));
    await this.files.remove(this.dataCorruptFlag(tag));
  }

  /** Durably records that this backup no longer holds every acknowledged write. */
  async markOutOfDate(tag: string, reason: string): Promise<void> {
    const s = await this.get(tag);
    if (!s || s.role !== 'backup') return;
    if (!s.current && s.outOfDateReason === reason) return;
    await this.put({ ...s, current: false, outOfDateReason: reason });
  }

  async hasDataCorruptFlag(tag: string): Promise<boolean> {
    return (await this.files.read(this.dataCorruptFlag(tag))) !== undefined;
  }

  async setDataCorruptFlag(tag: string, system: string): Promise<void> {
    await this.files.write(this.dataCorruptFlag(tag), `${system}\n`);
  }

  async clearDataCorruptFlag(tag: string): Promise<void> {
    await this.files.remove(this.dataCorruptFlag(tag));
  }
}
