// PeerCredentials in memory for unit tests: the test says who is behind each fd (or behind any
// fd it did not name); an fd nobody was set for fails like a non-socket does on Linux.
import { SysError } from '../errors.js';
import type { PeerCredential, PeerCredentials } from '../platform.js';

export class MemoryPeerCredentials implements PeerCredentials {
  private readonly byFd = new Map<number, PeerCredential>();
  /** Every fd asked about, in order, so tests can see that a check really happened. */
  readonly asked: number[] = [];

  /** `anyFd`: the peer reported for fds without an entry of their own (none: they fail ENOTSOCK). */
  constructor(private anyFd?: PeerCredential) {}

  /** The peer behind one fd. */
  set(fd: number, peer: PeerCredential): void {
    this.byFd.set(fd, { ...peer });
  }

  /** The peer behind every fd without an entry of its own; undefined makes them fail. */
  setAnyFd(peer: PeerCredential | undefined): void {
    this.anyFd = peer === undefined ? undefined : { ...peer };
  }

  of(fd: number): PeerCredential {
    this.asked.push(fd);
    const peer = this.byFd.get(fd) ?? this.anyFd;
    if (peer === undefined) throw SysError.fromCode('ENOTSOCK', 'getsockopt(SO_PEERCRED)');
    return { ...peer };
  }
}
