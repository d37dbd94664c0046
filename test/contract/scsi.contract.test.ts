// The ScsiGeneric contract on the memory fabric (two initiators on one simulated LUN), once with
// persistent reservations and descriptor-format sense, once as a LUN without them (like QEMU's
// scsi-hd with no PR helper). The real LUNs run the same suite in test/e2e/scsi-contract.test.ts.
import { MemoryScsiFabric } from '../../src/platform/memory/index.js';
import { scsiContract } from './scsi.contract.js';

for (const variant of [
  { name: 'memory LUN with persistent reservations (descriptor sense)', pr: true, senseFormat: 'descriptor' as const },
  { name: 'memory LUN without persistent reservations (fixed sense)', pr: false, senseFormat: 'fixed' as const },
]) {
  scsiContract(variant.name, { persistentReservations: variant.pr, hang: true, failTransport: true }, () => {
    const fabric = new MemoryScsiFabric();
    const lun = fabric.addLun('/dev/sdb', { blocks: 2048, persistentReservations: variant.pr, senseFormat: variant.senseFormat });
    lun.addUnitAttention('node1', 0x29, 0x00); // as after a reset: the suite must drain it
    return {
      a: fabric.initiator('node1'),
      b: fabric.initiator('node2'),
      deviceA: '/dev/sdb',
      deviceB: '/dev/sdb',
      persistentReservations: variant.pr,
      timeoutMs: 2000,
      hang: async () => {
        const release = lun.hang();
        return async () => release();
      },
      failTransport: async () => {
        const restore = lun.failTransport({ initiator: 'node1', hostStatus: 0x0f });
        return async () => restore();
      },
    };
  });
}
