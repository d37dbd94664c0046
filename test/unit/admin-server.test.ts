// The admin socket server in-process: JSON-lines request/reply with ids, several requests on one
// connection answered independently, malformed and oversized input refused, 0600/0700 modes,
// a live daemon's socket not stolen, and the socket removed on stop.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerCoreCommands } from '../../src/admin/commands/index.js';
import type { AgentContext } from '../../src/admin/context.js';
import type { AdminReply } from '../../src/admin/protocol.js';
import { buildConfig } from '../../src/common/config.js';
import { AdminServer, MAX_REQUEST_BYTES } from '../../src/daemon/admin-server.js';
import { Lcd } from '../../src/lcd/lcd.js';

registerCoreCommands();
let dir: string;
let sock: string;
let server: AdminServer;
const log = pino({ level: 'silent' });

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-adm-'));
  sock = path.join(dir, 'run', 'admin.sock');
  const lcd = Lcd.open({ dir: path.join(dir, 'state'), localSystem: 'alpha' });
  const ctx: AgentContext = { lcd, config: buildConfig({}).config, localSystem: 'alpha', log };
  server = new AdminServer(sock, ctx, log);
  await server.start();
});
afterEach(async () => {
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Send raw text, collect reply lines until `count` arrived or the server closes. */
function exchange(text: string, count: number): Promise<AdminReply[]> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock, () => c.write(text));
    let buf = '';
    const replies: AdminReply[] = [];
    c.on('data', (b) => {
      buf += b.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        replies.push(JSON.parse(buf.slice(0, nl)) as AdminReply);
        buf = buf.slice(nl + 1);
      }
      if (replies.length >= count) {
        c.destroy();
        resolve(replies);
      }
    });
    c.on('close', () => resolve(replies));
    c.on('error', reject);
  });
}

describe('AdminServer', () => {
  it('creates the directory 0700 and the socket 0600', () => {
    expect(fs.statSync(path.dirname(sock)).mode & 0o777).toBe(0o700);
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
  });
  it('answers several requests on one connection, each with its id', async () => {
    const reqs = [
      { id: 1, command: 'sys_list', options: {}, args: [] },
      { id: 2, command: 'sys_remove', options: { s: 'alpha' }, args: [] },
      { id: 3, command: 'nope', options: {}, args: [] },
    ];
    const replies = await exchange(reqs.map((r) => JSON.stringify(r)).join('\n') + '\n', 3);
    const byId = new Map(replies.map((r) => [r.id, r]));
    expect(byId.get(1)).toMatchObject({ exitCode: 0, stdout: 'alpha\n' });
    expect(byId.get(2)).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/Error 000424/) });
    expect(byId.get(3)).toMatchObject({ exitCode: 2 });
  });
  it('refuses malformed and oversized requests and closes the connection', async () => {
    expect(await exchange('{"id":1}\n', 1)).toEqual([expect.objectContaining({ exitCode: 2, stderr: expect.stringMatching(/expected \{id, command, options, args\}/) })]);
    expect(await exchange('[1,2\n', 1)).toEqual([expect.objectContaining({ exitCode: 2, stderr: expect.stringMatching(/not JSON/) })]);
    expect(await exchange('x'.repeat(MAX_REQUEST_BYTES + 10), 1)).toEqual([expect.objectContaining({ stderr: 'request too long\n' })]);
    expect((await exchange(JSON.stringify({ id: 9, command: 'sys_list', options: {}, args: [] }) + '\n', 1))[0]!.stdout).toBe('alpha\n');
  });
  it('will not take over the socket of a live server, and removes its socket on stop', async () => {
    const lcd = Lcd.open({ dir: path.join(dir, 'state2'), localSystem: 'beta' });
    const second = new AdminServer(sock, { lcd, config: buildConfig({}).config, localSystem: 'beta', log }, log);
    await expect(second.start()).rejects.toThrow(/another vigild is already serving/);
    await server.stop();
    expect(fs.existsSync(sock)).toBe(false);
  });
});
