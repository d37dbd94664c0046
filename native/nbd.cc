// NBD client devices: hands a connected, already negotiated TCP socket to /dev/nbdN, takes it
// away again, asks whether a device is connected, gives a device whose connection died a new one
// — through the kernel's generic-netlink "nbd" family (NBD_CMD_CONNECT / NBD_CMD_DISCONNECT /
// NBD_CMD_STATUS / NBD_CMD_RECONFIGURE), not the older ioctls — and listens to the family's
// multicast group for NBD_CMD_LINK_DEAD, which the kernel sends when a device's connection dies
// (with a dead-connection time-out the device then holds its requests until it is reconfigured
// with a new socket, disconnected, or the time-out passes).
//
// Why netlink and not NBD_SET_SOCK + the blocking NBD_DO_IT:
//  - With the ioctls the device lives exactly as long as a thread sitting in NBD_DO_IT: the
//    agent would keep one blocked thread per device for the device's whole life, and a restart
//    of the agent (upgrade, crash) would tear the mirror's second member away under md. With
//    netlink the kernel takes its own reference to the socket and the device stays connected
//    on its own; the agent only makes short calls.
//  - Only netlink carries the dead-connection time-out (NBD_ATTR_DEAD_CONN_TIMEOUT) and a
//    status query; the I/O time-out (NBD_ATTR_TIMEOUT) makes I/O on a vanished server fail with
//    EIO after that many seconds instead of waiting for TCP to give up, so md fails the member
//    and the primary carries on degraded.
// Each call is short, but still runs on a probe thread with a time limit: NBD_CMD_DISCONNECT
// sends NBD_CMD_DISC on the socket, and with a cut link and a full send buffer that send can
// wait in the kernel; the agent must not.
// The caller keeps its own descriptor of the socket and should close it after a successful
// connect (the kernel holds its own reference); nothing here changes the socket's flags.
#include "nbd.h"

#include <errno.h>
#include <linux/genetlink.h>
#include <linux/nbd-netlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "probe_runner.h"
#include "sys_error.h"

namespace vigil {

namespace {

// A growing netlink message with attribute nesting.
class NlMessage {
 public:
  NlMessage(uint16_t type, uint8_t cmd) {
    buf_.resize(NLMSG_HDRLEN + GENL_HDRLEN);
    auto* nlh = reinterpret_cast<nlmsghdr*>(buf_.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = 1;
    auto* genl = reinterpret_cast<genlmsghdr*>(buf_.data() + NLMSG_HDRLEN);
    genl->cmd = cmd;
    genl->version = NBD_GENL_VERSION;
  }
  void Put(uint16_t type, const void* data, size_t len) {
    const size_t at = buf_.size();
    buf_.resize(at + NLA_ALIGN(NLA_HDRLEN + len), 0);
    auto* nla = reinterpret_cast<nlattr*>(buf_.data() + at);
    nla->nla_type = type;
    nla->nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
    if (len > 0) memcpy(buf_.data() + at + NLA_HDRLEN, data, len);
  }
  void PutU32(uint16_t type, uint32_t v) { Put(type, &v, sizeof v); }
  void PutU64(uint16_t type, uint64_t v) { Put(type, &v, sizeof v); }
  void PutString(uint16_t type, const std::string& s) { Put(type, s.c_str(), s.size() + 1); }
  size_t BeginNest(uint16_t type) {
    const size_t at = buf_.size();
    Put(type | NLA_F_NESTED, nullptr, 0);
    return at;
  }
  void EndNest(size_t at) { reinterpret_cast<nlattr*>(buf_.data() + at)->nla_len = static_cast<uint16_t>(buf_.size() - at); }
  std::vector<char>& Finish() {
    reinterpret_cast<nlmsghdr*>(buf_.data())->nlmsg_len = static_cast<uint32_t>(buf_.size());
    return buf_;
  }

 private:
  std::vector<char> buf_;
};

// Calls fn(type, payload, len) for each attribute in [data, data+len).
template <typename Fn>
void ForEachAttr(const char* data, size_t len, Fn fn) {
  while (len >= NLA_HDRLEN) {
    const auto* nla = reinterpret_cast<const nlattr*>(data);
    if (nla->nla_len < NLA_HDRLEN || nla->nla_len > len) return;
    fn(static_cast<uint16_t>(nla->nla_type & NLA_TYPE_MASK), data + NLA_HDRLEN, nla->nla_len - NLA_HDRLEN);
    const size_t step = NLA_ALIGN(nla->nla_len);
    if (step >= len) return;
    data += step;
    len -= step;
  }
}

// One request/answer exchange on a fresh generic-netlink socket. Returns 0 or an errno; every
// non-ack answer's genl payload is passed to onReply.
template <typename Fn>
int Exchange(std::vector<char>& request, Fn onReply) {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  if (fd < 0) return errno;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    const int err = errno;
    close(fd);
    return err;
  }
  std::vector<char> buf(32768);
  int result = -1;
  while (result < 0) {
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      result = errno;
      break;
    }
    size_t left = static_cast<size_t>(n);
    for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nlh, left); nlh = NLMSG_NEXT(nlh, left)) {
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        result = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(nlh))->error;  // 0 is the ack
        break;
      }
      if (nlh->nlmsg_type == NLMSG_DONE) {
        result = 0;
        break;
      }
      const char* payload = static_cast<const char*>(NLMSG_DATA(nlh)) + GENL_HDRLEN;
      const size_t plen = nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
      onReply(payload, plen);
    }
  }
  close(fd);
  return result;
}

