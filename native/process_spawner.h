// Running external programs (gen/app scripts, quickChecks) without Node's child_process.
//
// Why: child_process.spawn costs the event loop a fork/exec of the whole Node process on the
// loop thread, three pipes and several libuv handles per program; at hundreds of checks a
// second that alone took half a core. Here a program is started with posix_spawn (glibc's
// clone(CLONE_VM|CLONE_VFORK): no page tables are copied) on launcher threads, and one
// supervisor thread watches every running program through epoll: a pidfd per process for its
// exit, a pipe each for stdout and stderr (the tail of each is kept), and the deadlines.
// Finished programs are reported to JavaScript in batches through one ThreadSafeFunction, so
// the event loop does one call per batch, not several per program.
//
// Semantics (those of src/common/run-program.ts, which used child_process):
//  - stdin is /dev/null; signal dispositions are reset and the signal mask is empty in the child;
//  - ownGroup: the program starts in a new session (setsid, as child_process's `detached`), so a
//    time limit ends everything it started; otherwise it stays in the agent's process group and
//    only the program itself is signalled;
//  - on the time limit (or stop()) SIGTERM is sent, the result settles at once (timedOut or
//    aborted, no exit status), and SIGKILL follows after the grace period. For a group the
//    leader is not reaped before that SIGKILL, so its process group id cannot be reused by an
//    unrelated process in between;
//  - after the exit, the result settles once both pipes reached end of file, or after a short
//    drain time when something the program left behind still holds them.
// Each kernel call is made on the launcher or the supervisor thread, never on the JS thread.
#pragma once

#include <napi.h>

namespace vigil {

// JS: createProcessSpawner() -> { spawn(file, args, env, cwd, ownGroup, timeoutMs, killGraceMs,
// maxOutput, drainMs) -> { id, result: Promise }, stop(id), counters() }.
Napi::Value CreateProcessSpawner(const Napi::CallbackInfo& info);

}  // namespace vigil
