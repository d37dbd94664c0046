// peerCredentials(fd) -> {pid, uid, gid}: the credentials the kernel recorded for the other end
// of a connected unix socket when it called connect(2) (SO_PEERCRED). Node has no API for this,
// and it is what lets the admin socket check who is talking instead of trusting file modes alone.
// getsockopt(SO_PEERCRED) only copies a struct the kernel already holds, so it never blocks and
// runs synchronously on the calling thread.
#include "peer_cred.h"

#include <errno.h>
#include <math.h>
#include <sys/socket.h>

#include "sys_error.h"

namespace vigil {

Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    throw Napi::TypeError::New(env, "peerCredentials expects a file descriptor (number)");
  }
  const double raw = info[0].As<Napi::Number>().DoubleValue();
  if (!(raw >= 0 && raw <= 2147483647.0) || floor(raw) != raw) {
    throw Napi::TypeError::New(env, "peerCredentials expects a non-negative integer file descriptor");
  }
  const int fd = static_cast<int>(raw);
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    throw MakeSysError(env, errno, "getsockopt(SO_PEERCRED)", "");
  }
  if (len != sizeof cred) {
    throw MakeSysError(env, EINVAL, "getsockopt(SO_PEERCRED)", "");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

}  // namespace vigil
