// Argument checks shared by the probe entry points: (path: string, timeoutMs: number, key: string).
#pragma once

#include <napi.h>

#include <cmath>
#include <string>

namespace vigil {

struct ProbeArgs {
  std::string path;
  double timeoutMs;
  std::string key;
};

inline ProbeArgs ParseProbeArgs(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsString()) {
    throw Napi::TypeError::New(env, std::string(fn) + "(path: string, timeoutMs: number, key: string)");
  }
  ProbeArgs args{info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().DoubleValue(),
                 info[2].As<Napi::String>().Utf8Value()};
  if (args.path.empty() || args.path.find('\0') != std::string::npos) {
    throw Napi::TypeError::New(env, std::string(fn) + ": path must be a non-empty string without NUL bytes");
  }
  if (!std::isfinite(args.timeoutMs) || args.timeoutMs < 1 || args.timeoutMs > 86400000) {
    throw Napi::RangeError::New(env, std::string(fn) + ": timeoutMs must be between 1 and 86400000");
  }
  return args;
}

}  // namespace vigil
