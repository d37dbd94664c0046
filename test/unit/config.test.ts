// /etc/default/vigil parsing and validation: syntax, defaults, errors naming key and rule,
// unknown keys with the nearest known one, modes not implemented refused, 107009, file modes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig, KNOWN_CONFIG_KEYS, loadConfig, nearestKnownKey, parseKeyValueText } from '../../src/common/config.js';
import { errorOf } from '../helpers/errors.js';

describe('parseKeyValueText', () => {
  it('reads comments, blanks, export, quotes and trailing comments', () => {
    const v = parseKeyValueText(
      ['# heartbeat', '', 'LCMHBEATTIME=0.2', 'export LCMNUMHBEATS = 4', `VIGIL_NODE_NAME="node-1" # name`,
        `LKNASERROR='halt'`, 'QUORUM_MODE=none   # no quorum', 'X="a \\"b\\""'].join('\n'),
    );
    expect(v).toEqual({ LCMHBEATTIME: '0.2', LCMNUMHBEATS: '4', VIGIL_NODE_NAME: 'node-1', LKNASERROR: 'halt', QUORUM_MODE: 'none', X: 'a "b"' });
  });
  it('names the line of a malformed entry', () => {
    expect(errorOf(() => parseKeyValueText('A=1\nthis is not valid\n', 'f')).message).toMatch(/f:2: expected KEY=VALUE/);
    expect(errorOf(() => parseKeyValueText('A="open\n', 'f')).message).toMatch(/A: unterminated " quote/);
  });
});

describe('buildConfig', () => {
  it('applies the product defaults', () => {
    const { config, warnings } = buildConfig({ VIGIL_NODE_NAME: 'n1' });
    expect(config).toMatchObject({
      LCMHBEATTIME: 5, LCMNUMHBEATS: 3, LKCHECKINTERVAL: 120, LKNFSTIMEOUT: 120, LKNFSSYSCALLTO: 5, LKNASERROR: 'switch',
      QUORUM_MODE: 'majority', VIGIL_STATE_DIR: '/var/lib/vigil', VIGIL_ADMIN_SOCKET: '/run/vigil/admin.sock',
      VIGIL_METRICS_ADDRESS: { host: '127.0.0.1', port: 9787 }, VIGIL_LOG_LEVEL: 'info', VIGIL_LCD_WRITE_TIMEOUT_MS: 10_000,
    });
    expect(buildConfig({ VIGIL_LCD_WRITE_TIMEOUT_MS: '2500' }).config.VIGIL_LCD_WRITE_TIMEOUT_MS).toBe(2500);
    expect(warnings).toEqual([]);
  });
  it('accepts sub-second heartbeats and IPv6 / disabled metrics', () => {
    const { config } = buildConfig({ LCMHBEATTIME: '0.2', LCMNUMHBEATS: '5', VIGIL_METRICS_ADDRESS: '[::1]:9000' });
    expect(config.LCMHBEATTIME).toBe(0.2);
    expect(config.VIGIL_METRICS_ADDRESS).toEqual({ host: '::1', port: 9000 });
    expect(buildConfig({ VIGIL_METRICS_ADDRESS: 'off' }).config.VIGIL_METRICS_ADDRESS).toBeUndefined();
  });
  it.each([
    ['LCMHBEATTIME', 'fast', /LCMHBEATTIME="fast": must be a number of seconds/],
    ['LCMHBEATTIME', '0.01', /LCMHBEATTIME="0.01": must be at least 0.05/],
    ['LCMNUMHBEATS', '1.5', /LCMNUMHBEATS="1.5": must be a whole number/],
    ['LCMNUMHBEATS', '1', /LCMNUMHBEATS="1": must be at least 2/],
    ['LKNASERROR', 'reboot', /LKNASERROR="reboot": must be one of switch, halt/],
    ['QUORUM_MODE', 'maybe', /QUORUM_MODE="maybe": must be one of majority, tcp_remote, storage, none/],
    ['VIGIL_NODE_NAME', 'bad name', /VIGIL_NODE_NAME="bad name": must be 1-64 letters/],
    ['VIGIL_STATE_DIR', 'relative/dir', /VIGIL_STATE_DIR="relative\/dir": must be an absolute path/],
    ['VIGIL_METRICS_ADDRESS', '127.0.0.1', /VIGIL_METRICS_ADDRESS="127.0.0.1": must be HOST:PORT/],
    ['VIGIL_LOG_LEVEL', 'loud', /VIGIL_LOG_LEVEL="loud": must be one of/],
    ['VIGIL_LCD_WRITE_TIMEOUT_MS', '10s', /VIGIL_LCD_WRITE_TIMEOUT_MS="10s": must be a whole number/],
    ['VIGIL_LCD_WRITE_TIMEOUT_MS', '50', /VIGIL_LCD_WRITE_TIMEOUT_MS="50": must be at least 100/],
    ['VIGIL_LCD_WRITE_TIMEOUT_MS', '600001', /VIGIL_LCD_WRITE_TIMEOUT_MS="600001": must be at most 600000/],
    ['VIGIL_LOCAL_RECOVERY_ATTEMPTS', 'lots', /VIGIL_LOCAL_RECOVERY_ATTEMPTS="lots": must be a whole number/],
    ['VIGIL_LOCAL_RECOVERY_ATTEMPTS', '0', /VIGIL_LOCAL_RECOVERY_ATTEMPTS="0": must be at least 1/],
    ['VIGIL_LOCAL_RECOVERY_WINDOW', '-5', /VIGIL_LOCAL_RECOVERY_WINDOW="-5": must be a number of seconds/],
    ['LKCHECKINTERVAL_GEN_APP', '-4', /LKCHECKINTERVAL_GEN_APP="-4": must be a number of seconds/],
    ['LKCHECKINTERVAL_GEN_FILESYS', '0.5', /LKCHECKINTERVAL_GEN_FILESYS="0.5": must be at least 1/],
    ['VIGIL_HALT_ACTION', 'explode', /VIGIL_HALT_ACTION="explode": must be one of exit, sysrq/],
    ['VIGIL_FSTAB', 'etc/fstab', /VIGIL_FSTAB="etc\/fstab": must be an absolute path/],
    ['QUORUM_MODE', 'tcp_remote', /QUORUM_MODE="tcp_remote": needs QUORUM_HOSTS/],
    ['QUORUM_MODE', 'storage', /QUORUM_MODE="storage": needs QUORUM_DISK/],
    ['WITNESS_MODE', 'storage', /WITNESS_MODE="storage": needs QUORUM_DISK/],
    ['QUORUM_DISK', '/dev/sdq', /QUORUM_DISK: has no effect unless QUORUM_MODE or WITNESS_MODE is storage/],
    ['QUORUM_DISK', 'sdq', /QUORUM_DISK="sdq": must be an absolute path/],
    ['WITNESS_MODE', 'peers', /WITNESS_MODE="peers": must be one of remote_verify, storage, none/],
    ['QUORUM_LOSS_ACTION', 'halt', /QUORUM_LOSS_ACTION="halt": must be one of osu, fastkill, fastboot/],
    ['QUORUM_HOSTS', '10.0.0.9', /QUORUM_HOSTS="10.0.0.9": "10.0.0.9" must be HOST:PORT/],
    ['QUORUM_HOSTS', 'a:1, b:0', /QUORUM_HOSTS="a:1, b:0": "b:0" must be HOST:PORT/],
    ['QUORUM_HOSTS', 'a:1 a:1', /QUORUM_HOSTS="a:1 a:1": "a:1" is listed twice/],
    ['QUORUM_HOSTS', ' , ', /QUORUM_HOSTS=" , ": must name at least one HOST:PORT/],
    ['QUORUM_TIMEOUT_SECS', '0', /QUORUM_TIMEOUT_SECS="0": must be at least 0.1/],
    ['QUORUM_QUARANTINE_SECS', 'soon', /QUORUM_QUARANTINE_SECS="soon": must be a number of seconds/],
    ['QWK_STORAGE_HBEATTIME', '0.1', /QWK_STORAGE_HBEATTIME="0.1": must be at least 0.2/],
    ['QWK_STORAGE_NUMHBEATS', '2', /QWK_STORAGE_NUMHBEATS="2": must be at least 3/],
    ['VIGIL_METRICS_ADDRESS', '127.0.0.1:0', /VIGIL_METRICS_ADDRESS="127.0.0.1:0": must be HOST:PORT .*port 1 to 65535/],
    ['VIGIL_METRICS_ADDRESS', '127.0.0.1:65536', /VIGIL_METRICS_ADDRESS="127.0.0.1:65536": must be HOST:PORT/],
    ['VIGIL_METRICS_ADDRESS', '[::1]:99999', /VIGIL_METRICS_ADDRESS="\[::1\]:99999": must be HOST:PORT/],
  ])('rejects %s=%s naming the key and the rule', (key, value, re) => {
    const e = errorOf(() => buildConfig({ [key]: value }, '/etc/default/vigil'));
    expect(e.message).toMatch(re);
    expect(e.message).toContain('/etc/default/vigil');
    expect(e.details.keys).toEqual([key]);
  });
  it('falls back to 120 and 5 with warning 107009 when 3 x LKNFSSYSCALLTO + 5 >= LKNFSTIMEOUT', () => {
    const bad = buildConfig({ LKNFSTIMEOUT: '20', LKNFSSYSCALLTO: '5' });
    expect(bad.config.LKNFSTIMEOUT).toBe(120);
    expect(bad.config.LKNFSSYSCALLTO).toBe(5);
    expect(bad.warnings.map((w) => w.number)).toEqual([107009]);
    const ok = buildConfig({ LKNFSTIMEOUT: '21', LKNFSSYSCALLTO: '5' });
    expect([ok.config.LKNFSTIMEOUT, ok.config.LKNFSSYSCALLTO, ok.warnings.length]).toEqual([21, 5, 0]);
  });
  it('accepts the ends of the port range', () => {
    expect(buildConfig({ VIGIL_METRICS_ADDRESS: '127.0.0.1:1' }).config.VIGIL_METRICS_ADDRESS).toEqual({ host: '127.0.0.1', port: 1 });
    expect(buildConfig({ VIGIL_METRICS_ADDRESS: 'localhost:65535' }).config.VIGIL_METRICS_ADDRESS).toEqual({ host: 'localhost', port: 65535 });
  });
  it('gives the hierarchy its tunables as typed values', () => {
    const { config } = buildConfig({
      VIGIL_LOCAL_RECOVERY_ATTEMPTS: '2', VIGIL_LOCAL_RECOVERY_WINDOW: '30', VIGIL_HALT_ACTION: 'sysrq',
      LKCHECKINTERVAL_GEN_APP: '1.5', VIGIL_FSTAB: '/tmp/fstab', QUORUM_MODE: 'none',
    });
    expect(config).toMatchObject({
      VIGIL_LOCAL_RECOVERY_ATTEMPTS: 2, VIGIL_LOCAL_RECOVERY_WINDOW: 30, VIGIL_HALT_ACTION: 'sysrq',
      LKCHECKINTERVAL_GEN_APP: 1.5, VIGIL_FSTAB: '/tmp/fstab', QUORUM_MODE: 'none',
    });
    expect(config.LKCHECKINTERVAL_GEN_FILESYS).toBeUndefined();
    expect(buildConfig({}).config).toMatchObject({ VIGIL_LOCAL_RECOVERY_ATTEMPTS: 3, VIGIL_LOCAL_RECOVERY_WINDOW: 600, VIGIL_HALT_ACTION: 'exit', VIGIL_FSTAB: '/etc/fstab' });
  });
  it('storage quorum and witness: QUORUM_DISK with the storage heartbeat tunables (defaults 6 s and 4)', () => {
    expect(buildConfig({ QUORUM_MODE: 'storage', QUORUM_DISK: '/dev/sdq' }).config).toMatchObject({ QUORUM_MODE: 'storage', QUORUM_DISK: '/dev/sdq', QWK_STORAGE_HBEATTIME: 6, QWK_STORAGE_NUMHBEATS: 4 });
    expect(buildConfig({ WITNESS_MODE: 'storage', QUORUM_DISK: '/dev/sdq', QWK_STORAGE_HBEATTIME: '0.5', QWK_STORAGE_NUMHBEATS: '5' }).config).toMatchObject({ QUORUM_MODE: 'majority', WITNESS_MODE: 'storage', QWK_STORAGE_HBEATTIME: 0.5, QWK_STORAGE_NUMHBEATS: 5 });
    const e = errorOf(() => buildConfig({ QUORUM_MODE: 'storage', QUORUM_DISK: '/dev/sdq', QUORUM_HOSTS: 'w:7' }));
    expect(e.message).toMatch(/QUORUM_HOSTS: has no effect with QUORUM_MODE=storage/);
  });
  it('gives quorum and witness their tunables as typed values, with the defaults', () => {
    expect(buildConfig({}).config).toMatchObject({
      QUORUM_MODE: 'majority', QUORUM_TIMEOUT_SECS: 20, WITNESS_MODE: 'remote_verify', QUORUM_LOSS_ACTION: 'osu', QUORUM_QUARANTINE_SECS: 0,
    });
    expect(buildConfig({}).config.QUORUM_HOSTS).toBeUndefined();
    const { config } = buildConfig({
      QUORUM_MODE: 'tcp_remote', QUORUM_HOSTS: '10.0.0.9:7370, [fd00::9]:7371 witness.example:7372', QUORUM_TIMEOUT_SECS: '2.5',
      WITNESS_MODE: 'none', QUORUM_LOSS_ACTION: 'fastkill', QUORUM_QUARANTINE_SECS: '30',
    });
    expect(config).toMatchObject({
      QUORUM_MODE: 'tcp_remote', QUORUM_TIMEOUT_SECS: 2.5, WITNESS_MODE: 'none', QUORUM_LOSS_ACTION: 'fastkill', QUORUM_QUARANTINE_SECS: 30,
      QUORUM_HOSTS: [{ host: '10.0.0.9', port: 7370 }, { host: 'fd00::9', port: 7371 }, { host: 'witness.example', port: 7372 }],
    });
  });
  it('refuses witness hosts that QUORUM_MODE=none would ignore', () => {
    const e = errorOf(() => buildConfig({ QUORUM_MODE: 'none', QUORUM_HOSTS: '10.0.0.9:7370' }));
    expect(e.message).toMatch(/QUORUM_HOSTS: has no effect with QUORUM_MODE=none/);
  });
  it('refuses an unknown key by name, with the nearest known key when there is one', () => {
    const typo = errorOf(() => buildConfig({ LCMHBEATTME: '1' }, '/etc/default/vigil'));
    expect(typo.message).toMatch(/in \/etc\/default\/vigil: LCMHBEATTME: unknown key \(did you mean LCMHBEATTIME\?\)/);
    expect(typo.details.keys).toEqual(['LCMHBEATTME']);
    expect(errorOf(() => buildConfig({ vigil_log_level: 'info' })).message).toMatch(/vigil_log_level: unknown key \(did you mean VIGIL_LOG_LEVEL\?\)/);
    expect(errorOf(() => buildConfig({ LKNETRAID_SPEED: '100' })).message).toMatch(/LKNETRAID_SPEED: unknown key$/);
  });
  it('reports every problem at once: unknown keys and invalid values', () => {
    const e = errorOf(() => buildConfig({ LCMHBEATTME: '1', VIGIL_HALT_ACTION: 'explode', LCMNUMHBEATS: '1' }));
    expect(e.details.keys).toEqual(expect.arrayContaining(['LCMHBEATTME', 'VIGIL_HALT_ACTION', 'LCMNUMHBEATS']));
  });
  it('suggests only keys close to the typo', () => {
    expect(nearestKnownKey('QUORUMMODE')).toBe('QUORUM_MODE');
    expect(nearestKnownKey('VIGIL_STATEDIR')).toBe('VIGIL_STATE_DIR');
    expect(nearestKnownKey('PATH')).toBeUndefined();
    for (const k of KNOWN_CONFIG_KEYS) expect(nearestKnownKey(k)).toBe(k);
  });
});

describe('loadConfig', () => {
  it('reads a file, and errors on a missing one unless optional', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-config-'));
    try {
      const f = path.join(dir, 'vigil');
      fs.writeFileSync(f, 'VIGIL_NODE_NAME=alpha\nLCMHBEATTIME=1\n', { mode: 0o644 });
      expect(loadConfig(f).config).toMatchObject({ VIGIL_NODE_NAME: 'alpha', LCMHBEATTIME: 1, source: f });
      expect(errorOf(() => loadConfig(path.join(dir, 'none'))).message).toMatch(/cannot read configuration/);
      expect(loadConfig(path.join(dir, 'none'), { optional: true }).config.LCMNUMHBEATS).toBe(3);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('loadConfig file permissions', () => {
  it.each([
    [0o664, /is writable by group \(mode 0664\); refusing it: run chmod go-w/],
    [0o646, /is writable by others \(mode 0646\)/],
    [0o666, /is writable by group and others \(mode 0666\)/],
  ])('refuses a configuration file with mode %o', (mode, re) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-config-'));
    try {
      const f = path.join(dir, 'vigil');
      fs.writeFileSync(f, 'VIGIL_NODE_NAME=alpha\n');
      fs.chmodSync(f, mode);
      expect(errorOf(() => loadConfig(f)).message).toMatch(re);
      fs.chmodSync(f, 0o600);
      expect(loadConfig(f).config.VIGIL_NODE_NAME).toBe('alpha');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
