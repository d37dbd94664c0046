// `vigil keygen` as a commander command: writes a 0600 key file readable by readKeyFile, refuses to overwrite.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keygenCommand } from '../../../src/cluster/keygen.js';
import { readKeyFile } from '../../../src/cluster/cluster-key.js';

describe('vigil keygen', () => {
  it('writes a 0600 key file and refuses to replace it without --force', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-keygen-'));
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    const ewrite = process.stderr.write.bind(process.stderr);
    try {
      process.stdout.write = ((s: string) => (out.push(s), true)) as typeof process.stdout.write;
      process.stderr.write = ((s: string) => (out.push(s), true)) as typeof process.stderr.write;
      const file = join(dir, 'sub', 'cluster.key');
      await keygenCommand().parseAsync(['--file', file], { from: 'user' });
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const k1 = readKeyFile(file);
      await keygenCommand().parseAsync(['--file', file], { from: 'user' });
      expect(process.exitCode).toBe(1);
      expect(readKeyFile(file).equals(k1)).toBe(true);
      process.exitCode = 0;
      await keygenCommand().parseAsync(['--file', file, '--force'], { from: 'user' });
      expect(readKeyFile(file).equals(k1)).toBe(false);
      expect(out.join('')).toMatch(/already exists/);
    } finally {
      process.stdout.write = write;
      process.stderr.write = ewrite;
      process.exitCode = 0;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