// The dynamic id of the "nbd" family and of its multicast group ("nbd_mc_group"); ENOENT when
// the nbd module is not loaded.
int ResolveFamily(uint16_t& id, uint32_t* mcastGroup = nullptr) {
  NlMessage msg(GENL_ID_CTRL, CTRL_CMD_GETFAMILY);
  msg.PutString(CTRL_ATTR_FAMILY_NAME, NBD_GENL_FAMILY_NAME);
  id = 0;
  if (mcastGroup != nullptr) *mcastGroup = 0;
  const int err = Exchange(msg.Finish(), [&](const char* p, size_t len) {
    ForEachAttr(p, len, [&](uint16_t type, const char* v, size_t vlen) {
      if (type == CTRL_ATTR_FAMILY_ID) memcpy(&id, v, sizeof id);
      if (type != CTRL_ATTR_MCAST_GROUPS || mcastGroup == nullptr) return;
      ForEachAttr(v, vlen, [&](uint16_t, const char* g, size_t glen) {
        std::string name;
        uint32_t gid = 0;
        ForEachAttr(g, glen, [&](uint16_t t, const char* gv, size_t gvlen) {
          if (t == CTRL_ATTR_MCAST_GRP_NAME && gvlen > 0) name.assign(gv, strnlen(gv, gvlen));
          if (t == CTRL_ATTR_MCAST_GRP_ID && gvlen >= 4) memcpy(&gid, gv, 4);
        });
        if (name == NBD_GENL_MCAST_GROUP_NAME) *mcastGroup = gid;
      });
    });
  });
  if (err == 0 && id == 0) return ENOENT;
  if (err == 0 && mcastGroup != nullptr && *mcastGroup == 0) return ENOENT;
  return err;
}

struct ConnectSpec {
  int index;  // -1: let the kernel pick a free device
  int fd;
  uint64_t sizeBytes;
  uint64_t blockSize;
  uint64_t timeoutSec;
  uint64_t deadConnTimeoutSec;
  uint64_t serverFlags;
  std::string backend;
};

class NbdJob : public ProbeJob {
 public:
  NbdJob(std::string path, const char* syscall) : ProbeJob(std::move(path)), syscall_(syscall) {}
  const char* Syscall() const override { return syscall_; }

 protected:
  // Resolves the family, then sends; failures name the netlink command that failed.
  int Send(NlMessage& msg, const char* what, const std::function<void(const char*, size_t)>& onReply) {
    uint16_t family = 0;
    int err = ResolveFamily(family);
    if (err != 0) {
      failed_ = "genl(CTRL_CMD_GETFAMILY nbd)";
      return err;
    }
    std::vector<char>& bytes = msg.Finish();
    reinterpret_cast<nlmsghdr*>(bytes.data())->nlmsg_type = family;
    err = Exchange(bytes, onReply);
    if (err != 0) failed_ = what;
    return err;
  }
  void ThrowIfFailed(Napi::Env env) {
    if (err_ != 0) throw MakeSysError(env, err_, failed_, Path());
  }
  int err_ = 0;
  const char* failed_ = "";

