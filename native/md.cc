// md (Linux software RAID) control through the kernel's own interfaces:
//  - ioctls on /dev/mdN (linux/raid/md_u.h): GET_ARRAY_INFO, GET_DISK_INFO, SET_DISK_FAULTY,
//    HOT_REMOVE_DISK, HOT_ADD_DISK, ADD_NEW_DISK (also the bitmap-based re-add of a member that
//    still carries the array's superblock), STOP_ARRAY, RUN_ARRAY;
//  - sysfs attributes under /sys/block/mdN/md/ (sync_action, sync_completed, degraded,
//    sync_speed, sync_speed_max, array_state, bitmap/*, dev-*/state), read and written whole;
//  - a watcher: md calls sysfs_notify() on array_state, degraded, sync_action, sync_completed,
//    dev-*/state ... so a dedicated thread poll()s those attributes (POLLPRI|POLLERR) and reports
//    each new value through a ThreadSafeFunction.
// Every ioctl and sysfs access runs on a probe thread with a time limit (probe_runner.h): md
// takes its reconfiguration mutex in most of these calls, and a member stuck on a dead network
// block device can hold that mutex for as long as the device's own time-out. The event loop
// never waits for md. Creating an array (writing the on-disk superblock and bitmap format) is not
// done here: that format is mdadm's contract with the kernel and is left to mdadm (see
// src/platform/linux/md-control.ts).
#include "md.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/major.h>  // MD_MAJOR, used by the md_u.h ioctl numbers
#include <linux/raid/md_p.h>
#include <linux/raid/md_u.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "probe_runner.h"
#include "sys_error.h"

namespace vigil {

namespace {

// Upper bound of GET_DISK_INFO slot numbers scanned (md's v1 superblocks hold up to 384 roles;
// a two-way mirror uses the first few).
constexpr int kMaxDiskSlots = 384;

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + what + " must be a string");
  }
  std::string s = info[i].As<Napi::String>().Utf8Value();
  if (s.empty() || s.find('\0') != std::string::npos) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + what + " must be non-empty without NUL bytes");
  }
  return s;
}

double NumberArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what, double min, double max) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + what + " must be a number");
  }
  const double n = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(n) || n < min || n > max || std::floor(n) != n) {
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": " + what + " out of range");
  }
  return n;
}

double TimeoutArg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  return NumberArg(info, i, fn, "timeoutMs", 1, 86400000);
}

// Only md's own sysfs directory is reachable through the sysfs calls.
void CheckMdSysfsPath(Napi::Env env, const std::string& path, const char* fn) {
  const std::string prefix = "/sys/block/md";
  if (path.compare(0, prefix.size(), prefix) != 0 || path.find("/md/") == std::string::npos ||
      path.find("..") != std::string::npos) {
    throw Napi::TypeError::New(env, std::string(fn) + ": path must be under /sys/block/mdN/md/");
  }
}

// The part every md job shares: an errno and the name of the call that failed.
class MdJob : public ProbeJob {
 public:
  MdJob(std::string path, const char* syscall) : ProbeJob(std::move(path)), syscall_(syscall) {}
  const char* Syscall() const override { return syscall_; }

 protected:
  void Fail(int err, const char* failed) {
    err_ = err;
    failed_ = failed;
  }
  void ThrowIfFailed(Napi::Env env) {
    if (err_ != 0) throw MakeSysError(env, err_, failed_, Path());
  }
  int OpenArray() {
    const int fd = open(Path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) Fail(errno, "open");
    return fd;
  }
  int err_ = 0;
  const char* failed_ = "";

 private:
  const char* syscall_;  // fixed: read by the deadline thread while Run() goes on
};

Napi::Object ArrayInfoObject(Napi::Env env, const mdu_array_info_t& a) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("majorVersion", a.major_version);
  o.Set("minorVersion", a.minor_version);
  o.Set("level", a.level);
  o.Set("sizeKiB", Napi::Number::New(env, static_cast<double>(static_cast<unsigned int>(a.size))));
  o.Set("nrDisks", a.nr_disks);
  o.Set("raidDisks", a.raid_disks);
  o.Set("mdMinor", a.md_minor);
  o.Set("notPersistent", a.not_persistent != 0);
  o.Set("state", a.state);
  o.Set("activeDisks", a.active_disks);
  o.Set("workingDisks", a.working_disks);
  o.Set("failedDisks", a.failed_disks);
  o.Set("spareDisks", a.spare_disks);
  return o;
}

