// lockMemory: see memory_lock.cc.
#pragma once
#include <napi.h>
namespace vigil {
Napi::Value LockMemory(const Napi::CallbackInfo& info);
}
