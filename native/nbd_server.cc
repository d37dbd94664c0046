// The NBD server's transmission phase on native threads: after TypeScript has done the
// handshake and every policy decision (the export fence), it hands over the connected socket and
// the export's two descriptors (plain and O_DSYNC), and this file serves READ, WRITE, FLUSH,
// TRIM, WRITE_ZEROES and DISC with simple replies, exactly as transmission.ts does (same error
// numbers, same range checks, same counters), at a fraction of its CPU cost and latency.
//
// Threads per connection: one receiver, which parses requests off the socket (and reads WRITE
// payloads straight into the request's buffer), and a few I/O workers, which run pread / pwrite
// / fdatasync / fallocate and send each reply with one sendmsg (header and data together).
// Requests are pipelined: the receiver reads the next request while workers do I/O and send
// replies, which may leave out of order (replies carry the client's cookie). When nothing else
// is in flight and no further request is already buffered (queue depth 1), the receiver runs the
// request itself: no hand-off to another thread on the latency path. So it does a plain WRITE of
// up to 64 KiB at any depth: that is a copy into the page cache, cheaper than waking a worker
// (4 KiB random writes at depth 16 on the host: 1.5-2x the IOPS, half the p99).
//
// Memory: 64 request slots whose buffers are kept between requests (no allocation in the steady
// state); the receiver stops taking requests while 64 are in flight or their payloads exceed
// 64 MiB, as transmission.ts does.
//
// Ownership: nbdServeStart dups the three descriptors; the caller closes its own at once (its
// net.Socket must already be drained and is destroyed right after). The last thread to finish
// closes the dups. stop() (revocation) shuts the socket down, which wakes every thread blocked on
// it; a thread blocked in the disk stays there until the kernel returns, closing nothing under
// it. The end of the connection (disconnect, closed, protocol error) goes to JavaScript through
// a thread-safe function when it happens (a disconnect once every reply is out), the final
// counters once no request is in flight any more; nothing here waits on the JavaScript thread
// (but for a bounded wait after a protocol error, so that it is counted before the close).
#include "nbd_server.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "addon_lifetime.h"
#include "sys_error.h"

