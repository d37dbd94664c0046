// L2 hub for one network segment: qemu's `-netdev stream` is point-to-point, so every NIC on the
// segment connects (as a client) to this unix-socket server and each frame (4-byte big-endian
// length + Ethernet frame) is repeated to every other port. Runs in the harness process.
import fs from 'node:fs';
import net from 'node:net';

export class L2Hub {
  private server: net.Server;
  private ports = new Set<net.Socket>();
  framesRelayed = 0;

  private constructor(readonly path: string) {
    this.server = net.createServer((sock) => this.attach(sock));
  }

  static async listen(path: string): Promise<L2Hub> {
    fs.rmSync(path, { force: true });
    const hub = new L2Hub(path);
    await new Promise<void>((resolve, reject) => {
      hub.server.once('error', reject);
      hub.server.listen(path, () => resolve());
    });
    return hub;
  }

  private attach(sock: net.Socket): void {
    this.ports.add(sock);
    let pending = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let off = 0;
      while (pending.length - off >= 4) {
        const len = pending.readUInt32BE(off);
        if (pending.length - off < 4 + len) break;
        const frame = pending.subarray(off, off + 4 + len);
        for (const other of this.ports) if (other !== sock && !other.destroyed) other.write(frame);
        this.framesRelayed++;
        off += 4 + len;
      }
      pending = off === pending.length ? Buffer.alloc(0) : Buffer.from(pending.subarray(off));
    });
    sock.on('error', () => {});
    sock.on('close', () => this.ports.delete(sock));
  }

  close(): void {
    for (const p of this.ports) p.destroy();
    this.server.close();
    fs.rmSync(this.path, { force: true });
  }
}
