// scsiCommand(path, cdb, direction, dataOut, dataInLength, timeoutMs, key): one SCSI command
// through the SG_IO ioctl on /dev/sgN or a SCSI block device (/dev/sdX), on a dedicated probe
// thread (probe_runner.h) with a time limit. A command to a LUN whose transport is gone (a frozen
// iSCSI target, a cut link) blocks in the kernel until the SCSI error handler gives up, which
// can be minutes; the caller's promise settles at its own deadline regardless.
//
// This file only moves bytes: the CDBs are built and the sense data decoded in TypeScript
// (src/platform/scsi/), where they are pure functions with unit tests. The kernel's own command
// timeout (sg_io_hdr.timeout) is set to the same limit so a stuck command is also aborted by the
// SCSI midlayer, not only abandoned by us.
//
// Result: { status, hostStatus, driverStatus, sense: Buffer, data: Buffer, residual, durationMs }.
// A failed open(2) or ioctl(2) (ENOTTY: the device does not take SG_IO, e.g. a loop device)
// rejects with the errno-carrying Error of sys_error.h.
#include "sg_io.h"

#include <errno.h>
#include <fcntl.h>
#include <scsi/sg.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "probe_runner.h"
#include "sys_error.h"

namespace vigil {

namespace {

constexpr size_t kMaxCdb = 16;
constexpr size_t kMaxTransfer = 16 * 1024 * 1024;
constexpr size_t kSenseBytes = 252;  // the largest sense SPC allows

enum class Direction { kNone, kIn, kOut };

class ScsiCommandJob : public ProbeJob {
 public:
  ScsiCommandJob(std::string path, std::vector<uint8_t> cdb, Direction direction, std::vector<uint8_t> data,
                 unsigned timeoutMs)
      : ProbeJob(std::move(path)), cdb_(std::move(cdb)), direction_(direction), data_(std::move(data)),
        timeoutMs_(timeoutMs) {}

  void Run() override {
    // O_NONBLOCK: an sg open must not wait for exclusive access; writes still complete in SG_IO.
    const int fd = open(Path().c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      Fail(errno, "open");
      return;
    }
    sg_io_hdr_t hdr;
    memset(&hdr, 0, sizeof hdr);
    hdr.interface_id = 'S';
    hdr.cmdp = cdb_.data();
    hdr.cmd_len = static_cast<unsigned char>(cdb_.size());
    hdr.sbp = sense_;
    hdr.mx_sb_len = sizeof sense_;
    hdr.timeout = timeoutMs_;
    hdr.dxfer_direction = direction_ == Direction::kIn    ? SG_DXFER_FROM_DEV
                          : direction_ == Direction::kOut ? SG_DXFER_TO_DEV
                                                          : SG_DXFER_NONE;
    if (!data_.empty()) {
      hdr.dxferp = data_.data();
      hdr.dxfer_len = static_cast<unsigned>(data_.size());
    }
    if (ioctl(fd, SG_IO, &hdr) != 0) {
      Fail(errno, "ioctl(SG_IO)");
    } else {
      status_ = hdr.status;
      hostStatus_ = hdr.host_status;
      driverStatus_ = hdr.driver_status;
      senseLength_ = hdr.sb_len_wr;
      residual_ = hdr.resid;
      durationMs_ = hdr.duration;
    }
    close(fd);
  }
  const char* Syscall() const override { return "ioctl(SG_IO)"; }
  Napi::Value Result(Napi::Env env) override {
    if (err_ != 0) throw MakeSysError(env, err_, failedSyscall_, Path());
    Napi::Object out = Napi::Object::New(env);
    out.Set("status", Napi::Number::New(env, status_));
    out.Set("hostStatus", Napi::Number::New(env, hostStatus_));
    out.Set("driverStatus", Napi::Number::New(env, driverStatus_));
    out.Set("sense", Napi::Buffer<uint8_t>::Copy(env, sense_, senseLength_));
    size_t got = 0;
    if (direction_ == Direction::kIn) {
      const int64_t n = static_cast<int64_t>(data_.size()) - residual_;
      got = n < 0 ? 0 : static_cast<size_t>(n);
    }
    out.Set("data", Napi::Buffer<uint8_t>::Copy(env, data_.data(), got));
    out.Set("residual", Napi::Number::New(env, residual_));
    out.Set("durationMs", Napi::Number::New(env, durationMs_));
    return out;
  }

