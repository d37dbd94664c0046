// Image preparation: Debian's stock kernel (apt-get download + dpkg-deb -x + depmod) and a
// busybox-static initramfs, with the guest agent compiled statically from guest/agent.c, that
// mounts the host's / read-only over 9p with a tmpfs overlay and switch_roots into our stage-2
// guest init. Cached by kernel version + hash of the guest sources, so a second run costs a stat
// or two.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cacheRoot, guestDir, repoRoot } from './paths.js';

export interface GuestImage {
  kernelVersion: string;
  /** Path to the uncompressed vmlinux (booted through PVH: no in-guest decompression under TCG). */
  kernel: string;
  /** Path to the initramfs (newc cpio, gzip). */
  initrd: string;
  /** Extracted module tree root: contains <kernelVersion>/modules.dep; bound at /usr/lib/modules in the guest. */
  modulesDir: string;
}

/** Modules the initramfs needs to reach the 9p root; their dependencies are resolved from modules.dep. */
// Every driver the guest needs is loaded by stage 1 from the initramfs (RAM, static busybox):
// loading them later through modprobe runs dynamically linked host binaries over 9p, which under
// TCG costs seconds of boot time.
const initramfsModules = ['virtio_pci', '9p', '9pnet_virtio', 'overlay', 'virtio_console', 'virtio_net', 'virtio_blk', 'virtio_scsi', 'sd_mod', 'sg'];

function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): string {
  return execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 << 20 }).toString();
}

/** The version the linux-image-amd64 metapackage currently depends on, e.g. "6.1.0-56-amd64". */
export function resolveKernelVersion(): string {
  if (process.env.VMCLUSTER_KERNEL) return process.env.VMCLUSTER_KERNEL;
  // apt-cache takes seconds on a busy machine: reuse the answer while apt's package lists are unchanged.
  const memo = path.join(cacheRoot, 'kernel-version.json');
  let aptStamp = 'none';
  try {
    aptStamp = String(fs.statSync('/var/lib/apt/lists').mtimeMs);
  } catch {
    /* no package lists: always ask apt-cache */
  }
  try {
    const m = JSON.parse(fs.readFileSync(memo, 'utf8')) as { aptStamp: string; version: string };
    if (aptStamp !== 'none' && m.aptStamp === aptStamp) return m.version;
  } catch {
    /* first run */
  }
  const out = run('apt-cache', ['depends', 'linux-image-amd64']);
  const m = /Depends:\s+linux-image-(\d[^\s]*-amd64)\b/.exec(out);
  if (!m) throw new Error(`cannot resolve the kernel version from 'apt-cache depends linux-image-amd64':\n${out}`);
  fs.mkdirSync(cacheRoot, { recursive: true });
  fs.writeFileSync(memo, JSON.stringify({ aptStamp, version: m[1] }));
  return m[1]!;
}

function scriptsHash(): string {
  const h = createHash('sha256');
  // This file's source (not the running module, which may be the compiled copy in dist/).
  h.update(fs.readFileSync(path.join(repoRoot, 'scripts', 'vmcluster', 'image.ts')));
  h.update(fs.readFileSync(path.join(guestDir, 'initramfs-init.sh')));
  h.update(fs.readFileSync(path.join(guestDir, 'stage2.sh')));
  h.update(fs.readFileSync(agentSource));
  return h.digest('hex').slice(0, 12);
}

const agentSource = path.join(guestDir, 'agent.c');

/**
 * Compile the guest agent (static, so it runs from the initramfs with no libc of the guest's) into
 * the cache, keyed by the hash of its source; returns the binary's path.
 */
export function buildGuestAgent(): string {
  const src = fs.readFileSync(agentSource);
  const out = path.join(cacheRoot, 'agent', `vmc-agent-${createHash('sha256').update(src).digest('hex').slice(0, 12)}`);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  try {
    run('cc', ['-O2', '-static', '-Wall', '-Wextra', '-o', `${out}.tmp`, agentSource, '-lm']);
  } catch (e) {
    const err = e as { stderr?: Buffer };
    throw new Error(`cannot compile the guest agent (needs gcc and libc6-dev for static glibc): ${err.stderr?.toString() ?? String(e)}`);
  }
  fs.renameSync(`${out}.tmp`, out);
  for (const f of fs.readdirSync(path.dirname(out))) if (f !== path.basename(out)) fs.rmSync(path.join(path.dirname(out), f), { force: true });
  return out;
}

