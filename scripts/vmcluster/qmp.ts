// Minimal QMP client over a unix socket: capabilities handshake, then one command at a time.
import net from 'node:net';

export class QmpClient {
  private sock!: net.Socket;
  private buf = '';
  private nextId = 1;
  private waiters = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private greeted!: Promise<void>;
  closed = false;

  static async connect(path: string, deadlineMs = 10_000): Promise<QmpClient> {
    const c = new QmpClient();
    const until = Date.now() + deadlineMs;
    for (;;) {
      try {
        await c.open(path);
        return c;
      } catch (e) {
        if (Date.now() > until) throw new Error(`QMP ${path}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private open(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(path);
      let greetResolve!: () => void;
      this.greeted = new Promise((r) => (greetResolve = r));
      sock.once('error', reject);
      sock.once('connect', () => {
        this.sock = sock;
        sock.removeListener('error', reject);
        sock.on('error', () => {});
        sock.on('close', () => {
          this.closed = true;
          for (const w of this.waiters.values()) w.reject(new Error('QMP connection closed'));
          this.waiters.clear();
        });
        sock.on('data', (d) => {
          this.buf += d.toString();
          let nl;
          while ((nl = this.buf.indexOf('\n')) >= 0) {
            const line = this.buf.slice(0, nl).trim();
            this.buf = this.buf.slice(nl + 1);
            if (!line) continue;
            const msg = JSON.parse(line);
            if (msg.QMP) greetResolve();
            else if (msg.id !== undefined && this.waiters.has(msg.id)) {
              const w = this.waiters.get(msg.id)!;
              this.waiters.delete(msg.id);
              if (msg.error) w.reject(new Error(`QMP: ${msg.error.class}: ${msg.error.desc}`));
              else w.resolve(msg.return);
            }
          }
        });
        this.greeted.then(() => this.execute('qmp_capabilities')).then(() => resolve(), reject);
      });
    });
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('QMP connection closed'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiters.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.sock.write(JSON.stringify({ execute: command, arguments: args, id }) + '\n');
    });
  }

  /** Run an HMP command line (for the few things QMP lacks, e.g. drive_del). */
  hmp(commandLine: string): Promise<string> {
    return this.execute<string>('human-monitor-command', { 'command-line': commandLine });
  }

  close(): void {
    this.closed = true;
    this.sock?.destroy();
  }
}
