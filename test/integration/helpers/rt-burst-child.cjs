// Child process of cluster-realtime.test.ts (run pinned to one CPU): the main thread takes the
// addon's setRealtime (SCHED_RR and its CPU budget guard), then burns the CPU for BURST_MS like an
// event loop in a long garbage collection; a normal worker thread on the same CPU spins meanwhile
// and measures the longest time it was kept off the CPU. Prints one JSON line:
// {maxGapMs, state} with state read after an idle half second (the guard's promotion back).
const { Worker } = require('node:worker_threads');

const addon = require(process.argv[2]);
const BURST_MS = 2000;
const worker = new Worker(
  `const { parentPort } = require('node:worker_threads');
  parentPort.once('message', ({ from, to }) => {
    let last = 0;
    let maxGap = 0;
    for (;;) {
      const now = Date.now();
      if (now >= from && now <= to) {
        if (last) maxGap = Math.max(maxGap, now - last);
        last = now;
      }
      if (now > to + 100) break;
    }
    parentPort.postMessage({ maxGap });
  });`,
  { eval: true },
);
addon.scheduling.setRealtime(10);
const from = Date.now() + 300;
worker.postMessage({ from, to: from + BURST_MS });
worker.once('message', ({ maxGap }) => {
  setTimeout(() => {
    console.log(JSON.stringify({ maxGapMs: maxGap, state: addon.scheduling.state() }));
    process.exit(0);
  }, 500);
});
setTimeout(() => {
  while (Date.now() < from + BURST_MS) {
    // the burst: no yield, as in a long synchronous piece of work
  }
}, from - Date.now());
