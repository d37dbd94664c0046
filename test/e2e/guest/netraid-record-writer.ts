// Runs inside a VM, on the NetRAID primary, for netraid-crash-loop.test.ts: appends numbered
// records (netraid-records.ts) to the mirror device, one 4 KiB block each, and after each write
// AND its fdatasync returned — md acknowledged it — prints its `@ack` token to the serial console,
// which the host reads from qemu's log file even after the VM is SIGKILLed. It waits for GO_FILE
// before the first record (so it can be started early and the load begins at once), pauses at
// random (seeded) between records so that crashes land in different phases of the I/O, and runs
// until the VM dies. Arguments: DEVICE FIRST SLOTS SEED GO_FILE CONSOLE.
import fs from 'node:fs';
import { ackToken, encodeRecord, RECORD_BYTES } from './netraid-records.js';

const [device, firstArg, slotsArg, seedArg, goFile, consolePath] = process.argv.slice(2);
if (!device || !firstArg || !slotsArg || !seedArg || !goFile || !consolePath) {
  console.error('usage: netraid-record-writer DEVICE FIRST SLOTS SEED GO_FILE CONSOLE');
  process.exit(2);
}
const first = Number(firstArg);
const slots = Number(slotsArg);
let seed = Number(seedArg) >>> 0 || 1;
if (!Number.isSafeInteger(first) || first < 1 || !Number.isInteger(slots) || slots < 1) {
  console.error(`bad FIRST ${firstArg} or SLOTS ${slotsArg}`);
  process.exit(2);
}
/** mulberry32: the writer's pauses replay with the seed. */
function random(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);

const fd = fs.openSync(device, fs.constants.O_RDWR);
// O_NOCTTY: the console must not become this process's controlling terminal.
const con = fs.openSync(consolePath, fs.constants.O_WRONLY | fs.constants.O_NOCTTY);
console.log(`writer ready: ${device} from record ${first}, ${slots} slots`);
while (!fs.existsSync(goFile)) sleep(20);
console.log('writer going');
for (let n = first; ; n++) {
  const block = encodeRecord(n, slots);
  fs.writeSync(fd, block, 0, RECORD_BYTES, (n % slots) * RECORD_BYTES);
  // Durable on the mirror (both halves, or the one md kept) before it counts as acknowledged.
  fs.fdatasyncSync(fd);
  fs.writeSync(con, `${ackToken(n)}\n`);
  if ((n - first) % 200 === 0) console.log(`acked ${n}`);
  const r = random();
  if (r < 0.15) sleep(Math.floor(r * 200));
}
