// The mirror benchmark reads resync times from the kernel log: a misread line would publish a
// wrong partial/full ratio, so the parser is checked against md's real message forms.
import { describe, expect, it } from 'vitest';
import { copyAfter, markStamp, mdCopies } from '../../../scripts/bench/nbd-vm/md-log.js';

const log = [
  '[   10.000001] md/raid1:md0: active with 1 out of 2 mirrors',
  '[   11.500000] vigil-bench-vigil-full',
  '[   12.250000] md: recovery of RAID array md0',
  '[   13.000000] md: recovery of RAID array md10',
  '[   40.750000] md: md0: recovery done.',
  '[   41.000000] md: md10: recovery interrupted.',
  '[   50.000000] vigil-bench-vigil-partial',
  '[   51.100000] md: recovery of RAID array md0',
  '[   51.600000] md: md0: recovery done.',
  '[   60.000000] md: resync of RAID array md0',
].join('\n');

describe('mirror benchmark: md copies from the kernel log', () => {
  it('pairs each start with its end for the one array, ignoring md10 and a copy still running', () => {
    expect(mdCopies(log, 'md0')).toEqual([
      { kind: 'recovery', startS: 12.25, endS: 40.75, outcome: 'done' },
      { kind: 'recovery', startS: 51.1, endS: 51.6, outcome: 'done' },
    ]);
    expect(mdCopies(log, 'md10')).toEqual([{ kind: 'recovery', startS: 13, endS: 41, outcome: 'interrupted' }]);
  });

  it('finds the mark and the one completed copy after it', () => {
    const since = markStamp(log, 'vigil-bench-vigil-partial');
    expect(since).toBe(50);
    expect(copyAfter(log, 'md0', since)).toEqual({ kind: 'recovery', startS: 51.1, endS: 51.6, outcome: 'done' });
  });

  it('throws when the mark is missing, or the copy after it is not exactly one completed copy', () => {
    expect(() => markStamp(log, 'vigil-bench-debian-full')).toThrow(/no line/);
    expect(() => copyAfter(log, 'md0', 0)).toThrow(/one completed copy/);
    expect(() => copyAfter(log, 'md10', 0)).toThrow(/one completed copy/);
    expect(() => copyAfter(log, 'md0', 52)).toThrow(/one completed copy/);
  });
});
