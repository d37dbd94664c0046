// Registration only: each kernel interface lives in its own file.
#include <napi.h>

#include "block_device.h"
#include "durable_write.h"
#include "md.h"
#include "nbd.h"
#include "peer_cred.h"
#include "probe_runner.h"
#include "timed_stat.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("statWithTimeout", Napi::Function::New(env, vigil::StatWithTimeout, "statWithTimeout"));
  exports.Set("writeFileDurable", Napi::Function::New(env, vigil::WriteFileDurable, "writeFileDurable"));
  exports.Set("blockDeviceInfo", Napi::Function::New(env, vigil::BlockDeviceInfo, "blockDeviceInfo"));
  exports.Set("probeCounters", Napi::Function::New(env, vigil::ProbeCounters, "probeCounters"));
  exports.Set("configureProbes", Napi::Function::New(env, vigil::ConfigureProbes, "configureProbes"));
  exports.Set("peerCredentials", Napi::Function::New(env, vigil::PeerCredentials, "peerCredentials"));
  exports.Set("mdArrayInfo", Napi::Function::New(env, vigil::MdArrayInfo, "mdArrayInfo"));
  exports.Set("mdMembers", Napi::Function::New(env, vigil::MdMembers, "mdMembers"));
  exports.Set("mdControl", Napi::Function::New(env, vigil::MdControl, "mdControl"));
  exports.Set("mdAddDisk", Napi::Function::New(env, vigil::MdAddDisk, "mdAddDisk"));
  exports.Set("mdSysfsRead", Napi::Function::New(env, vigil::MdSysfsRead, "mdSysfsRead"));
  exports.Set("mdSysfsWrite", Napi::Function::New(env, vigil::MdSysfsWrite, "mdSysfsWrite"));
  exports.Set("mdWatch", Napi::Function::New(env, vigil::MdWatch, "mdWatch"));
  exports.Set("nbdConnect", Napi::Function::New(env, vigil::NbdConnect, "nbdConnect"));
  exports.Set("nbdDisconnect", Napi::Function::New(env, vigil::NbdDisconnect, "nbdDisconnect"));
  exports.Set("nbdStatus", Napi::Function::New(env, vigil::NbdStatus, "nbdStatus"));
  return exports;
}

}  // namespace

NODE_API_MODULE(vigil_native, Init)
