// See process_spawner.h for the model and the semantics. Threads and ownership:
//  - JS thread: validates a request, queues it for the launcher, keeps the promise (deferreds_),
//    and resolves finished programs in batches (CallJs).
//  - Launcher threads (kLaunchers): posix_spawn (the parent waits only until the child has
//    exec'd; a program on a mount that hangs in exec stalls one launcher, never the event loop,
//    and the supervisor still settles every request on time), then pidfd_open.
//  - Supervisor thread: owns every started program (active_) and is the only one to read its
//    pipes, reap it, signal it and decide its result.
// Queues between them are guarded by mu_; `phase` is the one field of a request both the
// launcher and the supervisor change (under mu_): a request whose time passed while still queued
// is never started. The threads hold shared_ptrs to the spawner, so the environment may be torn
// down under them; the addon's object is pinned (RTLD_NODELETE, as in probe_runner.cc).
#include "process_spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "addon_lifetime.h"
#include "sys_error.h"

namespace vigil {

namespace {

using Clock = std::chrono::steady_clock;

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }
int PidfdSendSignal(int pidfd, int sig) { return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0)); }

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

enum class Phase { kQueued, kLaunching, kStarted, kCancelled };

// One program run. Request fields are fixed at submission; launch fields are written by the
// launcher before it hands the request to the supervisor; the rest is the supervisor's.
struct Proc {
  uint64_t id = 0;
  std::string file, cwd;
  std::vector<std::string> args, env;
  bool ownGroup = false;
  Clock::duration timeout{}, grace{}, drain{};
  size_t maxOutput = 0;
  Clock::time_point submitted, deadline;

  Phase phase = Phase::kQueued;  // guarded by the spawner's mu_
  pid_t pid = -1;
  int pidfd = -1;
  int pipes[2] = {-1, -1};  // read ends of stdout and stderr
  int spawnErrno = 0;
  const char* spawnCall = "";

  bool launchSeen = false;  // the launcher has handed it over (or it was never launched)
  std::string output[2];
  bool exited = false, reaped = false;
  int status = 0;
  Clock::time_point exitAt;
  bool settled = false;
  bool killPending = false;
  Clock::time_point killAt;
};

// What JS receives for one finished program.
struct Result {
  uint64_t id;
  int code = -1;    // -1: none
  int signal = 0;   // 0: none
  bool timedOut = false, aborted = false;
  std::string stdoutText, stderrText;
  int spawnErrno = 0;
  const char* spawnCall = "";
  std::string file;
  double durationMs = 0;
};

// Launcher threads. posix_spawn returns only once the child has exec'd, and on a busy machine
// the child may wait a while for a CPU before it gets there: with one launcher the starts queued
// behind that wait (a second and more at 500 programs/s under load), with several they overlap.
// A launcher costs nothing while it waits.
constexpr int kLaunchers = 4;

// Epoll keys: the Proc pointer with the descriptor's role in the low bits (Proc is 8-aligned).
constexpr uint64_t kRoleStdout = 0, kRoleStderr = 1, kRolePidfd = 2, kRoleWake = 3, kRoleMask = 3;

class Spawner : public std::enable_shared_from_this<Spawner> {
 public:
  struct Batch {};
  static void CallJs(Napi::Env env, Napi::Function, Spawner* self, Batch*);
  using Tsfn = Napi::TypedThreadSafeFunction<Spawner, Batch, &Spawner::CallJs>;

  ~Spawner() {
    CloseFd(epollFd_);
    CloseFd(wakeFd_);
  }

  static std::shared_ptr<Spawner> Create(Napi::Env env);
  Napi::Value Spawn(const Napi::CallbackInfo& info);
  void Stop(uint64_t id);
  Napi::Object Counters(Napi::Env env);