class ArrayInfoJob : public MdJob {
 public:
  explicit ArrayInfoJob(std::string path) : MdJob(std::move(path), "ioctl(GET_ARRAY_INFO)") {}
  void Run() override {
    const int fd = OpenArray();
    if (fd < 0) return;
    if (ioctl(fd, GET_ARRAY_INFO, &info_) != 0) Fail(errno, "ioctl(GET_ARRAY_INFO)");
    close(fd);
  }
  Napi::Value Result(Napi::Env env) override {
    ThrowIfFailed(env);
    return ArrayInfoObject(env, info_);
  }

 private:
  mdu_array_info_t info_{};
};

class MembersJob : public MdJob {
 public:
  explicit MembersJob(std::string path) : MdJob(std::move(path), "ioctl(GET_DISK_INFO)") {}
  void Run() override {
    const int fd = OpenArray();
    if (fd < 0) return;
    mdu_array_info_t array{};
    if (ioctl(fd, GET_ARRAY_INFO, &array) != 0) {
      Fail(errno, "ioctl(GET_ARRAY_INFO)");
      close(fd);
      return;
    }
    // nr_disks counts the devices bound to the array; slots can have holes (a removed member).
    for (int number = 0; number < kMaxDiskSlots && static_cast<int>(disks_.size()) < array.nr_disks; number++) {
      mdu_disk_info_t disk{};
      disk.number = number;
      if (ioctl(fd, GET_DISK_INFO, &disk) != 0) {
        Fail(errno, "ioctl(GET_DISK_INFO)");
        break;
      }
      if (disk.major != 0 || disk.minor != 0) disks_.push_back(disk);
    }
    close(fd);
  }
  Napi::Value Result(Napi::Env env) override {
    ThrowIfFailed(env);
    Napi::Array out = Napi::Array::New(env, disks_.size());
    for (size_t i = 0; i < disks_.size(); i++) {
      const mdu_disk_info_t& d = disks_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("number", d.number);
      o.Set("major", d.major);
      o.Set("minor", d.minor);
      o.Set("raidDisk", d.raid_disk);
      o.Set("state", d.state);
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

 private:
  std::vector<mdu_disk_info_t> disks_;
};

struct ControlOp {
  const char* name;
  unsigned long request;
  const char* syscall;
  bool takesDevice;
};

const ControlOp kControlOps[] = {
    {"setFaulty", SET_DISK_FAULTY, "ioctl(SET_DISK_FAULTY)", true},
    {"hotRemove", HOT_REMOVE_DISK, "ioctl(HOT_REMOVE_DISK)", true},
    {"hotAdd", HOT_ADD_DISK, "ioctl(HOT_ADD_DISK)", true},
    {"stop", STOP_ARRAY, "ioctl(STOP_ARRAY)", false},
    {"run", RUN_ARRAY, "ioctl(RUN_ARRAY)", false},
};

class ControlJob : public MdJob {
 public:
  ControlJob(std::string path, const ControlOp& op, unsigned int major, unsigned int minor)
      : MdJob(std::move(path), op.syscall), op_(op), major_(major), minor_(minor) {}
  void Run() override {
    const int fd = OpenArray();
    if (fd < 0) return;
    // The md driver decodes the device argument with new_decode_dev(), i.e. makedev()'s layout.
    const unsigned long arg = op_.takesDevice ? static_cast<unsigned long>(makedev(major_, minor_)) : 0;
    if (ioctl(fd, op_.request, arg) != 0) Fail(errno, op_.syscall);
    close(fd);
  }
  Napi::Value Result(Napi::Env env) override {
    ThrowIfFailed(env);
    return env.Undefined();
  }

 private:
  const ControlOp& op_;
  unsigned int major_, minor_;
};

class AddDiskJob : public MdJob {
 public:
  AddDiskJob(std::string path, const mdu_disk_info_t& disk) : MdJob(std::move(path), "ioctl(ADD_NEW_DISK)"), disk_(disk) {}
  void Run() override {
    const int fd = OpenArray();
    if (fd < 0) return;
    if (ioctl(fd, ADD_NEW_DISK, &disk_) != 0) Fail(errno, "ioctl(ADD_NEW_DISK)");
    close(fd);
  }
  Napi::Value Result(Napi::Env env) override {
    ThrowIfFailed(env);
    return env.Undefined();
  }

 private:
  mdu_disk_info_t disk_;
};

class SysfsReadJob : public MdJob {
 public:
  explicit SysfsReadJob(std::string path) : MdJob(std::move(path), "read") {}
  void Run() override {
    const int fd = open(Path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      Fail(errno, "open");
      return;
    }
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      Fail(errno, "read");
    } else {
      value_.assign(buf, static_cast<size_t>(n));
    }
    close(fd);
  }
  Napi::Value Result(Napi::Env env) override {
    ThrowIfFailed(env);
    return Napi::String::New(env, value_);
  }

 private:
  std::string value_;
};

class SysfsWriteJob : public MdJob {
 public:
  SysfsWriteJob(std::string path, std::string value) : MdJob(std::move(path), "write"), value_(std::move(value)) {}
  void Run() override {
    const int fd = open(Path().c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      Fail(errno, "open");
      return;
    }
    // A sysfs store gets the whole value in one write(); a short write is the kernel's refusal.
    const ssize_t n = write(fd, value_.data(), value_.size());
    if (n < 0) {
      Fail(errno, "write");
    } else if (static_cast<size_t>(n) != value_.size()) {
      Fail(EIO, "write");
    }
    close(fd);
  }
  Napi::Value Result(Napi::Env env) override {
    ThrowIfFailed(env);
    return env.Undefined();
  }

