// The addon's "scheduling" object: lockMemory, setRealtime, state (see realtime.cc).
#pragma once
#include <napi.h>
namespace vigil {
Napi::Object SchedulingFunctions(Napi::Env env);
}