 private:
  Spawner() = default;
  void Wake();
  void LauncherLoop();
  void Launch(Proc& p);
  void SupervisorLoop();
  void Adopt(const std::shared_ptr<Proc>& p, Clock::time_point now);
  void Terminate(Proc& p, bool timedOut, Clock::time_point now, std::vector<Result>& out);
  void Settle(Proc& p, Result r, std::vector<Result>& out);
  void SettleExit(Proc& p, std::vector<Result>& out);
  void ReadPipe(Proc& p, int which);
  void ClosePipe(Proc& p, int which);
  void OnPidfd(Proc& p, Clock::time_point now, std::vector<Result>& out);
  void SendKill(Proc& p, int sig);
  void Deliver(std::vector<Result>& out);
  void Shutdown();

  std::mutex mu_;
  std::condition_variable launchCv_;
  bool alive_ = true;
  uint64_t nextId_ = 1;
  std::deque<std::shared_ptr<Proc>> launchQueue_;
  std::vector<std::shared_ptr<Proc>> incoming_;  // submitted, for the supervisor's deadlines
  std::vector<std::shared_ptr<Proc>> launched_;  // back from the launcher
  std::vector<uint64_t> stops_;
  std::vector<Result> done_;
  bool callPending_ = false;
  Tsfn tsfn_;

  int epollFd_ = -1, wakeFd_ = -1;
  std::unordered_map<uint64_t, std::shared_ptr<Proc>> active_;  // supervisor thread only
  std::atomic<uint64_t> supervised_{0}, startedTotal_{0}, timedOutTotal_{0};

  // JS thread only.
  std::unordered_map<uint64_t, Napi::Promise::Deferred> deferreds_;
};

std::shared_ptr<Spawner> Spawner::Create(Napi::Env env) {
  PinAddonInMemory();
  std::shared_ptr<Spawner> s(new Spawner());
  s->epollFd_ = epoll_create1(EPOLL_CLOEXEC);
  if (s->epollFd_ < 0) throw MakeSysError(env, errno, "epoll_create1", "");
  s->wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->wakeFd_ < 0) throw MakeSysError(env, errno, "eventfd", "");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kRoleWake;
  if (epoll_ctl(s->epollFd_, EPOLL_CTL_ADD, s->wakeFd_, &ev) != 0) throw MakeSysError(env, errno, "epoll_ctl", "");
  s->tsfn_ = NewOwningTsfn<Tsfn, Spawner, &Spawner::Shutdown>(env, "vigil.processSpawner", s);
  // The threads never take process-directed signals (they belong to Node's own threads); the
  // children get an empty mask back through posix_spawnattr_setsigmask.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    for (int i = 0; i < kLaunchers; i++) std::thread([s] { s->LauncherLoop(); }).detach();
    std::thread([s] { s->SupervisorLoop(); }).detach();
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    s->Shutdown();
    throw MakeSysError(env, e.code().value(), "pthread_create", "");
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return s;
}

void Spawner::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    alive_ = false;
  }
  launchCv_.notify_all();
  Wake();
}

void Spawner::Wake() {
  const uint64_t one = 1;
  if (write(wakeFd_, &one, sizeof one) < 0) {
    // EAGAIN: the counter is already non-zero, the supervisor will wake anyway.
  }
}

std::string StringValue(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsString()) throw Napi::TypeError::New(env, std::string("spawn: ") + what + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) throw Napi::TypeError::New(env, std::string("spawn: ") + what + " must not contain NUL bytes");
  return s;
}

std::vector<std::string> StringList(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string("spawn: ") + what + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(StringValue(env, a.Get(i), what));
  return out;
}

double MsValue(Napi::Env env, const Napi::Value& v, const char* what, double min) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("spawn: ") + what + " must be a number");
  const double n = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(n) || n < min || n > 1e12) throw Napi::RangeError::New(env, std::string("spawn: ") + what + " out of range");
  return n;
}

Clock::duration Ms(double ms) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(ms));
}

