// For LCD tests whose writes go to the memory kernel while Lcd.open read and created the
// database on the real disk: copy the files open() created into the memory kernel (so the
// journal can be appended to there), and read back the database the memory "disk" holds.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { JOURNAL_FILE_NAME, LCD_FILE_NAME } from '../../src/lcd/lcd.js';
import { databaseFromTexts } from '../../src/lcd/store.js';
import type { LcdDocument } from '../../src/lcd/schema.js';
import type { MemoryKernel } from '../../src/platform/memory/kernel.js';

export function seedMemoryDisk(kernel: MemoryKernel, dir: string): void {
  for (const name of [LCD_FILE_NAME, JOURNAL_FILE_NAME]) {
    kernel.writeData(kernel.createFile(path.join(dir, name), 0o600), fs.readFileSync(path.join(dir, name)));
  }
}

/** The database in the memory kernel's `dir` (snapshot + journal); undefined without a snapshot. */
export function memoryDiskState(kernel: MemoryKernel, dir: string): LcdDocument | undefined {
  let snapshot: string;
  try {
    snapshot = kernel.readFile(path.join(dir, LCD_FILE_NAME)).toString();
  } catch {
    return undefined;
  }
  let journal: string | undefined;
  try {
    journal = kernel.readFile(path.join(dir, JOURNAL_FILE_NAME)).toString();
  } catch {
    journal = undefined;
  }
  return databaseFromTexts(snapshot, journal);
}
