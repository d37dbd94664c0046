// The /metrics and /healthz HTTP endpoint. It listens exactly where it is told: vigild passes
// VIGIL_METRICS_ADDRESS (parsed and validated by src/common/config.ts, loopback 127.0.0.1:9787
// by default, "off" to disable), so nothing listens on a wildcard address unless configured. close() stops accepting, ends idle keep-alive connections, and resolves
// once in-flight requests are done.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import type { Scrape } from './registry.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface MetricsServerOptions {
  address: ListenAddress;
  scrape: () => Promise<Scrape>;
  /** Extra readiness check for /healthz; the endpoint answers 503 with the reason when it fails. */
  health?: () => { ok: boolean; detail?: string };
  /**
   * Every degraded subsystem, each as "name: why" (e.g. "cluster: no cluster key: ..."); /healthz
   * answers 503 naming all of them when the list is not empty.
   */
  degraded?: () => string[];
}

export class MetricsServer {
  private readonly server: Server;
  private closing: Promise<void> | undefined;
  private bound: ListenAddress | undefined;

  private constructor(private readonly options: MetricsServerOptions) {
    this.server = createServer((req, res) => void this.handle(req, res));
    // A scraper that connects and says nothing must not hold a socket forever.
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 10_000;
    this.server.keepAliveTimeout = 5_000;
  }

  static async start(options: MetricsServerOptions): Promise<MetricsServer> {
    const s = new MetricsServer(options);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      s.server.once('error', onError);
      s.server.listen(options.address.port, options.address.host, () => {
        s.server.off('error', onError);
        const info = s.server.address() as AddressInfo;
        s.bound = { host: info.address, port: info.port };
        resolve();
      });
    });
    return s;
  }

  /** The address actually bound (the real port when 0 was asked for). */
  address(): ListenAddress {
    return { ...this.bound! };
  }

  /** "host:port" form usable in a URL or a Prometheus target. */
  endpoint(): string {
    const { host, port } = this.address();
    return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
    return this.closing;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (this.closing) res.setHeader('connection', 'close');
    if (path === '/metrics') {
      try {
        const { contentType, body } = await this.options.scrape();
        res.writeHead(200, { 'content-type': contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`scrape failed: ${(err as Error).message}\n`);
      }
      return;
    }
    if (path === '/healthz') {
      const health = this.options.health?.() ?? { ok: true };
      let degraded: string[];
      try {
        degraded = this.options.degraded?.() ?? [];
      } catch (err) {
        degraded = [`health check: ${(err as Error).message}`];
      }
      if (!health.ok) degraded.unshift(health.detail ?? 'unhealthy');
      const status = degraded.length === 0 && !this.closing ? 200 : 503;
      const text = status === 200 ? 'ok' : this.closing ? 'shutting down' : `unhealthy: ${degraded.join('; ')}`;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`${text}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics or /healthz\n');
  }
}
