# The Vigil native addon (node-addon-api, C++17). Built by scripts/build-addon.mjs with the
# headers of the running Node; output: build/Release/vigil_native.node.
# C++ exceptions are enabled (NAPI_CPP_EXCEPTIONS) everywhere: node-addon-api turns a pending
# JS exception into Napi::Error, and std::system_error from thread creation must be catchable.
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
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpthread", "-ldl"]
    }
  ]
}
