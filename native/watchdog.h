// openWatchdog(device, timeoutSecs): the self-fencing watchdog keeper (see watchdog.cc).
#pragma once
#include <napi.h>
namespace vigil {
Napi::Value OpenWatchdog(const Napi::CallbackInfo& info);
}