 private:
  const char* syscall_;
};

class ConnectJob : public NbdJob {
 public:
  ConnectJob(std::string path, ConnectSpec spec) : NbdJob(std::move(path), "genl(NBD_CMD_CONNECT)"), spec_(std::move(spec)) {}
  void Run() override {
    NlMessage msg(0, NBD_CMD_CONNECT);
    if (spec_.index >= 0) msg.PutU32(NBD_ATTR_INDEX, static_cast<uint32_t>(spec_.index));
    msg.PutU64(NBD_ATTR_SIZE_BYTES, spec_.sizeBytes);
    msg.PutU64(NBD_ATTR_BLOCK_SIZE_BYTES, spec_.blockSize);
    msg.PutU64(NBD_ATTR_TIMEOUT, spec_.timeoutSec);
    msg.PutU64(NBD_ATTR_DEAD_CONN_TIMEOUT, spec_.deadConnTimeoutSec);
    msg.PutU64(NBD_ATTR_SERVER_FLAGS, spec_.serverFlags);
    // No client flags: the device must outlive this process (no DISCONNECT_ON_CLOSE) and the
    // numbered device must stay (no DESTROY_ON_DISCONNECT).
    msg.PutU64(NBD_ATTR_CLIENT_FLAGS, 0);
    if (!spec_.backend.empty()) msg.PutString(NBD_ATTR_BACKEND_IDENTIFIER, spec_.backend);
    const size_t socks = msg.BeginNest(NBD_ATTR_SOCKETS);
    const size_t item = msg.BeginNest(NBD_SOCK_ITEM);
    msg.PutU32(NBD_SOCK_FD, static_cast<uint32_t>(spec_.fd));
    msg.EndNest(item);
    msg.EndNest(socks);
    err_ = Send(msg, "genl(NBD_CMD_CONNECT)", [&](const char* p, size_t len) {
      ForEachAttr(p, len, [&](uint16_t type, const char* v, size_t vlen) {
        if (type == NBD_ATTR_INDEX && vlen >= 4) memcpy(&index_, v, sizeof index_);
      });
    });
  }
  Napi::Value Result(Napi::Env env) override {
    ThrowIfFailed(env);
    Napi::Object out = Napi::Object::New(env);
    out.Set("index", Napi::Number::New(env, spec_.index >= 0 ? spec_.index : static_cast<double>(index_)));
    return out;
  }

 private:
  ConnectSpec spec_;
  uint32_t index_ = 0;
};

class DisconnectJob : public NbdJob {
 public:
  DisconnectJob(std::string path, uint32_t index) : NbdJob(std::move(path), "genl(NBD_CMD_DISCONNECT)"), index_(index) {}
  void Run() override {
    NlMessage msg(0, NBD_CMD_DISCONNECT);
    msg.PutU32(NBD_ATTR_INDEX, index_);
    err_ = Send(msg, "genl(NBD_CMD_DISCONNECT)", [](const char*, size_t) {});
  }
  Napi::Value Result(Napi::Env env) override {
    ThrowIfFailed(env);
    return env.Undefined();
  }

 private:
  uint32_t index_;
};

// NBD_CMD_RECONFIGURE with one socket: the kernel puts it in place of the dead one (a device
// whose connection is alive ignores it and answers 0: the caller only reconfigures after the
// kernel reported the link dead).
class ReconfigureJob : public NbdJob {
 public:
  ReconfigureJob(std::string path, uint32_t index, int fd) : NbdJob(std::move(path), "genl(NBD_CMD_RECONFIGURE)"), index_(index), fd_(fd) {}
  void Run() override {
    NlMessage msg(0, NBD_CMD_RECONFIGURE);
    msg.PutU32(NBD_ATTR_INDEX, index_);
    const size_t socks = msg.BeginNest(NBD_ATTR_SOCKETS);
    const size_t item = msg.BeginNest(NBD_SOCK_ITEM);
    msg.PutU32(NBD_SOCK_FD, static_cast<uint32_t>(fd_));
    msg.EndNest(item);
    msg.EndNest(socks);
    err_ = Send(msg, "genl(NBD_CMD_RECONFIGURE)", [](const char*, size_t) {});
  }
  Napi::Value Result(Napi::Env env) override {
    ThrowIfFailed(env);
    return env.Undefined();
  }

