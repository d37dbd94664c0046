// The side-by-side benchmark's pure parts: the products' log timestamps (a wrong parse would
// silently drop or shift every detection figure), the generated Corosync configuration, and the
// median/max/ratio arithmetic.
import { describe, expect, it } from 'vitest';
import { firstStampedAfter, firstVigilAfter, syslogStampMs } from '../../../scripts/bench/peers/guest-log.js';
import { corosyncConf, resourcesXml } from '../../../scripts/bench/peers/pacemaker.js';
import { ratio, summarize } from '../../../scripts/bench/peers/stats.js';

describe('peers benchmark: log timestamps', () => {
  it('reads Corosync hires and Pacemaker stamps as UTC with milliseconds', () => {
    expect(syslogStampMs('Dec 01 06:40:01.123 [123] node2 corosync notice  [TOTEM ] A new membership', 2026)).toBe(Date.UTC(2026, 11, 1, 6, 40, 1, 123));
    expect(syslogStampMs('Jan  5 23:59:59 node1 pacemaker-controld  [9] (x) notice: y', 2026)).toBe(Date.UTC(2026, 0, 5, 23, 59, 59));
    expect(syslogStampMs('no stamp here')).toBeUndefined();
  });

  it('finds the first matching line at or after a time, skipping earlier ones', () => {
    const year = new Date().getUTCFullYear();
    const log = [
      'Dec 01 06:40:00.000 [1] node2 corosync notice  [QUORUM] Members[2]: 1 2',
      'Dec 01 06:40:01.500 [1] node2 corosync notice  [TOTEM ] A new membership (2.9) was formed. Members left: 1',
      'Dec 01 06:41:02.250 [1] node2 corosync notice  [TOTEM ] A new membership (2.a) was formed. Members left: 1',
    ].join('\n');
    const re = /A new membership .* was formed\. Members left/;
    expect(firstStampedAfter(log, re, Date.UTC(year, 11, 1, 6, 40, 0))).toBe(Date.UTC(year, 11, 1, 6, 40, 1, 500));
    expect(firstStampedAfter(log, re, Date.UTC(year, 11, 1, 6, 40, 2))).toBe(Date.UTC(year, 11, 1, 6, 41, 2, 250));
    expect(firstStampedAfter(log, re, Date.UTC(year, 11, 1, 6, 42, 0))).toBeUndefined();
  });

  it('reads vigild JSON lines by msg and time, ignoring other output', () => {
    const log = ['starting', '{"level":40,"time":1000,"msg":"system dead","system":"node1"}', 'garbage {', '{"level":40,"time":3000,"msg":"system dead"}'].join('\n');
    expect(firstVigilAfter(log, /^system dead$/, 0)).toBe(1000);
    expect(firstVigilAfter(log, /^system dead$/, 1001)).toBe(3000);
    expect(firstVigilAfter(log, /^quickCheck/, 0)).toBeUndefined();
  });
});

describe('peers benchmark: generated Pacemaker configuration', () => {
  const node = (name: string, ip: string) => ({ name, ip: () => ip }) as never;
  it('puts the pairing token and every node address in corosync.conf', () => {
    const conf = corosyncConf([node('node1', '10.77.0.1'), node('node2', '10.77.0.2')], 1364);
    expect(conf).toMatch(/token: 1364\n/);
    expect(conf).toMatch(/ring0_addr: 10\.77\.0\.1\n\s+name: node1\n\s+nodeid: 1/);
    expect(conf).toMatch(/ring0_addr: 10\.77\.0\.2\n\s+name: node2\n\s+nodeid: 2/);
    expect(conf).toContain('two_node: 1');
  });
  it('groups the Filesystem on the device with the app, monitored at the given interval', () => {
    const xml = resourcesXml('/dev/sda', 5);
    expect(xml).toMatch(/<group id="grp">\s*<primitive id="fs" class="ocf" provider="heartbeat" type="Filesystem">/);
    expect(xml).toContain('name="device" value="/dev/sda"');
    expect(xml.match(/name="monitor" interval="5s"/g)).toHaveLength(2);
    expect(xml.indexOf('id="fs"')).toBeLessThan(xml.indexOf('id="app"'));
  });
});

describe('peers benchmark: statistics', () => {
  it('median of odd and even counts, max, and ratios', () => {
    expect(summarize([3, 1, 2])).toMatchObject({ n: 3, medianMs: 2, maxMs: 3 });
    expect(summarize([4, 1, 2, 3])).toMatchObject({ n: 4, medianMs: 3, maxMs: 4 });
    expect(summarize([])).toMatchObject({ n: 0, medianMs: null, maxMs: null });
    expect(ratio(3000, 6000)).toBe(0.5);
    expect(ratio(null, 6000)).toBeNull();
    expect(ratio(1, 0)).toBeNull();
  });
});
