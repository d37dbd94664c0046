// Errno-preserving JS errors for failed syscalls: every native failure reaches JavaScript as an
// Error carrying code ('EBUSY'), errno (positive, as in C), syscall ('ioctl(BLKGETSIZE64)') and
// path, so TypeScript can map it to a typed error without parsing a strerror string.
#pragma once

#include <napi.h>
#include <string>

namespace vigil {

// The symbolic errno name ('ENOENT'); "E<number>" for a value the C library cannot name.
std::string ErrnoName(int err);

// An Error for a failed syscall: message "<code>: <strerror>, <syscall> '<path>'".
Napi::Error MakeSysError(Napi::Env env, int err, const std::string& syscall, const std::string& path);

// An Error for a probe-level failure that is not an errno (timeout, capacity). `code` is one of
// the EPROBE* codes the TypeScript side maps to ProbeTimeoutError / ProbeCapacityError.
Napi::Error MakeProbeError(Napi::Env env, const char* code, const std::string& message,
                           const std::string& syscall, const std::string& path);

}  // namespace vigil
