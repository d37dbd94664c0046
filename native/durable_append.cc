// appendFileDurable(path, data, timeoutMs, key): appends `data` to an existing file and makes it
// durable (open O_APPEND, write, fdatasync, close) on a probe thread (probe_runner.h) with a time
// limit, so a stalled disk holds that thread, never the event loop. It is the write path of the
// LCD's journal: one small record per configuration change instead of the whole database.
//
// The file must exist (it is created, durably, by a whole-file write): an append never creates
// a directory entry, so it needs no directory fsync.
//
// The first write(2) is the commit point, decided atomically against the deadline like the
// rename of durable_write.cc: either the job moves writing -> committing before the deadline
// thread parks it (the timeout error says commitStarted: true — the record may be in the file,
// whole or cut short, its durability not confirmed), or the deadline moves writing -> abandoned
// first and the job, whenever the kernel lets it go, writes nothing. An append that failed with
// an errno after its first write also says commitStarted: true. Either way the caller must not
// append after a record whose end is uncertain (the LCD rewrites its journal instead).
#include "durable_append.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include "commit_point_job.h"
#include "probe_runner.h"
#include "sys_error.h"

namespace vigil {

namespace {

class DurableAppendJob : public CommitPointJob {
 public:
  DurableAppendJob(std::string path, std::vector<char> data)
      : CommitPointJob(std::move(path),
                       "the append had started: the record may be in the file, whole or cut short, its durability is not confirmed",
                       "abandoned before the append: the file is unchanged and nothing is appended when the kernel answers"),
        data_(std::move(data)) {}

  void Run() override {
    step_ = "open";
    const int fd = open(Path().c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return Fail(errno, "open");
    if (!EnterCommit()) {
      // The deadline won: the caller was told nothing changed, so nothing may be appended.
      close(fd);
      return;
    }
    committed_ = true;
    step_ = "write";
    if (const int err = WriteAll(fd, data_, false)) {
      Fail(err, "write");
      close(fd);
      return;
    }
    step_ = "fdatasync";
    if (fdatasync(fd) != 0) {
      Fail(errno, "fdatasync");
      close(fd);
      return;
    }
    step_ = "close";
    if (close(fd) != 0) Fail(errno, "close");
  }

  Napi::Value Result(Napi::Env env) override {
    if (err_ != 0) {
      Napi::Error error = MakeSysError(env, err_, errSyscall_, Path());
      error.Set("commitStarted", Napi::Boolean::New(env, committed_));
      throw error;
    }
    return env.Undefined();
  }

 private:
  void Fail(int err, const char* syscall) {
    err_ = err;
    errSyscall_ = syscall;
  }

  const std::vector<char> data_;
  // Probe thread only until Run() returns; Result() reads them after completion.
  bool committed_ = false;
  int err_ = 0;
  const char* errSyscall_ = "";
};

}  // namespace

Napi::Value AppendFileDurable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "appendFileDurable(path: string, data: Buffer, timeoutMs: number, key: string)";
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsBuffer() || !info[2].IsNumber() || !info[3].IsString()) {
    throw Napi::TypeError::New(env, usage);
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.empty() || path.find('\0') != std::string::npos || path.back() == '/') {
    throw Napi::TypeError::New(env, "appendFileDurable: path must name a file, without NUL bytes");
  }
  const double timeoutMs = info[2].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(timeoutMs) || timeoutMs < 1 || timeoutMs > 86400000) {
    throw Napi::RangeError::New(env, "appendFileDurable: timeoutMs must be between 1 and 86400000");
  }
  // Copied now: the Buffer belongs to JS and may change or be collected while the thread writes.
  Napi::Buffer<char> buffer = info[1].As<Napi::Buffer<char>>();
  std::vector<char> data(buffer.Data(), buffer.Data() + buffer.Length());
  return ProbeHub::ForEnv(env)->Start(env, std::make_unique<DurableAppendJob>(path, std::move(data)),
                                      info[3].As<Napi::String>().Utf8Value(), timeoutMs);
}

}  // namespace vigil
