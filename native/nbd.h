// NBD client devices through the kernel's generic-netlink "nbd" family. See nbd.cc.
#pragma once
#include <napi.h>
namespace vigil {
Napi::Value NbdConnect(const Napi::CallbackInfo& info);
Napi::Value NbdDisconnect(const Napi::CallbackInfo& info);
Napi::Value NbdStatus(const Napi::CallbackInfo& info);
Napi::Value NbdReconfigure(const Napi::CallbackInfo& info);
Napi::Value NbdWatchLinkDead(const Napi::CallbackInfo& info);
}  // namespace vigil
