// peerCredentials: see peer_cred.cc.
#pragma once
#include <napi.h>
namespace vigil {
Napi::Value PeerCredentials(const Napi::CallbackInfo& info);
}
