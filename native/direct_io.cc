// directRead(path, offset, length, timeoutMs, key) / directWrite(path, offset, data, timeoutMs, key):
// block I/O that bypasses the page cache (O_DIRECT) and, for writes, is durable on return
// (O_DSYNC: the device's write cache is flushed or the write is FUA). Used where SG_IO does not
// apply — a loop device, a virtio-blk disk — for the same records a SCSI LUN carries with
// READ(16)/WRITE(16) FUA. On a dedicated probe thread with a time limit, like every call that can
// block on a dead disk. Offset and length must be multiples of 512; the buffer is aligned here.
#include "direct_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include "probe_runner.h"
#include "sys_error.h"

namespace vigil {

namespace {

constexpr size_t kAlign = 4096;
constexpr size_t kMaxLength = 16 * 1024 * 1024;

struct FreeDeleter {
  void operator()(uint8_t* p) const { free(p); }
};

class DirectIoJob : public ProbeJob {
 public:
  DirectIoJob(std::string path, bool write, uint64_t offset, size_t length, const uint8_t* data)
      : ProbeJob(std::move(path)), write_(write), offset_(offset), length_(length) {
    void* p = nullptr;
    if (posix_memalign(&p, kAlign, length) != 0) throw std::bad_alloc();
    buf_.reset(static_cast<uint8_t*>(p));
    if (data != nullptr) memcpy(buf_.get(), data, length);
    else memset(buf_.get(), 0, length);
  }
  void Run() override {
    const int flags = (write_ ? (O_WRONLY | O_DSYNC) : O_RDONLY) | O_DIRECT | O_CLOEXEC;
    const int fd = open(Path().c_str(), flags);
    if (fd < 0) {
      Fail(errno, "open");
      return;
    }
    size_t done = 0;
    while (done < length_) {
      const ssize_t n = write_ ? pwrite(fd, buf_.get() + done, length_ - done, static_cast<off_t>(offset_ + done))
                               : pread(fd, buf_.get() + done, length_ - done, static_cast<off_t>(offset_ + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        Fail(errno, write_ ? "pwrite" : "pread");
        break;
      }
      if (n == 0) {
        Fail(write_ ? ENOSPC : EIO, write_ ? "pwrite" : "pread");  // past the end of the device
        break;
      }
      done += static_cast<size_t>(n);
    }
    close(fd);
  }
  const char* Syscall() const override { return write_ ? "pwrite" : "pread"; }
  Napi::Value Result(Napi::Env env) override {
    if (err_ != 0) throw MakeSysError(env, err_, failedSyscall_, Path());
    if (write_) return env.Undefined();
    return Napi::Buffer<uint8_t>::Copy(env, buf_.get(), length_);
  }

 private:
  void Fail(int err, const char* syscall) {
    err_ = err;
    failedSyscall_ = syscall;
  }
  bool write_;
  uint64_t offset_;
  size_t length_;
  std::unique_ptr<uint8_t, FreeDeleter> buf_;
  int err_ = 0;
  const char* failedSyscall_ = nullptr;
};

struct CommonArgs {
  std::string path;
  uint64_t offset;
  double timeoutMs;
  std::string key;
};

CommonArgs ParseCommon(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  const std::string usage = std::string(fn) + "(path: string, offset: number, lengthOrData, timeoutMs: number, key: string)";
  if (info.Length() < 5 || !info[0].IsString() || !info[1].IsNumber() || !info[3].IsNumber() || !info[4].IsString()) {
    throw Napi::TypeError::New(env, usage);
  }
  CommonArgs a{info[0].As<Napi::String>().Utf8Value(), 0, info[3].As<Napi::Number>().DoubleValue(),
               info[4].As<Napi::String>().Utf8Value()};
  if (a.path.empty() || a.path.find('\0') != std::string::npos) {
    throw Napi::TypeError::New(env, std::string(fn) + ": path must be a non-empty string without NUL bytes");
  }
  const double offset = info[1].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(offset) || offset < 0 || std::floor(offset) != offset || std::fmod(offset, 512) != 0 ||
      offset > 9007199254740991.0) {
    throw Napi::RangeError::New(env, std::string(fn) + ": offset must be a non-negative multiple of 512");
  }
  a.offset = static_cast<uint64_t>(offset);
  if (!std::isfinite(a.timeoutMs) || a.timeoutMs < 1 || a.timeoutMs > 86400000) {
    throw Napi::RangeError::New(env, std::string(fn) + ": timeoutMs must be between 1 and 86400000");
  }
  return a;
}

void CheckLength(Napi::Env env, double length, const char* fn) {
  if (!std::isfinite(length) || length < 512 || length > kMaxLength || std::fmod(length, 512) != 0) {
    throw Napi::RangeError::New(env, std::string(fn) + ": length must be a multiple of 512 from 512 bytes to 16 MiB");
  }
}

}  // namespace

Napi::Value DirectRead(const Napi::CallbackInfo& info) {
  CommonArgs a = ParseCommon(info, "directRead");
  if (!info[2].IsNumber()) throw Napi::TypeError::New(info.Env(), "directRead: length must be a number");
  const double length = info[2].As<Napi::Number>().DoubleValue();
  CheckLength(info.Env(), length, "directRead");
  return ProbeHub::ForEnv(info.Env())
      ->Start(info.Env(), std::make_unique<DirectIoJob>(a.path, false, a.offset, static_cast<size_t>(length), nullptr),
              a.key, a.timeoutMs);
}

Napi::Value DirectWrite(const Napi::CallbackInfo& info) {
  CommonArgs a = ParseCommon(info, "directWrite");
  if (!info[2].IsBuffer()) throw Napi::TypeError::New(info.Env(), "directWrite: data must be a Buffer");
  auto data = info[2].As<Napi::Buffer<uint8_t>>();
  CheckLength(info.Env(), static_cast<double>(data.Length()), "directWrite");
  return ProbeHub::ForEnv(info.Env())
      ->Start(info.Env(), std::make_unique<DirectIoJob>(a.path, true, a.offset, data.Length(), data.Data()), a.key,
              a.timeoutMs);
}

}  // namespace vigil
