// The record format and the verifier of the NetRAID crash loop (test/e2e/guest/netraid-records.ts):
// the e2e verdict "no acknowledged record lost" is only as good as this check, so it must see a
// missing, stale, torn or misplaced record, and accept a slot overwritten by a later record.
import { describe, expect, it } from 'vitest';
import { ackToken, decodeRecord, encodeRecord, parseAcks, RECORD_BYTES, verifyRecords } from '../e2e/guest/netraid-records.js';

const SLOTS = 8;
function area(records: number[]): Buffer {
  const buf = Buffer.alloc(SLOTS * RECORD_BYTES);
  for (const n of records) encodeRecord(n, SLOTS).copy(buf, (n % SLOTS) * RECORD_BYTES);
  return buf;
}

describe('netraid crash-loop records', () => {
  it('accepts every acknowledged record present, and one superseded by a later record of its slot', () => {
    const v = verifyRecords(area([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), SLOTS, [1, 3, 4, 9]);
    // 1 sits in slot 1, now holding 9: superseded, not lost.
    expect(v).toEqual({ checked: 4, lost: [], maxFound: 10 });
  });

  it('reports an acknowledged record missing, or replaced by an older one', () => {
    const v = verifyRecords(area([1, 2, 3]), SLOTS, [1, 2, 3, 4, 10]);
    expect(v.lost).toEqual([
      { n: 10, slot: 2, found: 'record 2' },
      { n: 4, slot: 4, found: 'zeros (never written)' },
    ]);
  });

  it('reports a torn block and a record in the wrong slot', () => {
    const buf = area([1, 2]);
    buf[1 * RECORD_BYTES + 100]! ^= 1;
    encodeRecord(3, SLOTS).copy(buf, 2 * RECORD_BYTES);
    expect(verifyRecords(buf, SLOTS, [1, 2]).lost).toEqual([
      { n: 1, slot: 1, found: 'checksum mismatch (torn or corrupt)' },
      { n: 2, slot: 2, found: 'record 3 in the wrong slot' },
    ]);
    expect(decodeRecord(encodeRecord(5, SLOTS), 5, SLOTS)).toEqual({ n: 5 });
  });

  it('reads acknowledgements from a console log, skipping mangled ones and other output', () => {
    const log = `vmc: node1 ready\n${ackToken(7)}\n[  12.3] md/raid1:md0: Disk failure\n${ackToken(8).replace(' 8 ', ' 9 ')}\n${ackToken(10)}\n`;
    expect(parseAcks(log)).toEqual({ acked: [7, 10], mangled: 1 });
  });
});
