// See probe_runner.h for the model. Thread-lifetime rules that keep this safe:
//  - A probe thread owns shared_ptrs to the hub and to its slot, so a parked thread that
//    returns from the kernel long after its promise was rejected (or after the environment was
//    torn down) only touches memory it co-owns.
//  - The TSFN is only called while holding mu_ and only while alive_ is true; its finalizer
//    (run by Node when the environment is torn down) clears alive_ under mu_ first, so no thread
//    can call a released TSFN.
//  - The TSFN is referenced only while some promise is pending: parked threads alone never keep
//    the process alive.
//  - The addon's shared object is pinned (RTLD_NODELETE): Node dlcloses addons loaded by a
//    worker_thread when that worker ends, and a parked thread returning from the kernel into
//    unmapped code would crash the whole process.
#include "probe_runner.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <system_error>

#include "addon_lifetime.h"
#include "sys_error.h"

namespace vigil {

namespace {

struct AddonData {
  std::shared_ptr<ProbeHub> hub;
};

// Probe threads do nothing but one syscall: a small stack keeps parked threads cheap.
constexpr size_t kProbeStackBytes = 256 * 1024;

}  // namespace

std::shared_ptr<ProbeHub> ProbeHub::ForEnv(Napi::Env env) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr) return data->hub;
  PinAddonInMemory();
  std::shared_ptr<ProbeHub> hub(new ProbeHub());
  // The finalizer's own reference keeps the hub alive until Node finalizes the TSFN.
  hub->tsfn_ = NewOwningTsfn<Tsfn, ProbeHub, &ProbeHub::Shutdown>(env, "vigil.probe", hub);
  env.SetInstanceData(new AddonData{hub});
  return hub;
}

ProbeHub::~ProbeHub() {
  // Normally joined by Shutdown(); this covers a hub whose TSFN was never finalized.
  if (deadlineThread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      alive_ = false;
    }
    cv_.notify_all();
    deadlineThread_.join();
  }
}

Napi::Value ProbeHub::Start(Napi::Env env, std::unique_ptr<ProbeJob> job, const std::string& key,
                            double timeoutMs) {
  auto deferred = Napi::Promise::Deferred::New(env);
  const std::string path = job->Path();
  std::shared_ptr<Slot> slot;
  int createError = 0;
  std::string capacityMessage;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!alive_) {
      deferred.Reject(MakeProbeError(env, "EPROBECLOSED", "probe hub is shut down", job->Syscall(), path).Value());
      return deferred.Promise();
    }
    const auto keyEntry = threadsByKey_.find(key);
    const uint32_t keyThreads = keyEntry == threadsByKey_.end() ? 0 : keyEntry->second;
    if (inFlight_ + parked_ >= limits_.maxParked || keyThreads >= limits_.maxParkedPerKey) {
      capacityRejectedTotal_++;
      capacityMessage = "probe capacity reached for '" + key + "': " + std::to_string(keyThreads) +
                        " probe(s) on this key and " + std::to_string(inFlight_ + parked_) +
                        " in total are in flight or stuck in the kernel (limits " +
                        std::to_string(limits_.maxParkedPerKey) + " per key, " +
                        std::to_string(limits_.maxParked) + " in total)";
    } else {
      // Threads started here inherit a fully blocked signal mask: process-directed signals must
      // go to Node's own threads, never to a probe thread stuck in the kernel.
      sigset_t all, old;
      sigfillset(&all);
      pthread_sigmask(SIG_SETMASK, &all, &old);
      if (!deadlineThread_.joinable()) {
        try {
          deadlineThread_ = std::thread([this] { DeadlineLoop(); });
        } catch (const std::system_error& e) {
          createError = e.code().value();
        }
      }
      if (createError == 0) {
        slot = std::make_shared<Slot>();
        slot->id = nextId_++;
        slot->key = key;
        slot->timeoutMs = timeoutMs;
        slot->deadline = std::chrono::steady_clock::now() +
                         std::chrono::microseconds(static_cast<int64_t>(timeoutMs * 1000.0));
        slot->job = std::move(job);

        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, kProbeStackBytes);
        auto* arg = new ThreadArg{nullptr, slot};
        pthread_t tid;
        // The hub is owned by shared_ptrs (instance data and TSFN finalizer); take one for the thread.
        arg->hub = env.GetInstanceData<AddonData>()->hub;
        createError = pthread_create(&tid, &attr, &ProbeHub::ThreadMain, arg);
        pthread_attr_destroy(&attr);
        if (createError != 0) {
          delete arg;
          slot.reset();
        } else {
          inFlight_++;
          threadsByKey_[key]++;
          slots_[slot->id] = slot;
        }
      }
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
  }
  if (!capacityMessage.empty()) {
    Napi::Error error = MakeProbeError(env, "EPROBECAPACITY", capacityMessage, job->Syscall(), path);
    error.Set("key", Napi::String::New(env, key));
    deferred.Reject(error.Value());
    return deferred.Promise();
  }
  if (createError != 0) {
    deferred.Reject(MakeSysError(env, createError, "pthread_create", path).Value());
    return deferred.Promise();
  }
  cv_.notify_all();
  deferreds_.emplace(slot->id, deferred);
  if (pendingPromises_++ == 0) tsfn_.Ref(env);
  return deferred.Promise();
}

