// Runs inside a VM: executes SCSI commands for the host through the native addon's SG_IO entry
// point (native/sg_io.cc), so the ScsiGeneric contract suite running on the host drives two real
// initiators (two VMs) of one LUN. Requests arrive as files DIR/req-N.json (written by the harness
// over the guest agent), answers leave as DIR/resp-N.json (written under a temporary name and
// renamed, so the host never reads half an answer). The addon is loaded from SNAPSHOT_DIR, a copy
// of the checkout made before the VMs booted (see useGuestSnapshot).
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [snapshotDir, dir] = process.argv.slice(2);
if (!snapshotDir || !dir) {
  console.error('usage: scsi-server.ts SNAPSHOT_DIR RPC_DIR');
  process.exit(2);
}
const { loadNativeAddon } = (await import(path.join(snapshotDir, 'src', 'platform', 'linux', 'addon-loader.ts'))) as typeof import('../../../src/platform/linux/addon-loader.js');
const addon = loadNativeAddon();
mkdirSync(dir, { recursive: true });

interface Request {
  device: string;
  cdb: string;
  direction: 'none' | 'in' | 'out';
  dataOut?: string;
  dataInLength?: number;
  timeoutMs: number;
}

const answer = (id: string, body: unknown) => {
  const tmp = path.join(dir, `.resp-${id}.tmp`);
  writeFileSync(tmp, JSON.stringify(body));
  renameSync(tmp, path.join(dir, `resp-${id}.json`));
};

const taken = new Set<string>();
const poll = () => {
  for (const name of readdirSync(dir)) {
    const m = /^req-(\d+)\.json$/.exec(name);
    if (!m || taken.has(m[1]!)) continue;
    let req: Request;
    try {
      req = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Request;
    } catch {
      continue; // still being written by the agent
    }
    const id = m[1]!;
    taken.add(id);
    unlinkSync(path.join(dir, name));
    addon
      .scsiCommand(req.device, Buffer.from(req.cdb, 'hex'), req.direction, req.dataOut ? Buffer.from(req.dataOut, 'hex') : null, req.dataInLength ?? 0, req.timeoutMs, `scsi:${req.device}`)
      .then(
        (r) => answer(id, { ok: true, result: { ...r, sense: r.sense.toString('hex'), data: r.data.toString('hex') } }),
        (e: Error & Record<string, unknown>) =>
          answer(id, { ok: false, error: { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, timeoutMs: e.timeoutMs, key: e.key } }),
      );
  }
};
setInterval(poll, 5);
console.log(`scsi-server ready on ${dir}`);
