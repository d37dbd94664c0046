// directRead / directWrite: see direct_io.cc.
#pragma once
#include <napi.h>
namespace vigil {
Napi::Value DirectRead(const Napi::CallbackInfo& info);
Napi::Value DirectWrite(const Napi::CallbackInfo& info);
}