namespace vigil {

namespace {

constexpr uint32_t kRequestMagic = 0x25609513;
constexpr uint32_t kSimpleReplyMagic = 0x67446698;
constexpr size_t kRequestSize = 28;
constexpr size_t kReplySize = 16;

constexpr uint16_t kCmdRead = 0, kCmdWrite = 1, kCmdDisc = 2, kCmdFlush = 3, kCmdTrim = 4, kCmdWriteZeroes = 6;
constexpr uint16_t kCmdFlagFua = 1, kCmdFlagNoHole = 2;
/** NBD_MAX_PAYLOAD of transmission.ts: larger WRITEs break the protocol, larger READs get EINVAL. */
constexpr uint32_t kMaxPayloadBytes = 32u << 20;

// The protocol's error numbers (Linux errno values).
constexpr uint32_t kEPERM = 1, kEIO = 5, kENOMEM = 12, kEINVAL = 22, kENOSPC = 28;

// Same limits as transmission.ts.
constexpr int kMaxInFlight = 64;
constexpr uint64_t kMaxHeldBytes = 64ull << 20;
// Buffers kept for reuse: each at most this large, all together at most kMaxPooledBytes.
constexpr size_t kMaxPooledCapacity = 4u << 20;
constexpr size_t kMaxPooledBytes = 32u << 20;
constexpr size_t kMinCapacity = 64u << 10;
constexpr size_t kReceiveBuffer = 256u << 10;
constexpr size_t kReceiveChunk = 16u << 10;
constexpr size_t kZeroChunk = 1u << 20;
constexpr uint32_t kInlineWriteBytes = 64u << 10;
// After a soft disconnect the socket is read (and discarded) this long for the client's close.
constexpr int kLingerMs = 5000;

const char* ZeroChunk() {
  static const std::unique_ptr<char[]> zeroes(new char[kZeroChunk]());
  return zeroes.get();
}

uint32_t Be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
uint16_t Be16(const unsigned char* p) { return uint16_t((p[0] << 8) | p[1]); }
void PutBe32(unsigned char* p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

// errnoOf() of transmission.ts.
uint32_t NbdErrno(int err) {
  switch (err) {
    case ENOSPC:
      return kENOSPC;
    case EPERM:
    case EACCES:
    case EROFS:
      return kEPERM;
    case ENOMEM:
      return kENOMEM;
    case EINVAL:
      return kEINVAL;
    default:
      return kEIO;
  }
}

struct Counters {
  std::atomic<uint64_t> reads{0}, writes{0}, fuaWrites{0}, flushes{0}, trims{0}, writeZeroes{0}, invalidRequests{0}, ioErrors{0},
      bytesRead{0}, bytesWritten{0};
};

struct Slot {
  uint16_t type = 0;
  uint16_t flags = 0;
  unsigned char cookie[8] = {};
  uint64_t offset = 0;
  uint32_t length = 0;
  /** Payload bytes counted against kMaxHeldBytes. */
  uint64_t held = 0;
  char* buf = nullptr;
  size_t cap = 0;
};

// What goes to JavaScript: first the end of the connection ('disconnect' | 'closed' |
// 'protocol-error'), then, once no request is in flight any more, 'released' with the final
// counters (they change no more).
struct EndReport {
  std::string kind;
  std::string message;
  int err = 0;  // the socket error that ended it, if any
  uint64_t counters[10] = {};
};

class Session;
void CallJsEnd(Napi::Env env, Napi::Function callback, Session* self, EndReport* report);
using EndTsfn = Napi::TypedThreadSafeFunction<Session, EndReport, CallJsEnd>;

class Session : public std::enable_shared_from_this<Session> {
 public:
  int sock = -1, fd = -1, dsyncFd = -1;
  uint64_t size = 0;
  bool regularFile = false;
  int ioThreads = 4;
  Counters c;
  EndTsfn tsfn;
  std::vector<char> initial;  // bytes the handshake read past its end

  ~Session() {
    for (Slot& s : slots_) free(s.buf);
    free(rx_);
  }

  bool Init() {
    slots_.resize(kMaxInFlight);
    for (int i = kMaxInFlight - 1; i >= 0; i--) free_.push_back(i);
    rxCap_ = std::max(kReceiveBuffer, initial.size());
    rx_ = static_cast<char*>(malloc(rxCap_));
    if (rx_ == nullptr) return false;
    memcpy(rx_, initial.data(), initial.size());
    rxEnd_ = initial.size();
    initial.clear();
    initial.shrink_to_fit();
    return true;
  }

  void Start(int threads) { threadsAlive_.store(threads); }
  /**
   * Thread creation failed: `missing` threads never started. The running workers see the
   * receiver done and leave; the last one out closes the descriptors. Nothing is reported.
   */
  void Abandon(int missing) {
    {
      std::lock_guard<std::mutex> l(reportMu_);
      reported_ = true;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      receiverDone_ = true;
    }
    workCv_.notify_all();
    for (int k = 0; k < missing; k++) ThreadExit();
    tsfn.Release();
  }
  void ReceiverLoop();
  void WorkerLoop();

  /** Revocation (or Node tearing the environment down): cut the connection at once. */
  void Stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    workCv_.notify_all();
    spaceCv_.notify_all();
    ShutdownSocket(SHUT_RDWR);
  }
  /**
   * The thread-safe function's finalizer (after the end report, or when Node tears the
   * environment down): no call may reach it from here on; a connection still running is cut.
   */
  void Shutdown() {
    bool reported;
    {
      std::lock_guard<std::mutex> l(reportMu_);
      tsfnLive_ = false;
      reported = reported_;
    }
    if (!reported) Stop();
  }

 private:
  void ShutdownSocket(int how) {
    std::lock_guard<std::mutex> l(fdMu_);
    if (!fdsClosed_) shutdown(sock, how);
  }
  void ThreadExit() {
    if (threadsAlive_.fetch_sub(1) != 1) return;
    std::lock_guard<std::mutex> l(fdMu_);
    fdsClosed_ = true;
    close(sock);
    close(fd);
    close(dsyncFd);
  }

  bool Fill(size_t n, int& err);
  bool ReceiveInto(char* p, size_t n, int& err);
  bool Discard(size_t n, int& err);
  int AcquireSlot(uint64_t held);
  bool EnsureCapacity(Slot& s, size_t n);
  void Enqueue(int i);
  void Execute(int i);
  void Complete(int i);
  bool Send(const unsigned char* header, const char* data, size_t length);
  bool ReplyError(const unsigned char* cookie, uint32_t error);
  int Zero(uint64_t offset, uint64_t length, bool fua, bool noHole);
  /** Sends an EndReport; false when it cannot reach JavaScript any more. */
  bool Post(EndReport* r, bool last);
  void ReportFinal();
  /** True when request i is the only one in flight (queue depth 1). */
  bool Alone() {
    std::lock_guard<std::mutex> l(mu_);
    return inFlight_ == 1;
  }

  std::mutex mu_;
  std::condition_variable workCv_;   // workers: work queued, receiver done
  std::condition_variable spaceCv_;  // receiver: a request completed, stop
  std::vector<Slot> slots_;
  std::vector<int> free_;
  int queue_[kMaxInFlight] = {};
  int qHead_ = 0, qCount_ = 0;
  int inFlight_ = 0;
  uint64_t held_ = 0;
  size_t pooled_ = 0;
  bool receiverDone_ = false;
  bool stopping_ = false;

  std::mutex sendMu_;
  std::atomic<bool> connDead_{false};

  std::mutex fdMu_;
  bool fdsClosed_ = false;
  std::atomic<int> threadsAlive_{0};

  std::mutex reportMu_;
  bool tsfnLive_ = true;
  bool reported_ = false;

  // Receiver thread only.
  char* rx_ = nullptr;
  size_t rxCap_ = 0, rxStart_ = 0, rxEnd_ = 0;
  bool noZeroRange_ = false, noPunchHole_ = false;
};

// One recv, again after EINTR: the bytes received, 0 at the end of the stream, or -1 with the
// errno in err.
ssize_t RecvRetrying(int sock, char* p, size_t n, int flags, int& err) {
  for (;;) {
    const ssize_t r = recv(sock, p, n, flags);
    if (r >= 0) return r;
    if (errno != EINTR) {
      err = errno;
      return -1;
    }
  }
}

// Makes at least n bytes available in rx_[rxStart_..rxEnd_); false at end of stream or on error.
bool Session::Fill(size_t n, int& err) {
  while (rxEnd_ - rxStart_ < n) {
    if (rxCap_ - rxEnd_ < std::max(n, kReceiveChunk)) {
      memmove(rx_, rx_ + rxStart_, rxEnd_ - rxStart_);
      rxEnd_ -= rxStart_;
      rxStart_ = 0;
    }
    // At most kReceiveChunk at a time: enough for a burst of small requests, while a large
    // WRITE payload mostly goes straight into its own buffer (ReceiveInto) instead of being
    // copied a second time out of this one.
    const ssize_t r = RecvRetrying(sock, rx_ + rxEnd_, std::min(rxCap_ - rxEnd_, std::max(n, kReceiveChunk)), 0, err);
    if (r <= 0) return false;
    rxEnd_ += static_cast<size_t>(r);
  }
  return true;
}

// n bytes into p: first what is buffered, then straight from the socket.
bool Session::ReceiveInto(char* p, size_t n, int& err) {
  const size_t have = std::min(n, rxEnd_ - rxStart_);
  memcpy(p, rx_ + rxStart_, have);
  rxStart_ += have;
  size_t done = have;
  while (done < n) {
    const ssize_t r = RecvRetrying(sock, p + done, n - done, MSG_WAITALL, err);
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

// Reads and drops n payload bytes (a WRITE this server cannot take: no memory for it).
bool Session::Discard(size_t n, int& err) {
  while (n > 0) {
    if (rxEnd_ == rxStart_ && !Fill(1, err)) return false;
    const size_t take = std::min(n, rxEnd_ - rxStart_);
    rxStart_ += take;
    n -= take;
  }
  return true;
}

int Session::AcquireSlot(uint64_t held) {
  std::unique_lock<std::mutex> l(mu_);
  spaceCv_.wait(l, [&] { return stopping_ || (inFlight_ < kMaxInFlight && (inFlight_ == 0 || held_ + held <= kMaxHeldBytes)); });
  if (stopping_) return -1;
  const int i = free_.back();
  free_.pop_back();
  inFlight_++;
  held_ += held;
  slots_[i].held = held;
  return i;
}

bool Session::EnsureCapacity(Slot& s, size_t n) {
  if (s.cap >= n) return true;
  size_t cap = kMinCapacity;
  while (cap < n) cap *= 2;
  void* p = nullptr;
  if (posix_memalign(&p, 4096, cap) != 0) return false;
  std::lock_guard<std::mutex> l(mu_);
  if (s.cap <= kMaxPooledCapacity) pooled_ -= s.cap;
  free(s.buf);
  s.buf = static_cast<char*>(p);
  s.cap = cap;
  if (cap <= kMaxPooledCapacity) pooled_ += cap;
  return true;
}

void Session::Enqueue(int i) {
  {
    std::lock_guard<std::mutex> l(mu_);
    queue_[(qHead_ + qCount_) % kMaxInFlight] = i;
    qCount_++;
  }
  workCv_.notify_one();
}

// Header and payload in one sendmsg, under the send lock so replies never interleave.
bool Session::Send(const unsigned char* header, const char* data, size_t length) {
  std::lock_guard<std::mutex> l(sendMu_);
  if (connDead_.load(std::memory_order_relaxed)) return false;
  iovec iov[2] = {{const_cast<unsigned char*>(header), kReplySize}, {const_cast<char*>(data), length}};
  int n = length > 0 ? 2 : 1;
  iovec* v = iov;
  msghdr msg{};
  while (n > 0) {
    msg.msg_iov = v;
    msg.msg_iovlen = static_cast<size_t>(n);
    ssize_t w = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      connDead_.store(true);
      return false;
    }
    while (n > 0 && static_cast<size_t>(w) >= v->iov_len) {
      w -= static_cast<ssize_t>(v->iov_len);
      v++;
      n--;
    }
    if (n > 0) {
      v->iov_base = static_cast<char*>(v->iov_base) + w;
      v->iov_len -= static_cast<size_t>(w);
    }
  }
  return true;
}

bool Session::ReplyError(const unsigned char* cookie, uint32_t error) {
  unsigned char h[kReplySize];
  PutBe32(h, kSimpleReplyMagic);
  PutBe32(h + 4, error);
  memcpy(h + 8, cookie, 8);
  return Send(h, nullptr, 0);
}

// WRITE_ZEROES and TRIM (trim is zeroing: the two halves of the md mirror stay identical). The
// kernel zeroes the range without writing data where it can (fallocate ZERO_RANGE, or a hole
// in a regular file, unless the client asked for none: NBD_CMD_FLAG_NO_HOLE); otherwise zeroes
// are written, through the O_DSYNC descriptor for FUA.
int Session::Zero(uint64_t offset, uint64_t length, bool fua, bool noHole) {
  if (length == 0) return 0;
  const int modes[2] = {FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE};
  bool* unsupported[2] = {&noZeroRange_, &noPunchHole_};
  for (int m = 0; m < 2; m++) {
    if (*unsupported[m] || (m == 1 && (!regularFile || noHole))) continue;
    if (fallocate(fd, modes[m], static_cast<off_t>(offset), static_cast<off_t>(length)) == 0) {
      if (fua && fdatasync(fd) != 0) return errno;
      return 0;
    }
    const int e = errno;
    if (e == EOPNOTSUPP || e == ENOSYS || e == ENODEV) {
      *unsupported[m] = true;
    } else if (e != EINVAL) {
      return e;  // EINVAL: unaligned for this device; written out below
    }
  }
  const int out = fua ? dsyncFd : fd;
  while (length > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(length, kZeroChunk));
    const ssize_t w = pwrite(out, ZeroChunk(), n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    offset += static_cast<uint64_t>(w);
    length -= static_cast<uint64_t>(w);
  }
  return 0;
}

// Runs one request against the export and sends its reply (unless the connection is gone).
void Session::Execute(int i) {
  Slot& s = slots_[i];
  int err = 0;
  const bool fua = (s.flags & kCmdFlagFua) != 0;
  switch (s.type) {
    case kCmdRead: {
      size_t done = 0;
      while (done < s.length) {
        const ssize_t r = pread(fd, s.buf + done, s.length - done, static_cast<off_t>(s.offset + done));
        if (r < 0) {
          if (errno == EINTR) continue;
          err = errno;
          break;
        }
        if (r == 0) {
          err = EIO;  // the file ended early
          break;
        }
        done += static_cast<size_t>(r);
      }
      if (err == 0) c.bytesRead.fetch_add(s.length, std::memory_order_relaxed);
      break;
    }
    case kCmdWrite: {
      const int out = fua ? dsyncFd : fd;
      size_t done = 0;
      while (done < s.length) {
        const ssize_t w = pwrite(out, s.buf + done, s.length - done, static_cast<off_t>(s.offset + done));
        if (w < 0) {
          if (errno == EINTR) continue;
          err = errno;
          break;
        }
        done += static_cast<size_t>(w);
      }
      if (err == 0) c.bytesWritten.fetch_add(s.length, std::memory_order_relaxed);
      break;
    }
    case kCmdFlush:
      if (fdatasync(fd) != 0) err = errno;
      break;
    case kCmdTrim:
    case kCmdWriteZeroes:
      err = Zero(s.offset, s.length, fua, (s.flags & kCmdFlagNoHole) != 0);
      break;
  }
  if (err != 0) c.ioErrors.fetch_add(1, std::memory_order_relaxed);
  unsigned char h[kReplySize];
  PutBe32(h, kSimpleReplyMagic);
  PutBe32(h + 4, err == 0 ? 0 : NbdErrno(err));
  memcpy(h + 8, s.cookie, 8);
  // A simple reply to a failed read carries no payload.
  const bool withData = s.type == kCmdRead && err == 0;
  if (!Send(h, withData ? s.buf : nullptr, withData ? s.length : 0)) ShutdownSocket(SHUT_RDWR);
}

void Session::Complete(int i) {
  Slot& s = slots_[i];
  {
    std::lock_guard<std::mutex> l(mu_);
    // Large buffers, and any beyond the pool's total, go back to the allocator.
    if (s.cap > kMaxPooledCapacity || pooled_ > kMaxPooledBytes) {
      if (s.cap <= kMaxPooledCapacity) pooled_ -= s.cap;
      free(s.buf);
      s.buf = nullptr;
      s.cap = 0;
    }
    inFlight_--;
    held_ -= s.held;
    free_.push_back(i);
  }
  spaceCv_.notify_one();  // only the receiver waits on it
}

void Session::WorkerLoop() {
  for (;;) {
    int i;
    {
      std::unique_lock<std::mutex> l(mu_);
      workCv_.wait(l, [&] { return qCount_ > 0 || receiverDone_; });
      if (qCount_ == 0) break;
      i = queue_[qHead_];
      qHead_ = (qHead_ + 1) % kMaxInFlight;
      qCount_--;
    }
    Execute(i);
    Complete(i);
  }
  ThreadExit();
}

bool Session::Post(EndReport* r, bool last) {
  std::lock_guard<std::mutex> l(reportMu_);
  if (last) reported_ = true;
  if (!tsfnLive_ || tsfn.NonBlockingCall(r) != napi_ok) {
    delete r;
    return false;
  }
  if (last) tsfn.Release();
  return true;
}

void Session::ReportFinal() {
  auto* r = new EndReport{"released", "", 0, {}};
  const std::atomic<uint64_t>* all[10] = {&c.reads, &c.writes, &c.fuaWrites, &c.flushes, &c.trims, &c.writeZeroes, &c.invalidRequests, &c.ioErrors, &c.bytesRead, &c.bytesWritten};
  for (int k = 0; k < 10; k++) r->counters[k] = all[k]->load();
  Post(r, true);
}

void Session::ReceiverLoop() {
  // Node left the descriptor non-blocking; these threads block in the kernel instead.
  const int fl = fcntl(sock, F_GETFL);
  if (fl >= 0 && (fl & O_NONBLOCK) != 0) fcntl(sock, F_SETFL, fl & ~O_NONBLOCK);
  const char* kind = "closed";
  std::string message;
  int err = 0;
  for (;;) {
    if (!Fill(kRequestSize, err)) break;
    const auto* h = reinterpret_cast<const unsigned char*>(rx_ + rxStart_);
    const uint32_t magic = Be32(h);
    if (magic != kRequestMagic) {
      char text[64];
      snprintf(text, sizeof text, "request with bad magic 0x%x", magic);
      kind = "protocol-error";
      message = text;
      break;
    }
    const uint16_t flags = Be16(h + 4), type = Be16(h + 6);
    unsigned char cookie[8];
    memcpy(cookie, h + 8, 8);
    const uint64_t offset = (uint64_t(Be32(h + 16)) << 32) | Be32(h + 20);
    const uint32_t length = Be32(h + 24);
    rxStart_ += kRequestSize;
    // offset + length past the end (written so that it cannot overflow).
    const bool outOfRange = offset > size || length > size - offset;
    if (type == kCmdWrite) {
      if (length > kMaxPayloadBytes) {
        kind = "protocol-error";
        message = "NBD_CMD_WRITE of " + std::to_string(length) + " bytes exceeds the " + std::to_string(kMaxPayloadBytes) + "-byte maximum";
        break;
      }
      c.writes.fetch_add(1, std::memory_order_relaxed);
      if ((flags & kCmdFlagFua) != 0) c.fuaWrites.fetch_add(1, std::memory_order_relaxed);
      if (outOfRange) {
        c.invalidRequests.fetch_add(1, std::memory_order_relaxed);
        if (!Discard(length, err)) break;
        ReplyError(cookie, kENOSPC);
        continue;
      }
      const int i = AcquireSlot(length);
      if (i < 0) break;
      Slot& s = slots_[i];
      if (!EnsureCapacity(s, length)) {
        Complete(i);
        if (!Discard(length, err)) break;
        c.ioErrors.fetch_add(1, std::memory_order_relaxed);
        ReplyError(cookie, kENOMEM);
        continue;
      }
      s.type = type;
      s.flags = flags;
      memcpy(s.cookie, cookie, 8);
      s.offset = offset;
      s.length = length;
      if (!ReceiveInto(s.buf, length, err)) {
        Complete(i);
        break;
      }
      // A small plain write only copies into the page cache: cheaper here than a hand-off.
      if (((flags & kCmdFlagFua) == 0 && length <= kInlineWriteBytes) || (rxEnd_ == rxStart_ && Alone())) {
        Execute(i);
        Complete(i);
      } else {
        Enqueue(i);
      }
      continue;
    }
    uint32_t early = 0;  // reply at once with this error
    uint64_t held = 0;
    switch (type) {
      case kCmdRead:
        c.reads.fetch_add(1, std::memory_order_relaxed);
        if (length > kMaxPayloadBytes) {
          early = kEINVAL;
        } else if (outOfRange) {
          c.invalidRequests.fetch_add(1, std::memory_order_relaxed);
          early = kEINVAL;
        }
        held = length;
        break;
      case kCmdFlush:
        c.flushes.fetch_add(1, std::memory_order_relaxed);
        break;
      case kCmdTrim:
      case kCmdWriteZeroes:
        (type == kCmdTrim ? c.trims : c.writeZeroes).fetch_add(1, std::memory_order_relaxed);
        if (outOfRange) {
          c.invalidRequests.fetch_add(1, std::memory_order_relaxed);
          early = type == kCmdTrim ? kEINVAL : kENOSPC;
        }
        break;
      case kCmdDisc:
        break;
      default:
        c.invalidRequests.fetch_add(1, std::memory_order_relaxed);
        early = kEINVAL;
    }
    if (type == kCmdDisc) {
      kind = "disconnect";
      break;
    }
    if (early != 0) {
      ReplyError(cookie, early);
      continue;
    }
    const int i = AcquireSlot(held);
    if (i < 0) break;
    Slot& s = slots_[i];
    if (type == kCmdRead && !EnsureCapacity(s, length)) {
      Complete(i);
      c.ioErrors.fetch_add(1, std::memory_order_relaxed);
      ReplyError(cookie, kENOMEM);
      continue;
    }
    s.type = type;
    s.flags = flags;
    memcpy(s.cookie, cookie, 8);
    s.offset = offset;
    s.length = length;
    if (rxEnd_ == rxStart_ && Alone()) {
      Execute(i);
      Complete(i);
    } else {
      Enqueue(i);
    }
  }
  const bool disconnect = strcmp(kind, "disconnect") == 0;
  if (!disconnect) {
    // The connection is over at once, as in transmission.ts: replies still to come are dropped.
    connDead_.store(true);
    if (strcmp(kind, "protocol-error") == 0) {
      // Closed by CallJsEnd right after JavaScript has counted it, so a client that sees the
      // close finds the error counted (unless JavaScript is gone: then closed here).
      if (Post(new EndReport{kind, message, err, {}}, false)) {
        // Nor may the descriptor close before then (the last thread out closes it): wait for
        // that stop, bounded, so a JavaScript thread that is gone or stuck holds nothing.
        std::unique_lock<std::mutex> l(mu_);
        spaceCv_.wait_for(l, std::chrono::seconds(2), [&] { return stopping_; });
      }
      ShutdownSocket(SHUT_RDWR);
    } else {
      ShutdownSocket(SHUT_RDWR);
      Post(new EndReport{kind, message, err, {}}, false);
    }
  }
  {
    std::unique_lock<std::mutex> l(mu_);
    receiverDone_ = true;
    workCv_.notify_all();
    spaceCv_.wait(l, [&] { return inFlight_ == 0; });
  }
  if (disconnect) {
    // Every reply is out: a soft disconnect ends like socket.end().
    ShutdownSocket(SHUT_WR);
    Post(new EndReport{kind, message, err, {}}, false);
  }
  ReportFinal();
  if (disconnect) {
    // The client closes after its DISC; wait for that (bounded) rather than closing with its
    // last bytes unread, which would answer with a reset.
    pollfd p{sock, POLLIN, 0};
    char sink[4096];
    for (int waited = 0; waited < kLingerMs;) {
      const int r = poll(&p, 1, 100);
      if (r < 0 && errno != EINTR) break;
      if (r == 0) {
        waited += 100;
        std::lock_guard<std::mutex> l(mu_);
        if (stopping_) break;
        continue;
      }
      const ssize_t n = recv(sock, sink, sizeof sink, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;
    }
  }
  ThreadExit();
}

void CallJsEnd(Napi::Env env, Napi::Function callback, Session* self, EndReport* report) {
  std::unique_ptr<EndReport> owned(report);
  // env is null when Node drains the queue during teardown: nothing to deliver to.
  if (static_cast<napi_env>(env) == nullptr || callback.IsEmpty()) return;
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", owned->kind);
  if (!owned->message.empty()) o.Set("message", owned->message);
  if (owned->err != 0) {
    o.Set("code", ErrnoName(owned->err));
    o.Set("errno", owned->err);
  }
  static const char* names[10] = {"reads", "writes", "fuaWrites", "flushes", "trims", "writeZeroes", "invalidRequests", "ioErrors", "bytesRead", "bytesWritten"};
  Napi::Object counters = Napi::Object::New(env);
  for (int k = 0; k < 10; k++) counters.Set(names[k], static_cast<double>(owned->counters[k]));
  if (owned->kind == "released") o.Set("counters", counters);
  callback.Call({o});
  if (owned->kind == "protocol-error") self->Stop();
}

double Field(const Napi::Object& o, const char* name, double min, double max, double fallback, bool required) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined() && !required) return fallback;
  const double n = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(n) || n < min || n > max || std::floor(n) != n) {
    throw Napi::RangeError::New(o.Env(), std::string("nbdServeStart: ") + name + " missing or out of range");
  }
  return n;
}

int DupOrThrow(Napi::Env env, int fd, const char* what, int* opened, int count) {
  const int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (d < 0) {
    const int e = errno;
    for (int k = 0; k < count; k++) close(opened[k]);
    throw MakeSysError(env, e, std::string("fcntl(F_DUPFD_CLOEXEC ") + what + ")", "");
  }
  return d;
}

}  // namespace

