// `vigil devices` over the memory platform: device facts, mount latencies, a hung mount shown
// as TIMEOUT (and the command still finishing), device errors shown by errno name.
import { describe, expect, it } from 'vitest';

import { collectDevicesReport, devicesCommand, formatSize, renderDevicesReport } from '../../../src/cli/commands/devices.js';
import { createMemoryPlatform } from '../../../src/platform/memory/index.js';

function platform() {
  const p = createMemoryPlatform();
  p.kernel.addBlockDevice('/dev/sda', { sizeBytes: 20 * 1024 ** 3, logicalSectorSize: 4096, readOnly: false });
  p.kernel.addBlockDevice('/dev/sr0', { sizeBytes: 0, logicalSectorSize: 2048, readOnly: true });
  p.kernel.addDirectory('/srv');
  p.kernel.addMount({ source: '/dev/sda1', mountPoint: '/srv', fsType: 'ext4', options: ['rw'] });
  p.kernel.addDirectory('/mnt/nas');
  p.kernel.addMount({ source: '10.0.0.2:/export', mountPoint: '/mnt/nas', fsType: 'nfs4', options: ['rw'] });
  return p;
}

describe('vigil devices', () => {
  it('reports device facts and mount probe latencies', async () => {
    const report = await collectDevicesReport(platform(), 1000);
    expect(report.devices).toEqual([
      { name: 'sda', path: '/dev/sda', sizeBytes: 20 * 1024 ** 3, logicalSectorSize: 4096, readOnly: false },
      { name: 'sr0', path: '/dev/sr0', sizeBytes: 0, logicalSectorSize: 2048, readOnly: true },
    ]);
    expect(report.mounts.map((m) => m.mountPoint)).toEqual(['/', '/srv', '/mnt/nas']);
    for (const m of report.mounts) expect(m.latencyMs).toBeGreaterThanOrEqual(0);
    const text = renderDevicesReport(report);
    expect(text).toMatch(/\/dev\/sda\s+20\.0 GiB\s+4096\s+no/);
    expect(text).toMatch(/\/dev\/sr0\s+0 B\s+2048\s+yes/);
  });

  it('shows a hung mount as TIMEOUT and a failing device by errno name, without hanging', async () => {
    const p = platform();
    p.kernel.hang('/mnt/nas').failWith('/dev/sr0', 'ENOMEDIUM');
    const start = Date.now();
    const report = await collectDevicesReport(p, 100);
    expect(Date.now() - start).toBeLessThan(2000);
    expect(report.mounts.find((m) => m.mountPoint === '/mnt/nas')).toMatchObject({ error: 'EPROBETIMEOUT' });
    expect(report.mounts.find((m) => m.mountPoint === '/srv')?.error).toBeUndefined();
    expect(report.devices.find((d) => d.name === 'sr0')).toMatchObject({ error: 'ENOMEDIUM' });
    const text = renderDevicesReport(report);
    expect(text).toMatch(/\/mnt\/nas\s+nfs4\s+10\.0\.0\.2:\/export\s+TIMEOUT \(>100 ms\)/);
    p.kernel.clearFaults();
  });

  it('runs as a commander command with --json and sets exit status 1 when a mount timed out', async () => {
    const p = platform();
    p.kernel.hang('/mnt/nas');
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => (out.push(chunk), true)) as typeof process.stdout.write;
    const exitBefore = process.exitCode;
    try {
      await devicesCommand(() => p).parseAsync(['--timeout', '50', '--json'], { from: 'user' });
      expect(process.exitCode).toBe(1);
    } finally {
      process.stdout.write = write;
      process.exitCode = exitBefore;
      p.kernel.clearFaults();
    }
    const report = JSON.parse(out.join(''));
    expect(report.timeoutMs).toBe(50);
    expect(report.mounts.find((m: { mountPoint: string }) => m.mountPoint === '/mnt/nas').error).toBe('EPROBETIMEOUT');
  });

  it('rejects a bad --timeout', async () => {
    const cmd = devicesCommand(() => platform()).exitOverride().configureOutput({ writeErr: () => undefined });
    await expect(cmd.parseAsync(['--timeout', 'soon'], { from: 'user' })).rejects.toThrow(/milliseconds/);
  });

  it('formats sizes in binary units', () => {
    expect(formatSize(512)).toBe('512 B');
    expect(formatSize(8 * 1024 * 1024)).toBe('8.0 MiB');
  });
});
