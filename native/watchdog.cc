// The self-fencing watchdog keeper, after sbd's watchdog model. A node that may be cut off must
// stop serving before a survivor takes its hierarchies over; timers on its event loop cannot
// promise that when the loop is starved of CPU. So a kernel watchdog device resets the machine
// unless it is petted, and the petting is done here, on a dedicated thread that does not depend
// on the event loop, but only while the event loop keeps renewing a lease: CLOCK_MONOTONIC now <
// lease deadline (an atomic the JS side sets). Once the lease has lapsed the thread never pets
// again (latched): the kernel resets the machine at most one timeout after the last pet, that
// is at most lease deadline + timeout. A renewal arriving after the lapse is too late by
// definition: a survivor may already count on this node being gone.
//
// openWatchdog(device, timeoutSecs) -> {
//   timeoutSecs     the timeout the driver actually uses (WDIOC_SETTIMEOUT then WDIOC_GETTIMEOUT)
//   identity        the driver's name (WDIOC_GETSUPPORT), e.g. "Software Watchdog"
//   magicClose      whether the driver honours the magic 'V' (WDIOF_MAGICCLOSE)
//   setLease(ms)    lease deadline in CLOCK_MONOTONIC milliseconds (Infinity: unbounded);
//                   returns false when the lease had already lapsed (nothing changes then)
//   state()         {nowMs, leaseMs, pets, lastPetMs, expired, realtime, petErrno}
//   disarm()        stops the thread; writes 'V' and closes (the watchdog stops) unless the lease
//                   lapsed, then it only closes (the reset still comes). Returns {magicClosed}.
// }
// The initial lease is one timeout from the open: the caller sets the real one right after.
// open(2) of a watchdog character device does not wait for anything, nor do the ioctls, so all of
// this runs synchronously; errors are the errno-carrying Errors of sys_error.h (ENOENT: no driver
// loaded; EBUSY: another process, such as a watchdog daemon or systemd's RuntimeWatchdogSec, has
// it open). The device is opened O_CLOEXEC: the programs vigild starts must not hold it.
// If vigild dies without disarming, the kernel closes the descriptor without the magic character:
// the watchdog keeps running and resets the machine one timeout after the last pet.
#include "watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <math.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "addon_lifetime.h"
#include "sys_error.h"

namespace vigil {
namespace {

int64_t MonotonicNs() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

class Keeper {
 public:
  Keeper(int fd, std::string device, int timeoutSecs)
      : fd_(fd), device_(std::move(device)), periodNs_(static_cast<int64_t>(timeoutSecs) * 1000000000LL / 4) {
    lease_.store(MonotonicNs() + static_cast<int64_t>(timeoutSecs) * 1000000000LL);
  }

  // The thread holds the keeper while it runs; the last reference may then be its own.
  ~Keeper() {
    if (thread_.joinable()) thread_.detach();
  }

  void Start(const std::shared_ptr<Keeper>& self) {
    PinAddonInMemory();
    thread_ = std::thread([self] { self->Run(); });
  }

  // False when the lease had lapsed already: a lapse is final.
  bool SetLease(int64_t deadlineNs) {
    if (expired_.load()) return false;
    lease_.store(deadlineNs);
    return !expired_.load();
  }

  // Stops the thread; magic close unless the lease lapsed. Idempotent.
  bool Disarm() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return magicClosed_;
      stopped_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    // The thread is gone: check the lease once more, as it would have at its next turn.
    if (MonotonicNs() >= lease_.load()) expired_.store(true);
    if (!expired_.load()) {
      // The magic character tells the driver this close is deliberate: it stops the watchdog.
      magicClosed_ = write(fd_, "V", 1) == 1;
    }
    close(fd_);
    fd_ = -1;
    return magicClosed_;
  }

  Napi::Object State(Napi::Env env) const {
    Napi::Object o = Napi::Object::New(env);
    const int64_t lease = lease_.load();
    o.Set("nowMs", Napi::Number::New(env, static_cast<double>(MonotonicNs()) / 1e6));
    o.Set("leaseMs", Napi::Number::New(env, lease == INT64_MAX ? INFINITY : static_cast<double>(lease) / 1e6));
    o.Set("pets", Napi::Number::New(env, static_cast<double>(pets_.load())));
    const int64_t last = lastPet_.load();
    o.Set("lastPetMs", last == 0 ? env.Null() : Napi::Number::New(env, static_cast<double>(last) / 1e6));
    o.Set("expired", Napi::Boolean::New(env, expired_.load()));
    o.Set("realtime", Napi::Boolean::New(env, realtime_.load()));
    const int err = petErrno_.load();
    o.Set("petError", err == 0 ? env.Null() : Napi::String::New(env, ErrnoName(err)));
    return o;
  }