 private:
  uint32_t index_;
  int fd_;
};

class StatusJob : public NbdJob {
 public:
  StatusJob(std::string path, uint32_t index) : NbdJob(std::move(path), "genl(NBD_CMD_STATUS)"), index_(index) {}
  void Run() override {
    NlMessage msg(0, NBD_CMD_STATUS);
    msg.PutU32(NBD_ATTR_INDEX, index_);
    err_ = Send(msg, "genl(NBD_CMD_STATUS)", [&](const char* p, size_t len) {
      ForEachAttr(p, len, [&](uint16_t type, const char* v, size_t vlen) {
        if (type != NBD_ATTR_DEVICE_LIST) return;
        ForEachAttr(v, vlen, [&](uint16_t itemType, const char* iv, size_t ilen) {
          if (itemType != NBD_DEVICE_ITEM) return;
          uint32_t index = UINT32_MAX;
          uint8_t connected = 0;
          ForEachAttr(iv, ilen, [&](uint16_t t, const char* dv, size_t dlen) {
            if (t == NBD_DEVICE_INDEX && dlen >= 4) memcpy(&index, dv, 4);
            if (t == NBD_DEVICE_CONNECTED && dlen >= 1) connected = static_cast<uint8_t>(dv[0]);
          });
          if (index == index_) {
            found_ = true;
            connected_ = connected != 0;
          }
        });
      });
    });
  }
  Napi::Value Result(Napi::Env env) override {
    ThrowIfFailed(env);
    if (!found_) throw MakeSysError(env, ENODEV, "genl(NBD_CMD_STATUS)", Path());
    Napi::Object out = Napi::Object::New(env);
    out.Set("index", index_);
    out.Set("connected", connected_);
    return out;
  }

 private:
  uint32_t index_;
  bool found_ = false;
  bool connected_ = false;
};

double Num(const Napi::Object& o, const char* name, double min, double max, double fallback, bool required) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined() && !required) return fallback;
  const double n = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(n) || n < min || n > max || std::floor(n) != n) {
    throw Napi::RangeError::New(o.Env(), std::string("nbd: ") + name + " missing or out of range");
  }
  return n;
}

std::string DevicePath(int index) { return index < 0 ? "/dev/nbd" : "/dev/nbd" + std::to_string(index); }

double TimeoutOf(const Napi::CallbackInfo& info, size_t i) {
  const double t = info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(t) || t < 1 || t > 86400000) throw Napi::RangeError::New(info.Env(), "nbd: timeoutMs must be between 1 and 86400000");
  return t;
}

Napi::Value StartJob(const Napi::CallbackInfo& info, std::unique_ptr<ProbeJob> job, double timeoutMs) {
  const std::string key = job->Path();
  return ProbeHub::ForEnv(info.Env())->Start(info.Env(), std::move(job), key, timeoutMs);
}

// ---- NBD_CMD_LINK_DEAD listener --------------------------------------------------------------

struct LinkEvent {
  int index = -1;  // >= 0: the device whose connection died
  int err = 0;     // non-zero: the listener failed (ENOENT: no nbd module yet) or lost notices (ENOBUFS)
  const char* syscall = "";
};

void LinkCallJs(Napi::Env env, Napi::Function callback, std::nullptr_t*, LinkEvent* event) {
  std::unique_ptr<LinkEvent> owned(event);
  if (static_cast<napi_env>(env) == nullptr || callback.IsEmpty()) return;
  Napi::Object o = Napi::Object::New(env);
  if (owned->err != 0) {
    o.Set("code", ErrnoName(owned->err));
    o.Set("errno", owned->err);
    o.Set("syscall", owned->syscall);
  } else {
    o.Set("index", owned->index);
  }
  callback.Call({o});
}
using LinkTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, LinkEvent, LinkCallJs>;

// Shared by the thread and close(); the last owner closes the descriptors.
struct LinkWatchState {
  int wakeFd = -1;
  LinkTsfn tsfn;
  std::atomic<bool> closed{false};
  ~LinkWatchState() {
    if (wakeFd >= 0) close(wakeFd);
  }
};

