// The replica state store's files (StateFiles) held in a Map, for unit tests of the NetRAID kit:
// what the kit wrote can be read back and inspected without a disk.
import type { StateFiles } from '../../src/replication/replica-state.js';

export class MapFiles implements StateFiles {
  readonly files = new Map<string, string>();
  async read(path: string) {
    return this.files.get(path);
  }
  async write(path: string, text: string) {
    this.files.set(path, text);
  }
  async remove(path: string) {
    this.files.delete(path);
  }
}
