// The messages between the two systems of a NetRAID mirror, carried by the cluster's
// authenticated request/response messaging (type NETRAID_MESSAGE): the primary asks the backup
// to serve its partition at a generation, tells it when it missed a write (out of date) and when
// a resync completed (current); a returning primary asks what the other system knows.
import type { ReplicaServer, ServeReply } from '../../replication/replica-server.js';
import type { ReplicaStates } from '../../replication/replica-state.js';

export const NETRAID_MESSAGE = 'NETRAID_MESSAGE';

export interface PeerQueryReply {
  role: 'primary' | 'backup' | 'none';
  generation: number;
  inService: boolean;
}

export type NetraidMessage =
  | { kind: 'serve'; tag: string; generation: number; primary: string; partition: string; address: string; port: number }
  | { kind: 'outdate'; tag: string; generation: number; reason: string }
  | { kind: 'current'; tag: string; generation: number; primary: string }
  | { kind: 'query'; tag: string };

/** What the kit asks of the other system. */
export interface NetraidPeers {
  serve(system: string, req: Omit<Extract<NetraidMessage, { kind: 'serve' }>, 'kind'>): Promise<ServeReply>;
  /** Resolves once `system` durably recorded that its copy of `tag` is out of date. */
  outdate(system: string, tag: string, generation: number, reason: string): Promise<void>;
  current(system: string, tag: string, generation: number, primary: string): Promise<void>;
  query(system: string, tag: string): Promise<PeerQueryReply>;
}

/** A transport: one authenticated request to `system`, its reply. */
export type PeerRequest = (system: string, msg: NetraidMessage) => Promise<unknown>;

export function peersOver(request: PeerRequest): NetraidPeers {
  return {
    serve: async (system, req) => (await request(system, { kind: 'serve', ...req })) as ServeReply,
    // Resolves only on the backup's confirmation, which it sends after its record is on disk.
    outdate: async (system, tag, generation, reason) => {
      const reply = (await request(system, { kind: 'outdate', tag, generation, reason })) as { ok?: boolean } | undefined;
      if (reply?.ok !== true) throw new Error(`${system} did not confirm that ${tag} is out of date`);
    },
    current: async (system, tag, generation, primary) => void (await request(system, { kind: 'current', tag, generation, primary })),
    query: async (system, tag) => (await request(system, { kind: 'query', tag })) as PeerQueryReply,
  };
}

/** Answers a peer's message on this system. */
export async function handleNetraidMessage(
  msg: NetraidMessage,
  from: string,
  here: { replica: ReplicaServer; states: ReplicaStates; inService(tag: string): boolean },
): Promise<unknown> {
  switch (msg.kind) {
    case 'serve':
      if (msg.primary !== from) return { ok: false, reason: `${from} cannot ask on behalf of ${msg.primary}` };
      return here.replica.serve(msg);
    case 'outdate':
      await here.replica.outdate(msg.tag, msg.generation, msg.reason);
      return { ok: true };
    case 'current':
      if (msg.primary !== from) return { ok: false };
      return { ok: await here.replica.markCurrent(msg.tag, msg.generation, msg.primary) };
    case 'query': {
      const st = await here.states.get(msg.tag);
      return { role: st?.role ?? 'none', generation: st?.generation ?? -1, inService: here.inService(msg.tag) } satisfies PeerQueryReply;
    }
  }
}
