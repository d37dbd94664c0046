// The NFS side-by-side benchmark's pure parts: the event search in both products' logs (a pattern
// that misses or matches the wrong line would silently drop or shift a figure), the figures derived
// from the events (which monitor decided, how the release ended), and the generated Pacemaker
// configuration for NFS (two Corosync links, Filesystem options and the monitor's check level).
import { describe, expect, it } from 'vitest';
import { firstEvents } from '../../../scripts/bench/peers/guest-log.js';
import { mergeEvents, nfsFigures, outcomeOf, pacemakerNfsEvents, patternsFor, vigilNfsEvents } from '../../../scripts/bench/peers/nfs-events.js';
import { corosyncConf, resourcesXml } from '../../../scripts/bench/peers/pacemaker.js';

const year = new Date().getUTCFullYear();
const at = (h: number, m: number, s: number, ms = 0) => Date.UTC(year, 11, 2, h, m, s, ms);

// Lines as pacemaker-controld and pacemaker-schedulerd write them in pacemaker.log (2.1).
const pcmkLog = [
  'Dec 02 16:40:00.100 node1 pacemaker-controld  [812] (log_executor_event)  notice: Result of monitor operation for fs on node1: ok | call=12 key=fs_monitor_20000',
  'Dec 02 16:41:10.500 node1 pacemaker-controld  [812] (log_executor_event)  notice: Result of monitor operation for fs on node1: Cancelled | call=12 key=fs_monitor_20000',
  'Dec 02 16:41:20.250 node1 pacemaker-controld  [812] (log_executor_event)  error: Result of monitor operation for fs on node1: Timed Out | call=14 key=fs_monitor_20000 timeout=40000ms',
  'Dec 02 16:41:21.000 node1 pacemaker-schedulerd[811] (log_list_item)  notice: Actions: Recover    fs     ( node1 )',
  'Dec 02 16:41:25.000 node1 pacemaker-controld  [812] (log_executor_event)  notice: Result of stop operation for app on node1: ok | call=20',
  'Dec 02 16:42:25.000 node1 pacemaker-controld  [812] (log_executor_event)  error: Result of stop operation for fs on node1: Timed Out | call=21 key=fs_stop_0 timeout=60000ms',
  'Dec 02 16:42:26.000 node1 pacemaker-schedulerd[811] (log_list_item)  notice: Actions: Stop       fs     (     node1 )  due to node availability (blocked)',
].join('\n');

describe('NFS benchmark: events in the products\' logs', () => {
  it('finds Pacemaker\'s first failed monitor (not a Cancelled one), the stop outcome and the blocked resource', () => {
    const spec = pacemakerNfsEvents('node1', 'node2');
    const found = firstEvents(pcmkLog, 'syslog', patternsFor(spec, 'active'), at(16, 41, 0));
    expect(found.fsMonitorFailed?.atGuestMs).toBe(at(16, 41, 20, 250));
    expect(found.leaveDecided?.atGuestMs).toBe(at(16, 41, 21));
    expect(found.fsReleased?.atGuestMs).toBe(at(16, 42, 25));
    expect(outcomeOf(found.fsReleased!.line)).toBe('Timed Out');
    expect(found.blocked?.atGuestMs).toBe(at(16, 42, 26));
    expect(found.appMonitorFailed).toBeUndefined();
    expect(found.fsStartedOnBackup).toBeUndefined();
  });

  it('ignores lines before the fault and events on the other node', () => {
    const spec = pacemakerNfsEvents('node2', 'node1');
    const found = firstEvents(pcmkLog, 'syslog', patternsFor(spec, 'active'), at(16, 41, 0));
    expect(found.fsMonitorFailed).toBeUndefined();
    expect(found.fsReleased).toBeUndefined();
    expect(firstEvents(pcmkLog, 'syslog', patternsFor(pacemakerNfsEvents('node1', 'node2'), 'active'), at(16, 43, 0))).toEqual({});
  });

  it('reads vigild JSON lines by msg for the active and the backup node', () => {
    const spec = vigilNfsEvents('peers-fs', 'peers-app');
    const active = [
      '{"level":30,"time":1000,"msg":"hierarchy: quickCheck of peers-app failed: exit 1"}',
      '{"level":40,"time":2000,"msg":"hierarchy: quickCheck of device-nas-10.77.0.100 failed: no answer for 21 s"}',
      '{"level":30,"time":2100,"msg":"hierarchy: removing hierarchy peers-app (local-failure)"}',
      '{"level":30,"time":5000,"msg":"hierarchy: remove peers-fs succeeded"}',
      'not json',
    ].join('\n');
    const backup = '{"level":30,"time":9000,"msg":"hierarchy: restore peers-fs succeeded"}\n{"level":30,"time":9500,"msg":"hierarchy: restore peers-app succeeded"}';
    const a = firstEvents(active, 'vigil', patternsFor(spec, 'active'), 1500);
    const b = firstEvents(backup, 'vigil', patternsFor(spec, 'backup'), 1500);
    expect(a.appMonitorFailed).toBeUndefined(); // before the fault
    expect(a.nasProbeFailed).toEqual({ atGuestMs: 2000, line: 'hierarchy: quickCheck of device-nas-10.77.0.100 failed: no answer for 21 s' });
    expect(a.leaveDecided?.atGuestMs).toBe(2100);
    expect(outcomeOf(a.fsReleased!.line)).toBe('succeeded');
    expect(b.fsStartedOnBackup?.atGuestMs).toBe(9000);
    expect(b.appStartedOnBackup?.atGuestMs).toBe(9500);
    // "restore ... succeeded" on the active node is not the backup's start.
    expect(firstEvents(backup, 'vigil', patternsFor(spec, 'active'), 0).fsStartedOnBackup).toBeUndefined();
  });
});

