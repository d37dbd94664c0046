// Seed 002 with the hierarchy engine: a protected hierarchy runs on BENHOGAN and is extended
// to GPLAYER; GPLAYER's OS is "reinstalled" (agent killed, state wiped). On the survivor the
// administrator follows the seed (eqv_list, eqv_remove, sys_remove, net_list, net_remove,
// lcdsync): the hierarchy keeps running, now unprotected (ISU). The reinstalled server rejoins
// over new comm paths, the hierarchy is re-extended to it (ISP again) and switched over to it.
import { rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';

import { LocalCluster } from '../../src/demo/local-cluster.js';
import { writeDemoService } from '../../src/demo/demo-service.js';

const BEN = { name: 'BENHOGAN', address: '127.0.0.1' };
const GPL = { name: 'GPLAYER', address: '127.0.0.2' };
const TAG = 'LK1-APP';

describe('seed 002: re-extending a hierarchy to a reinstalled server', () => {
  let c: LocalCluster;
  const port = 21_000 + (process.pid % 9_000);
  const commPort = 31_000 + (process.pid % 9_000);

  const http = async (address: string) => {
    try {
      const r = await fetch(`http://${address}:${port}/`, { signal: AbortSignal.timeout(2_000) });
      return ((await r.json()) as { system: string }).system;
    } catch {
      return undefined;
    }
  };
  const alive = async (on: string, other: string) =>
    (await c.json<Array<{ name: string; state: string }>>(on, ['sys_list'])).find((s) => s.name === other)?.state;

  beforeAll(async () => {
    c = new LocalCluster({ nodes: [BEN, GPL], heartbeatSec: 0.3, missedHeartbeats: 5, checkIntervalSec: 2, port: commPort });
    await Promise.all([c.startNode(BEN.name), c.startNode(GPL.name)]);
    await c.connectAll();
    await c.waitFor(async () => (await alive(BEN.name, GPL.name)) === 'ALIVE' && (await alive(GPL.name, BEN.name)) === 'ALIVE', 30_000, 'both alive');
  });
  afterAll(async () => {
    await c?.destroy();
  });

  it('follows the seed procedure and re-extends', async () => {
    // Normally about 10 s: if it runs out of time, say which command it was waiting for.
    onTestFailed(() => {
      console.log(`seed002 commands:\n${c.commandReport()}`);
      for (const n of [BEN.name, GPL.name]) console.log(`${n} log tail:\n${c.tail(n, 60)}`);
    });
    const data = join(c.dir, 'shared');
    mkdirSync(data);
    const svc = writeDemoService(join(c.dir, 'service'), { [BEN.name]: BEN.address, [GPL.name]: GPL.address }, port, data);
    await c.must(BEN.name, ['create', '-a', 'gen/app', '-t', TAG, '-i', 'app1', '--restore', svc.restore, '--remove', svc.remove, '--quick-check', svc.quickCheck]);
    await c.must(BEN.name, ['extend', '-t', TAG, '-s', GPL.name, '--accept-defaults']);
    expect(await c.states(BEN.name)).toEqual({ [TAG]: 'ISP' });
    expect(await c.states(GPL.name)).toEqual({ [TAG]: 'OSU' });

    // GPLAYER is reinstalled: its agent dies and its state is gone.
    c.killNode(GPL.name);
    await c.waitExit(GPL.name);
    rmSync(join(c.nodeDir(GPL.name), 'state'), { recursive: true, force: true });
    // A reinstalled OS has no trace of the old node beside its state directory either.
    rmSync(join(c.nodeDir(GPL.name), '.state.vigil-lcd-initialised'), { force: true });
    mkdirSync(join(c.nodeDir(GPL.name), 'state'), { mode: 0o700 });
    await c.waitFor(async () => (await alive(BEN.name, GPL.name)) === 'DEAD', 20_000, 'BENHOGAN to see GPLAYER dead');
    // Nothing moves: the hierarchy runs on the survivor.
    expect(await c.states(BEN.name)).toEqual({ [TAG]: 'ISP' });

    // The seed's clean-up on the survivor.
    expect(await c.must(BEN.name, ['eqv_list'])).toBe(`BENHOGAN ${TAG} GPLAYER ${TAG} SHARED 1 10\n`);
    await c.must(BEN.name, ['eqv_remove', '-t', TAG, '-S', GPL.name, '-e', 'SHARED']);
    await c.must(BEN.name, ['net_list']);
    await c.must(BEN.name, ['net_remove', '-S', GPL.name]);
    await c.must(BEN.name, ['sys_remove', '-s', GPL.name]);
    await c.must(BEN.name, ['lcdsync']);
    expect(await c.must(BEN.name, ['sys_list'])).toBe('BENHOGAN\n');
    // Without an equivalent it is in service but unprotected.
    await c.waitFor(async () => (await c.states(BEN.name))[TAG] === 'ISU', 10_000, 'ISU on BENHOGAN');
    expect(await http(BEN.address)).toBe(BEN.name);

    // The reinstalled server comes back with new comm paths.
    await c.startNode(GPL.name);
    expect(await c.states(GPL.name)).toEqual({});
    await c.connectAll();
    await c.waitFor(async () => (await alive(BEN.name, GPL.name)) === 'ALIVE' && (await alive(GPL.name, BEN.name)) === 'ALIVE', 30_000, 'both alive again');

    // Re-extend, then switch over to the reinstalled server.
    const out = await c.must(BEN.name, ['extend', '-t', TAG, '-s', GPL.name, '--accept-defaults']);
    expect(out).toContain('Pre Extend checks were successful');
    await c.waitFor(async () => (await c.states(BEN.name))[TAG] === 'ISP', 10_000, 'ISP on BENHOGAN after re-extend');
    expect(await c.states(GPL.name)).toEqual({ [TAG]: 'OSU' });
    await c.must(GPL.name, ['in-service', '-t', TAG]);
    expect(await c.states(GPL.name)).toEqual({ [TAG]: 'ISP' });
    await c.waitFor(async () => (await c.states(BEN.name))[TAG] === 'OSU', 10_000, 'OSU on BENHOGAN after the switchover');
    await c.waitFor(async () => (await http(GPL.address)) === GPL.name, 10_000, 'HTTP from GPLAYER');
    expect(await http(BEN.address)).toBeUndefined();
  });
});
