// A null-modem cable between two VMs' serial ports: each qemu connects its chardev (client,
// reconnect=1) to one end, bytes are relayed both ways. cut() drops bytes in both directions (an
// unplugged cable); restore() plugs it back in.
import fs from 'node:fs';
import net from 'node:net';

class WireEnd {
  sock: net.Socket | undefined;
  constructor(readonly server: net.Server, readonly path: string) {}
}

export class SerialWire {
  connected = true;
  bytesRelayed = 0;
  private constructor(private readonly a: WireEnd, private readonly b: WireEnd) {}

  static async create(pathA: string, pathB: string): Promise<SerialWire> {
    const mk = async (p: string) => {
      fs.rmSync(p, { force: true });
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(p, () => resolve());
      });
      return new WireEnd(server, p);
    };
    const wire = new SerialWire(await mk(pathA), await mk(pathB));
    wire.wireUp(wire.a, wire.b);
    wire.wireUp(wire.b, wire.a);
    return wire;
  }

  private wireUp(from: WireEnd, to: WireEnd): void {
    from.server.on('connection', (sock) => {
      from.sock?.destroy();
      from.sock = sock;
      sock.on('error', () => {});
      sock.on('data', (d) => {
        if (!this.connected) return;
        if (to.sock && !to.sock.destroyed) {
          to.sock.write(d);
          this.bytesRelayed += d.length;
        }
      });
    });
  }

  cut(): void {
    this.connected = false;
  }

  restore(): void {
    this.connected = true;
  }

  close(): void {
    for (const end of [this.a, this.b]) {
      end.sock?.destroy();
      end.server.close();
      fs.rmSync(end.path, { force: true });
    }
  }
}
