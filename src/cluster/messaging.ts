// Request/response between agents. A request goes out on the best live path to the system (the
// caller supplies the routes, best first) that can carry its size, so small control messages may
// use a serial line but anything larger goes over TCP. Each request has an id and a time limit;
// it fails at once when no live path can carry it and when the system is declared dead.
import { VigilError } from '../common/errors.js';
import { FrameType, type OpenedFrame } from './frame-codec.js';

export interface Route {
  readonly id: string;
  readonly maxPayload: number;
  send(type: FrameType, payload: Buffer): boolean;
}

export type RequestHandler = (body: unknown, from: string) => unknown | Promise<unknown>;

interface Pending {
  system: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

interface RequestWire { id: number; t: string; b: unknown }
type ResponseWire = { id: number; ok: true; b: unknown } | { id: number; ok: false; e: string; n: number };

export class Messaging {
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly handlers = new Map<string, RequestHandler>();

  constructor(private readonly routes: (system: string) => Route[], private readonly defaultTimeoutMs: number) {}

  handle(type: string, handler: RequestHandler): void {
    this.handlers.set(type, handler);
  }

  request(system: string, type: string, body: unknown, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    const id = this.nextId++;
    const payload = Buffer.from(JSON.stringify({ id, t: type, b: body } satisfies RequestWire));
    return new Promise((resolve, reject) => {
      const sentOn = this.sendBest(system, FrameType.Request, payload);
      if (!sentOn.ok) {
        reject(new VigilError(0, sentOn.why, { system, type, code: 'no_path' }));
        return;
      }
      const key = `${system}\u0000${id}`;
      const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new VigilError(0, `no answer from system ${system} to ${type} within ${timeoutMs} ms`, { system, type, code: 'timeout' }));
      }, timeoutMs);
      this.pending.set(key, { system, resolve, reject, timer });
    });
  }

  /** Fails every request waiting on a system that was declared dead. */
  systemDead(system: string): void {
    for (const [key, p] of this.pending) {
      if (p.system !== system) continue;
      clearTimeout(p.timer);
      this.pending.delete(key);
      p.reject(new VigilError(0, `system ${system} died before answering`, { system, code: 'system_dead' }));
    }
  }

  /** Fails everything (node shutting down). */
  close(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new VigilError(0, 'cluster node stopped', { code: 'stopped' }));
    }
    this.pending.clear();
  }

  /** Takes an authentic Request or Response frame. Returns false when the payload is malformed. */
  onFrame(frame: OpenedFrame): boolean {
    let msg: unknown;
    try {
      msg = JSON.parse(frame.payload.toString('utf8'));
    } catch {
      return false;
    }
    if (typeof msg !== 'object' || msg === null || typeof (msg as { id?: unknown }).id !== 'number') return false;
    const from = frame.header.sender;
    if (frame.header.type === FrameType.Response) {
      const r = msg as ResponseWire;
      const key = `${from}\u0000${r.id}`;
      const p = this.pending.get(key);
      if (!p) return true; // late answer after a timeout
      this.pending.delete(key);
      clearTimeout(p.timer);
      if (r.ok) p.resolve(r.b);
      else p.reject(new VigilError(Number(r.n) || 0, `system ${from}: ${String(r.e)}`, { system: from, code: 'remote_error' }));
      return true;
    }
    const q = msg as RequestWire;
    if (typeof q.t !== 'string') return false;
    void this.answer(from, q);
    return true;
  }

  private async answer(from: string, q: RequestWire): Promise<void> {
    let reply: ResponseWire;
    const h = this.handlers.get(q.t);
    if (!h) {
      reply = { id: q.id, ok: false, e: `no handler for message type ${q.t}`, n: 0 };
    } else {
      try {
        reply = { id: q.id, ok: true, b: await h(q.b, from) };
      } catch (e) {
        reply = { id: q.id, ok: false, e: e instanceof Error ? e.message : String(e), n: e instanceof VigilError ? e.number : 0 };
      }
    }
    // If no path can carry the answer, the requester's time limit reports it.
    this.sendBest(from, FrameType.Response, Buffer.from(JSON.stringify(reply)));
  }

  private sendBest(system: string, type: FrameType, payload: Buffer): { ok: true } | { ok: false; why: string } {
    const live = this.routes(system);
    if (live.length === 0) return { ok: false, why: `no live comm path to system ${system}` };
    for (const r of live) {
      if (payload.length > r.maxPayload) continue;
      if (r.send(type, payload)) return { ok: true };
    }
    return { ok: false, why: `no live comm path to system ${system} can carry a ${payload.length}-byte message now` };
  }
}