Napi::Value Spawner::Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 9) {
    throw Napi::TypeError::New(env, "spawn(file, args, env, cwd, ownGroup, timeoutMs, killGraceMs, maxOutput, drainMs)");
  }
  auto p = std::make_shared<Proc>();
  p->file = StringValue(env, info[0], "file");
  if (p->file.empty()) throw Napi::TypeError::New(env, "spawn: file must not be empty");
  p->args = StringList(env, info[1], "args");
  p->env = StringList(env, info[2], "env");
  if (!info[3].IsUndefined() && !info[3].IsNull()) p->cwd = StringValue(env, info[3], "cwd");
  if (!info[4].IsBoolean()) throw Napi::TypeError::New(env, "spawn: ownGroup must be a boolean");
  p->ownGroup = info[4].As<Napi::Boolean>().Value();
  p->timeout = Ms(MsValue(env, info[5], "timeoutMs", 1));
  p->grace = Ms(MsValue(env, info[6], "killGraceMs", 0));
  p->maxOutput = static_cast<size_t>(MsValue(env, info[7], "maxOutput", 0));
  p->drain = Ms(MsValue(env, info[8], "drainMs", 0));
  p->submitted = Clock::now();
  p->deadline = p->submitted + p->timeout;
  auto deferred = Napi::Promise::Deferred::New(env);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!alive_) throw Napi::Error::New(env, "spawn: the process spawner is shut down");
    p->id = nextId_++;
    launchQueue_.push_back(p);
    incoming_.push_back(p);
  }
  launchCv_.notify_one();
  Wake();
  if (deferreds_.empty()) tsfn_.Ref(env);
  deferreds_.emplace(p->id, deferred);
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("id", Napi::Number::New(env, static_cast<double>(p->id)));
  handle.Set("result", deferred.Promise());
  return handle;
}

void Spawner::Stop(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stops_.push_back(id);
  }
  Wake();
}

Napi::Object Spawner::Counters(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("pending", Napi::Number::New(env, static_cast<double>(deferreds_.size())));
  o.Set("supervised", Napi::Number::New(env, static_cast<double>(supervised_.load())));
  o.Set("startedTotal", Napi::Number::New(env, static_cast<double>(startedTotal_.load())));
  o.Set("timedOutTotal", Napi::Number::New(env, static_cast<double>(timedOutTotal_.load())));
  return o;
}

void Spawner::LauncherLoop() {
  std::shared_ptr<Spawner> self = shared_from_this();
  pthread_setname_np(pthread_self(), "vigil-launcher");  // names its CPU in /proc/PID/task
  for (;;) {
    std::shared_ptr<Proc> p;
    {
      std::unique_lock<std::mutex> lock(mu_);
      launchCv_.wait(lock, [this] { return !alive_ || !launchQueue_.empty(); });
      if (!alive_) return;
      p = std::move(launchQueue_.front());
      launchQueue_.pop_front();
      if (p->phase != Phase::kQueued) continue;  // its time passed, or it was stopped, in the queue
      p->phase = Phase::kLaunching;
    }
    Launch(*p);
    {
      std::lock_guard<std::mutex> lock(mu_);
      p->phase = Phase::kStarted;
      launched_.push_back(std::move(p));
    }
    Wake();
  }
}

// A file name without '/' is looked up in the PATH of the program's own environment (as
// execvp(3) in child_process does); a directory that lacks it (ENOENT, ENOTDIR) or refuses
// it (EACCES, reported if nothing else is found) is skipped.
int SpawnSearching(pid_t* pid, const std::string& file, const posix_spawn_file_actions_t* fa, const posix_spawnattr_t* at,
                   char* const argv[], char* const envp[], const std::vector<std::string>& env) {
  if (file.find('/') != std::string::npos) return posix_spawn(pid, file.c_str(), fa, at, argv, envp);
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const std::string& e : env) {
    if (e.compare(0, 5, "PATH=") == 0) path = e.substr(5);
  }
  int result = ENOENT;
  size_t start = 0;
  for (;;) {
    const size_t end = path.find(':', start);
    std::string dir = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + file;
    const int rc = posix_spawn(pid, candidate.c_str(), fa, at, argv, envp);
    if (rc == 0) return 0;
    if (rc == EACCES) result = EACCES;
    else if (rc != ENOENT && rc != ENOTDIR) return rc;
    if (end == std::string::npos) return result;
    start = end + 1;
  }
}

