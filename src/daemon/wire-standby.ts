// Attaches the recovery-server standby's boot step (src/standby/standby-boot-service.ts) to
// vigild on the standby system: it reads membership from the cluster layer, the hierarchy roots
// from the LCD, and brings roots in service through the hierarchy engine's in-service.
import { StandbyBootService } from '../standby/standby-boot-service.js';
import { standbySettings } from '../standby/standby-settings.js';
import type { Agent } from './agent.js';
import type { ClusterSubsystem } from './wire-cluster.js';
import type { HierarchySubsystem } from './wire-hierarchy.js';

export function standbyBootServiceFor(agent: Agent, cluster: ClusterSubsystem, hierarchy: HierarchySubsystem): StandbyBootService | undefined {
  const s = standbySettings(agent.config);
  if (!s || s.role !== 'standby') return undefined;
  const c = agent.config;
  return new StandbyBootService(s, {
    systemState: (name) => cluster.stats()?.systems.find((x) => x.name === name)?.state,
    rootsOutOfService: () => {
      const local = agent.localSystem;
      return agent.lcd
        .instances({ system: local })
        .filter((i) => i.state !== 'ISP' && agent.lcd.dependencies({ system: local, childTag: i.tag }).length === 0)
        .map((i) => i.tag);
    },
    inService: async (tag) => {
      const svc = hierarchy.service;
      if (!svc) return { ok: false, message: 'the hierarchy engine is not running' };
      return svc.admin({ type: 'adminInService', tag });
    },
    log: agent.log,
    // The membership's start-up grace (a path never heard from is decided after its misses), twice.
    graceMs: 2 * c.LCMHBEATTIME * 1000 * c.LCMNUMHBEATS + 2000,
  });
}
