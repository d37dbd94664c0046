// Child process for lcd-crash.test.ts: mutates an LCD as fast as it can and prints each
// committed generation on stdout (pipes are synchronous on Linux, so a printed generation
// was committed before the line left). The parent SIGKILLs it at random instants. Writes go
// through the real durable writer (a native thread per write), as in vigild.
//   lcd-writer.mjs DIR [COMPACT_AT_JOURNAL_BYTES]
// A small COMPACT_AT_JOURNAL_BYTES makes the LCD compact every few changes, so that kills land
// inside compactions as often as inside journal appends.
import { Lcd } from '../../../dist/src/lcd/lcd.js';
import { createLinuxPlatform } from '../../../dist/src/platform/linux/index.js';

const dir = process.argv[2];
const compactAtJournalBytes = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
const lcd = Lcd.open({ dir, localSystem: 'writer', files: createLinuxPlatform().durableFiles, lock: true, compactAtJournalBytes });
if (!lcd.getInstance('counter')) {
  await lcd.createInstance({ tag: 'counter', id: '/counter', app: 'gen', type: 'app', info: String(lcd.generation + 1) });
}
process.stdout.write(`${lcd.generation}\n`);
for (;;) {
  await lcd.mutate('crash-test step', (d) => {
    const n = d.generation + 1;
    // One change touches several records: the counter (replaced: committed records are never
    // edited in place), a new instance, a dependency on the previous one, and the removal of an
    // old one with its dependencies.
    const c = d.instances.findIndex((i) => i.tag === 'counter');
    d.instances[c] = { ...d.instances[c], info: String(n) };
    d.instances.push({ system: 'writer', tag: `r${n}`, id: `/r/${n}`, app: 'gen', type: 'app', switchback: 'intelligent', state: 'OSU', info: 'x'.repeat(n % 500), reason: '' });
    if (d.instances.some((i) => i.tag === `r${n - 1}`)) d.dependencies.push({ system: 'writer', parentTag: `r${n}`, childTag: `r${n - 1}` });
    const old = `r${n - 5}`;
    d.instances = d.instances.filter((i) => i.tag !== old);
    d.dependencies = d.dependencies.filter((x) => x.parentTag !== old && x.childTag !== old);
  });
  process.stdout.write(`${lcd.generation}\n`);
}
