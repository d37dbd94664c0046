// The mirror benchmark reads DRBD's resync times from the kernel log and its connection and disk
// states from /proc/drbd: a misread line would publish a wrong Vigil/DRBD ratio, so the parsers
// are checked against DRBD 8.4's message forms (drbd_worker.c, drbd_proc.c).
import { describe, expect, it } from 'vitest';
import { drbdConf, type DrbdHost } from '../../../scripts/bench/nbd-vm/drbd-conf.js';
import { drbdResyncs, procDrbd, resyncAfter } from '../../../scripts/bench/nbd-vm/drbd-log.js';

const log = [
  '[   20.100000] drbd bench: conn( WFConnection -> WFReportParams )',
  '[   21.000000] vigil-bench-drbd-full',
  '[   21.500000] block drbd0: Began resync as SyncSource (will sync 1048412 KB [262103 bits set]).',
  '[   22.000000] block drbd10: Began resync as SyncSource (will sync 4 KB [1 bits set]).',
  '[   80.250000] block drbd0: Resync done (total 59 sec; paused 0 sec; 17769 K/sec)',
  '[   90.000000] vigil-bench-drbd-partial',
  '[   91.000000] block drbd0: Began resync as SyncSource (will sync 10240 KB [2560 bits set]).',
  '[   91.200000] block drbd0: Began resync as SyncSource (will sync 10240 KB [2560 bits set]).',
  '[   92.700000] block drbd0: Resync done (total 1 sec; paused 0 sec; 10240 K/sec)',
  '[   95.000000] block drbd0: Began resync as SyncSource (will sync 8 KB [2 bits set]).',
].join('\n');

describe('mirror benchmark: DRBD resyncs from the kernel log', () => {
  it('pairs each begin with its done for the one device; a restarted resync counts from its last begin; one still running is left out', () => {
    expect(drbdResyncs(log, 'drbd0')).toEqual([
      { role: 'SyncSource', startS: 21.5, endS: 80.25, willSyncKiB: 1048412, bitsSet: 262103 },
      { role: 'SyncSource', startS: 91.2, endS: 92.7, willSyncKiB: 10240, bitsSet: 2560 },
    ]);
    expect(drbdResyncs(log, 'drbd10')).toEqual([]);
  });

  it('finds the one completed resync after a mark, and throws unless there is exactly one', () => {
    expect(resyncAfter(log, 'drbd0', 90)).toMatchObject({ startS: 91.2, endS: 92.7 });
    expect(() => resyncAfter(log, 'drbd0', 0)).toThrow(/one completed resync/);
    expect(() => resyncAfter(log, 'drbd0', 93)).toThrow(/one completed resync/);
  });
});

describe('mirror benchmark: /proc/drbd', () => {
  const proc = [
    'version: 8.4.11 (api:1/proto:86-101)',
    'srcversion: 211FB288A383ED945B83420',
    '',
    ' 0: cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown   r-----',
    '    ns:0 nr:0 dw:10240 dr:0 al:3 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:10240',
    ' 9: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----',
    '    ns:65536 nr:0 dw:0 dr:66000 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0',
    '10: cs:Unconfigured',
  ].join('\n');

  it("reads a minor's connection, roles, disks and out-of-sync count, and not another minor's", () => {
    expect(procDrbd(proc, 0)).toEqual({ cs: 'StandAlone', ro: 'Primary/Unknown', ds: 'UpToDate/DUnknown', oosKiB: 10240 });
    expect(procDrbd(proc, 9)).toEqual({ cs: 'Connected', ro: 'Primary/Secondary', ds: 'UpToDate/UpToDate', oosKiB: 0 });
    expect(procDrbd(proc, 10)).toEqual({ cs: 'Unconfigured' });
    expect(procDrbd(proc, 1)).toBeUndefined();
  });
});

describe('mirror benchmark: the DRBD resource', () => {
  const hosts: [DrbdHost, DrbdHost] = [
    { name: 'node1', disk: '/dev/vdc', address: '10.0.1.1' },
    { name: 'node2', disk: '/dev/vdc', address: '10.0.1.2' },
  ];

  it('is protocol C with internal meta-data on both hosts and an unthrottled fixed resync rate', () => {
    const conf = drbdConf({ name: 'bench', minor: 0, port: 7789, hosts });
    expect(conf).toContain('protocol C;');
    expect(conf).toContain('c-plan-ahead 0; resync-rate 4000M;');
    expect(conf).toContain('usage-count no;');
    expect(conf).toContain('on node1 { device /dev/drbd0 minor 0; disk /dev/vdc; address 10.0.1.1:7789; meta-disk internal; }');
    expect(conf).toContain('on node2 { device /dev/drbd0 minor 0; disk /dev/vdc; address 10.0.1.2:7789; meta-disk internal; }');
  });

  it('refuses what drbdadm would misread', () => {
    expect(() => drbdConf({ name: 'a b', minor: 0, port: 7789, hosts })).toThrow(/resource name/);
    expect(() => drbdConf({ name: 'r', minor: -1, port: 7789, hosts })).toThrow(/minor/);
    expect(() => drbdConf({ name: 'r', minor: 0, port: 70000, hosts })).toThrow(/port/);
    expect(() => drbdConf({ name: 'r', minor: 0, port: 7789, hosts: [hosts[0], { ...hosts[1], disk: 'vdc;' }] })).toThrow(/backing disk/);
    expect(() => drbdConf({ name: 'r', minor: 0, port: 7789, hosts: [hosts[0], { ...hosts[1], address: 'node2' }] })).toThrow(/IPv4/);
    expect(() => drbdConf({ name: 'r', minor: 0, port: 7789, hosts: [hosts[0], { ...hosts[1], name: 'node1' }] })).toThrow(/both hosts/);
  });
});
