// Counters of what the comm layer refused or dropped, by reason. Plain integers in maps so that
// a stats() snapshot (read by the metrics scrape) is a cheap copy.

export type AuthFailureReason =
  | 'bad_tag' // AEAD check failed: wrong key or tampered frame
  | 'unknown_sender' // authenticated header names a system we have no path to
  | 'wrong_receiver'
  | 'path_mismatch' // a valid frame on a path that belongs to another system or address
  | 'hello_timeout' // a TCP connection that never completed its handshake
  | 'bad_session' // a frame that does not open under its session's keys: replayed from another session, or forged
  | 'unknown_address'; // a connection from an address that is no configured comm-path remote address

export type DropReason =
  | 'bad_magic' | 'bad_version' | 'bad_type' | 'bad_name' | 'oversize' | 'truncated'
  | 'crc' | 'cobs' | 'line_overflow' // serial line noise
  | 'stale' | 'old_epoch' // replay protection besides the sequence window
  | 'backlog' // a path could not keep up, an outgoing frame was not queued
  | 'unexpected' // a well-formed frame of a type this state does not take
  | 'no_session' // a session frame before the handshake gave keys (e.g. the peer re-keyed meanwhile)
  | 'rekeyed' // a frame under the session keys a new peer nonce just replaced (sent before the peer saw our Hello)
  | 'evicted'; // an unfinished handshake closed to make room for a newer connection from its address

export class ClusterCounters {
  readonly authFailures = new Map<AuthFailureReason, number>();
  readonly dropped = new Map<DropReason, number>();
  replays = 0;
  framesIn = 0;
  framesOut = 0;
  connectionsRejected = 0;
  /** Connections closed at accept because their source is no configured comm-path remote address. */
  connectionsFromUnknownAddress = 0;
  /** Unauthenticated connections closed to make room for a newer one from the same address. */
  pendingEvicted = 0;

  authFailure(r: AuthFailureReason): void {
    this.authFailures.set(r, (this.authFailures.get(r) ?? 0) + 1);
  }
  drop(r: DropReason): void {
    this.dropped.set(r, (this.dropped.get(r) ?? 0) + 1);
  }
  /** Counts a frame refused by the codec or a stream reader under the right heading. */
  refuse(reason: string): void {
    if (reason === 'bad_tag' || reason === 'wrong_receiver') this.authFailure(reason);
    else this.drop(reason as DropReason);
  }
  snapshot(): CountersSnapshot {
    return {
      authFailures: Object.fromEntries(this.authFailures) as Record<string, number>,
      droppedFrames: Object.fromEntries(this.dropped) as Record<string, number>,
      replays: this.replays,
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      connectionsRejected: this.connectionsRejected,
      connectionsFromUnknownAddress: this.connectionsFromUnknownAddress,
      pendingEvicted: this.pendingEvicted,
    };
  }
}

export interface CountersSnapshot {
  authFailures: Record<string, number>;
  droppedFrames: Record<string, number>;
  replays: number;
  framesIn: number;
  framesOut: number;
  connectionsRejected: number;
  connectionsFromUnknownAddress: number;
  pendingEvicted: number;
}