void* ProbeHub::ThreadMain(void* raw) {
  std::unique_ptr<ThreadArg> arg(static_cast<ThreadArg*>(raw));
  arg->slot->job->Run();  // may block in the kernel for as long as the kernel wants
  arg->hub->Finished(arg->slot);
  return nullptr;
}

void ProbeHub::Finished(const std::shared_ptr<Slot>& slot) {
  std::lock_guard<std::mutex> lock(mu_);
  auto keyCount = threadsByKey_.find(slot->key);
  if (keyCount != threadsByKey_.end() && --keyCount->second == 0) threadsByKey_.erase(keyCount);
  if (slot->state == SlotState::kParked) {
    // The kernel finally answered a probe whose promise was already rejected: reclaim it.
    parked_--;
    reclaimedTotal_++;
    auto parkedCount = parkedByKey_.find(slot->key);
    if (parkedCount != parkedByKey_.end() && --parkedCount->second == 0) parkedByKey_.erase(parkedCount);
    slots_.erase(slot->id);
    return;
  }
  slot->state = SlotState::kCompleted;
  inFlight_--;
  slots_.erase(slot->id);
  if (alive_) tsfn_.NonBlockingCall(new Event{slot, EventKind::kCompleted});
}

void ProbeHub::DeadlineLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (alive_) {
    const auto now = std::chrono::steady_clock::now();
    auto next = std::chrono::steady_clock::time_point::max();
    for (auto& entry : slots_) {
      Slot& slot = *entry.second;
      if (slot.state != SlotState::kRunning) continue;
      if (slot.deadline <= now) {
        slot.state = SlotState::kParked;
        inFlight_--;
        parked_++;
        timedOutTotal_++;
        parkedByKey_[slot.key]++;
        slot.job->OnTimeout();
        tsfn_.NonBlockingCall(new Event{entry.second, EventKind::kTimedOut});
      } else {
        next = std::min(next, slot.deadline);
      }
    }
    if (next == std::chrono::steady_clock::time_point::max()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, next);
    }
  }
}

void ProbeHub::CallJs(Napi::Env env, Napi::Function, ProbeHub* hub, Event* event) {
  std::unique_ptr<Event> owned(event);
  // env is null when Node drains the queue during teardown: nothing to deliver to.
  if (static_cast<napi_env>(env) == nullptr || hub == nullptr) return;
  hub->Deliver(env, *owned);
}