 private:
  std::string value_;
};

Napi::Value Start(const Napi::CallbackInfo& info, std::unique_ptr<ProbeJob> job, double timeoutMs) {
  const std::string key = job->Path();
  return ProbeHub::ForEnv(info.Env())->Start(info.Env(), std::move(job), key, timeoutMs);
}

// ---- the watcher --------------------------------------------------------------------------

struct WatchEvent {
  std::string path;
  std::string value;
  int err = 0;  // non-zero: the attribute could not be (re-)read; value is empty
};

struct WatchState;
void WatchCallJs(Napi::Env env, Napi::Function callback, std::nullptr_t*, WatchEvent* event);
using WatchTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, WatchEvent, WatchCallJs>;

void WatchCallJs(Napi::Env env, Napi::Function callback, std::nullptr_t*, WatchEvent* event) {
  std::unique_ptr<WatchEvent> owned(event);
  if (static_cast<napi_env>(env) == nullptr || callback.IsEmpty()) return;
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", owned->path);
  if (owned->err != 0) {
    o.Set("code", ErrnoName(owned->err));
    o.Set("errno", owned->err);
  } else {
    o.Set("value", owned->value);
  }
  callback.Call({o});
}

// Shared by the watcher thread and the close() function; the last owner closes the descriptors,
// so close() can never write to a descriptor number the thread already gave back.
struct WatchState {
  std::vector<std::string> paths;
  std::vector<int> fds;
  int wakeFd = -1;
  WatchTsfn tsfn;
  std::atomic<bool> closed{false};
  ~WatchState() {
    for (int fd : fds) close(fd);
    if (wakeFd >= 0) close(wakeFd);
  }
};

// Reads an attribute from the start: reading is also what re-arms sysfs_notify() for poll().
int ReadAttribute(int fd, std::string& out) {
  char buf[4096];
  if (lseek(fd, 0, SEEK_SET) < 0) return errno;
  const ssize_t n = read(fd, buf, sizeof buf);
  if (n < 0) return errno;
  out.assign(buf, static_cast<size_t>(n));
  return 0;
}

void WatchLoop(std::shared_ptr<WatchState> state) {
  std::vector<pollfd> pfds;
  for (int fd : state->fds) pfds.push_back({fd, POLLPRI | POLLERR, 0});
  pfds.push_back({state->wakeFd, POLLIN, 0});
  // The first value of each attribute is reported too, so the listener starts from a known state.
  std::vector<bool> ready(state->fds.size(), true);
  while (!state->closed.load()) {
    for (size_t i = 0; i < state->fds.size(); i++) {
      if (!ready[i]) continue;
      ready[i] = false;
      auto* event = new WatchEvent{state->paths[i], "", 0};
      event->err = ReadAttribute(state->fds[i], event->value);
      if (state->tsfn.NonBlockingCall(event) != napi_ok) delete event;
    }
    const int n = poll(pfds.data(), pfds.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfds.back().revents != 0) break;
    for (size_t i = 0; i < state->fds.size(); i++) {
      if (pfds[i].revents != 0) ready[i] = true;
    }
  }
  state->tsfn.Release();
}

}  // namespace

Napi::Value MdArrayInfo(const Napi::CallbackInfo& info) {
  std::string md = StringArg(info, 0, "mdArrayInfo", "md device");
  return Start(info, std::make_unique<ArrayInfoJob>(md), TimeoutArg(info, 1, "mdArrayInfo"));
}

Napi::Value MdMembers(const Napi::CallbackInfo& info) {
  std::string md = StringArg(info, 0, "mdMembers", "md device");
  return Start(info, std::make_unique<MembersJob>(md), TimeoutArg(info, 1, "mdMembers"));
}

