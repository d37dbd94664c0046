// md (software RAID) arrays: ioctls on /dev/mdN, sysfs attributes under /sys/block/mdN/md/ and
// a watcher of md's sysfs events. See md.cc.
#pragma once
#include <napi.h>
namespace vigil {
Napi::Value MdArrayInfo(const Napi::CallbackInfo& info);
Napi::Value MdMembers(const Napi::CallbackInfo& info);
Napi::Value MdControl(const Napi::CallbackInfo& info);
Napi::Value MdAddDisk(const Napi::CallbackInfo& info);
Napi::Value MdSysfsRead(const Napi::CallbackInfo& info);
Napi::Value MdSysfsWrite(const Napi::CallbackInfo& info);
Napi::Value MdWatch(const Napi::CallbackInfo& info);
}  // namespace vigil
