// scsiCommand: see sg_io.cc.
#pragma once
#include <napi.h>
namespace vigil {
Napi::Value ScsiCommand(const Napi::CallbackInfo& info);
}
