// The dedicated-thread mechanism every potentially-blocking kernel call of the addon uses.
//
// A probe runs on its own detached native thread (never on libuv's pool: that pool has 4
// threads shared by every fs.* call, dns.lookup and zlib of the process, so four probes stuck on
// a dead NFS server would freeze all file I/O of the agent). The result comes back through one
// Napi::ThreadSafeFunction per environment. A deadline thread rejects the promise with an
// EPROBETIMEOUT error when the limit passes; the probe thread, still stuck in the kernel, is
// then "parked": counted, and reclaimed when the kernel finally returns. Admission is bounded:
// in-flight plus parked threads are limited globally and per key (the mount a path lives on),
// so a dead mount cannot make the agent pile up threads; past the bound a new probe on that key
// fails at once with EPROBECAPACITY.
#pragma once

#include <napi.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

namespace vigil {

// Work done on a probe thread. Run() may block in the kernel for ever and must not touch JS;
// Result() runs on the JS thread when Run() returned before the deadline, and throws a
// Napi::Error (e.g. from MakeSysError) to reject.
class ProbeJob {
 public:
  explicit ProbeJob(std::string path) : path_(std::move(path)) {}
  virtual ~ProbeJob() = default;
  virtual void Run() = 0;
  virtual Napi::Value Result(Napi::Env env) = 0;
  // The syscall named in a timeout or capacity error ('stat', 'open', ...). May change while
  // Run() progresses (a multi-step job names the step it is in), so it must be safe to read
  // from any thread and return a string with static storage.
  virtual const char* Syscall() const = 0;
  // Called by the deadline thread, under the hub's lock, at the instant it parks the job (the
  // promise is about to be rejected with EPROBETIMEOUT). A job whose effect must be all or
  // nothing decides here, atomically against its own progress, whether it will still commit.
  // Must not block.
  virtual void OnTimeout() {}
  // Adds job-specific facts to the EPROBETIMEOUT error (JS thread, after OnTimeout()).
  virtual void DecorateTimeout(Napi::Env env, Napi::Error& error) const {}
  const std::string& Path() const { return path_; }

 private:
  std::string path_;
};

struct ProbeLimits {
  uint32_t maxParked = 256;        // whole environment: in-flight + parked probe threads
  uint32_t maxParkedPerKey = 32;   // one key (mount point / path prefix)
};

class ProbeHub {
 public:
  // The hub of this environment, created on first use and kept in the addon's instance data.
  static std::shared_ptr<ProbeHub> ForEnv(Napi::Env env);

  ~ProbeHub();
  // Starts `job` on its own thread; the returned promise settles with the job's result, an
  // EPROBETIMEOUT error after timeoutMs, or at once with EPROBECAPACITY.
  Napi::Value Start(Napi::Env env, std::unique_ptr<ProbeJob> job, const std::string& key, double timeoutMs);
  Napi::Object Counters(Napi::Env env);
  ProbeLimits Limits();
  void Configure(const ProbeLimits& limits);

 private:
  enum class SlotState { kRunning, kCompleted, kParked };
  struct Slot {
    uint64_t id;
    std::string key;
    double timeoutMs;
    std::chrono::steady_clock::time_point deadline;
    SlotState state = SlotState::kRunning;
    std::unique_ptr<ProbeJob> job;
  };
  enum class EventKind { kCompleted, kTimedOut };
  // Carries its slot, so delivery never depends on the probe thread still being registered.
  struct Event {
    std::shared_ptr<Slot> slot;
    EventKind kind;
  };
  struct ThreadArg {
    std::shared_ptr<ProbeHub> hub;
    std::shared_ptr<Slot> slot;
  };
  static void CallJs(Napi::Env env, Napi::Function unused, ProbeHub* hub, Event* event);
  using Tsfn = Napi::TypedThreadSafeFunction<ProbeHub, Event, &ProbeHub::CallJs>;

  ProbeHub() = default;
  static void* ThreadMain(void* arg);
  void Finished(const std::shared_ptr<Slot>& slot);
  void DeadlineLoop();
  void Deliver(Napi::Env env, const Event& event);
  void Shutdown();
  void PromiseSettled(Napi::Env env);

  // Guarded by mu_ (touched by the JS thread, probe threads and the deadline thread).
  std::mutex mu_;
  std::condition_variable cv_;
  bool alive_ = true;  // false once the TSFN is finalized: nobody may call it any more
  uint64_t nextId_ = 1;
  std::map<uint64_t, std::shared_ptr<Slot>> slots_;
  std::map<std::string, uint32_t> threadsByKey_;  // in-flight + parked per key
  std::map<std::string, uint32_t> parkedByKey_;
  uint64_t inFlight_ = 0, parked_ = 0, reclaimedTotal_ = 0, timedOutTotal_ = 0, capacityRejectedTotal_ = 0;
  ProbeLimits limits_;
  Tsfn tsfn_;

  // JS thread only.
  std::unordered_map<uint64_t, Napi::Promise::Deferred> deferreds_;
  uint64_t pendingPromises_ = 0;
  std::thread deadlineThread_;
};

// JS: probeCounters() and configureProbes({ maxParked, maxParkedPerKey }).
Napi::Value ProbeCounters(const Napi::CallbackInfo& info);
Napi::Value ConfigureProbes(const Napi::CallbackInfo& info);

}  // namespace vigil