void Spawner::Launch(Proc& p) {
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    p.spawnErrno = errno;
    p.spawnCall = "pipe2";
    for (int* fd : {&out[0], &out[1], &err[0], &err[1]}) CloseFd(*fd);
    return;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  if (!p.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, p.cwd.c_str());
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (p.ownGroup) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&at, flags);
  std::vector<char*> argv, envp;
  argv.push_back(const_cast<char*>(p.file.c_str()));
  for (auto& a : p.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : p.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = SpawnSearching(&pid, p.file, &fa, &at, argv.data(), envp.data(), p.env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  CloseFd(out[1]);
  CloseFd(err[1]);
  if (rc != 0) {
    p.spawnErrno = rc;
    p.spawnCall = "posix_spawn";
    CloseFd(out[0]);
    CloseFd(err[0]);
    return;
  }
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0) {
    // The child is ours and not reaped, so its pid cannot have been reused.
    p.spawnErrno = errno;
    p.spawnCall = "pidfd_open";
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    CloseFd(out[0]);
    CloseFd(err[0]);
    return;
  }
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  p.pid = pid;
  p.pidfd = pidfd;
  p.pipes[0] = out[0];
  p.pipes[1] = err[0];
  startedTotal_++;
}

void Spawner::SupervisorLoop() {
  std::shared_ptr<Spawner> self = shared_from_this();
  pthread_setname_np(pthread_self(), "vigil-reaper");
  std::vector<epoll_event> events(256);
  std::vector<Result> out;
  for (;;) {
    // Sleep until the nearest deadline: a time limit, the end of a drain, a pending SIGKILL.
    Clock::time_point now = Clock::now();
    Clock::time_point next = Clock::time_point::max();
    for (auto& [id, p] : active_) {
      if (!p->settled) next = std::min(next, p->exited ? p->exitAt + p->drain : p->deadline);
      if (p->killPending) next = std::min(next, p->killAt);
    }
    int waitMs = -1;
    if (next != Clock::time_point::max()) {
      const auto left = std::chrono::duration_cast<std::chrono::microseconds>(next - now).count();
      waitMs = left <= 0 ? 0 : static_cast<int>((left + 999) / 1000);
    }
    const int n = epoll_wait(epollFd_, events.data(), static_cast<int>(events.size()), waitMs);
    std::vector<std::shared_ptr<Proc>> incoming, launched;
    std::vector<uint64_t> stops;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!alive_) return;
      incoming.swap(incoming_);
      launched.swap(launched_);
      stops.swap(stops_);
    }
    now = Clock::now();
    for (auto& p : incoming) active_.emplace(p->id, p);
    for (auto& p : launched) Adopt(p, now);
    for (int i = 0; i < n; i++) {
      const uint64_t key = events[i].data.u64;
      const uint64_t role = key & kRoleMask;
      if (role == kRoleWake) {
        uint64_t v;
        if (read(wakeFd_, &v, sizeof v) < 0) {
          // EAGAIN: already drained.
        }
        continue;
      }
      Proc& p = *reinterpret_cast<Proc*>(key & ~kRoleMask);
      if (role == kRolePidfd) OnPidfd(p, now, out);
      else ReadPipe(p, static_cast<int>(role));
    }
    for (uint64_t id : stops) {
      auto it = active_.find(id);
      if (it != active_.end() && !it->second->settled) Terminate(*it->second, false, now, out);
    }
    for (auto it = active_.begin(); it != active_.end();) {
      Proc& p = *it->second;
      if (!p.settled) {
        if (p.exited && (p.pipes[0] < 0 && p.pipes[1] < 0)) SettleExit(p, out);
        else if (p.exited && now >= p.exitAt + p.drain) SettleExit(p, out);
        else if (!p.exited && now >= p.deadline) Terminate(p, true, now, out);
      }
      if (p.killPending && now >= p.killAt && p.launchSeen) {
        p.killPending = false;
        SendKill(p, SIGKILL);
        // A group leader that exited after the SIGTERM was left unreaped until now.
        if (p.exited && !p.reaped) {
          waitpid(p.pid, &p.status, 0);
          p.reaped = true;
          CloseFd(p.pidfd);
        }
      }
      const bool processGone = p.pid < 0 || p.reaped;
      if (p.settled && p.launchSeen && processGone && !p.killPending && p.pipes[0] < 0 && p.pipes[1] < 0) {
        it = active_.erase(it);
      } else {
        ++it;
      }
    }
    supervised_ = active_.size();
    Deliver(out);
  }
}