 private:
  void Fail(int err, const char* syscall) {
    err_ = err;
    failedSyscall_ = syscall;
  }
  std::vector<uint8_t> cdb_;
  Direction direction_;
  std::vector<uint8_t> data_;
  unsigned timeoutMs_;
  uint8_t sense_[kSenseBytes] = {};
  unsigned senseLength_ = 0;
  int status_ = 0, hostStatus_ = 0, driverStatus_ = 0, residual_ = 0;
  unsigned durationMs_ = 0;
  int err_ = 0;
  const char* failedSyscall_ = nullptr;
};

}  // namespace

Napi::Value ScsiCommand(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage =
      "scsiCommand(path: string, cdb: Buffer, direction: 'none'|'in'|'out', dataOut: Buffer|null, "
      "dataInLength: number, timeoutMs: number, key: string)";
  if (info.Length() < 7 || !info[0].IsString() || !info[1].IsBuffer() || !info[2].IsString() ||
      !(info[3].IsBuffer() || info[3].IsNull() || info[3].IsUndefined()) || !info[4].IsNumber() ||
      !info[5].IsNumber() || !info[6].IsString()) {
    throw Napi::TypeError::New(env, usage);
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.empty() || path.find('\0') != std::string::npos) {
    throw Napi::TypeError::New(env, "scsiCommand: path must be a non-empty string without NUL bytes");
  }
  auto cdbBuf = info[1].As<Napi::Buffer<uint8_t>>();
  if (cdbBuf.Length() < 6 || cdbBuf.Length() > kMaxCdb) {
    throw Napi::RangeError::New(env, "scsiCommand: cdb must be 6 to 16 bytes");
  }
  const std::string dir = info[2].As<Napi::String>().Utf8Value();
  Direction direction;
  if (dir == "none") direction = Direction::kNone;
  else if (dir == "in") direction = Direction::kIn;
  else if (dir == "out") direction = Direction::kOut;
  else throw Napi::TypeError::New(env, "scsiCommand: direction must be 'none', 'in' or 'out'");

  std::vector<uint8_t> data;
  const double inLength = info[4].As<Napi::Number>().DoubleValue();
  if (direction == Direction::kOut) {
    if (!info[3].IsBuffer()) throw Napi::TypeError::New(env, "scsiCommand: direction 'out' needs a dataOut Buffer");
    auto out = info[3].As<Napi::Buffer<uint8_t>>();
    if (out.Length() == 0 || out.Length() > kMaxTransfer) {
      throw Napi::RangeError::New(env, "scsiCommand: dataOut must be 1 byte to 16 MiB");
    }
    data.assign(out.Data(), out.Data() + out.Length());
  } else if (direction == Direction::kIn) {
    if (!std::isfinite(inLength) || inLength < 1 || inLength > kMaxTransfer || std::floor(inLength) != inLength) {
      throw Napi::RangeError::New(env, "scsiCommand: dataInLength must be an integer from 1 to 16 MiB");
    }
    data.assign(static_cast<size_t>(inLength), 0);
  }
  const double timeoutMs = info[5].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(timeoutMs) || timeoutMs < 1 || timeoutMs > 86400000) {
    throw Napi::RangeError::New(env, "scsiCommand: timeoutMs must be between 1 and 86400000");
  }
  const std::string key = info[6].As<Napi::String>().Utf8Value();
  std::vector<uint8_t> cdb(cdbBuf.Data(), cdbBuf.Data() + cdbBuf.Length());
  return ProbeHub::ForEnv(env)->Start(
      env, std::make_unique<ScsiCommandJob>(path, std::move(cdb), direction, std::move(data), static_cast<unsigned>(timeoutMs)),
      key, timeoutMs);
}

}  // namespace vigil
