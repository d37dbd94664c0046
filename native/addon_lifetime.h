// What keeps the addon's background threads safe across Node's teardown, shared by the probe
// hub and the process spawner: the shared object pinned in memory (Node dlcloses an addon a
// worker_thread loaded when the worker ends, and a thread returning from the kernel into
// unmapped code would crash the process), and a thread-safe function that co-owns its hub and
// shuts it down when Node finalizes it.
#pragma once

#include <dlfcn.h>
#include <napi.h>

#include <memory>
#include <mutex>

namespace vigil {

/** Marks the addon's shared object never to be unloaded (RTLD_NODELETE), once per process. */
inline void PinAddonInMemory() {
  static std::once_flag once;
  std::call_once(once, [] {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&PinAddonInMemory), &info) != 0 && info.dli_fname != nullptr) {
      // Takes a reference that is never dropped, and marks the object never to be unloaded.
      dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
    }
  });
}

/**
 * A thread-safe function (not keeping the loop alive) whose finalizer owns a reference to
 * `owner` and calls its `Shutdown` member: the owner lives until Node is done with the function.
 * (The member is a template argument, so a private one can be named by the owner's own code.)
 */
template <typename Tsfn, typename Owner, void (Owner::*Shutdown)()>
Tsfn NewOwningTsfn(Napi::Env env, const char* name, const std::shared_ptr<Owner>& owner) {
  auto* finalizerRef = new std::shared_ptr<Owner>(owner);
  Tsfn tsfn = Tsfn::New(
      env, name, 0, 1, owner.get(),
      [](Napi::Env, std::shared_ptr<Owner>* ref, Owner*) {
        (ref->get()->*Shutdown)();
        delete ref;
      },
      finalizerRef);
  tsfn.Unref(env);
  return tsfn;
}

}  // namespace vigil
