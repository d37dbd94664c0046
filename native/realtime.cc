// Staying scheduled under load, as corosync does for its heartbeats. The addon exports one
// object, `scheduling`, assembled here:
//   lockMemory()                 see memory_lock.cc.
//   setRealtime(prio)            sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, prio) for
//                                the calling (event-loop) thread, so busy normal processes cannot
//                                delay it. RESET_ON_FORK: threads and processes it creates later
//                                (the libuv pool, resource scripts) start as SCHED_OTHER again.
//   state()                      {policy, priority, resetOnFork} of the calling thread.
// Each is one short syscall that never blocks, so they run synchronously.
#include "realtime.h"

#include <errno.h>
#include <math.h>
#include <sched.h>

#include "memory_lock.h"
#include "sys_error.h"

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

namespace vigil {
namespace {

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