// A request is back from the launcher: watch its process, or report why it did not start.
void Spawner::Adopt(const std::shared_ptr<Proc>& sp, Clock::time_point now) {
  Proc& p = *sp;
  p.launchSeen = true;
  if (p.pid < 0) {
    if (!p.settled) {
      std::vector<Result> out;
      Result r;
      r.id = p.id;
      r.spawnErrno = p.spawnErrno;
      r.spawnCall = p.spawnCall;
      Settle(p, r, out);
      Deliver(out);
    }
    return;
  }
  const uint64_t base = reinterpret_cast<uint64_t>(&p);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = base | kRolePidfd;
  epoll_ctl(epollFd_, EPOLL_CTL_ADD, p.pidfd, &ev);
  if (p.settled) {
    // Its time passed (or it was stopped) while it was being started: end it now.
    CloseFd(p.pipes[0]);
    CloseFd(p.pipes[1]);
    SendKill(p, SIGTERM);
    p.killPending = true;
    p.killAt = now + p.grace;
    return;
  }
  for (int which = 0; which < 2; which++) {
    ev.events = EPOLLIN;
    ev.data.u64 = base | static_cast<uint64_t>(which);
    epoll_ctl(epollFd_, EPOLL_CTL_ADD, p.pipes[which], &ev);
  }
}

void Spawner::ReadPipe(Proc& p, int which) {
  if (p.pipes[which] < 0) return;
  char buf[16384];
  for (;;) {
    const ssize_t got = read(p.pipes[which], buf, sizeof buf);
    if (got > 0) {
      std::string& s = p.output[which];
      s.append(buf, static_cast<size_t>(got));
      if (s.size() > p.maxOutput) s.erase(0, s.size() - p.maxOutput);
      if (static_cast<size_t>(got) < sizeof buf) return;
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && errno == EAGAIN) return;
    ClosePipe(p, which);  // end of file, or an error that ends the stream alike
    return;
  }
}

void Spawner::ClosePipe(Proc& p, int which) {
  if (p.pipes[which] < 0) return;
  epoll_ctl(epollFd_, EPOLL_CTL_DEL, p.pipes[which], nullptr);
  CloseFd(p.pipes[which]);
}

void Spawner::OnPidfd(Proc& p, Clock::time_point now, std::vector<Result>& out) {
  epoll_ctl(epollFd_, EPOLL_CTL_DEL, p.pidfd, nullptr);
  p.exited = true;
  p.exitAt = now;
  if (p.ownGroup && p.killPending) return;  // reaped after the group's SIGKILL (see the loop)
  waitpid(p.pid, &p.status, WNOHANG);
  p.reaped = true;
  CloseFd(p.pidfd);
  if (!p.ownGroup) p.killPending = false;  // nothing left to kill
  if (!p.settled) {
    // Whatever is already in the pipes belongs to the result.
    ReadPipe(p, 0);
    ReadPipe(p, 1);
  }
}

void Spawner::SendKill(Proc& p, int sig) {
  if (p.pid < 0) return;
  if (p.ownGroup) {
    kill(-p.pid, sig);
  } else if (!p.reaped && p.pidfd >= 0) {
    PidfdSendSignal(p.pidfd, sig);
  }
}

