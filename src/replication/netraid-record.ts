// What a NetRAID device is made of, kept on the primary between netraid_* commands (the kernel
// knows the array, not which system and port its backup is on): one small JSON file per device
// under <state dir>/netraid/, replaced atomically and durably through the platform's DurableFiles.
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

import type { DurableFiles } from '../platform/platform.js';
import { replicationError } from './errors.js';

const RecordSchema = z.object({
  number: z.number().int().min(0).max(255),
  tag: z.string().min(1),
  localSystem: z.string().min(1),
  localPartition: z.string().regex(/^\//),
  target: z
    .object({
      system: z.string().min(1),
      address: z.string().min(1),
      port: z.number().int().min(1).max(65535),
      partition: z.string().min(1),
      exportName: z.string().min(1),
    })
    .optional(),
  backupSlot: z.object({ number: z.number().int().min(0), raidDisk: z.number().int().min(0) }).optional(),
});

export type NetraidRecord = z.infer<typeof RecordSchema>;

/** Where records live: reads and removals directly, writes through DurableFiles. */
export interface RecordStore {
  durableFiles: DurableFiles;
  /** The file's text, undefined when it does not exist. */
  read(path: string): Promise<string | undefined>;
  list(dir: string): Promise<string[]>;
  ensureDir(dir: string): Promise<void>;
  remove(path: string): Promise<void>;
}

/** The store on the real file system. */
export function fileRecordStore(durableFiles: DurableFiles): RecordStore {
  return {
    durableFiles,
    read: (path) =>
      readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      }),
    list: (dir) => readdir(dir).catch(() => [] as string[]),
    ensureDir: async (dir) => void (await mkdir(dir, { recursive: true, mode: 0o700 })),
    remove: (path) => rm(path, { force: true }),
  };
}

export class NetraidRecords {
  readonly dir: string;

  constructor(
    stateDir: string,
    private readonly store: RecordStore,
    private readonly timeoutMs: number,
  ) {
    this.dir = join(stateDir, 'netraid');
  }

  private file(number: number): string {
    return join(this.dir, `netraid${number}.json`);
  }

  async get(number: number): Promise<NetraidRecord | undefined> {
    let text: string | undefined;
    try {
      text = await this.store.read(this.file(number));
    } catch (err) {
      throw replicationError(104002, [this.file(number)], { reason: (err as Error).message }, err);
    }
    if (text === undefined) return undefined;
    let parsed;
    try {
      parsed = RecordSchema.safeParse(JSON.parse(text));
    } catch (err) {
      throw replicationError(104002, [this.file(number)], { reason: (err as Error).message }, err);
    }
    if (!parsed.success) throw replicationError(104002, [this.file(number)], { reason: parsed.error.message });
    return parsed.data;
  }

  async list(): Promise<NetraidRecord[]> {
    const out: NetraidRecord[] = [];
    for (const n of (await this.store.list(this.dir)).sort()) {
      const m = /^netraid(\d+)\.json$/.exec(n);
      if (!m) continue;
      const r = await this.get(Number(m[1]));
      if (r) out.push(r);
    }
    return out;
  }

  async put(record: NetraidRecord): Promise<void> {
    const checked = RecordSchema.parse(record);
    await this.store.ensureDir(this.dir);
    await this.store.durableFiles.writeAtomic(this.file(checked.number), `${JSON.stringify(checked, null, 2)}\n`, { mode: 0o600, timeoutMs: this.timeoutMs });
  }

  async remove(number: number): Promise<void> {
    await this.store.remove(this.file(number));
  }
}
