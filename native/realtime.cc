// Staying scheduled under load, as corosync does for its heartbeats. The addon exports one
// object, `scheduling`, assembled here:
//   lockMemory()                 see memory_lock.cc.
//   setRealtime(prio)            sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, prio) for
//                                the calling (event-loop) thread, so busy normal processes cannot
//                                delay it. RESET_ON_FORK: threads and processes it creates later
//                                (the libuv pool, resource scripts) start as SCHED_OTHER again.
//                                Also starts the CPU budget guard for that thread (below).
//   state()                      {policy, priority, resetOnFork} of the calling thread, and
//                                budgetDemotions: how often the guard has demoted the RT thread.
// Each is one short syscall that never blocks, so they run synchronously.
//
// The CPU budget guard. Real-time priority is only safe for a thread that uses little CPU: a
// SCHED_RR thread preempts every normal thread, and among those are the kernel's ksoftirqd (which,
// once the machine is busy, receives all network traffic: the very heartbeats this thread waits
// for), the NBD server's thread and the block layer's completion workers. The event loop is not
// always lean: V8's garbage collection and large admin commands run on it, and in the emulated
// VM cluster it was measured running for ~1 s at a stretch during replicated writes. During such
// a burst nothing else on that CPU ran (every other thread runnable and waiting ~100%), incoming
// heartbeats on every comm path and the NBD requests of the peer's mirror waited in the NIC's
// ring until the kernel's RT throttling (950 ms per s) cut in: both nodes missed heartbeats for
// seconds and the NBD client timed out. So a watchdog thread, at priority+1 so that it runs while
// the event loop spins, reads the event-loop thread's CPU clock every kTickMs; when that thread
// has used at least kDemoteShare of the last kWindowMs it is demoted to SCHED_OTHER at nice
// kDemotedNice (still favoured over normal threads, but sharing the CPU: ksoftirqd and the NBD
// thread get their turns), and once it has used less than kPromoteShare it gets SCHED_RR back.
// Heartbeats are sent and judged on time either way: a loop busy with its own work cannot send
// them sooner at any priority, and an idle one is real-time again.
#include "realtime.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "memory_lock.h"
#include "sys_error.h"

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

namespace vigil {
namespace {

// 100 ms: the guard's own wake-ups are most of an idle agent's on a small machine (at 50 ms it
// woke twice as often as everything else together); a spinning loop is still demoted within
// 100-200 ms, far inside the kernel's 950 ms RT throttling that it must beat.
constexpr int kTickMs = 100;
constexpr int kWindowTicks = 2;  // kWindowMs = 200
constexpr double kDemoteShare = 0.5;
constexpr double kPromoteShare = 0.2;
constexpr int kDemotedNice = -10;

// One per process, for the thread that called setRealtime; never freed (the watchdog thread
// reads it for the life of the process).
struct BudgetGuard {
  std::atomic<pid_t> tid{0};
  std::atomic<clockid_t> clock{0};
  std::atomic<int> priority{0};
  std::atomic<bool> demoted{false};
  std::atomic<uint64_t> demotions{0};
  std::atomic<bool> started{false};
};
BudgetGuard guard;

int64_t ReadNs(clockid_t c) {
  struct timespec ts {};
  if (clock_gettime(c, &ts) != 0) return -1;
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

void GuardLoop() {
  // Above the guarded thread, so that it runs while that thread spins. If this is refused the
  // guard still works, only later (when the kernel's own throttling lets normal threads run).
  struct sched_param own {};
  own.sched_priority = guard.priority.load() + 1 > sched_get_priority_max(SCHED_FIFO) ? sched_get_priority_max(SCHED_FIFO) : guard.priority.load() + 1;
  sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &own);
  int64_t cpu[kWindowTicks + 1];
  int64_t wall[kWindowTicks + 1];
  for (int i = 0; i <= kWindowTicks; i++) {
    cpu[i] = ReadNs(guard.clock.load());
    wall[i] = ReadNs(CLOCK_MONOTONIC);
  }
  for (unsigned long n = 0;; n++) {
    const struct timespec tick { 0, kTickMs * 1000000L };
    nanosleep(&tick, nullptr);
    const int at = static_cast<int>(n % (kWindowTicks + 1));
    const int oldest = static_cast<int>((n + 1) % (kWindowTicks + 1));
    cpu[at] = ReadNs(guard.clock.load());
    wall[at] = ReadNs(CLOCK_MONOTONIC);
    if (cpu[at] < 0) return;  // the guarded thread is gone
    if (n < kWindowTicks) continue;
    const double share = static_cast<double>(cpu[at] - cpu[oldest]) / static_cast<double>(wall[at] - wall[oldest]);
    const pid_t tid = guard.tid.load();
    struct sched_param param {};
    if (!guard.demoted.load() && share >= kDemoteShare) {
      if (sched_setscheduler(tid, SCHED_OTHER | SCHED_RESET_ON_FORK, &param) == 0) {
        setpriority(PRIO_PROCESS, static_cast<id_t>(tid), kDemotedNice);
        guard.demoted.store(true);
        guard.demotions.fetch_add(1);
      }
    } else if (guard.demoted.load() && share < kPromoteShare) {
      param.sched_priority = guard.priority.load();
      if (sched_setscheduler(tid, SCHED_RR | SCHED_RESET_ON_FORK, &param) == 0) guard.demoted.store(false);
    }
  }
}

// Guards the calling thread (already SCHED_RR at `priority`); the watchdog starts once.
void StartBudgetGuard(int priority) {
  clockid_t c;
  if (pthread_getcpuclockid(pthread_self(), &c) != 0) return;
  guard.clock.store(c);
  guard.tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
  guard.priority.store(priority);
  guard.demoted.store(false);
  if (guard.started.exchange(true)) return;
  std::thread(GuardLoop).detach();
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
  StartBudgetGuard(param.sched_priority);
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
  out.Set("budgetDemotions", Napi::Number::New(env, static_cast<double>(guard.demotions.load())));
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