void Spawner::Terminate(Proc& p, bool timedOut, Clock::time_point now, std::vector<Result>& out) {
  Result r;
  r.id = p.id;
  r.timedOut = timedOut;
  r.aborted = !timedOut;
  if (timedOut) timedOutTotal_++;
  bool queued = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (p.phase == Phase::kQueued) {
      p.phase = Phase::kCancelled;
      queued = true;
    }
  }
  if (queued) p.launchSeen = true;  // it will never start
  if (p.launchSeen && p.pid >= 0 && !p.reaped) {
    SendKill(p, SIGTERM);
    p.killPending = true;
    p.killAt = now + p.grace;
  }
  r.stdoutText = p.output[0];
  r.stderrText = p.output[1];
  ClosePipe(p, 0);
  ClosePipe(p, 1);
  Settle(p, r, out);
}

void Spawner::SettleExit(Proc& p, std::vector<Result>& out) {
  ClosePipe(p, 0);
  ClosePipe(p, 1);
  Result r;
  r.id = p.id;
  if (WIFEXITED(p.status)) r.code = WEXITSTATUS(p.status);
  else if (WIFSIGNALED(p.status)) r.signal = WTERMSIG(p.status);
  r.stdoutText = std::move(p.output[0]);
  r.stderrText = std::move(p.output[1]);
  Settle(p, r, out);
}

void Spawner::Settle(Proc& p, Result r, std::vector<Result>& out) {
  p.settled = true;
  r.file = p.file;
  r.durationMs = std::chrono::duration<double, std::milli>(Clock::now() - p.submitted).count();
  out.push_back(std::move(r));
}

void Spawner::Deliver(std::vector<Result>& out) {
  if (out.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!alive_) {
    out.clear();
    return;
  }
  for (auto& r : out) done_.push_back(std::move(r));
  out.clear();
  if (!callPending_) {
    callPending_ = true;
    tsfn_.NonBlockingCall();
  }
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "SIG" + std::to_string(sig);
}

void Spawner::CallJs(Napi::Env env, Napi::Function, Spawner* self, Batch*) {
  // env is null when Node drains the queue during teardown: nothing to deliver to.
  if (static_cast<napi_env>(env) == nullptr || self == nullptr) return;
  std::vector<Result> batch;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    batch.swap(self->done_);
    self->callPending_ = false;
  }
  for (Result& r : batch) {
    auto it = self->deferreds_.find(r.id);
    if (it == self->deferreds_.end()) continue;
    Napi::Promise::Deferred deferred = it->second;
    self->deferreds_.erase(it);
    Napi::HandleScope scope(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("code", r.code >= 0 ? Napi::Number::New(env, r.code) : env.Null());
    o.Set("signal", r.signal != 0 ? Napi::String::New(env, SignalName(r.signal)) : env.Null());
    o.Set("timedOut", Napi::Boolean::New(env, r.timedOut));
    o.Set("aborted", Napi::Boolean::New(env, r.aborted));
    o.Set("stdout", Napi::String::New(env, r.stdoutText));
    o.Set("stderr", Napi::String::New(env, r.stderrText));
    o.Set("durationMs", Napi::Number::New(env, r.durationMs));
    if (r.spawnErrno != 0) o.Set("spawnError", MakeSysError(env, r.spawnErrno, r.spawnCall, r.file).Value());
    deferred.Resolve(o);
  }
  if (self->deferreds_.empty()) self->tsfn_.Unref(env);
}

}  // namespace

Napi::Value CreateProcessSpawner(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Spawner> s = Spawner::Create(env);
  Napi::Object api = Napi::Object::New(env);
  api.Set("spawn", Napi::Function::New(env, [s](const Napi::CallbackInfo& ci) { return s->Spawn(ci); }, "spawn"));
  api.Set("stop", Napi::Function::New(env, [s](const Napi::CallbackInfo& ci) {
    if (ci.Length() < 1 || !ci[0].IsNumber()) throw Napi::TypeError::New(ci.Env(), "stop(id: number)");
    s->Stop(static_cast<uint64_t>(ci[0].As<Napi::Number>().Int64Value()));
    return ci.Env().Undefined();
  }, "stop"));
  api.Set("counters", Napi::Function::New(env, [s](const Napi::CallbackInfo& ci) { return s->Counters(ci.Env()); }, "counters"));
  return api;
}

}  // namespace vigil
