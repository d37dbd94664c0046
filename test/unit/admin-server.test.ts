// The admin socket server in-process: JSON-lines request/reply with ids, several requests on one
// connection answered independently, malformed and oversized input refused, 0600/0700 modes,
// a live daemon's socket not stolen, the socket removed on stop, and peers other than root
// (as SO_PEERCRED reports them, here through MemoryPeerCredentials) refused before a byte is read.
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
import { AdminServer, MAX_REQUEST_BYTES, socketFd } from '../../src/daemon/admin-server.js';
import { Lcd } from '../../src/lcd/lcd.js';
import { MemoryPeerCredentials } from '../../src/platform/memory/index.js';
import { AdminCommands } from '../../src/admin/registry.js';
import type { DurableFiles } from '../../src/platform/platform.js';
import { memoryDisk } from '../helpers/memory-disk.js';

const commands = new AdminCommands();
registerCoreCommands(commands);
let diskFiles: DurableFiles;
let dir: string;
let sock: string;
let server: AdminServer;
let peers: MemoryPeerCredentials;
let ctx: AgentContext;
const log = pino({ level: 'silent' });
const ROOT = { pid: 4242, uid: 0, gid: 0 };
const NOBODY = { pid: 4343, uid: 65534, gid: 65534 };

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-adm-'));
  sock = path.join(dir, 'run', 'admin.sock');
  diskFiles = memoryDisk(path.join(dir, 'state'), path.join(dir, 'state2')).files;
  const lcd = Lcd.open({ files: diskFiles, dir: path.join(dir, 'state'), localSystem: 'alpha' });
  ctx = { lcd, config: buildConfig({}).config, localSystem: 'alpha', log };
  peers = new MemoryPeerCredentials(ROOT);
  server = new AdminServer(sock, ctx, log, peers, commands);
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
    expect(byId.get(2)).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/\*ERROR\* \(No\. 424\) can't remove entry for local system "alpha"/) });
    expect(byId.get(3)).toMatchObject({ exitCode: 2 });
  });
  it('refuses malformed and oversized requests and closes the connection', async () => {
    expect(await exchange('{"id":1}\n', 1)).toEqual([expect.objectContaining({ exitCode: 2, stderr: expect.stringMatching(/expected \{id, command, options, args\}/) })]);
    expect(await exchange('[1,2\n', 1)).toEqual([expect.objectContaining({ exitCode: 2, stderr: expect.stringMatching(/not JSON/) })]);
    expect(await exchange('x'.repeat(MAX_REQUEST_BYTES + 10), 1)).toEqual([expect.objectContaining({ stderr: 'request too long\n' })]);
    expect((await exchange(JSON.stringify({ id: 9, command: 'sys_list', options: {}, args: [] }) + '\n', 1))[0]!.stdout).toBe('alpha\n');
  });
  it('will not take over the socket of a live server, and removes its socket on stop', async () => {
    const lcd = Lcd.open({ files: diskFiles, dir: path.join(dir, 'state2'), localSystem: 'beta' });
    const second = new AdminServer(sock, { lcd, config: buildConfig({}).config, localSystem: 'beta', log }, log, peers, commands);
    await expect(second.start()).rejects.toThrow(/another vigild is already serving/);
    await server.stop();
    expect(fs.existsSync(sock)).toBe(false);
  });
});

describe('AdminServer peer check (SO_PEERCRED through PeerCredentials)', () => {
  const sysList = JSON.stringify({ id: 7, command: 'sys_list', options: {}, args: [] }) + '\n';
  it('checks the peer of every connection by its fd', async () => {
    const before = peers.asked.length;
    expect((await exchange(sysList, 1))[0]).toMatchObject({ id: 7, exitCode: 0, stdout: 'alpha\n' });
    expect(peers.asked.length).toBe(before + 1);
    expect(peers.asked.at(-1)).toEqual(expect.any(Number));
  });
  it('refuses a non-root peer with one error line and closes, running nothing; root still gets in', async () => {
    const logged: Array<Record<string, unknown>> = [];
    const spyLog = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
    await server.stop();
    server = new AdminServer(sock, ctx, spyLog, peers, commands);
    await server.start();
    peers.setAnyFd(NOBODY);
    const create = JSON.stringify({ id: 1, command: 'net_create', options: { S: 'beta', T: 'TCP', l: '127.0.0.1', r: '127.0.0.2' }, args: [] }) + '\n';
    const replies = await exchange(create, 2);
    expect(replies).toEqual([{ id: 0, exitCode: 1, stdout: '', stderr: 'Error: the admin socket is for root only; refused uid 65534 (pid 4343)\n' }]);
    expect(logged).toContainEqual(expect.objectContaining({ peer: { pid: 4343, uid: 65534, gid: 65534 }, msg: expect.stringMatching(/refused: peer is not root/) }));
    peers.setAnyFd(ROOT);
    // The refused request changed nothing: no comm path to beta was created.
    const list = await exchange(JSON.stringify({ id: 2, command: 'net_list', options: {}, args: [] }) + '\n', 1);
    expect(list[0]).toMatchObject({ id: 2, exitCode: 0 });
    expect(list[0]!.stdout).not.toMatch(/beta/);
    // The same request from root does create it.
    expect((await exchange(create, 1))[0]).toMatchObject({ id: 1, exitCode: 0 });
    expect((await exchange(JSON.stringify({ id: 3, command: 'net_list', options: {}, args: [] }) + '\n', 1))[0]!.stdout).toMatch(/beta/);
  });
  it('fails closed: a peer whose credentials cannot be read is refused', async () => {
    peers.setAnyFd(undefined);
    const replies = await exchange(sysList, 2);
    expect(replies).toEqual([expect.objectContaining({ id: 0, exitCode: 1, stderr: expect.stringMatching(/could not identify the connecting process \(ENOTSOCK.*\); refused/) })]);
  });
  it('reads the fd of a connected socket, and none from a socket without a handle', async () => {
    expect(socketFd(new net.Socket())).toBeUndefined();
    const fds = await new Promise<Array<number | undefined>>((resolve, reject) => {
      const c = net.connect(sock, () => {
        resolve([socketFd(c)]);
        c.destroy();
      });
      c.on('error', reject);
    });
    expect(fds[0]).toEqual(expect.any(Number));
  });
});
