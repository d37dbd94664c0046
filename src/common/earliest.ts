// The earliest of some optional times: what a state machine's next wake-up is made of (each of
// its parts says when it next has something to do, or undefined for nothing).

export function earliest(times: Iterable<number | undefined>): number | undefined {
  let min: number | undefined;
  for (const t of times) if (t !== undefined && (min === undefined || t < min)) min = t;
  return min;
}
