// blockDeviceInfo(path, timeoutMs, key): size (BLKGETSIZE64), logical sector size (BLKSSZGET)
// and read-only flag (BLKROGET) of a block device. open(2) of a dead disk can block in the
// kernel, so this runs through the same dedicated-thread probe mechanism as statWithTimeout.
#include "block_device.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdint>

#include "probe_args.h"
#include "probe_runner.h"
#include "sys_error.h"

namespace vigil {

namespace {

class BlockDeviceJob : public ProbeJob {
 public:
  using ProbeJob::ProbeJob;
  void Run() override {
    const int fd = open(Path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      Fail(errno, "open");
      return;
    }
    if (ioctl(fd, BLKGETSIZE64, &sizeBytes_) != 0) {
      Fail(errno, "ioctl(BLKGETSIZE64)");
    } else if (ioctl(fd, BLKSSZGET, &sectorSize_) != 0) {
      Fail(errno, "ioctl(BLKSSZGET)");
    } else if (ioctl(fd, BLKROGET, &readOnly_) != 0) {
      Fail(errno, "ioctl(BLKROGET)");
    }
    close(fd);
  }
  // Fixed name: failedSyscall_ is written by the probe thread and must not be read while it runs.
  const char* Syscall() const override { return "open"; }
  Napi::Value Result(Napi::Env env) override {
    if (err_ != 0) throw MakeSysError(env, err_, failedSyscall_, Path());
    Napi::Object out = Napi::Object::New(env);
    out.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(sizeBytes_)));
    out.Set("logicalSectorSize", Napi::Number::New(env, sectorSize_));
    out.Set("readOnly", Napi::Boolean::New(env, readOnly_ != 0));
    return out;
  }

 private:
  void Fail(int err, const char* syscall) {
    err_ = err;
    failedSyscall_ = syscall;
  }
  uint64_t sizeBytes_ = 0;
  int sectorSize_ = 0;
  int readOnly_ = 0;
  int err_ = 0;
  const char* failedSyscall_ = nullptr;
};

}  // namespace

Napi::Value BlockDeviceInfo(const Napi::CallbackInfo& info) {
  ProbeArgs args = ParseProbeArgs(info, "blockDeviceInfo");
  return ProbeHub::ForEnv(info.Env())
      ->Start(info.Env(), std::make_unique<BlockDeviceJob>(args.path), args.key, args.timeoutMs);
}

}  // namespace vigil
