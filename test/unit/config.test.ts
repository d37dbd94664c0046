// /etc/default/vigil parsing and validation: syntax, defaults, errors naming key and rule, 107009.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig, loadConfig, parseKeyValueText } from '../../src/common/config.js';
import { VigilError } from '../../src/common/errors.js';

function errorOf(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (e) {
    if (e instanceof VigilError) return e;
    throw e;
  }
  throw new Error('expected a VigilError');
}

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
    ['LKNASERROR', 'reboot', /LKNASERROR="reboot": must be switch or halt/],
    ['QUORUM_MODE', 'maybe', /QUORUM_MODE="maybe": must be majority/],
    ['VIGIL_NODE_NAME', 'bad name', /VIGIL_NODE_NAME="bad name": must be 1-64 letters/],
    ['VIGIL_STATE_DIR', 'relative/dir', /VIGIL_STATE_DIR="relative\/dir": must be an absolute path/],
    ['VIGIL_METRICS_ADDRESS', '127.0.0.1', /VIGIL_METRICS_ADDRESS="127.0.0.1": must be HOST:PORT/],
    ['VIGIL_LOG_LEVEL', 'loud', /VIGIL_LOG_LEVEL="loud": must be one of/],
    ['VIGIL_LCD_WRITE_TIMEOUT_MS', '10s', /VIGIL_LCD_WRITE_TIMEOUT_MS="10s": must be a whole number/],
    ['VIGIL_LCD_WRITE_TIMEOUT_MS', '50', /VIGIL_LCD_WRITE_TIMEOUT_MS="50": must be at least 100/],
    ['VIGIL_LCD_WRITE_TIMEOUT_MS', '600001', /VIGIL_LCD_WRITE_TIMEOUT_MS="600001": must be at most 600000/],
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
  it('keeps unknown keys in raw', () => {
    expect(buildConfig({ LKNETRAID_SPEED: '100' }).config.raw.LKNETRAID_SPEED).toBe('100');
  });
});

describe('loadConfig', () => {
  it('reads a file, and errors on a missing one unless optional', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-config-'));
    try {
      const f = path.join(dir, 'vigil');
      fs.writeFileSync(f, 'VIGIL_NODE_NAME=alpha\nLCMHBEATTIME=1\n');
      expect(loadConfig(f).config).toMatchObject({ VIGIL_NODE_NAME: 'alpha', LCMHBEATTIME: 1, source: f });
      expect(errorOf(() => loadConfig(path.join(dir, 'none'))).message).toMatch(/cannot read configuration/);
      expect(loadConfig(path.join(dir, 'none'), { optional: true }).config.LCMNUMHBEATS).toBe(3);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
