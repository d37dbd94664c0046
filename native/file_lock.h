// lockFileExclusive / unlockFile: see file_lock.cc.
#pragma once
#include <napi.h>
namespace vigil {
Napi::Value LockFileExclusive(const Napi::CallbackInfo& info);
Napi::Value UnlockFile(const Napi::CallbackInfo& info);
}
