// The application of the side-by-side benchmark, the same for both products: busybox httpd serving
// <mount>/www/id (the name of the node that started it) on port 8080, so that "answering" means
// the file system is mounted there and the server runs. start/stop/check scripts for Vigil's
// gen/app, and a small OCF agent around the same scripts for Pacemaker. The check asks the server
// for the file by default; the NFS benchmark can make it look at the process only, so that a lost
// NFS server is seen by the file-system monitors and not first by the application's.
import type { VmNode } from '../../vmcluster/node.js';

export const APP_PORT = 8080;
export const MOUNT = '/mnt/peers';
export const OCF_PROVIDER = 'vigilbench';
const BB = '/run/vmc/busybox';

const start = `#!/bin/sh
# Start the benchmark's web server on the shared file system and wait until it answers.
${BB} mkdir -p ${MOUNT}/www && ${BB} hostname > ${MOUNT}/www/id || exit 1
/usr/bin/pkill -f "httpd -p ${APP_PORT}" 2>/dev/null
${BB} httpd -p ${APP_PORT} -h ${MOUNT}/www || exit 1
for i in $(${BB} seq 100); do /usr/local/bin/peers-app-check && exit 0; ${BB} usleep 50000; done
exit 1
`;
// busybox has no pkill/pgrep applets: procps's.
const stop = `#!/bin/sh
/usr/bin/pkill -f "httpd -p ${APP_PORT}"
for i in $(${BB} seq 100); do /usr/bin/pgrep -f "httpd -p ${APP_PORT}" >/dev/null || exit 0; ${BB} usleep 50000; done
/usr/bin/pkill -9 -f "httpd -p ${APP_PORT}"; exit 0
`;
/**
 * An HTTP GET with busybox nc (the static busybox's wget crashes in these guests and on the host).
 * busybox nc's -w limits the connect only: a server that was killed or frozen after accepting
 * (its VM gone without a FIN or RST) would keep nc waiting for the answer forever, and with it the
 * prober's loop for that node. So the whole request is bounded by `timeout` as well.
 */
export const httpGet = (ip: string, timeoutS: number) => `printf 'GET /id HTTP/1.0\\r\\n\\r\\n' | ${BB} timeout ${timeoutS + 1} ${BB} nc -w ${timeoutS} ${ip} ${APP_PORT} 2>/dev/null | ${BB} tail -1`;
/** How the application's monitor checks it: an HTTP GET of the file (reads the file system), or the server process only. */
export type AppCheck = 'http' | 'process';
const checks: Record<AppCheck, string> = {
  http: `#!/bin/sh
r=$(${httpGet('127.0.0.1', 2)})
[ -n "$r" ]
`,
  process: `#!/bin/sh
/usr/bin/pgrep -f "httpd -p ${APP_PORT}" >/dev/null
`,
};
/** A minimal OCF resource agent (start, stop, monitor, meta-data) over the same three scripts. */
const ocf = `#!/bin/sh
case "$1" in
start) /usr/local/bin/peers-app-check && exit 0; /usr/local/bin/peers-app-start && exit 0; exit 1 ;;
stop) /usr/local/bin/peers-app-stop; exit 0 ;;
monitor|status) /usr/local/bin/peers-app-check && exit 0; exit 7 ;;
validate-all) exit 0 ;;
meta-data) cat <<'X'
<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="app" version="1.0">
<version>1.0</version>
<shortdesc lang="en">benchmark web server</shortdesc>
<longdesc lang="en">busybox httpd on the shared file system</longdesc>
<parameters/>
<actions>
<action name="start" timeout="60s"/>
<action name="stop" timeout="60s"/>
<action name="monitor" timeout="20s" interval="10s"/>
<action name="meta-data" timeout="5s"/>
<action name="validate-all" timeout="5s"/>
</actions>
</resource-agent>
X
exit 0 ;;
*) exit 3 ;;
esac
`;

/** Write the scripts into a guest's overlay (lost at each reboot, so called after every boot). */
export async function installApp(node: VmNode, check: AppCheck = 'http'): Promise<void> {
  await node.run(`mkdir -p /usr/local/bin /usr/lib/ocf/resource.d/${OCF_PROVIDER} ${MOUNT}`);
  await node.writeFile('/usr/local/bin/peers-app-start', start, 0o755);
  await node.writeFile('/usr/local/bin/peers-app-stop', stop, 0o755);
  await node.writeFile('/usr/local/bin/peers-app-check', checks[check], 0o755);
  await node.writeFile(`/usr/lib/ocf/resource.d/${OCF_PROVIDER}/app`, ocf, 0o755);
}

/** Kill the server without telling the product: the next monitor must find it gone. */
export async function killApp(node: VmNode): Promise<void> {
  // "[h]ttpd": the pattern must not match the shell that runs pkill (its command line holds it too).
  await node.run(`/usr/bin/pkill -9 -f "[h]ttpd -p ${APP_PORT}"`);
}
