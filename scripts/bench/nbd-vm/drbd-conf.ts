// The DRBD resource the mirror benchmark compares Vigil's mirror with, as a drbd.conf text for
// drbdadm (drbd-utils 9 driving the kernel's DRBD 8.4 through its drbdadm-84 compatibility):
// protocol C (a write completes when both disks have it, as md's RAID1 over NBD), internal
// meta-data (DRBD's bitmap, 4 KiB per bit, and its activity log on the same disk) and a fixed
// resync rate at DRBD's maximum, because Vigil's mirror runs with md's speed limit lifted
// (LKDR_SPEED_LIMIT=2000000): neither side's copy is throttled. Everything else is DRBD's default
// (ping-int 10 s, timeout 6 s, ...). The file is written to /tmp in each guest and passed with -c,
// so the host's /etc/drbd.d (and its usage-count setting) plays no part.

export interface DrbdHost {
  /** The guest's `uname -n` (drbdadm picks its own section by it). */
  name: string;
  disk: string;
  address: string;
}

export interface DrbdResource {
  name: string;
  minor: number;
  port: number;
  hosts: [DrbdHost, DrbdHost];
}

/** drbd.conf text for one resource; throws on a name or value drbdadm would misread. */
export function drbdConf(r: DrbdResource): string {
  if (!/^[A-Za-z0-9_-]+$/.test(r.name)) throw new Error(`DRBD resource name ${JSON.stringify(r.name)}: letters, digits, - and _ only`);
  if (!Number.isInteger(r.minor) || r.minor < 0 || r.minor > 1_048_575) throw new Error(`DRBD minor ${r.minor}: an integer 0-1048575`);
  if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65_535) throw new Error(`DRBD port ${r.port}: an integer 1-65535`);
  if (r.hosts[0].name === r.hosts[1].name) throw new Error(`DRBD resource ${r.name}: both hosts are named ${r.hosts[0].name}`);
  const on = (h: DrbdHost) => {
    if (!/^[A-Za-z0-9.-]+$/.test(h.name)) throw new Error(`DRBD host name ${JSON.stringify(h.name)}`);
    if (!/^\/dev\/[A-Za-z0-9/_-]+$/.test(h.disk)) throw new Error(`DRBD backing disk ${JSON.stringify(h.disk)}: a /dev path`);
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(h.address)) throw new Error(`DRBD address ${JSON.stringify(h.address)}: an IPv4 address`);
    return `  on ${h.name} { device /dev/drbd${r.minor} minor ${r.minor}; disk ${h.disk}; address ${h.address}:${r.port}; meta-disk internal; }`;
  };
  return [
    'global { usage-count no; }',
    `resource ${r.name} {`,
    '  net { protocol C; }',
    // c-plan-ahead 0 turns the dynamic resync controller off, so resync-rate is the rate (4000M is
    // below DRBD 8.4's maximum of 4194304 KiB/s).
    '  disk { c-plan-ahead 0; resync-rate 4000M; }',
    on(r.hosts[0]),
    on(r.hosts[1]),
    '}',
    '',
  ].join('\n');
}