 private:
  void Run() {
    // Real-time and above everything vigild runs, so a busy machine (the very case this is for)
    // still lets it run; without the privilege it runs as a normal thread and still works.
    struct sched_param param {};
    param.sched_priority = sched_get_priority_max(SCHED_RR);
    realtime_.store(sched_setscheduler(0, SCHED_RR, &param) == 0);
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopped_) {
      const int64_t now = MonotonicNs();
      if (!expired_.load() && now < lease_.load()) {
        if (ioctl(fd_, WDIOC_KEEPALIVE, 0) == 0) {
          pets_.fetch_add(1);
          lastPet_.store(now);
        } else {
          petErrno_.store(errno);
        }
      } else {
        expired_.store(true);
      }
      // steady_clock is CLOCK_MONOTONIC, the clock of the lease.
      const auto next = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(now + periodNs_));
      cv_.wait_until(lock, next, [this] { return stopped_; });
    }
  }

  int fd_;
  const std::string device_;
  const int64_t periodNs_;
  std::atomic<int64_t> lease_{0};
  std::atomic<bool> expired_{false};
  std::atomic<uint64_t> pets_{0};
  std::atomic<int64_t> lastPet_{0};
  std::atomic<bool> realtime_{false};
  std::atomic<int> petErrno_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  bool magicClosed_ = false;
  std::thread thread_;
};

int64_t LeaseNs(const Napi::CallbackInfo& ci) {
  if (ci.Length() < 1 || !ci[0].IsNumber()) throw Napi::TypeError::New(ci.Env(), "setLease expects a CLOCK_MONOTONIC deadline in milliseconds (number)");
  const double ms = ci[0].As<Napi::Number>().DoubleValue();
  if (std::isnan(ms)) throw Napi::TypeError::New(ci.Env(), "setLease: the deadline is NaN");
  if (ms == INFINITY || ms >= static_cast<double>(INT64_MAX) / 1e6) return INT64_MAX;
  if (ms <= 0) return 0;
  return static_cast<int64_t>(ms * 1e6);
}

}  // namespace

Napi::Value OpenWatchdog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(env, "openWatchdog expects (device: string, timeoutSecs: number)");
  }
  const std::string device = info[0].As<Napi::String>().Utf8Value();
  const double rawTimeout = info[1].As<Napi::Number>().DoubleValue();
  if (!(rawTimeout >= 1 && rawTimeout <= 3600) || floor(rawTimeout) != rawTimeout) {
    throw Napi::RangeError::New(env, "openWatchdog: timeoutSecs must be a whole number from 1 to 3600");
  }
  // Opening starts the watchdog: from here on every failure path must close it with the magic
  // character, or the machine resets one (driver default) timeout later.
  const int fd = open(device.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw MakeSysError(env, errno, "open", device);
  auto fail = [&](int err, const char* call) {
    if (write(fd, "V", 1) != 1) { /* nothing more to do: the close below is all that is left */ }
    close(fd);
    return MakeSysError(env, err, call, device);
  };
  struct watchdog_info wi {};
  if (ioctl(fd, WDIOC_GETSUPPORT, &wi) != 0) throw fail(errno, "ioctl(WDIOC_GETSUPPORT)");
  int timeout = static_cast<int>(rawTimeout);
  if (ioctl(fd, WDIOC_SETTIMEOUT, &timeout) != 0) throw fail(errno, "ioctl(WDIOC_SETTIMEOUT)");
  int real = 0;
  if (ioctl(fd, WDIOC_GETTIMEOUT, &real) != 0) throw fail(errno, "ioctl(WDIOC_GETTIMEOUT)");
  if (real < 1) throw fail(EINVAL, "ioctl(WDIOC_GETTIMEOUT)");
  // A first pet at once, so the new timeout counts from now.
  if (ioctl(fd, WDIOC_KEEPALIVE, 0) != 0) throw fail(errno, "ioctl(WDIOC_KEEPALIVE)");

  auto keeper = std::make_shared<Keeper>(fd, device, real);
  try {
    keeper->Start(keeper);
  } catch (const std::system_error& e) {
    throw fail(e.code().value(), "pthread_create");
  }
  std::string identity(reinterpret_cast<const char*>(wi.identity), strnlen(reinterpret_cast<const char*>(wi.identity), sizeof wi.identity));
  Napi::Object api = Napi::Object::New(env);
  api.Set("timeoutSecs", Napi::Number::New(env, real));
  api.Set("identity", Napi::String::New(env, identity));
  api.Set("magicClose", Napi::Boolean::New(env, (wi.options & WDIOF_MAGICCLOSE) != 0));
  api.Set("setLease", Napi::Function::New(env, [keeper](const Napi::CallbackInfo& ci) {
    return Napi::Boolean::New(ci.Env(), keeper->SetLease(LeaseNs(ci)));
  }, "setLease"));
  api.Set("state", Napi::Function::New(env, [keeper](const Napi::CallbackInfo& ci) { return keeper->State(ci.Env()); }, "state"));
  api.Set("disarm", Napi::Function::New(env, [keeper](const Napi::CallbackInfo& ci) {
    Napi::Object o = Napi::Object::New(ci.Env());
    o.Set("magicClosed", Napi::Boolean::New(ci.Env(), keeper->Disarm()));
    return o;
  }, "disarm"));
  return api;
}

}  // namespace vigil