// nbdServeStart({ socketFd, fd, dsyncFd, sizeBytes, leftover?, ioThreads? }, onEnd) -> { stop(), counters() }
Napi::Value NbdServeStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "nbdServeStart(spec: object, onEnd: function)");
  }
  Napi::Object o = info[0].As<Napi::Object>();
  const int socketFd = static_cast<int>(Field(o, "socketFd", 0, 1 << 30, 0, true));
  const int fileFd = static_cast<int>(Field(o, "fd", 0, 1 << 30, 0, true));
  const int dsyncFd = static_cast<int>(Field(o, "dsyncFd", 0, 1 << 30, 0, true));
  const uint64_t size = static_cast<uint64_t>(Field(o, "sizeBytes", 0, 9007199254740991.0, 0, true));
  const int ioThreads = static_cast<int>(Field(o, "ioThreads", 1, 16, 4, false));
  Napi::Value leftover = o.Get("leftover");
  if (!leftover.IsUndefined() && !leftover.IsBuffer()) throw Napi::TypeError::New(env, "nbdServeStart: leftover must be a Buffer");
  int sockType = 0;
  socklen_t len = sizeof sockType;
  if (getsockopt(socketFd, SOL_SOCKET, SO_TYPE, &sockType, &len) != 0) throw MakeSysError(env, errno, "getsockopt(SO_TYPE)", "");
  if (sockType != SOCK_STREAM) throw Napi::TypeError::New(env, "nbdServeStart: socketFd is not a stream socket");
  struct stat st {};
  if (fstat(fileFd, &st) != 0) throw MakeSysError(env, errno, "fstat", "");
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) throw Napi::TypeError::New(env, "nbdServeStart: fd is neither a regular file nor a block device");

  PinAddonInMemory();
  auto s = std::make_shared<Session>();
  if (!leftover.IsUndefined()) {
    auto b = leftover.As<Napi::Buffer<char>>();
    s->initial.assign(b.Data(), b.Data() + b.Length());
  }
  if (!s->Init()) throw MakeSysError(env, ENOMEM, "malloc", "");
  int opened[3];
  opened[0] = DupOrThrow(env, socketFd, "socket", opened, 0);
  opened[1] = DupOrThrow(env, fileFd, "fd", opened, 1);
  opened[2] = DupOrThrow(env, dsyncFd, "dsyncFd", opened, 2);
  s->sock = opened[0];
  s->fd = opened[1];
  s->dsyncFd = opened[2];
  s->size = size;
  s->regularFile = S_ISREG(st.st_mode);
  s->ioThreads = ioThreads;
  // The finalizer co-owns the session, so a late call from a thread never meets freed memory.
  auto* finalizerRef = new std::shared_ptr<Session>(s);
  s->tsfn = EndTsfn::New(
      env, info[1].As<Napi::Function>(), "vigil.nbdServe", 0, 1, s.get(),
      [](Napi::Env, std::shared_ptr<Session>* ref, Session*) {
        (*ref)->Shutdown();
        delete ref;
      },
      finalizerRef);
  s->tsfn.Unref(env);
  s->Start(1 + ioThreads);
  // The threads never take process-directed signals (they belong to Node's own threads).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int started = 0;
  try {
    for (; started < ioThreads; started++) std::thread([s] { s->WorkerLoop(); }).detach();
    std::thread([s] { s->ReceiverLoop(); }).detach();
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    // The workers already running end once the receiver is marked done; nothing is reported.
    s->Abandon(1 + ioThreads - started);
    throw MakeSysError(env, e.code().value(), "pthread_create", "");
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);

  Napi::Object api = Napi::Object::New(env);
  api.Set("stop", Napi::Function::New(env, [s](const Napi::CallbackInfo& ci) {
    s->Stop();
    return ci.Env().Undefined();
  }, "stop"));
  api.Set("counters", Napi::Function::New(env, [s](const Napi::CallbackInfo& ci) {
    Napi::Env e = ci.Env();
    Napi::Object out = Napi::Object::New(e);
    const Counters& c = s->c;
    out.Set("reads", static_cast<double>(c.reads.load()));
    out.Set("writes", static_cast<double>(c.writes.load()));
    out.Set("fuaWrites", static_cast<double>(c.fuaWrites.load()));
    out.Set("flushes", static_cast<double>(c.flushes.load()));
    out.Set("trims", static_cast<double>(c.trims.load()));
    out.Set("writeZeroes", static_cast<double>(c.writeZeroes.load()));
    out.Set("invalidRequests", static_cast<double>(c.invalidRequests.load()));
    out.Set("ioErrors", static_cast<double>(c.ioErrors.load()));
    out.Set("bytesRead", static_cast<double>(c.bytesRead.load()));
    out.Set("bytesWritten", static_cast<double>(c.bytesWritten.load()));
    return out;
  }, "counters"));
  return api;
}

}  // namespace vigil