describe('NFS benchmark: figures from the events', () => {
  it('takes the earlier of two nodes\' findings and the first monitor that failed', () => {
    const merged = mergeEvents(
      { fsMonitorFailed: { atMs: 5000, line: 'x' }, fsReleased: { atMs: 9000, line: 'Result of stop operation for fs on node1: ok | call=3' } },
      { fsMonitorFailed: { atMs: 4000, line: 'y' }, appMonitorFailed: { atMs: 4500, line: 'z' }, fsStartedOnBackup: { atMs: 12000, line: 'w' } },
    );
    expect(merged.fsMonitorFailed).toEqual({ atMs: 4000, line: 'y' });
    const f = nfsFigures(merged, 1000);
    expect(f).toMatchObject({ decisionMs: 3000, decidedBy: 'fsMonitorFailed', releasedMs: 8000, releaseOutcome: 'ok', backupMountedMs: 11000 });
    expect(f.blockedMs).toBeUndefined();
    expect(nfsFigures({}, 0)).toMatchObject({ decisionMs: undefined, decidedBy: undefined, releaseOutcome: undefined });
  });

  it('reads the outcome of Pacemaker and Vigil result lines', () => {
    expect(outcomeOf('notice: Result of stop operation for fs on node1: error (Couldn\'t unmount /mnt/peers, giving up!) | call=9')).toBe("error (Couldn't unmount /mnt/peers, giving up!)");
    expect(outcomeOf('hierarchy: remove peers-fs failed: release timed out')).toBe('failed: release timed out');
    expect(outcomeOf('remove peers-fs succeeded: released (lazy)')).toBe('succeeded: released (lazy)');
  });
});

describe('NFS benchmark: generated Pacemaker configuration', () => {
  const node = (name: string, h: number) => ({ name, ip: (seg = 'lan') => (seg === 'lan' ? `10.77.0.${h}` : `10.77.1.${h}`) }) as never;
  it('gives Corosync one link per segment', () => {
    const conf = corosyncConf([node('node1', 1), node('node2', 2)], 3000, ['lan', 'p2p1']);
    expect(conf).toMatch(/ring0_addr: 10\.77\.0\.1\n\s+ring1_addr: 10\.77\.1\.1\n\s+name: node1/);
    expect(conf).toMatch(/ring0_addr: 10\.77\.0\.2\n\s+ring1_addr: 10\.77\.1\.2\n\s+name: node2/);
  });
  it('mounts the export with its options and the monitor\'s timeout and check level', () => {
    const xml = resourcesXml('10.77.0.100:/', 5, { device: '10.77.0.100:/', fstype: 'nfs', options: 'vers=4.2,hard', monitorIntervalS: 5, monitorTimeoutS: 21, startTimeoutS: 60, stopTimeoutS: 60, checkLevel: 20 });
    expect(xml).toContain('name="fstype" value="nfs"');
    expect(xml).toContain('name="options" value="vers=4.2,hard"');
    expect(xml).toMatch(/<op id="fs-monitor" name="monitor" interval="5s" timeout="21s">\s*<instance_attributes id="fs-monitor-ia"><nvpair id="fs-monitor-level" name="OCF_CHECK_LEVEL" value="20"\/><\/instance_attributes>\s*<\/op>/);
    expect(xml).toContain('<op id="fs-stop" name="stop" interval="0s" timeout="60s"/>');
    // The ext4 default is unchanged: no options, no check level.
    const ext4 = resourcesXml('/dev/sda', 5);
    expect(ext4).not.toContain('OCF_CHECK_LEVEL');
    expect(ext4).not.toContain('name="options"');
    expect(ext4).toContain('<op id="fs-monitor" name="monitor" interval="5s" timeout="40s"/>');
  });
});
