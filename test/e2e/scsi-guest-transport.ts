// The host end of test/e2e/guest/scsi-server.ts: a ScsiTransport whose commands execute in a VM
// through the real addon (SG_IO), so ScsiCommands on the host is a real initiator of that VM. The
// CDB building, typed errors and parsing are the same code the Linux platform runs in vigild.
import { setTimeout as sleep } from 'node:timers/promises';

import { mapNativeError } from '../../src/platform/errors.js';
import { ScsiCommands, type ScsiTransport } from '../../src/platform/scsi/commands.js';
import { guestTsx, type VmNode } from './helpers/vmcluster.js';

interface Answer {
  ok: boolean;
  result?: { status: number; hostStatus: number; driverStatus: number; sense: string; data: string };
  error?: Record<string, unknown> & { message: string };
}

let nextRequest = 1;

/** Starts the guest server on `node` (from the snapshot `snapshotDir`) and returns its ScsiGeneric. */
export async function guestScsi(node: VmNode, snapshotDir: string, rpcDir = '/run/scsi-rpc'): Promise<ScsiCommands> {
  const log = `/var/log/scsi-server.log`;
  await node.spawn(guestTsx('test/e2e/guest/scsi-server.ts', snapshotDir, rpcDir), { log });
  await node.waitFor(async () => (await node.exec(`grep -q 'scsi-server ready' ${log}`)).code === 0, { deadlineMs: 120_000, intervalMs: 500, what: 'scsi-server ready' });
  const transport: ScsiTransport = async (r) => {
    const id = String(nextRequest++);
    await node.writeFile(
      `${rpcDir}/req-${id}.json`,
      JSON.stringify({ device: r.device, cdb: r.cdb.toString('hex'), direction: r.direction, dataOut: r.dataOut?.toString('hex'), dataInLength: r.dataInLength, timeoutMs: r.timeoutMs }),
    );
    const deadline = Date.now() + r.timeoutMs + 120_000;
    for (;;) {
      let raw: Buffer | undefined;
      try {
        raw = await node.readFile(`${rpcDir}/resp-${id}.json`);
      } catch {
        if (Date.now() > deadline) throw new Error(`${node.name}: no answer to SCSI request ${id} on ${r.device}`);
        await sleep(20);
        continue;
      }
      await node.exec(['rm', '-f', `${rpcDir}/resp-${id}.json`]);
      const answer = JSON.parse(raw.toString('utf8')) as Answer;
      if (answer.ok && answer.result) {
        return { ...answer.result, sense: Buffer.from(answer.result.sense, 'hex'), data: Buffer.from(answer.result.data, 'hex') };
      }
      const e = Object.assign(new Error(answer.error?.message ?? 'unknown guest error'), answer.error);
      throw mapNativeError(e);
    }
  };
  return new ScsiCommands(transport);
}