/** Map of module name (dashes and underscores equal) to its path and dependency paths, from modules.dep. */
function readModulesDep(modRoot: string): Map<string, { file: string; deps: string[] }> {
  const map = new Map<string, { file: string; deps: string[] }>();
  for (const line of fs.readFileSync(path.join(modRoot, 'modules.dep'), 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const file = line.slice(0, colon);
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean);
    const name = path.basename(file).replace(/\.ko(\..*)?$/, '').replace(/-/g, '_');
    map.set(name, { file, deps });
  }
  return map;
}

/** Module files to load, in load order (dependencies first). */
export function resolveModuleLoadOrder(modRoot: string, wanted: string[]): string[] {
  const dep = readModulesDep(modRoot);
  const byFile = new Map([...dep.values()].map((d) => [d.file, d]));
  const order: string[] = [];
  const visit = (file: string) => {
    if (order.includes(file)) return;
    const entry = byFile.get(file);
    if (!entry) throw new Error(`module file ${file} not in modules.dep`);
    // modules.dep lists deps so that the last one has no further deps: load in reverse.
    for (const d of [...entry.deps].reverse()) visit(d);
    order.push(file);
  };
  for (const w of wanted) {
    const entry = dep.get(w.replace(/-/g, '_'));
    if (!entry) throw new Error(`module ${w} not found in ${modRoot}/modules.dep`);
    visit(entry.file);
  }
  return order;
}

function extractKernel(version: string, dir: string): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  run('apt-get', ['download', `linux-image-${version}`], { cwd: tmp });
  const deb = fs.readdirSync(tmp).find((f) => f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download linux-image-${version} produced no .deb`);
  run('dpkg-deb', ['-x', deb, 'root'], { cwd: tmp });
  fs.rmSync(path.join(tmp, deb));
  // Debian 12 ships modules under lib/modules (usrmerge may move them to usr/lib/modules).
  const root = path.join(tmp, 'root');
  const modsDir = [path.join(root, 'lib', 'modules'), path.join(root, 'usr', 'lib', 'modules')].find((p) =>
    fs.existsSync(path.join(p, version)),
  );
  if (!modsDir) throw new Error(`no modules for ${version} in the package`);
  fs.renameSync(modsDir, path.join(tmp, 'modules'));
  fs.renameSync(path.join(root, 'boot', `vmlinuz-${version}`), path.join(tmp, 'vmlinuz'));
  fs.rmSync(root, { recursive: true, force: true });
  // depmod -b BASE expects BASE/lib/modules/<ver>; give it a view with a symlink.
  const base = path.join(tmp, 'depmod-base');
  fs.mkdirSync(path.join(base, 'lib'), { recursive: true });
  fs.symlinkSync(path.join(tmp, 'modules'), path.join(base, 'lib', 'modules'));
  run('depmod', ['-b', base, version]);
  fs.rmSync(base, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
}

/** Uncompress the xz payload of a bzImage into the ELF vmlinux that qemu boots through its PVH note. */
function extractVmlinux(bzImage: string, out: string): void {
  const data = fs.readFileSync(bzImage);
  const at = data.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  if (at < 0) throw new Error(`${bzImage}: no xz payload found (kernel not built with CONFIG_KERNEL_XZ?)`);
  const elf = execFileSync('xz', ['-dc', '--single-stream'], { input: data.subarray(at), maxBuffer: 512 << 20 });
  if (elf.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${bzImage}: xz payload is not an ELF vmlinux`);
  fs.writeFileSync(`${out}.tmp`, elf);
  fs.renameSync(`${out}.tmp`, out);
}

/** Whether a 64-bit ELF is dynamically linked (has a PT_INTERP header); true for anything else. */
export function hasInterpreter(elf: Buffer): boolean {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return true; // not a 64-bit ELF: refuse it
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (elf.readUInt32LE(phoff + i * phentsize) === 3) return true; // PT_INTERP
  return false;
}

function findBusybox(): string {
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) {
    if (!fs.existsSync(p)) continue;
    // A dynamically linked busybox has a PT_INTERP program header; the initramfs has no libc for it.
    if (hasInterpreter(fs.readFileSync(p))) throw new Error(`${p} is dynamically linked; install busybox-static`);
    return p;
  }
  throw new Error('busybox-static is required (apt-get install busybox-static)');
}

const moduleSigMagic = Buffer.from('~Module signature appended~\n');

