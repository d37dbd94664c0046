// TransitionTracker: each change of a resource's state between two syncs is recorded once;
// creations, deletions and unchanged states are not transitions.
import { describe, expect, it } from 'vitest';
import { TransitionTracker } from '../../../src/metrics/transition-tracker.js';

describe('TransitionTracker', () => {
  it('records changes only', () => {
    let current = [{ tag: 'a', state: 'OSU' }, { tag: 'b', state: 'ISP' }];
    const seen: string[] = [];
    const tracker = new TransitionTracker(() => current, { resourceTransition: (tag, from, to) => seen.push(`${tag}:${from}->${to}`) });
    tracker.sync();
    expect(seen).toEqual([]);
    current = [{ tag: 'a', state: 'ISP' }, { tag: 'b', state: 'ISP' }, { tag: 'c', state: 'OSU' }];
    tracker.sync();
    expect(seen).toEqual(['a:OSU->ISP']);
    current = [{ tag: 'c', state: 'OSF' }];
    tracker.sync();
    current = [{ tag: 'a', state: 'OSF' }, { tag: 'c', state: 'OSF' }];
    tracker.sync();
    // 'a' was deleted and re-created: not a transition from its old state.
    expect(seen).toEqual(['a:OSU->ISP', 'c:OSU->OSF']);
  });
});
