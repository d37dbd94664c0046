// appendFileDurable: see durable_append.cc.
#pragma once
#include <napi.h>
namespace vigil {
Napi::Value AppendFileDurable(const Napi::CallbackInfo& info);
}
