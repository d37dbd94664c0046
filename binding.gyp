# The Vigil native addon (node-addon-api, C++17). Built by scripts/build-addon.mjs with the
# headers of the running Node; output: build/Release/vigil_native.node.
# C++ exceptions are enabled (NAPI_CPP_EXCEPTIONS) everywhere: node-addon-api turns a pending
# JS exception into Napi::Error, and std::system_error from thread creation must be catchable.
# NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: node-addon-api's own answer to a thread-safe function
# call delivered while Node tears an environment down (a worker thread ending, or the process
# exiting): JavaScript can no longer run there, so the Napi::Error of the first N-API call cannot
# be rethrown, and without this define node-addon-api throws again from inside its C callback,
# which is std::terminate (test/integration/native-teardown.test.ts).
{
  "targets": [
    {
      "target_name": "vigil_native",
      "sources": [
        "native/addon.cc",
        "native/sys_error.cc",
        "native/probe_runner.cc",
        "native/timed_stat.cc",
        "native/durable_write.cc",
        "native/block_device.cc",
        "native/peer_cred.cc",
        "native/durable_append.cc",
        "native/file_lock.cc",
        "native/realtime.cc",
        "native/memory_lock.cc",
        "native/sg_io.cc",
        "native/direct_io.cc",
        "native/md.cc",
        "native/nbd.cc",
        "native/nbd_server.cc",
        "native/process_spawner.cc",
        "native/watchdog.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpthread", "-ldl"]
    }
  ]
}