// mdControl(md, op, major, minor, timeoutMs)
Napi::Value MdControl(const Napi::CallbackInfo& info) {
  std::string md = StringArg(info, 0, "mdControl", "md device");
  std::string opName = StringArg(info, 1, "mdControl", "op");
  const ControlOp* op = nullptr;
  for (const ControlOp& candidate : kControlOps) {
    if (opName == candidate.name) op = &candidate;
  }
  if (op == nullptr) throw Napi::TypeError::New(info.Env(), "mdControl: unknown op '" + opName + "'");
  const auto major = static_cast<unsigned int>(NumberArg(info, 2, "mdControl", "major", 0, 4095));
  const auto minor = static_cast<unsigned int>(NumberArg(info, 3, "mdControl", "minor", 0, 1048575));
  return Start(info, std::make_unique<ControlJob>(md, *op, major, minor), TimeoutArg(info, 4, "mdControl"));
}

// mdAddDisk(md, { major, minor, number, raidDisk, state }, timeoutMs)
Napi::Value MdAddDisk(const Napi::CallbackInfo& info) {
  std::string md = StringArg(info, 0, "mdAddDisk", "md device");
  if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(info.Env(), "mdAddDisk: disk must be an object");
  Napi::Object o = info[1].As<Napi::Object>();
  auto field = [&](const char* name, double min, double max) {
    Napi::Value v = o.Get(name);
    const double n = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(n) || n < min || n > max || std::floor(n) != n) {
      throw Napi::RangeError::New(info.Env(), std::string("mdAddDisk: ") + name + " missing or out of range");
    }
    return static_cast<int>(n);
  };
  mdu_disk_info_t disk{};
  disk.major = field("major", 0, 4095);
  disk.minor = field("minor", 0, 1048575);
  disk.number = field("number", 0, kMaxDiskSlots);
  disk.raid_disk = field("raidDisk", -1, kMaxDiskSlots);
  disk.state = field("state", 0, 1 << 30);
  return Start(info, std::make_unique<AddDiskJob>(md, disk), TimeoutArg(info, 2, "mdAddDisk"));
}

Napi::Value MdSysfsRead(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "mdSysfsRead", "path");
  CheckMdSysfsPath(info.Env(), path, "mdSysfsRead");
  return Start(info, std::make_unique<SysfsReadJob>(path), TimeoutArg(info, 1, "mdSysfsRead"));
}

Napi::Value MdSysfsWrite(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "mdSysfsWrite", "path");
  CheckMdSysfsPath(info.Env(), path, "mdSysfsWrite");
  if (info.Length() < 2 || !info[1].IsString()) throw Napi::TypeError::New(info.Env(), "mdSysfsWrite: value must be a string");
  std::string value = info[1].As<Napi::String>().Utf8Value();
  return Start(info, std::make_unique<SysfsWriteJob>(path, value), TimeoutArg(info, 2, "mdSysfsWrite"));
}

// mdWatch(paths, onEvent) -> close(): starts the watcher thread; each event is
// { path, value } or { path, code, errno }. Opening the attributes happens here, on the JS
// thread: opening a sysfs attribute does not wait for md (only reading some of them would).
Napi::Value MdWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "mdWatch(paths: string[], onEvent: function)");
  }
  Napi::Array list = info[0].As<Napi::Array>();
  if (list.Length() == 0 || list.Length() > 64) throw Napi::RangeError::New(env, "mdWatch: 1 to 64 paths");
  auto state = std::make_shared<WatchState>();  // closes whatever was opened if we throw
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(env, "mdWatch: paths must be strings");
    std::string path = v.As<Napi::String>().Utf8Value();
    CheckMdSysfsPath(env, path, "mdWatch");
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw MakeSysError(env, errno, "open", path);
    state->paths.push_back(path);
    state->fds.push_back(fd);
  }
  state->wakeFd = eventfd(0, EFD_CLOEXEC);
  if (state->wakeFd < 0) throw MakeSysError(env, errno, "eventfd", "");
  state->tsfn = WatchTsfn::New(env, info[1].As<Napi::Function>(), "vigil.mdWatch", 0, 1);
  // Threads started here never take process-directed signals (see probe_runner.cc).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    std::thread(WatchLoop, state).detach();
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    state->tsfn.Release();
    throw MakeSysError(env, e.code().value(), "pthread_create", "");
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return Napi::Function::New(env, [state](const Napi::CallbackInfo& ci) {
    // Idempotent; the thread closes the descriptors and releases the TSFN on its way out.
    if (!state->closed.exchange(true)) {
      const uint64_t one = 1;
      if (write(state->wakeFd, &one, sizeof one) < 0) {
        // eventfd writes only fail on overflow, which one write cannot cause.
      }
    }
    return ci.Env().Undefined();
  }, "close");
}

}  // namespace vigil