/**
 * A module file without its appended signature. Checking the PKCS#7 signature of every module
 * stage 1 loads cost about a quarter of stage 1 under TCG; the kernel loads an unsigned module
 * (it only marks itself tainted) because Debian's kernel does not enforce signatures.
 */
export function stripModuleSignature(ko: Buffer): Buffer {
  if (ko.length < moduleSigMagic.length + 12 || !ko.subarray(ko.length - moduleSigMagic.length).equals(moduleSigMagic)) return ko;
  // struct module_signature (12 bytes) precedes the magic: algo, hash, id_type, signer_len, key_id_len, pad[3], sig_len (be32).
  const info = ko.length - moduleSigMagic.length - 12;
  const total = ko.readUInt8(info + 3) + ko.readUInt8(info + 4) + ko.readUInt32BE(info + 8);
  if (total > info) throw new Error('malformed module signature trailer');
  return ko.subarray(0, info - total);
}

function buildInitramfs(kdir: string, version: string, out: string): void {
  const modRoot = path.join(kdir, 'modules', version);
  const order = resolveModuleLoadOrder(modRoot, initramfsModules);
  const tmp = `${out}.d-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const d of ['bin', 'dev', 'proc', 'sys', 'newroot', 'lower', 'upper', 'modules']) fs.mkdirSync(path.join(tmp, d), { recursive: true });
  fs.copyFileSync(findBusybox(), path.join(tmp, 'bin', 'busybox'));
  fs.chmodSync(path.join(tmp, 'bin', 'busybox'), 0o755);
  fs.symlinkSync('busybox', path.join(tmp, 'bin', 'sh'));
  fs.copyFileSync(buildGuestAgent(), path.join(tmp, 'bin', 'vmc-agent'));
  fs.chmodSync(path.join(tmp, 'bin', 'vmc-agent'), 0o755);
  const list: string[] = [];
  for (const file of order) {
    const name = path.basename(file);
    fs.writeFileSync(path.join(tmp, 'modules', name), stripModuleSignature(fs.readFileSync(path.join(modRoot, file))));
    list.push(name);
  }
  fs.writeFileSync(path.join(tmp, 'modules', 'load-order'), list.join('\n') + '\n');
  fs.copyFileSync(path.join(guestDir, 'initramfs-init.sh'), path.join(tmp, 'init'));
  fs.copyFileSync(path.join(guestDir, 'stage2.sh'), path.join(tmp, 'stage2.sh'));
  fs.chmodSync(path.join(tmp, 'init'), 0o755);
  const files = run('find', ['.', '-print0'], { cwd: tmp });
  const cpio = execFileSync('cpio', ['--null', '-o', '-H', 'newc', '--quiet'], { cwd: tmp, input: files, maxBuffer: 256 << 20 });
  fs.writeFileSync(`${out}.tmp`, execFileSync('gzip', ['-1', '-c'], { input: cpio, maxBuffer: 256 << 20 }));
  fs.renameSync(`${out}.tmp`, out);
  fs.rmSync(tmp, { recursive: true, force: true });
}

/** Prepare (or reuse) the kernel, modules and initramfs. Throws with a clear reason when a tool is missing. */
export function prepareImage(log: (msg: string) => void = () => {}): GuestImage {
  const version = resolveKernelVersion();
  const kdir = path.join(cacheRoot, 'kernel', version);
  if (!fs.existsSync(path.join(kdir, 'vmlinuz'))) {
    log(`vmcluster: downloading and extracting linux-image-${version}`);
    fs.mkdirSync(path.dirname(kdir), { recursive: true });
    extractKernel(version, kdir);
  }
  const vmlinux = path.join(kdir, 'vmlinux');
  if (!fs.existsSync(vmlinux)) extractVmlinux(path.join(kdir, 'vmlinuz'), vmlinux);
  const initrd = path.join(cacheRoot, 'initramfs', `${version}-${scriptsHash()}.cpio.gz`);
  if (!fs.existsSync(initrd)) {
    log(`vmcluster: building initramfs ${path.basename(initrd)}`);
    fs.mkdirSync(path.dirname(initrd), { recursive: true });
    buildInitramfs(kdir, version, initrd);
    // Older builds (other script hashes) are never used again.
    for (const f of fs.readdirSync(path.dirname(initrd))) {
      if (f.endsWith('.cpio.gz') && f !== path.basename(initrd)) fs.rmSync(path.join(path.dirname(initrd), f), { force: true });
    }
  }
  return { kernelVersion: version, kernel: vmlinux, initrd, modulesDir: path.join(kdir, 'modules') };
}
