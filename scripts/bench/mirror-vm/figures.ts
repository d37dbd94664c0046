// The figures each pass of the mirror benchmark reports (Vigil's md mirror, Debian's nbd-server
// under it, DRBD), named alike so that mirror.bench.ts can take ratios between any two.
export interface MirrorPassFigures {
  fullResyncS: number;
  fullCopyS: number;
  fullCopyMiBps: number;
  localWriteMiBps: number;
  mirroredWriteMiBps: number;
  mirroredToLocalRatio: number;
  partialRewriteMiB: number;
  partialResyncS: number;
  partialCopyS: number;
  partialToFullRatio: number;
  partialToFullCopyRatio: number;
}