void LinkReport(LinkWatchState& state, int index, int err, const char* syscall) {
  auto* e = new LinkEvent{index, err, syscall};
  if (state.tsfn.NonBlockingCall(e) != napi_ok) delete e;
}

// Waits up to ms for close(); true when closed.
bool LinkSleep(LinkWatchState& state, int ms) {
  pollfd p{state.wakeFd, POLLIN, 0};
  while (poll(&p, 1, ms) < 0 && errno == EINTR) {
  }
  return state.closed.load();
}

// Joins the group (retrying every second while the nbd module is not loaded, reporting the first
// failure), then reports every LINK_DEAD notice until close().
void LinkWatchLoop(std::shared_ptr<LinkWatchState> state) {
  int lastErr = 0;
  while (!state->closed.load()) {
    uint16_t family = 0;
    uint32_t group = 0;
    int err = ResolveFamily(family, &group);
    const char* what = "genl(CTRL_CMD_GETFAMILY nbd)";
    int fd = -1;
    if (err == 0) {
      fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
      what = "socket(NETLINK_GENERIC)";
      if (fd < 0) err = errno;
    }
    if (err == 0) {
      sockaddr_nl local{};
      local.nl_family = AF_NETLINK;
      what = "bind(NETLINK_GENERIC)";
      if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) err = errno;
    }
    if (err == 0) {
      what = "setsockopt(NETLINK_ADD_MEMBERSHIP nbd_mc_group)";
      if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) err = errno;
    }
    if (err != 0) {
      if (fd >= 0) close(fd);
      if (err != lastErr) LinkReport(*state, -1, err, what);
      lastErr = err;
      if (LinkSleep(*state, 1000)) break;
      continue;
    }
    if (lastErr != 0) LinkReport(*state, -1, 0, "");  // joined after all: index -1, no error
    lastErr = 0;
    pollfd pfds[2] = {{fd, POLLIN, 0}, {state->wakeFd, POLLIN, 0}};
    std::vector<char> buf(16384);
    bool rejoin = false;
    while (!state->closed.load() && !rejoin) {
      if (poll(pfds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        LinkReport(*state, -1, errno, "poll");
        rejoin = true;
        break;
      }
      if (pfds[1].revents != 0) break;
      const ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        // ENOBUFS: the socket overflowed and notices were lost; the caller is told.
        LinkReport(*state, -1, errno, "recv(nbd_mc_group)");
        if (errno != ENOBUFS) rejoin = true;
        continue;
      }
      size_t left = static_cast<size_t>(n);
      for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nlh, left); nlh = NLMSG_NEXT(nlh, left)) {
        if (nlh->nlmsg_type != family || nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN) continue;
        const auto* genl = reinterpret_cast<const genlmsghdr*>(NLMSG_DATA(nlh));
        if (genl->cmd != NBD_CMD_LINK_DEAD) continue;
        uint32_t index = UINT32_MAX;
        ForEachAttr(reinterpret_cast<const char*>(genl) + GENL_HDRLEN, nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN, [&](uint16_t t, const char* v, size_t vlen) {
          if (t == NBD_ATTR_INDEX && vlen >= 4) memcpy(&index, v, 4);
        });
        if (index != UINT32_MAX) LinkReport(*state, static_cast<int>(index), 0, "");
      }
    }
    close(fd);
    if (rejoin && LinkSleep(*state, 1000)) break;
  }
  state->tsfn.Release();
}

}  // namespace

// nbdReconfigure(index, fd, timeoutMs)
Napi::Value NbdReconfigure(const Napi::CallbackInfo& info) {
  Napi::Object args = Napi::Object::New(info.Env());
  args.Set("index", info.Length() > 0 ? info[0] : info.Env().Undefined());
  args.Set("fd", info.Length() > 1 ? info[1] : info.Env().Undefined());
  const int index = static_cast<int>(Num(args, "index", 0, 1 << 20, 0, true));
  const int fd = static_cast<int>(Num(args, "fd", 0, 1 << 30, 0, true));
  return StartJob(info, std::make_unique<ReconfigureJob>(DevicePath(index), static_cast<uint32_t>(index), fd), TimeoutOf(info, 2));
}

