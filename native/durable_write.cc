// writeFileDurable(path, data, mode, timeoutMs, key): crash-safe replacement of a small file
// (temp file, write, fsync, close, rename over the target, fsync the directory) that can never
// block the agent. Every one of those syscalls can wait for ever on a stalled disk or a dead
// NFS server, so the whole sequence runs on a probe thread (probe_runner.h) with a time limit.
//
// The time limit must not leave the caller guessing what is on disk. The rename is the commit
// point, and it is decided atomically against the deadline with one compare-exchange on
// `phase_`: either the job moves writing -> committing before the deadline thread parks it (the
// timeout error then says commitStarted: true — the new file is or will be in place, its
// durability not confirmed), or the deadline thread moves writing -> abandoned first, and the
// job, whenever the kernel lets it go, removes its temp file and never renames: a write that
// timed out before its commit point changes nothing under the target name.
//
// Every write has a temp file of its own, `.tmp-<basename>.<pid>.<sequence>` in the target's
// directory, created with O_EXCL: a write that timed out and is let go by the kernel later only
// ever touches its own file, never the temp file (or, once renamed, the target) of a newer write
// to the same target. A crashed writer's leftovers keep the `.tmp-<basename>.` prefix that
// src/lcd/temp-files.ts removeStaleTempFiles() cleans at start-up.
#include "durable_write.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
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

// Per process: with the pid in the name, unique among this host's writers.
std::atomic<unsigned long long> nextTempSequence{0};

std::string DirName(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

class DurableWriteJob : public CommitPointJob {
 public:
  DurableWriteJob(std::string path, std::vector<char> data, mode_t mode)
      : CommitPointJob(std::move(path),
                       "the rename had started: the new file is or will be in place, its durability is not confirmed",
                       "abandoned before the rename: the target is unchanged and the temp file is removed when the kernel answers"),
        data_(std::move(data)),
        mode_(mode),
        dir_(DirName(Path())),
        tmpPrefix_(dir_ + "/.tmp-" + BaseName(Path()) + "." + std::to_string(getpid()) + ".") {}

  void Run() override {
    if (!WriteTemp()) return;
    if (!EnterCommit()) {
      // The deadline won: the caller was told nothing changed, so nothing may change.
      RemoveTemp();
      return;
    }
    step_ = "rename";
    if (rename(tmp_.c_str(), Path().c_str()) != 0) {
      Fail(errno, "rename", tmp_);
      RemoveTemp();
      return;
    }
    renamed_ = true;
    // The rename is only durable once the directory entry is: fsync the directory itself.
    step_ = "open";
    const int dirFd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirFd < 0) return Fail(errno, "open", dir_);
    step_ = "fsync";
    if (fsync(dirFd) != 0) {
      Fail(errno, "fsync", dir_);
      close(dirFd);
      return;
    }
    step_ = "close";
    if (close(dirFd) != 0) Fail(errno, "close", dir_);
  }

  Napi::Value Result(Napi::Env env) override {
    if (err_ != 0) {
      Napi::Error error = MakeSysError(env, err_, errSyscall_, errPath_);
      // A failure after the rename (fsync of the directory) leaves the new file in place.
      error.Set("commitStarted", Napi::Boolean::New(env, renamed_));
      throw error;
    }
    return env.Undefined();
  }

 private:
  // Creates, fills, fsyncs and closes the temp file; false (with the error recorded, the temp
  // file removed) on failure or when the deadline has already abandoned the job.
  bool WriteTemp() {
    step_ = "open";
    const int fd = OpenUniqueTemp();
    if (fd < 0) {
      Fail(errno, "open", tmp_);
      return false;
    }
    auto bail = [&](int err, const char* syscall) {
      if (err != 0) Fail(err, syscall, tmp_);
      close(fd);
      RemoveTemp();
      return false;
    };
    // open(2) applies the umask; the caller asked for exactly this mode.
    step_ = "fchmod";
    if (fchmod(fd, mode_) != 0) return bail(errno, "fchmod");
    step_ = "write";
    if (const int err = WriteAll(fd, data_, true)) return bail(err < 0 ? 0 : err, "write");
    if (Abandoned()) return bail(0, "fsync");
    step_ = "fsync";
    if (fsync(fd) != 0) return bail(errno, "fsync");
    step_ = "close";
    if (close(fd) != 0) {
      Fail(errno, "close", tmp_);
      RemoveTemp();
      return false;
    }
    return true;
  }

  // Creates this write's own temp file (O_EXCL: never one that exists, e.g. left by an earlier
  // process with the same pid); -1 with errno set on failure, tmp_ naming the last name tried.
  int OpenUniqueTemp() {
    for (int attempt = 0; attempt < 1000; attempt++) {
      tmp_ = tmpPrefix_ + std::to_string(nextTempSequence.fetch_add(1));
      const int fd = open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_);
      if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;  // errno is EEXIST
  }

  void RemoveTemp() {
    step_ = "unlink";
    unlink(tmp_.c_str());
  }

  void Fail(int err, const char* syscall, const std::string& path) {
    err_ = err;
    errSyscall_ = syscall;
    errPath_ = path;
  }

  const std::vector<char> data_;
  const mode_t mode_;
  const std::string dir_;
  const std::string tmpPrefix_;
  // Chosen by OpenUniqueTemp() on the probe thread before anything else uses it.
  std::string tmp_;
  // Probe thread only until Run() returns; Result() reads them after completion.
  int err_ = 0;
  const char* errSyscall_ = "";
  std::string errPath_;
  bool renamed_ = false;
};

}  // namespace

Napi::Value WriteFileDurable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "writeFileDurable(path: string, data: Buffer, mode: number, timeoutMs: number, key: string)";
  if (info.Length() < 5 || !info[0].IsString() || !info[1].IsBuffer() || !info[2].IsNumber() || !info[3].IsNumber() ||
      !info[4].IsString()) {
    throw Napi::TypeError::New(env, usage);
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.empty() || path.find('\0') != std::string::npos || path.back() == '/') {
    throw Napi::TypeError::New(env, "writeFileDurable: path must name a file, without NUL bytes");
  }
  const double mode = info[2].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(mode) || mode < 0 || mode > 07777 || std::floor(mode) != mode) {
    throw Napi::RangeError::New(env, "writeFileDurable: mode must be an integer from 0 to 0o7777");
  }
  const double timeoutMs = info[3].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(timeoutMs) || timeoutMs < 1 || timeoutMs > 86400000) {
    throw Napi::RangeError::New(env, "writeFileDurable: timeoutMs must be between 1 and 86400000");
  }
  // Copied now: the Buffer belongs to JS and may change or be collected while the thread writes.
  Napi::Buffer<char> buffer = info[1].As<Napi::Buffer<char>>();
  std::vector<char> data(buffer.Data(), buffer.Data() + buffer.Length());
  return ProbeHub::ForEnv(env)->Start(
      env, std::make_unique<DurableWriteJob>(path, std::move(data), static_cast<mode_t>(mode)),
      info[4].As<Napi::String>().Utf8Value(), timeoutMs);
}

}  // namespace vigil
