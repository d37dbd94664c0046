// statWithTimeout: see timed_stat.cc.
#pragma once
#include <napi.h>
namespace vigil {
Napi::Value StatWithTimeout(const Napi::CallbackInfo& info);
}
