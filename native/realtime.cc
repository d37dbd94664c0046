// Staying scheduled under load, as corosync does for its heartbeats. The addon exports these
// as one object, `scheduling`:
//   lockMemory()                 mlock2(MLOCK_ONFAULT) of every file-backed mapping (the node
//                                binary's code, shared libraries, this addon) and of the main
//                                thread's stack: what the kernel would otherwise evict under
//                                memory pressure and read back from disk in the middle of a
//                                heartbeat. Pages are locked as they are touched, so the rest of a
//                                100 MB binary is not pulled in. Not mlockall(): V8 returns heap
//                                and code pages with madvise(MADV_DONTNEED), which fails with
//                                EINVAL on locked pages and makes V8 abort (reproduced), so the
//                                anonymous memory V8 manages stays unlocked. Returns the number
//                                of bytes of mappings locked.
//   setRealtime(prio)            sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, prio) for
//                                the calling (event-loop) thread, so busy normal processes cannot
//                                delay it. RESET_ON_FORK: threads and processes it creates later
//                                (the libuv pool, resource scripts) start as SCHED_OTHER again.
//   state()                      {policy, priority, resetOnFork} of the calling thread.
// Each is a few short syscalls (procfs, mlock2, sched_*) that do not block on I/O of their own,
// so they run synchronously.
#include "realtime.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys_error.h"

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif
#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

namespace vigil {
namespace {

Napi::Value LockMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FILE* maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr) throw MakeSysError(env, errno, "open", "/proc/self/maps");
  char line[4096];
  double locked = 0;
  int failure = 0;
  while (fgets(line, sizeof line, maps) != nullptr) {
    unsigned long start = 0, end = 0;
    char perms[8] = {0};
    int pathAt = 0;
    if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &end, perms, &pathAt) < 3 || pathAt <= 0) continue;
    const char* path = line + pathAt;
    const bool fileBacked = path[0] == '/';
    const bool stack = strncmp(path, "[stack]", 7) == 0;
    // Writable file mappings (.data, .bss neighbours) are private copies the C library may trim.
    if (!(fileBacked && strchr(perms, 'w') == nullptr) && !stack) continue;
    if (perms[0] == '-' && perms[1] == '-' && perms[2] == '-') continue;  // guard pages
    if (syscall(SYS_mlock2, reinterpret_cast<void*>(start), end - start, MLOCK_ONFAULT) != 0) {
      failure = errno;
      break;
    }
    locked += static_cast<double>(end - start);
  }
  fclose(maps);
  if (failure != 0) throw MakeSysError(env, failure, "mlock2(MLOCK_ONFAULT)", "");
  return Napi::Number::New(env, locked);
}

Napi::Value SetRealtimeScheduling(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    throw Napi::TypeError::New(env, "setRealtime expects a priority (number)");
  }
  const double raw = info[0].As<Napi::Number>().DoubleValue();
  const int lo = sched_get_priority_min(SCHED_RR);
  const int hi = sched_get_priority_max(SCHED_RR);
  if (!(raw >= lo && raw <= hi) || floor(raw) != raw) {
    throw Napi::RangeError::New(env, "setRealtime: priority must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  struct sched_param param {};
  param.sched_priority = static_cast<int>(raw);
  if (sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &param) != 0) {
    throw MakeSysError(env, errno, "sched_setscheduler(SCHED_RR)", "");
  }
  return env.Undefined();
}

Napi::Value SchedulingState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int raw = sched_getscheduler(0);
  if (raw < 0) throw MakeSysError(env, errno, "sched_getscheduler", "");
  struct sched_param param {};
  if (sched_getparam(0, &param) != 0) throw MakeSysError(env, errno, "sched_getparam", "");
  const int policy = raw & ~SCHED_RESET_ON_FORK;
  const char* name = policy == SCHED_OTHER ? "other" : policy == SCHED_FIFO ? "fifo" : policy == SCHED_RR ? "rr"
                   : policy == SCHED_BATCH ? "batch" : policy == SCHED_IDLE ? "idle" : "other";
  Napi::Object out = Napi::Object::New(env);
  out.Set("policy", Napi::String::New(env, name));
  out.Set("priority", Napi::Number::New(env, param.sched_priority));
  out.Set("resetOnFork", Napi::Boolean::New(env, (raw & SCHED_RESET_ON_FORK) != 0));
  return out;
}

}  // namespace

Napi::Object SchedulingFunctions(Napi::Env env) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("lockMemory", Napi::Function::New(env, LockMemory, "lockMemory"));
  out.Set("setRealtime", Napi::Function::New(env, SetRealtimeScheduling, "setRealtime"));
  out.Set("state", Napi::Function::New(env, SchedulingState, "state"));
  return out;
}

}  // namespace vigil
