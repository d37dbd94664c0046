// lockMemory() -> bytes: mlock2(MLOCK_ONFAULT) of every file-backed read-only mapping (the node
// binary's code, shared libraries, this addon) and of the main thread's stack: what the kernel
// would otherwise evict under memory pressure and read back from disk in the middle of a
// heartbeat. Pages are locked as they are touched, so the rest of a 100 MB binary is not pulled
// in. Not mlockall(): V8 returns heap and code pages with madvise(MADV_DONTNEED), which fails
// with EINVAL on locked pages and makes V8 abort (reproduced under load), so the anonymous memory
// V8 manages stays unlocked. Reads /proc/self/maps and makes one mlock2 call per mapping; none
// blocks on I/O of its own, so it runs synchronously.
#include "memory_lock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys_error.h"

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif

namespace vigil {

Napi::Value LockMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FILE* maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr) throw MakeSysError(env, errno, "open", "/proc/self/maps");
  char line[4096];
  double locked = 0;
  int failure = 0;
  while (fgets(line, sizeof line, maps) != nullptr) {
    unsigned long start = 0, end = 0;
    char perms[8] = {0};
    int pathAt = 0;
    if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &end, perms, &pathAt) < 3 || pathAt <= 0) continue;
    const char* path = line + pathAt;
    const bool fileBacked = path[0] == '/';
    const bool stack = strncmp(path, "[stack]", 7) == 0;
    // Writable file mappings (.data, .bss neighbours) are private copies the C library may trim.
    if (!(fileBacked && strchr(perms, 'w') == nullptr) && !stack) continue;
    if (perms[0] == '-' && perms[1] == '-' && perms[2] == '-') continue;  // guard pages
    if (syscall(SYS_mlock2, reinterpret_cast<void*>(start), end - start, MLOCK_ONFAULT) != 0) {
      failure = errno;
      break;
    }
    locked += static_cast<double>(end - start);
  }
  fclose(maps);
  if (failure != 0) throw MakeSysError(env, failure, "mlock2(MLOCK_ONFAULT)", "");
  return Napi::Number::New(env, locked);
}

}  // namespace vigil
