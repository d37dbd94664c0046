// Sends one request to the local vigild over its admin socket and waits for the reply.
import * as net from 'node:net';
import { EXIT_UNREACHABLE } from '../admin/exit-codes.js';
import type { AdminReply, AdminRequest } from '../admin/protocol.js';

/** Connection failures become a reply with EXIT_UNREACHABLE and an explanation on stderr. */
export function sendAdminRequest(socketPath: string, req: AdminRequest): Promise<AdminReply> {
  return new Promise((resolve) => {
    const sock = net.connect(socketPath);
    let buf = '';
    let settled = false;
    const finish = (reply: AdminReply) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      resolve(reply);
    };
    const unreachable = (why: string): AdminReply => ({ id: req.id, exitCode: EXIT_UNREACHABLE, stdout: '', stderr: `vigil: ${why}\n` });
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        finish(JSON.parse(buf.slice(0, nl)) as AdminReply);
      } catch {
        finish(unreachable(`malformed reply from vigild at ${socketPath}`));
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EACCES' || err.code === 'EPERM') {
        finish(unreachable(`permission denied on ${socketPath}: the admin socket is for root only`));
      } else if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        finish(unreachable(`cannot reach vigild at ${socketPath} (${err.code}): is vigild running?`));
      } else finish(unreachable(`admin socket ${socketPath}: ${err.message}`));
    });
    sock.on('close', () => finish(unreachable(`vigild closed the connection without replying (${socketPath})`)));
  });
}
