// blockDeviceInfo: see block_device.cc.
#pragma once
#include <napi.h>
namespace vigil {
Napi::Value BlockDeviceInfo(const Napi::CallbackInfo& info);
}