// nbdWatchLinkDead(onEvent) -> close(): starts the listener thread; each event is { index } (a
// device's connection died; index -1: the listener joined the group after earlier failures) or
// { code, errno, syscall } (joining failed, retried every second; or notices were lost).
Napi::Value NbdWatchLinkDead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "nbdWatchLinkDead(onEvent: function)");
  auto state = std::make_shared<LinkWatchState>();
  state->wakeFd = eventfd(0, EFD_CLOEXEC);
  if (state->wakeFd < 0) throw MakeSysError(env, errno, "eventfd", "");
  state->tsfn = LinkTsfn::New(env, info[0].As<Napi::Function>(), "vigil.nbdWatchLinkDead", 0, 1);
  // Threads started here never take process-directed signals (see probe_runner.cc).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    std::thread(LinkWatchLoop, state).detach();
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    state->tsfn.Release();
    throw MakeSysError(env, e.code().value(), "pthread_create", "");
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return Napi::Function::New(env, [state](const Napi::CallbackInfo& ci) {
    if (!state->closed.exchange(true)) {
      const uint64_t one = 1;
      if (write(state->wakeFd, &one, sizeof one) < 0) {
        // eventfd writes only fail on overflow, which one write cannot cause.
      }
    }
    return ci.Env().Undefined();
  }, "close");
}

// nbdConnect({ index?, fd, sizeBytes, blockSize?, timeoutSec, deadConnTimeoutSec?, serverFlags?, backend? }, timeoutMs)
Napi::Value NbdConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "nbdConnect(spec: object, timeoutMs: number)");
  Napi::Object o = info[0].As<Napi::Object>();
  ConnectSpec spec;
  spec.index = static_cast<int>(Num(o, "index", 0, 1 << 20, -1, false));
  spec.fd = static_cast<int>(Num(o, "fd", 0, 1 << 30, 0, true));
  spec.sizeBytes = static_cast<uint64_t>(Num(o, "sizeBytes", 512, 9007199254740991.0, 0, true));
  spec.blockSize = static_cast<uint64_t>(Num(o, "blockSize", 512, 65536, 512, false));
  if ((spec.blockSize & (spec.blockSize - 1)) != 0) throw Napi::RangeError::New(env, "nbd: blockSize must be a power of two");
  spec.timeoutSec = static_cast<uint64_t>(Num(o, "timeoutSec", 1, 86400, 0, true));
  spec.deadConnTimeoutSec = static_cast<uint64_t>(Num(o, "deadConnTimeoutSec", 0, 86400, 0, false));
  spec.serverFlags = static_cast<uint64_t>(Num(o, "serverFlags", 0, 65535, 0, false));
  Napi::Value backend = o.Get("backend");
  if (backend.IsString()) spec.backend = backend.As<Napi::String>().Utf8Value();
  if (spec.backend.size() > 255 || spec.backend.find('\0') != std::string::npos) {
    throw Napi::RangeError::New(env, "nbd: backend must be at most 255 bytes without NUL");
  }
  const std::string path = DevicePath(spec.index);
  return StartJob(info, std::make_unique<ConnectJob>(path, std::move(spec)), TimeoutOf(info, 1));
}

// nbdDisconnect(index, timeoutMs)
Napi::Value NbdDisconnect(const Napi::CallbackInfo& info) {
  Napi::Object args = Napi::Object::New(info.Env());
  args.Set("index", info.Length() > 0 ? info[0] : info.Env().Undefined());
  const int index = static_cast<int>(Num(args, "index", 0, 1 << 20, 0, true));
  return StartJob(info, std::make_unique<DisconnectJob>(DevicePath(index), static_cast<uint32_t>(index)), TimeoutOf(info, 1));
}

// nbdStatus(index, timeoutMs) -> { index, connected }
Napi::Value NbdStatus(const Napi::CallbackInfo& info) {
  Napi::Object args = Napi::Object::New(info.Env());
  args.Set("index", info.Length() > 0 ? info[0] : info.Env().Undefined());
  const int index = static_cast<int>(Num(args, "index", 0, 1 << 20, 0, true));
  return StartJob(info, std::make_unique<StatusJob>(DevicePath(index), static_cast<uint32_t>(index)), TimeoutOf(info, 1));
}

}  // namespace vigil
