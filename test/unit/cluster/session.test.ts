// Sessions and the frame guard: both sides' nonces make the session keys, so a frame sealed in
// one session never opens in another (even with a fresh receiver that remembers nothing), and a
// Hello opens with the per-boot hello key but carries nothing but a nonce.
import { describe, expect, it } from 'vitest';
import { ClusterKey, generateClusterSecret } from '../../../src/cluster/cluster-key.js';
import { ClusterCounters } from '../../../src/cluster/counters.js';
import { FrameGuard } from '../../../src/cluster/frame-guard.js';
import { FrameType } from '../../../src/cluster/frame-codec.js';
import { parseHello, Session } from '../../../src/cluster/session.js';

const key = new ClusterKey(generateClusterSecret());
const node = (name: string) => {
  const counters = new ClusterCounters();
  return { counters, guard: new FrameGuard(name, key, () => true, counters, 30_000) };
};

/** Runs the handshake between two fresh sessions through their guards. */
function handshake(a: ReturnType<typeof node>, b: ReturnType<typeof node>): { sa: Session; sb: Session } {
  const sa = new Session(key, 'alpha', 'bravo', 30_000);
  const sb = new Session(key, 'bravo', 'alpha', 30_000);
  const h1 = b.guard.open(a.guard.sealHello('bravo', sa.hello()), 1024, sb);
  if (!h1.ok) throw new Error(h1.reason);
  sb.takeHello(parseHello(h1.frame.payload)!);
  const h2 = a.guard.open(b.guard.sealHello('alpha', sb.hello()), 1024, sa);
  if (!h2.ok) throw new Error(h2.reason);
  const body = parseHello(h2.frame.payload)!;
  expect(sa.echoesUs(body)).toBe(true);
  sa.takeHello(body);
  return { sa, sb };
}

describe('session keys from both nonces', () => {
  it('frames sealed in a session open in it, once; the receiver is confirmed by the first one', () => {
    const a = node('alpha');
    const b = node('bravo');
    const { sa, sb } = handshake(a, b);
    const f = a.guard.seal(sa, FrameType.Heartbeat, Buffer.from('12345678'))!;
    expect(sb.confirmed).toBe(false);
    expect(b.guard.open(f, 1024, sb)).toMatchObject({ ok: true });
    expect(sb.confirmed).toBe(true);
    expect(b.guard.open(f, 1024, sb)).toEqual({ ok: false, reason: 'replay' });
    expect(b.counters.replays).toBe(1);
  });

  it('a frame recorded in an earlier session is refused in a later one, even by a restarted receiver', () => {
    const a = node('alpha');
    const b = node('bravo');
    const { sa } = handshake(a, b);
    const recorded = a.guard.seal(sa, FrameType.Request, Buffer.from('{"id":1,"t":"admin.request","b":{}}'))!;
    const restarted = node('bravo');
    const { sb: fresh } = handshake(a, restarted);
    expect(restarted.guard.open(recorded, 1024, fresh)).toEqual({ ok: false, reason: 'bad_session' });
    expect(restarted.counters.snapshot().authFailures).toMatchObject({ bad_session: 1 });
    // Without a session (no handshake on this transport) a non-Hello frame is not even tried.
    expect(restarted.guard.open(recorded, 1024, undefined)).toEqual({ ok: false, reason: 'no_session' });
  });

  it('after the peer re-keys, its frames under the replaced keys are dropped as rekeyed; frames of an older session stay bad_session', () => {
    const a = node('alpha');
    const b = node('bravo');
    const { sa, sb } = handshake(a, b);
    const recordedEarlier = a.guard.seal(sa, FrameType.Heartbeat, Buffer.from('00000000'))!;
    // alpha starts over with a new nonce; bravo takes its Hello while alpha's old frames are in flight.
    const sa2 = new Session(key, 'alpha', 'bravo', 30_000);
    sa2.takeHello(parseHello(sb.hello())!);
    const inFlight = a.guard.seal(sa, FrameType.Heartbeat, Buffer.from('11111111'))!;
    const h = b.guard.open(a.guard.sealHello('bravo', sa2.hello()), 1024, sb);
    expect(h.ok && sb.takeHello(parseHello(h.frame.payload)!)).toBe('new');
    expect(b.guard.open(inFlight, 1024, sb)).toEqual({ ok: false, reason: 'rekeyed' });
    expect(b.counters.snapshot().droppedFrames).toMatchObject({ rekeyed: 1 });
    expect(b.counters.snapshot().authFailures).toEqual({});
    // A third nonce: frames of the first session are no longer the previous keys' but forged or replayed.
    const sa3 = new Session(key, 'alpha', 'bravo', 30_000);
    const h3 = b.guard.open(a.guard.sealHello('bravo', sa3.hello()), 1024, sb);
    expect(h3.ok && sb.takeHello(parseHello(h3.frame.payload)!)).toBe('new');
    expect(b.guard.open(recordedEarlier, 1024, sb)).toEqual({ ok: false, reason: 'bad_session' });
    expect(b.counters.snapshot().authFailures).toEqual({ bad_session: 1 });
    // The new keys still work.
    sa3.takeHello(parseHello(sb.hello())!);
    expect(b.guard.open(a.guard.seal(sa3, FrameType.Heartbeat, Buffer.from('22222222'))!, 1024, sb)).toMatchObject({ ok: true });
  });

  it('a session that replaces a dropped one on the same line drops the peer\'s frames of the dropped one as rekeyed, until it re-keys again', () => {
    const a = node('alpha');
    const b = node('bravo');
    const { sa, sb } = handshake(a, b);
    const inFlight = a.guard.seal(sa, FrameType.Heartbeat, Buffer.from('11111111'))!;
    // bravo declares the line dead and starts over; alpha's frame of the old session arrives first.
    const sb2 = new Session(key, 'bravo', 'alpha', 30_000).follows(sb);
    expect(b.guard.open(inFlight, 1024, sb2)).toEqual({ ok: false, reason: 'no_session' });
    const h = b.guard.open(a.guard.sealHello('bravo', sa.hello()), 1024, sb2);
    expect(h.ok && sb2.takeHello(parseHello(h.frame.payload)!)).toBe('new');
    expect(b.guard.open(inFlight, 1024, sb2)).toEqual({ ok: false, reason: 'rekeyed' });
    expect(b.counters.snapshot().authFailures).toEqual({});
    // Without the link to the dropped session the same frame is forged or replayed.
    const unrelated = new Session(key, 'bravo', 'alpha', 30_000);
    unrelated.takeHello(parseHello(sa.hello())!);
    expect(b.guard.open(inFlight, 1024, unrelated)).toEqual({ ok: false, reason: 'bad_session' });
  });

  it('a Hello answered with another nonce is not an answer to ours', () => {
    const a = node('alpha');
    const b = node('bravo');
    const sa = new Session(key, 'alpha', 'bravo', 30_000);
    const other = new Session(key, 'bravo', 'alpha', 30_000);
    other.takeHello(parseHello(new Session(key, 'alpha', 'bravo', 30_000).hello())!);
    const r = a.guard.open(b.guard.sealHello('alpha', other.hello()), 1024, sa);
    expect(r.ok && sa.echoesUs(parseHello(r.frame.payload)!)).toBe(false);
  });
});
