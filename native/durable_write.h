// writeFileDurable: see durable_write.cc.
#pragma once
#include <napi.h>
namespace vigil {
Napi::Value WriteFileDurable(const Napi::CallbackInfo& info);
}
