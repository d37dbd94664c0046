// An NFS export as the NAS kit names it: SERVER:/path, where SERVER is an IPv4 address, an IPv6
// address in brackets, or a host name. A host name is accepted but makes a "bad mount": the kit
// remounts it by address during local recovery, because a name lookup on the failover path can
// hang or answer differently. Pure functions, no I/O.
import { isIP } from 'node:net';
import { posix } from 'node:path';

import { nasMessages } from './nas-errors.js';

export interface NfsExport {
  /** As given: an address or a host name (IPv6 without brackets). */
  server: string;
  /** The exported path on the server, normalised (no trailing slash except "/"). */
  path: string;
  /** The server is an IP address literal. */
  byAddress: boolean;
}

const HOST_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export type ParseResult = { ok: true; value: NfsExport } | { ok: false; reason: string };

/** Parses SERVER:/path; the failure reason carries 107006 (nothing given) or 107004 (bad format). */
export function parseExport(device: string | undefined): ParseResult {
  if (device === undefined || device.trim() === '') return { ok: false, reason: nasMessages.deviceMissing() };
  const d = device.trim();
  let server: string;
  let rest: string;
  if (d.startsWith('[')) {
    const end = d.indexOf(']:');
    if (end < 0) return { ok: false, reason: nasMessages.deviceFormat(device) };
    server = d.slice(1, end);
    rest = d.slice(end + 2);
    if (isIP(server) !== 6) return { ok: false, reason: nasMessages.deviceFormat(device) };
  } else {
    const colon = d.indexOf(':');
    if (colon <= 0) return { ok: false, reason: nasMessages.deviceFormat(device) };
    server = d.slice(0, colon);
    rest = d.slice(colon + 1);
    if (isIP(server) !== 4 && !HOST_RE.test(server)) return { ok: false, reason: nasMessages.deviceFormat(device) };
    // All-digit dotted names that are not valid addresses (999.1.1.1) are typos, not host names.
    if (/^[\d.]+$/.test(server) && isIP(server) !== 4) return { ok: false, reason: nasMessages.deviceFormat(device) };
  }
  if (!rest.startsWith('/') || /\s|\0/.test(rest)) return { ok: false, reason: nasMessages.deviceFormat(device) };
  const path = normalisePath(rest);
  return { ok: true, value: { server, path, byAddress: isIP(server) !== 0 } };
}

export function normalisePath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** The mount source string for an export (IPv6 in brackets, as mount.nfs wants it). */
export function exportSource(e: Pick<NfsExport, 'server' | 'path'>): string {
  return `${isIP(e.server) === 6 ? `[${e.server}]` : e.server}:${e.path}`;
}

/** Whether two mount sources name the same export on the same server spelling. */
export function sameExportText(a: string, b: string): boolean {
  const pa = parseExport(a);
  const pb = parseExport(b);
  if (!pa.ok || !pb.ok) return false;
  return pa.value.server.toLowerCase() === pb.value.server.toLowerCase() && pa.value.path === pb.value.path;
}

export const NFS_FS_TYPES = new Set(['nfs', 'nfs4']);

export function isNfsType(fsType: string | undefined): boolean {
  return fsType !== undefined && NFS_FS_TYPES.has(fsType);
}
