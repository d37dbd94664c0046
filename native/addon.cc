// Registration only: each kernel interface lives in its own file.
#include <napi.h>

#include "block_device.h"
#include "durable_append.h"
#include "direct_io.h"
#include "durable_write.h"
#include "file_lock.h"
#include "md.h"
#include "nbd.h"
#include "nbd_server.h"
#include "peer_cred.h"
#include "probe_runner.h"
#include "process_spawner.h"
#include "realtime.h"
#include "sg_io.h"
#include "timed_stat.h"
#include "watchdog.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("statWithTimeout", Napi::Function::New(env, vigil::StatWithTimeout, "statWithTimeout"));
  exports.Set("writeFileDurable", Napi::Function::New(env, vigil::WriteFileDurable, "writeFileDurable"));
  exports.Set("appendFileDurable", Napi::Function::New(env, vigil::AppendFileDurable, "appendFileDurable"));
  exports.Set("lockFileExclusive", Napi::Function::New(env, vigil::LockFileExclusive, "lockFileExclusive"));
  exports.Set("unlockFile", Napi::Function::New(env, vigil::UnlockFile, "unlockFile"));
  exports.Set("blockDeviceInfo", Napi::Function::New(env, vigil::BlockDeviceInfo, "blockDeviceInfo"));
  exports.Set("probeCounters", Napi::Function::New(env, vigil::ProbeCounters, "probeCounters"));
  exports.Set("configureProbes", Napi::Function::New(env, vigil::ConfigureProbes, "configureProbes"));
  exports.Set("peerCredentials", Napi::Function::New(env, vigil::PeerCredentials, "peerCredentials"));
  exports.Set("scheduling", vigil::SchedulingFunctions(env));
  exports.Set("scsiCommand", Napi::Function::New(env, vigil::ScsiCommand, "scsiCommand"));
  exports.Set("directRead", Napi::Function::New(env, vigil::DirectRead, "directRead"));
  exports.Set("directWrite", Napi::Function::New(env, vigil::DirectWrite, "directWrite"));
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
  exports.Set("nbdReconfigure", Napi::Function::New(env, vigil::NbdReconfigure, "nbdReconfigure"));
  exports.Set("nbdWatchLinkDead", Napi::Function::New(env, vigil::NbdWatchLinkDead, "nbdWatchLinkDead"));
  exports.Set("nbdServeStart", Napi::Function::New(env, vigil::NbdServeStart, "nbdServeStart"));
  exports.Set("createProcessSpawner", Napi::Function::New(env, vigil::CreateProcessSpawner, "createProcessSpawner"));
  exports.Set("openWatchdog", Napi::Function::New(env, vigil::OpenWatchdog, "openWatchdog"));
  return exports;
}

}  // namespace

NODE_API_MODULE(vigil_native, Init)
