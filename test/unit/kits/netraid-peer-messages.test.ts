// The out-of-date request resolves only on the backup's confirmation: the link hold releases
// the primary's writes on it, so an answer that is not a confirmation must not count as one.
import { describe, expect, it } from 'vitest';

import { peersOver } from '../../../src/kits/netraid/peer-messages.js';

describe('peersOver.outdate', () => {
  it('resolves on { ok: true } and rejects on anything else', async () => {
    const answers: unknown[] = [{ ok: true }, { ok: false }, undefined, 'ok'];
    const peers = peersOver(async () => answers.shift());
    await expect(peers.outdate('b', 'lkdr1', 1, 'why')).resolves.toBeUndefined();
    for (let i = 0; i < 3; i++) await expect(peers.outdate('b', 'lkdr1', 1, 'why')).rejects.toThrow(/did not confirm/);
  });
});
