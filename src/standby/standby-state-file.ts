// The standby's state as the listener last wrote it (VIGIL_STATE_DIR/standby.json): what
// `vigil standby status` and vigild's metrics show, and what makes an active standby stay active
// across a reboot until the manual return. Written crash-safe (DurableFiles.writeAtomic).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DurableFiles } from '../platform/platform.js';
import type { StandbyState } from './standby-machine.js';

export interface StandbyStateRecord {
  state: StandbyState;
  why: string;
  /** Wall time (ms) the state began. */
  since: number;
  primary: string;
  /** The primary's last record seen, as strings (bigints) for JSON. */
  lastRecord?: { slot: number; seq: string; bootId: string; timeMs: number; state: string };
  /** Wall time (ms) of the last heartbeat (an advancing record) the listener saw. */
  lastHeartbeat?: number;
  heartbeats: number;
  rejectedRecords: number;
  /** How the LUN is read ('SG_IO: ...' / 'O_DIRECT: ...'). */
  io?: string;
  /** Wall time (ms) of this write, and the listener's pid (0 once it has exited). */
  updated: number;
  pid: number;
}

export const STANDBY_STATE_FILE = 'standby.json';

export function standbyStatePath(stateDir: string): string {
  return path.join(stateDir, STANDBY_STATE_FILE);
}

/** undefined when no listener ever ran here; an unreadable file is an error naming it. */
export function readStandbyState(stateDir: string): StandbyStateRecord | undefined {
  const file = standbyStatePath(stateDir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const r = JSON.parse(text) as StandbyStateRecord;
  if (!['listening', 'taking_over', 'active'].includes(r.state)) throw new Error(`${file}: unknown standby state ${JSON.stringify(r.state)}`);
  return r;
}

/** The state directory, made (0700) when the standby runs before vigild ever has. */
export function ensureStateDir(stateDir: string): void {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
}

export async function writeStandbyState(files: DurableFiles, stateDir: string, r: StandbyStateRecord, timeoutMs: number): Promise<void> {
  await files.writeAtomic(standbyStatePath(stateDir), JSON.stringify(r, null, 2) + '\n', { mode: 0o600, timeoutMs });
}
