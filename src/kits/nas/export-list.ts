// The server's export list as `showmount -e` prints it, and whether it lets this system in.
// Parsing and matching are pure; running showmount (with a time limit, through NasTools) is
// not. Rules follow exports(5): "*" or "(everyone)" for all, an address, a network as
// address/prefix or address/netmask, a host name, a wildcard name (*.example.com); netgroups
// (@group) cannot be resolved here, so they are reported as "cannot tell" rather than refused.
import { BlockList, isIP } from 'node:net';

import type { Identity } from '../../platform/nas-tools.js';

export interface ExportEntry {
  path: string;
  clients: string[];
}

/** Parses `showmount -e --no-headers` output (a header line, if present, is skipped). */
export function parseShowmount(text: string): ExportEntry[] {
  const out: ExportEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('Export list for')) continue;
    const m = /^(\/\S*)\s+(.*)$/.exec(t) ?? /^(\/\S*)$/.exec(t);
    if (!m) continue;
    const clients = (m[2] ?? '(everyone)').split(',').map((c) => c.trim()).filter(Boolean);
    out.push({ path: m[1]!, clients });
  }
  return out;
}

export type { Identity };

export type Access = { verdict: 'allowed'; by: string } | { verdict: 'denied'; why: string } | { verdict: 'unknown'; why: string };

function matchesClient(client: string, me: Identity): boolean {
  const c = client.toLowerCase();
  if (c === '*' || c === '(everyone)' || c === 'everyone' || c === '<anon clnt>') return true;
  if (c.includes('/')) {
    const [net, mask] = c.split('/') as [string, string];
    const family = isIP(net);
    if (!family) return false;
    const prefix = /^\d+$/.test(mask) ? Number(mask) : netmaskPrefix(mask);
    if (prefix === undefined) return false;
    const list = new BlockList();
    try {
      list.addSubnet(net, prefix, family === 6 ? 'ipv6' : 'ipv4');
    } catch {
      return false;
    }
    return me.addresses.some((a) => isIP(a) === family && list.check(a, family === 6 ? 'ipv6' : 'ipv4'));
  }
  if (isIP(c)) return me.addresses.some((a) => a.toLowerCase() === c);
  if (c.includes('*') || c.includes('?')) {
    const re = new RegExp(`^${c.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    return me.names.some((n) => re.test(n));
  }
  return me.names.includes(c);
}

function netmaskPrefix(mask: string): number | undefined {
  if (isIP(mask) !== 4) return undefined;
  const bits = mask.split('.').map((o) => Number(o).toString(2).padStart(8, '0')).join('');
  return /^1*0*$/.test(bits) ? bits.indexOf('0') === -1 ? 32 : bits.indexOf('0') : undefined;
}

/**
 * Whether `exportPath` (or an exported directory above it) is open to `me`. The most specific
 * (longest) listed path that contains exportPath decides, as the server's own lookup does.
 */
export function accessFor(entries: ExportEntry[], exportPath: string, me: Identity): Access {
  const containing = entries
    .filter((e) => e.path === '/' || exportPath === e.path || exportPath.startsWith(`${e.path}/`))
    .sort((a, b) => b.path.length - a.path.length);
  if (containing.length === 0) return { verdict: 'denied', why: `${exportPath} is not in the server's export list (${entries.map((e) => e.path).join(', ') || 'empty'})` };
  const e = containing[0]!;
  const hit = e.clients.find((c) => matchesClient(c, me));
  if (hit) return { verdict: 'allowed', by: `${e.path} ${hit}` };
  const groups = e.clients.filter((c) => c.startsWith('@'));
  if (groups.length) return { verdict: 'unknown', why: `${e.path} is exported to netgroups ${groups.join(', ')}, which this system cannot resolve` };
  return { verdict: 'denied', why: `${e.path} is exported to ${e.clients.join(', ')}, which does not include this system (${[...me.names, ...me.addresses].join(', ')})` };
}
