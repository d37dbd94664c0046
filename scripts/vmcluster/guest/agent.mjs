// Guest agent: JSON lines over the virtio-serial port given as argv[2]. Plain JavaScript (not tsx)
// because every extra second of startup under TCG counts against the boot budget.
// Requests: {id, op, ...}; replies: {id, ok:true, result} | {id, ok:false, error}.
//   ping                      -> {uptimeMs, ready}   (ready: stage-2 init finished)
//   exec {argv|sh, timeoutMs, inputB64, env, cwd} -> {code, signal, stdoutB64, stderrB64, timedOut, durationMs}
//   spawn {argv|sh, env, cwd, log}                -> {pid}       (output appended to log)
//   kill {pid, signal}                            -> {sent}
//   procs                                         -> [{pid, argv, exited, code, signal}]
//   read {path}                                   -> {dataB64}
//   write {path, dataB64, mode}                   -> {}
import { spawn } from 'node:child_process';
import fs from 'node:fs';

const portPath = process.argv[2];
const fd = fs.openSync(portPath, 'r+');
// Boot-time breakdown: when the agent could open its port (guest uptime), next to stage 2's stamps.
fs.appendFileSync('/var/log/vmc/boot.log', `${fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]} agent-up\n`);
const spawned = new Map();

// Writes go through one promise chain so replies never interleave.
let writeChain = Promise.resolve();
function send(obj) {
  const buf = Buffer.from(JSON.stringify(obj) + '\n');
  writeChain = writeChain.then(
    () =>
      new Promise((resolve) => {
        const writeFrom = (off) =>
          fs.write(fd, buf, off, buf.length - off, null, (err, n) => {
            if (err) return setTimeout(() => writeFrom(off), 100);
            if (off + n < buf.length) return writeFrom(off + n);
            resolve();
          });
        writeFrom(0);
      }),
  );
}

function commandOf(req) {
  if (Array.isArray(req.argv) && req.argv.length > 0) return [req.argv[0], req.argv.slice(1)];
  if (typeof req.sh === 'string') return ['/bin/sh', ['-c', req.sh]];
  throw new Error('request needs argv or sh');
}

function childEnv(req) {
  return { ...process.env, ...(req.env ?? {}) };
}

function doExec(req) {
  return new Promise((resolve, reject) => {
    const [cmd, args] = commandOf(req);
    const started = Date.now();
    const child = spawn(cmd, args, { cwd: req.cwd ?? '/', env: childEnv(req), detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    let timedOut = false;
    let timer;
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (req.timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }, req.timeoutMs);
    }
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        timedOut,
        durationMs: Date.now() - started,
        stdoutB64: Buffer.concat(out).toString('base64'),
        stderrB64: Buffer.concat(err).toString('base64'),
      });
    });
    child.stdin.on('error', () => {});
    if (req.inputB64) child.stdin.end(Buffer.from(req.inputB64, 'base64'));
    else child.stdin.end();
  });
}

function doSpawn(req) {
  const [cmd, args] = commandOf(req);
  const log = req.log ?? `/var/log/vmc/spawn-${Date.now()}.log`;
  const logFd = fs.openSync(log, 'a');
  const child = spawn(cmd, args, { cwd: req.cwd ?? '/', env: childEnv(req), detached: true, stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);
  const entry = { pid: child.pid, argv: [cmd, ...args], log, exited: false, code: null, signal: null };
  spawned.set(child.pid, entry);
  child.on('exit', (code, signal) => Object.assign(entry, { exited: true, code, signal }));
  child.on('error', (e) => Object.assign(entry, { exited: true, error: String(e) }));
  return { pid: child.pid, log };
}

async function handle(req) {
  switch (req.op) {
    case 'ping':
      return {
        uptimeMs: Math.round(Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000),
        ready: fs.existsSync('/run/vmc-ready'),
      };
    case 'exec':
      return doExec(req);
    case 'spawn':
      return doSpawn(req);
    case 'kill': {
      const sig = req.signal ?? 'SIGTERM';
      const target = req.group === false ? req.pid : -req.pid;
      process.kill(target, sig);
      return { sent: sig };
    }
    case 'procs':
      return [...spawned.values()];
    case 'read':
      return { dataB64: fs.readFileSync(req.path).toString('base64') };
    case 'write':
      fs.writeFileSync(req.path, Buffer.from(req.dataB64 ?? '', 'base64'), { mode: req.mode ?? 0o644 });
      if (req.mode !== undefined) fs.chmodSync(req.path, req.mode);
      return {};
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

function onLine(line) {
  if (!line.trim()) return;
  let req;
  try {
    req = JSON.parse(line);
  } catch {
    return send({ id: null, ok: false, error: 'bad json' });
  }
  Promise.resolve()
    .then(() => handle(req))
    .then(
      (result) => send({ id: req.id, ok: true, result }),
      (e) => send({ id: req.id, ok: false, error: String(e?.message ?? e) }),
    );
}

// Reads block in the thread pool; a zero-byte read means the host end is not connected yet.
let pending = '';
const buf = Buffer.alloc(65536);
function readLoop() {
  fs.read(fd, buf, 0, buf.length, null, (err, n) => {
    if (err || n === 0) return setTimeout(readLoop, 100);
    pending += buf.toString('utf8', 0, n);
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      onLine(line);
    }
    readLoop();
  });
}
send({ event: 'hello' });
readLoop();
