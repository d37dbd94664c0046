// `vigil devices`: this node's block devices (names from /sys/block, size / sector size /
// read-only from the devices themselves) and a time-limited stat probe of every mount, showing
// its latency or that it did not answer. Works without a running vigild: it talks to the
// kernel through the platform layer, so a dead NFS server shows up as TIMEOUT instead of
// hanging the command. Exit status 1 when some mount or device did not answer in time.
import { Command, InvalidArgumentError } from 'commander';

import { ProbeCapacityError, ProbeTimeoutError } from '../../platform/errors.js';
import { createLinuxPlatform } from '../../platform/linux/index.js';
import type { Platform } from '../../platform/platform.js';

export interface DeviceRow {
  name: string;
  path: string;
  sizeBytes?: number;
  logicalSectorSize?: number;
  readOnly?: boolean;
  /** errno name, EPROBETIMEOUT or EPROBECAPACITY when the device did not answer. */
  error?: string;
}

export interface MountRow {
  mountPoint: string;
  fsType: string;
  source: string;
  latencyMs?: number;
  error?: string;
}

export interface DevicesReport {
  timeoutMs: number;
  devices: DeviceRow[];
  mounts: MountRow[];
}

function errorCode(err: unknown): string {
  if (err instanceof ProbeTimeoutError || err instanceof ProbeCapacityError) return err.code;
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : String(err);
}

export async function collectDevicesReport(platform: Platform, timeoutMs: number): Promise<DevicesReport> {
  const names = await platform.blockDevices.list();
  const devices = await Promise.all(
    names.map(async (name): Promise<DeviceRow> => {
      // sysfs spells a '/' in a device name as '!' (cciss!c0d0 is /dev/cciss/c0d0).
      const path = `/dev/${name.replace(/!/g, '/')}`;
      try {
        const info = await platform.blockDevices.info(path, timeoutMs);
        return { name, path, sizeBytes: info.sizeBytes, logicalSectorSize: info.logicalSectorSize, readOnly: info.readOnly };
      } catch (err) {
        return { name, path, error: errorCode(err) };
      }
    }),
  );
  const mounts = await Promise.all(
    (await platform.mounts.list()).map(async (m): Promise<MountRow> => {
      const row: MountRow = { mountPoint: m.mountPoint, fsType: m.fsType, source: m.source };
      const start = performance.now();
      try {
        await platform.timedStat.stat(m.mountPoint, timeoutMs, { key: m.mountPoint });
        row.latencyMs = Math.round((performance.now() - start) * 100) / 100;
      } catch (err) {
        row.error = errorCode(err);
      }
      return row;
    }),
  );
  return { timeoutMs, devices, mounts };
}

export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function renderDevicesReport(report: DevicesReport): string {
  const devices = table(
    ['DEVICE', 'SIZE', 'SECTOR', 'RO'],
    report.devices.map((d) =>
      d.error !== undefined
        ? [d.path, d.error === 'EPROBETIMEOUT' ? `TIMEOUT (>${report.timeoutMs} ms)` : d.error, '-', '-']
        : [d.path, formatSize(d.sizeBytes!), String(d.logicalSectorSize), d.readOnly ? 'yes' : 'no'],
    ),
  );
  const mounts = table(
    ['MOUNT POINT', 'TYPE', 'SOURCE', 'PROBE'],
    report.mounts.map((m) => [
      m.mountPoint,
      m.fsType,
      m.source,
      m.error === undefined ? `${m.latencyMs} ms` : m.error === 'EPROBETIMEOUT' ? `TIMEOUT (>${report.timeoutMs} ms)` : m.error,
    ]),
  );
  return `${devices}\n\n${mounts}\n`;
}

function parseTimeout(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 600_000) throw new InvalidArgumentError('must be an integer number of milliseconds from 1 to 600000');
  return n;
}

export function devicesCommand(makePlatform: () => Platform = createLinuxPlatform): Command {
  // exitOverride: a bad command line reaches vigil's main, which exits 2 with one usage line.
  return new Command('devices')
    .exitOverride()
    .description("list this node's block devices and probe every mount with a time limit")
    .option('--timeout <ms>', 'time limit of each device query and mount probe', parseTimeout, 2000)
    .option('--json', 'print the report as JSON')
    .action(async (opts: { timeout: number; json?: boolean }) => {
      const report = await collectDevicesReport(makePlatform(), opts.timeout);
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderDevicesReport(report));
      const unanswered = [...report.devices, ...report.mounts].some((r) => r.error === 'EPROBETIMEOUT' || r.error === 'EPROBECAPACITY');
      if (unanswered) process.exitCode = 1;
    });
}
