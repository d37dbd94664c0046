// Resource states (the seeds' names) and the transitions the engine is allowed to make. Any
// other transition is a programming error and throws, so a bug cannot silently leave a resource
// in a state that misdescribes it.

export type ResourceState = 'ISP' | 'ISU' | 'OSU' | 'OSF';

export const RESOURCE_STATES: readonly ResourceState[] = ['ISP', 'ISU', 'OSU', 'OSF'];

/** Why a state changes. */
export type StateCause =
  | 'restored' // restore succeeded
  | 'restore-failed'
  | 'removed' // remove succeeded (or the hierarchy moved away)
  | 'remove-failed'
  | 'check-failed' // monitor failed and recovery did not help
  | 'protection-changed' // an equivalent was added or removed: ISP <-> ISU
  | 'admin-set' // ins_setstate by an administrator
  | 'agent-start' // the agent started; nothing it runs is in service yet
  | 'stalled'; // the agent stood still past its peers' detection time: its copy is presumed taken over

const allowed: Record<StateCause, Array<[ResourceState | '*', ResourceState | 'IS*']>> = {
  restored: [['*', 'IS*']],
  'restore-failed': [['OSU', 'OSF'], ['OSF', 'OSF'], ['ISP', 'OSF'], ['ISU', 'OSF']],
  removed: [['ISP', 'OSU'], ['ISU', 'OSU'], ['OSU', 'OSU'], ['OSF', 'OSF'], ['OSF', 'OSU']],
  'remove-failed': [['ISP', 'OSF'], ['ISU', 'OSF'], ['OSU', 'OSF'], ['OSF', 'OSF']],
  'check-failed': [['ISP', 'OSF'], ['ISU', 'OSF']],
  'protection-changed': [['ISP', 'ISU'], ['ISU', 'ISP'], ['ISP', 'ISP'], ['ISU', 'ISU']],
  'admin-set': [['*', 'OSU'], ['*', 'OSF'], ['*', 'IS*']],
  'agent-start': [['*', 'OSU'], ['OSF', 'OSF']],
  stalled: [['ISP', 'OSF'], ['ISU', 'OSF']],
};

export function isInService(s: ResourceState): boolean {
  return s === 'ISP' || s === 'ISU';
}

/** Throws when `cause` may not move a resource from `from` to `to`. */
export function checkTransition(from: ResourceState, to: ResourceState, cause: StateCause): void {
  const ok = allowed[cause].some(
    ([f, t]) => (f === '*' || f === from) && (t === to || (t === 'IS*' && isInService(to))),
  );
  if (!ok) throw new Error(`illegal resource state transition ${from} -> ${to} (${cause})`);
}

/** The in-service state for a resource: protected when an equivalent exists on another system. */
export function inServiceState(hasEquivalent: boolean): ResourceState {
  return hasEquivalent ? 'ISP' : 'ISU';
}
