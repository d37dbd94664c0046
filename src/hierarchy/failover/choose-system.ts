// Which system should run a hierarchy: the live system with the best (lowest) priority among
// those that have an equivalent and have not already failed to run it. Every survivor computes
// the same answer from the same facts, so only the chosen one acts and no election is needed.

export interface Candidate {
  system: string;
  priority: number;
}

export function chooseSystem(candidates: Candidate[], alive: ReadonlySet<string>, exclude: ReadonlySet<string> = new Set()): string | undefined {
  const usable = candidates.filter((c) => alive.has(c.system) && !exclude.has(c.system));
  usable.sort((a, b) => a.priority - b.priority || (a.system < b.system ? -1 : a.system > b.system ? 1 : 0));
  return usable[0]?.system;
}
