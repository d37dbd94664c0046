// Median / max summaries and Vigil / Pacemaker ratios of the side-by-side benchmark.
export interface Summary {
  n: number;
  medianMs: number | null;
  maxMs: number | null;
  samplesMs: number[];
}

export function summarize(xs: number[]): Summary {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return { n: 0, medianMs: null, maxMs: null, samplesMs: [] };
  const mid = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { n: s.length, medianMs: Math.round(mid), maxMs: Math.round(s[s.length - 1]!), samplesMs: xs.map((x) => Math.round(x)) };
}

export function ratio(vigil: number | null | undefined, pacemaker: number | null | undefined): number | null {
  if (vigil == null || pacemaker == null || pacemaker === 0) return null;
  return Math.round((vigil / pacemaker) * 100) / 100;
}
