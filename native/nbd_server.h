// The NBD server's native transmission loop (nbd_server.cc).
#pragma once

#include <napi.h>

namespace vigil {

Napi::Value NbdServeStart(const Napi::CallbackInfo& info);

}  // namespace vigil