void ProbeHub::Deliver(Napi::Env env, const Event& event) {
  const Slot& slot = *event.slot;
  auto pending = deferreds_.find(slot.id);
  if (pending == deferreds_.end()) return;
  Napi::Promise::Deferred deferred = pending->second;
  deferreds_.erase(pending);

  Napi::HandleScope scope(env);
  if (event.kind == EventKind::kTimedOut) {
    // Only Path() (fixed before the probe thread starts), Syscall() and DecorateTimeout() are
    // used: jobs keep the latter two safe to call while Run() may still be going on.
    const ProbeJob& job = *slot.job;
    char limit[32];
    snprintf(limit, sizeof limit, "%g", slot.timeoutMs);
    Napi::Error error = MakeProbeError(
        env, "EPROBETIMEOUT",
        std::string("EPROBETIMEOUT: ") + job.Syscall() + " '" + job.Path() + "' did not return within " + limit +
            " ms; the probe thread is parked until the kernel answers",
        job.Syscall(), job.Path());
    error.Set("timeoutMs", Napi::Number::New(env, slot.timeoutMs));
    error.Set("key", Napi::String::New(env, slot.key));
    job.DecorateTimeout(env, error);
    deferred.Reject(error.Value());
  } else {
    try {
      deferred.Resolve(slot.job->Result(env));
    } catch (const Napi::Error& e) {
      deferred.Reject(e.Value());
    }
  }
  PromiseSettled(env);
}

void ProbeHub::PromiseSettled(Napi::Env env) {
  if (--pendingPromises_ == 0) tsfn_.Unref(env);
}

void ProbeHub::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    alive_ = false;
  }
  cv_.notify_all();
  if (deadlineThread_.joinable()) deadlineThread_.join();
  deferreds_.clear();
}

Napi::Object ProbeHub::Counters(Napi::Env env) {
  std::lock_guard<std::mutex> lock(mu_);
  Napi::Object out = Napi::Object::New(env);
  out.Set("inFlight", Napi::Number::New(env, static_cast<double>(inFlight_)));
  out.Set("parked", Napi::Number::New(env, static_cast<double>(parked_)));
  out.Set("reclaimedTotal", Napi::Number::New(env, static_cast<double>(reclaimedTotal_)));
  out.Set("timedOutTotal", Napi::Number::New(env, static_cast<double>(timedOutTotal_)));
  out.Set("capacityRejectedTotal", Napi::Number::New(env, static_cast<double>(capacityRejectedTotal_)));
  Napi::Object byKey = Napi::Object::New(env);
  for (const auto& entry : parkedByKey_) byKey.Set(entry.first, Napi::Number::New(env, entry.second));
  out.Set("parkedByKey", byKey);
  return out;
}

ProbeLimits ProbeHub::Limits() {
  std::lock_guard<std::mutex> lock(mu_);
  return limits_;
}

void ProbeHub::Configure(const ProbeLimits& limits) {
  std::lock_guard<std::mutex> lock(mu_);
  limits_ = limits;
}

Napi::Value ProbeCounters(const Napi::CallbackInfo& info) {
  return ProbeHub::ForEnv(info.Env())->Counters(info.Env());
}

namespace {

uint32_t LimitOption(const Napi::Object& options, const char* name, uint32_t current) {
  if (!options.Has(name) || options.Get(name).IsUndefined()) return current;
  Napi::Value value = options.Get(name);
  const double n = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(n) || n < 1 || n > 100000 || std::floor(n) != n) {
    throw Napi::RangeError::New(options.Env(), std::string(name) + " must be an integer from 1 to 100000");
  }
  return static_cast<uint32_t>(n);
}

}  // namespace

Napi::Value ConfigureProbes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto hub = ProbeHub::ForEnv(env);
  ProbeLimits limits = hub->Limits();
  if (info.Length() >= 1 && info[0].IsObject()) {
    Napi::Object options = info[0].As<Napi::Object>();
    limits.maxParked = LimitOption(options, "maxParked", limits.maxParked);
    limits.maxParkedPerKey = LimitOption(options, "maxParkedPerKey", limits.maxParkedPerKey);
    hub->Configure(limits);
  } else if (info.Length() >= 1 && !info[0].IsUndefined()) {
    throw Napi::TypeError::New(env, "configureProbes expects an options object");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("maxParked", Napi::Number::New(env, limits.maxParked));
  out.Set("maxParkedPerKey", Napi::Number::New(env, limits.maxParkedPerKey));
  return out;
}

}  // namespace vigil
