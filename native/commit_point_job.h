// CommitPointJob: the part shared by the durable file jobs (durable_write.cc, durable_append.cc)
// whose effect must be all or nothing against their time limit. Each has one commit point (the
// rename, the first write of an append), decided atomically against the deadline with one
// compare-exchange on `phase_`: either the job moves writing -> committing first (the timeout
// error then says commitStarted: true), or the deadline thread moves writing -> abandoned first
// and the job, whenever the kernel lets it go, changes nothing visible.
#pragma once

#include <errno.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "probe_runner.h"

namespace vigil {

class CommitPointJob : public ProbeJob {
 public:
  // The two notes end the timeout error's message: what the caller may assume on each side.
  CommitPointJob(std::string path, const char* committedNote, const char* abandonedNote)
      : ProbeJob(std::move(path)), committedNote_(committedNote), abandonedNote_(abandonedNote) {}

  const char* Syscall() const override { return step_.load(); }

  void OnTimeout() override {
    int expected = kWriting;
    commitStartedAtTimeout_ = !phase_.compare_exchange_strong(expected, kAbandoned);
  }

  void DecorateTimeout(Napi::Env env, Napi::Error& error) const override {
    error.Set("commitStarted", Napi::Boolean::New(env, commitStartedAtTimeout_));
    const std::string message = error.Message() + "; " + (commitStartedAtTimeout_ ? committedNote_ : abandonedNote_);
    error.Set("message", Napi::String::New(env, message));
  }

 protected:
  // Moves writing -> committing; false when the deadline has abandoned the job first (the
  // caller was told nothing changed, so nothing may change).
  bool EnterCommit() {
    int expected = kWriting;
    return phase_.compare_exchange_strong(expected, kCommitting);
  }

  bool Abandoned() const { return phase_.load() == kAbandoned; }

  // Writes all of `data` to `fd` (short writes and EINTR retried); 0, or the errno of the
  // failed write, or -1 when `stopIfAbandoned` and the deadline abandoned the job meanwhile.
  int WriteAll(int fd, const std::vector<char>& data, bool stopIfAbandoned) {
    size_t done = 0;
    while (done < data.size()) {
      if (stopIfAbandoned && Abandoned()) return -1;
      const ssize_t n = write(fd, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      done += static_cast<size_t>(n);
    }
    return 0;
  }

  std::atomic<const char*> step_{"open"};

 private:
  enum Phase : int { kWriting = 0, kCommitting = 1, kAbandoned = 2 };
  const char* const committedNote_;
  const char* const abandonedNote_;
  std::atomic<int> phase_{kWriting};
  // Written by the deadline thread under the hub's lock; read on the JS thread after the
  // timeout event crossed the TSFN queue (which orders the two).
  bool commitStartedAtTimeout_ = false;
};

}  // namespace vigil
