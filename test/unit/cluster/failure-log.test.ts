// FailureLog: one line per (source, reason) per interval with the repeats counted, and a global
// budget so that failures from many sources cannot flood the log.
import { describe, expect, it } from 'vitest';
import { describeFailure, FailureLog } from '../../../src/cluster/failure-log.js';

describe('FailureLog', () => {
  it('logs a (source, reason) once per interval and counts the repeats in between', () => {
    let now = 0;
    const lines: Array<{ msg: string; fields: Record<string, unknown> }> = [];
    const log = new FailureLog((_l, msg, fields) => lines.push({ msg, fields }), 60_000, () => now);
    log.report('tcp 127.0.0.5', 'bad_tag');
    for (let i = 0; i < 99; i++) log.report('tcp 127.0.0.5', 'bad_tag');
    log.report('tcp 127.0.0.5', 'stale');
    expect(lines.map((l) => l.msg)).toEqual(['comm path authentication failure: bad key', 'comm path authentication failure: clock skew']);
    now = 60_001;
    log.report('tcp 127.0.0.5', 'bad_tag');
    expect(lines[2]!.fields).toMatchObject({ source: 'tcp 127.0.0.5', reason: 'bad_tag', repeatsSinceLastLog: 99 });
  });

  it('writes at most 30 lines per interval over all sources, then says how many it left out', () => {
    let now = 0;
    const lines: Array<Record<string, unknown>> = [];
    const log = new FailureLog((_l, _m, fields) => lines.push(fields), 60_000, () => now);
    for (let i = 0; i < 1000; i++) log.report(`tcp 127.1.${i >> 8}.${i & 255}`, 'unknown_address');
    expect(lines).toHaveLength(30);
    now = 60_000;
    log.report('tcp 127.9.9.9', 'unknown_address');
    expect(lines[30]).toMatchObject({ otherFailuresNotLogged: 970 });
  });

  it('names reasons in words for net_list', () => {
    expect(describeFailure('bad_tag')).toBe('bad key');
    expect(describeFailure('bad_session')).toBe('replayed or forged frame');
  });
});
