// The small HTTP service the demo protects with gen/app: its server program and the
// restore/remove/quickCheck/recover scripts an administrator would write. The service answers
// every request with the system it runs on and a greeting it keeps in its data directory (on
// the protected file system when there is one), so the demo can see where it runs and that
// the data moved with it.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DemoServiceFiles {
  restore: string;
  remove: string;
  quickCheck: string;
  recover: string;
}

const SERVER = `// Demo HTTP service: answers {system, greeting, pid}.
import http from 'node:http';
import { readFileSync } from 'node:fs';
const [addr, port, system, dataDir] = process.argv.slice(2);
http
  .createServer((_req, res) => {
    let greeting = '(none)';
    try { greeting = readFileSync(dataDir + '/greeting', 'utf8').trim(); } catch {}
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ system, greeting, pid: process.pid }) + '\\n');
  })
  .listen(Number(port), addr);
`;

/**
 * Writes the scripts into `dir`. `addresses` maps system names to the address the service
 * listens on there; `dataDir` is where the greeting lives (the mount point, or a directory
 * standing in for shared storage).
 */
export function writeDemoService(dir: string, addresses: Record<string, string>, port: number, dataDir: string): DemoServiceFiles {
  mkdirSync(dir, { recursive: true });
  const server = join(dir, 'http-server.mjs');
  writeFileSync(server, SERVER);
  const cases = Object.entries(addresses).map(([s, a]) => `  ${s}) ADDR=${a} ;;`).join('\n');
  const common = `set -u
case "$VIGIL_SYSTEM" in
${cases}
  *) echo "no address for system $VIGIL_SYSTEM" >&2; exit 3 ;;
esac
PORT=${port}
RUN=${dir}/run-$VIGIL_SYSTEM
PIDFILE=$RUN/http.pid
mkdir -p "$RUN"
# Alive and not a zombie (an orphaned server may wait a while to be reaped).
running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$(cat "$PIDFILE")/status" 2>/dev/null; }
answers() { curl -sf --max-time 2 "http://$ADDR:$PORT/" >/dev/null; }
`;
  const script = (name: string, body: string) => {
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/bash\n# Demo service: ${name} (run by gen/app with VIGIL_TAG, VIGIL_SYSTEM, VIGIL_ACTION set)\n${common}${body}\n`);
    chmodSync(p, 0o755);
    return p;
  };
  const start = `if running && answers; then echo "already running"; exit 0; fi
[ -f "${dataDir}/greeting" ] || echo "hello, written by $VIGIL_SYSTEM at $(date -u +%H:%M:%S)" > "${dataDir}/greeting"
cd "${dataDir}"
"${process.execPath}" "${server}" "$ADDR" "$PORT" "$VIGIL_SYSTEM" "${dataDir}" >> "$RUN/http.log" 2>&1 &
echo $! > "$PIDFILE"
for i in $(seq 1 100); do answers && { echo "listening on $ADDR:$PORT"; exit 0; }; sleep 0.05; done
echo "service did not answer on $ADDR:$PORT" >&2
exit 1`;
  const stop = `if running; then
  kill "$(cat "$PIDFILE")"
  for i in $(seq 1 100); do running || break; sleep 0.05; done
  running && kill -9 "$(cat "$PIDFILE")"
fi
rm -f "$PIDFILE"
echo stopped`;
  return {
    restore: script('restore.sh', start),
    remove: script('remove.sh', stop),
    // Not answering is a transient failure: exit 2 asks for local recovery first.
    // A file named "broken" in the run directory makes every check fail (a fault switch for tests).
    quickCheck: script('quickcheck.sh', `[ -e "$RUN/broken" ] && { echo "marked broken" >&2; exit 2; }
answers || { echo "no answer on $ADDR:$PORT" >&2; exit 2; }`),
    recover: script('recover.sh', `${stop.replace('echo stopped', '')}\n${start}`),
  };
}
