// lockFileExclusive(path): an exclusive flock(2) on `path` (created 0600 if missing) for as long
// as the returned descriptor stays open, with this process's pid written into the file so that
// a refused process can name the holder. The kernel drops the lock when the holder exits in any
// way (kill -9 included), so a crashed daemon never leaves a stale lock behind.
// unlockFile(fd) closes the descriptor, which releases the lock.
//
// Synchronous on purpose: it is taken once at start-up before anything else runs, and LOCK_NB
// never waits for another holder (the refusal is immediate, with EWOULDBLOCK).
#include "file_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <string>

#include "sys_error.h"

namespace vigil {

Napi::Value LockFileExclusive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "lockFileExclusive(path: string)");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.empty() || path.find('\0') != std::string::npos) {
    throw Napi::TypeError::New(env, "lockFileExclusive: path must name a file, without NUL bytes");
  }
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw MakeSysError(env, errno, "open", path);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    close(fd);
    throw MakeSysError(env, err, "flock", path);
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    close(fd);
    throw MakeSysError(env, err, "write", path);
  }
  return Napi::Number::New(env, fd);
}

Napi::Value UnlockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "unlockFile(fd: number)");
  const int fd = info[0].As<Napi::Number>().Int32Value();
  if (close(fd) != 0) throw MakeSysError(env, errno, "close", "");
  return env.Undefined();
}

}  // namespace vigil
