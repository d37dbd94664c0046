// The /metrics and /healthz HTTP endpoint. Listens on loopback unless the administrator
// configures another address (VIGIL_METRICS_ADDRESS=host:port); it never picks a wildcard
// address by itself. close() stops accepting, ends idle keep-alive connections, and resolves
// once in-flight requests are done.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { VigilError } from '../common/errors.js';
import type { Scrape } from './registry.js';

export const DEFAULT_METRICS_ADDRESS = '127.0.0.1:9787';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parse "host:port" or "[v6]:port". Port 0 asks the kernel for a free port. */
export function parseMetricsAddress(text: string): ListenAddress {
  const trimmed = text.trim();
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(trimmed) ?? /^([^:[\]]+):(\d+)$/.exec(trimmed);
  if (!match) {
    throw new VigilError(0, `VIGIL_METRICS_ADDRESS "${text}" is not host:port (IPv6 as [addr]:port)`);
  }
  const host = match[1]!;
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new VigilError(0, `VIGIL_METRICS_ADDRESS "${text}": port must be 0..65535`);
  }
  if (isIP(host) === 0 && host !== 'localhost') {
    throw new VigilError(0, `VIGIL_METRICS_ADDRESS "${text}": host must be an IP address or localhost`);
  }
  return { host, port };
}

/** The configured address from the environment, loopback by default. */
export function metricsAddressFromEnv(env: NodeJS.ProcessEnv = process.env): ListenAddress {
  return parseMetricsAddress(env.VIGIL_METRICS_ADDRESS ?? DEFAULT_METRICS_ADDRESS);
}

export interface MetricsServerOptions {
  address: ListenAddress;
  scrape: () => Promise<Scrape>;
  /** Extra readiness check for /healthz; the endpoint answers 503 with the reason when it fails. */
  health?: () => { ok: boolean; detail?: string };
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
      const status = health.ok && !this.closing ? 200 : 503;
      const text = status === 200 ? 'ok' : this.closing ? 'shutting down' : `unhealthy: ${health.detail ?? ''}`;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`${text}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics or /healthz\n');
  }
}
