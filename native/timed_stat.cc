// statWithTimeout(path, timeoutMs, key): stat(2) that can never block the agent.
//
// This is the old "alarm-interrupted stat" made safe for a modern kernel. SIGALRM alone is not
// enough: an NFS (or FUSE) request waits in TASK_KILLABLE on current kernels, so only a fatal
// signal ends the wait and an alarm just stays pending; and in a multithreaded process like
// Node a process-directed signal goes to whichever thread does not block it, so we cannot even
// choose which thread it lands on. Nor can it run on libuv's pool (4 threads shared by all of
// fs.*): a few hung probes there would freeze every file operation of the process. So each
// probe gets its own thread (probe_runner.h), the promise is rejected at the deadline, and the
// thread is parked until the kernel lets it go.
#include "timed_stat.h"

#include <errno.h>
#include <sys/stat.h>

#include "probe_args.h"
#include "probe_runner.h"
#include "sys_error.h"

namespace vigil {

namespace {

double TimespecMs(const struct timespec& ts) {
  return static_cast<double>(ts.tv_sec) * 1000.0 + static_cast<double>(ts.tv_nsec) / 1e6;
}

class StatJob : public ProbeJob {
 public:
  using ProbeJob::ProbeJob;
  void Run() override {
    if (stat(Path().c_str(), &st_) != 0) err_ = errno;
  }
  const char* Syscall() const override { return "stat"; }
  Napi::Value Result(Napi::Env env) override {
    if (err_ != 0) throw MakeSysError(env, err_, "stat", Path());
    Napi::Object out = Napi::Object::New(env);
    auto set = [&](const char* name, double value) { out.Set(name, Napi::Number::New(env, value)); };
    set("dev", static_cast<double>(st_.st_dev));
    set("ino", static_cast<double>(st_.st_ino));
    set("mode", st_.st_mode);
    set("nlink", static_cast<double>(st_.st_nlink));
    set("uid", st_.st_uid);
    set("gid", st_.st_gid);
    set("rdev", static_cast<double>(st_.st_rdev));
    set("size", static_cast<double>(st_.st_size));
    set("blksize", static_cast<double>(st_.st_blksize));
    set("blocks", static_cast<double>(st_.st_blocks));
    set("atimeMs", TimespecMs(st_.st_atim));
    set("mtimeMs", TimespecMs(st_.st_mtim));
    set("ctimeMs", TimespecMs(st_.st_ctim));
    return out;
  }

 private:
  struct stat st_ {};
  int err_ = 0;
};

}  // namespace

Napi::Value StatWithTimeout(const Napi::CallbackInfo& info) {
  ProbeArgs args = ParseProbeArgs(info, "statWithTimeout");
  return ProbeHub::ForEnv(info.Env())
      ->Start(info.Env(), std::make_unique<StatJob>(args.path), args.key, args.timeoutMs);
}

}  // namespace vigil
