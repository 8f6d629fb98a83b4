// Checks that rtpengine, driven by bench/load/rtpengine.{h,cc}, really relays SRTP in both modes
// the load benchmark compares against, and measures its CPU cost per relayed packet.
//
/* Build, from /work/main, with one command (nothing else of the project is needed):

     g++ -std=c++20 -O2 -Wall -Wextra -I bench/load bench/load/rtpengine_probe.cc \
         bench/load/rtpengine.cc -o /tmp/rtpengine_probe -lsrtp2 -labsl_statusor -labsl_status \
         -labsl_strings -labsl_throw_delegate -pthread

   Run: /tmp/rtpengine_probe [--packets=20000] [--rate=5000] [--payload=200] [--cpu=N]
            [--log=/tmp/rtpengine_probe.log] [--ng-port=22222] [--rtpengine-arg=OPT]... [--verbose]
*/
// Per mode it sets up one call (A -> rtpengine -> B, all on 127.0.0.1), then
//  1. sends 200 SRTP packets from A (libsrtp2, AES_CM_128_HMAC_SHA1_80, key A), 1 ms apart, and
//     checks each one received at B: pass-through -> bytes identical to what A sent and they
//     decrypt with key A; re-encrypt -> bytes differ, key A no longer authenticates them and
//     key B decrypts them to A's plaintext (header and payload);
//  2. sends --packets more at a steady --rate, checked the same way by a receiver thread, and
//     reports rtpengine's CPU time (whole process, /proc/<pid>/stat) per packet it delivered,
//     raw and less the daemon's idle CPU measured just before.
// B never sends anything: rtpengine forwards to B's SDP address without latching.
// --cpu=N pins rtpengine to CPU N and the probe's threads to the others, as the io benchmark
// pins the switch's worker; by default nothing is pinned, which on a shared 2-core machine lets
// the scheduler move rtpengine away from another busy process.
// The default rate stays well below what makes rtpengine 10.5 give up on a socket: more than 50
// packets queued on one port at a wake-up, 5 times net, and it stops reading that port for good
// (RTPENGINE.md, pitfalls). At 5000 pps that takes a stall of a few tens of ms.
// Exit status 0 only if every packet of both modes arrived and verified.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <srtp2/srtp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rtpengine.h"

namespace {

using mpswitch::bench::Relay;
using mpswitch::bench::RelayKeys;
using mpswitch::bench::RelayMode;
using mpswitch::bench::Rtpengine;
using mpswitch::bench::RtpengineOptions;

constexpr int kCheckPackets = 200;
constexpr int kRtpHeader = 12;
constexpr int kTag = 10;                // AES_CM_128_HMAC_SHA1_80 auth tag
constexpr uint32_t kSsrc = 0x4d505357;  // "MPSW"

struct Args {
  int packets = 20000;
  int rate = 5000;  // packets per second
  int payload = 200;
  std::string log = "/tmp/rtpengine_probe.log";
  uint16_t ng_port = 22222;
  int cpu = -1;  // CPU to pin rtpengine to, the probe's threads going to the others; -1: none
  std::vector<std::string> rtpengine_args;  // extra daemon options, e.g. --log-level=7
  bool verbose = false;
};

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

void SleepUntilNs(uint64_t t) {
  timespec ts{static_cast<time_t>(t / 1000000000ull), static_cast<long>(t % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// A UDP socket bound to an ephemeral port on 127.0.0.1.
struct Udp {
  int fd = -1;
  uint16_t port = 0;
  ~Udp() {
    if (fd >= 0) close(fd);
  }
  bool Open() {
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    int buf = 4 << 20;  // room for a burst while the other side is descheduled
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return false;
    socklen_t len = sizeof(a);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return false;
    port = ntohs(a.sin_port);
    return true;
  }
};

// One libsrtp2 session with one AES_CM_128_HMAC_SHA1_80 master key, for either direction.
class Srtp {
 public:
  Srtp(const RelayKeys& k, bool outbound) {
    std::memcpy(key_, k.key.data(), 16);
    std::memcpy(key_ + 16, k.salt.data(), 14);
    srtp_policy_t p;
    std::memset(&p, 0, sizeof(p));
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
    p.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    p.key = key_;
    p.window_size = 1024;  // the load phase may reorder a little between threads; be lenient
    ok_ = srtp_create(&s_, &p) == srtp_err_status_ok;
  }
  ~Srtp() {
    if (ok_) srtp_dealloc(s_);
  }
  Srtp(const Srtp&) = delete;
  Srtp& operator=(const Srtp&) = delete;
  bool ok() const { return ok_; }
  // In place; `buf` must have SRTP_MAX_TRAILER_LEN bytes of room after *len.
  srtp_err_status_t Protect(uint8_t* buf, int* len) { return srtp_protect(s_, buf, len); }
  srtp_err_status_t Unprotect(uint8_t* buf, int* len) { return srtp_unprotect(s_, buf, len); }

 private:
  uint8_t key_[30];
  srtp_t s_ = nullptr;
  bool ok_ = false;
};

// The plaintext RTP packet with index i: header with seq/timestamp from i, payload a pattern
// that differs per packet so a misdelivered packet cannot pass for another.
std::vector<uint8_t> PlainPacket(int i, int payload) {
  std::vector<uint8_t> p(static_cast<size_t>(kRtpHeader + payload));
  uint16_t seq = static_cast<uint16_t>(1000 + i);
  uint32_t ts = static_cast<uint32_t>(i) * 3000u;
  p[0] = 0x80;
  p[1] = 96;
  p[2] = uint8_t(seq >> 8), p[3] = uint8_t(seq);
  p[4] = uint8_t(ts >> 24), p[5] = uint8_t(ts >> 16), p[6] = uint8_t(ts >> 8), p[7] = uint8_t(ts);
  p[8] = uint8_t(kSsrc >> 24), p[9] = uint8_t(kSsrc >> 16), p[10] = uint8_t(kSsrc >> 8);
  p[11] = uint8_t(kSsrc);
  for (int j = 0; j < payload; ++j) p[size_t(kRtpHeader + j)] = uint8_t(i * 7 + j);
  return p;
}

// Index of a received packet from its RTP sequence number (no wrap: fewer than 64k packets).
int IndexOf(const uint8_t* p, size_t len) {
  if (len < size_t(kRtpHeader)) return -1;
  return int((uint16_t(p[2]) << 8) | p[3]) - 1000;
}

struct Counts {
  int sent = 0;
  int received = 0;
  int verified = 0;
  int first_failures_printed = 0;
};

// What B checks on every packet; shared by the functional and the load phase.
class Verifier {
 public:
  Verifier(RelayMode mode, const RelayKeys& key_a, const RelayKeys& key_to_b,
           const std::vector<std::vector<uint8_t>>* sent, int payload)
      : mode_(mode),
        with_a_(key_a, false),
        with_b_(key_to_b, false),
        sent_(sent),
        payload_(payload) {}
  bool ok() const { return with_a_.ok() && with_b_.ok(); }

  // Returns "" if the packet verified, else why not.
  std::string Check(const uint8_t* data, size_t len) {
    int i = IndexOf(data, len);
    if (i < 0 || size_t(i) >= sent_->size()) return absl::StrCat("unexpected seq index ", i);
    const std::vector<uint8_t>& srtp = (*sent_)[size_t(i)];
    const bool identical = len == srtp.size() && std::memcmp(data, srtp.data(), len) == 0;
    std::vector<uint8_t> plain = PlainPacket(i, payload_);
    if (mode_ == RelayMode::kPassThrough) {
      if (!identical) return absl::StrCat("packet ", i, " was modified in pass-through mode");
      return Decrypts(with_a_, data, len, plain) ? ""
                                                 : absl::StrCat("packet ", i, " fails with key A");
    }
    if (identical) return absl::StrCat("packet ", i, " left rtpengine unchanged: no re-encryption");
    if (Decrypts(with_a_, data, len, plain)) {
      return absl::StrCat("packet ", i, " still authenticates with key A");
    }
    if (!Decrypts(with_b_, data, len, plain)) {
      return absl::StrCat("packet ", i, " does not decrypt with key B to A's plaintext");
    }
    return "";
  }

 private:
  static bool Decrypts(Srtp& s, const uint8_t* data, size_t len,
                       const std::vector<uint8_t>& plain) {
    std::vector<uint8_t> buf(data, data + len);
    int n = int(len);
    if (s.Unprotect(buf.data(), &n) != srtp_err_status_ok) return false;
    return size_t(n) == plain.size() && std::memcmp(buf.data(), plain.data(), plain.size()) == 0;
  }

  RelayMode mode_;
  Srtp with_a_, with_b_;
  const std::vector<std::vector<uint8_t>>* sent_;
  int payload_;
};

// Receives at B until `expected` packets arrived or nothing came for `idle_ms`.
void Receive(int fd, Verifier& v, Counts& c, int expected, int idle_ms) {
  uint8_t buf[2048];
  while (c.received < expected) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, idle_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) continue;
    ++c.received;
    std::string why = v.Check(buf, size_t(n));
    if (why.empty()) {
      ++c.verified;
    } else if (c.first_failures_printed++ < 5) {
      std::fprintf(stderr, "    FAIL: %s\n", why.c_str());
    }
  }
}

bool SendTo(int fd, uint16_t port, const std::vector<uint8_t>& pkt) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sendto(fd, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) ==
         ssize_t(pkt.size());
}

RelayKeys RandomKeys(std::mt19937_64& rng) {
  RelayKeys k;
  for (auto& b : k.key) b = uint8_t(rng());
  for (auto& b : k.salt) b = uint8_t(rng());
  return k;
}

void PrintCryptoLines(const char* what, const std::string& sdp) {
  std::printf("    %s:", what);
  for (absl::string_view line : absl::StrSplit(sdp, '\n')) {
    line = absl::StripSuffix(line, "\r");
    if (absl::StartsWith(line, "m=") || absl::StartsWith(line, "c=") ||
        absl::StartsWith(line, "a=crypto:1 ") || absl::StartsWith(line, "a=crypto:2 ")) {
      std::printf(" [%.*s]", int(line.size()), line.data());
    }
  }
  std::printf("\n");
}

// Size of the file at `path` (0 if absent), to read later only what was appended since.
off_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

// Whether rtpengine logged, after offset `from`, that it gave up reading a port: 10.5 stops
// reading a socket for good once it found more than 50 packets queued at 5 wake-ups (net of
// wake-ups that drained the queue), which is what a stall of ~50 ms at 5000 pps leads to.
bool EngineGaveUpOnAPort(const std::string& log, off_t from) {
  int fd = open(log.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string text;
  char buf[65536];
  ssize_t n;
  while ((n = pread(fd, buf, sizeof(buf), from + off_t(text.size()))) > 0) text.append(buf, n);
  close(fd);
  return absl::StrContains(text, "UDP receive queue exceeded");
}

// One mode end to end. Returns true if every packet arrived and verified.
bool RunMode(Rtpengine& engine, RelayMode mode, const Args& args, std::mt19937_64& rng) {
  const char* name = mode == RelayMode::kPassThrough ? "pass-through" : "re-encrypt";
  std::printf("== %s\n", name);
  const off_t log_from = FileSize(args.log);
  Udp a, b;
  if (!a.Open() || !b.Open()) {
    std::fprintf(stderr, "  cannot open UDP sockets: %s\n", strerror(errno));
    return false;
  }
  RelayKeys key_a = RandomKeys(rng), key_b = RandomKeys(rng);
  std::string call_id = absl::StrCat("probe-", name, "-", getpid());
  absl::StatusOr<Relay> relay = engine.SetupCall(call_id, mode, a.port, b.port, key_a, key_b);
  if (!relay.ok()) {
    std::fprintf(stderr, "  SetupCall: %s\n", relay.status().ToString().c_str());
    return false;
  }
  std::printf("  A 127.0.0.1:%u -> rtpengine :%u | rtpengine :%u -> B 127.0.0.1:%u\n", a.port,
              relay->engine_port_for_a, relay->engine_port_for_b, b.port);
  if (args.verbose) {
    PrintCryptoLines("offer to B", relay->offer_sdp_to_b);
    PrintCryptoLines("answer to A", relay->answer_sdp_to_a);
  }

  // Every packet of both phases, protected up front so the timed phase only sends.
  const int total = kCheckPackets + args.packets;
  std::vector<std::vector<uint8_t>> sent;
  sent.reserve(size_t(total));
  {
    Srtp tx(key_a, true);
    if (!tx.ok()) {
      std::fprintf(stderr, "  srtp_create failed\n");
      return false;
    }
    for (int i = 0; i < total; ++i) {
      std::vector<uint8_t> p = PlainPacket(i, args.payload);
      int len = int(p.size());
      p.resize(p.size() + SRTP_MAX_TRAILER_LEN);
      if (tx.Protect(p.data(), &len) != srtp_err_status_ok ||
          len != int(p.size()) - SRTP_MAX_TRAILER_LEN + kTag) {
        std::fprintf(stderr, "  srtp_protect failed\n");
        return false;
      }
      p.resize(size_t(len));
      sent.push_back(std::move(p));
    }
  }
  Verifier verifier(mode, key_a, relay->key_to_b, &sent, args.payload);
  if (!verifier.ok()) {
    std::fprintf(stderr, "  srtp_create failed\n");
    return false;
  }

  // 1. Functional check: 200 packets, 1 ms apart.
  Counts check;
  for (int i = 0; i < kCheckPackets; ++i) {
    if (SendTo(a.fd, relay->engine_port_for_a, sent[size_t(i)])) ++check.sent;
    Receive(b.fd, verifier, check, check.sent, 1);
  }
  Receive(b.fd, verifier, check, check.sent, 500);
  std::printf("  check: sent %d received %d verified %d\n", check.sent, check.received,
              check.verified);
  bool ok = check.sent == kCheckPackets && check.verified == kCheckPackets &&
            check.received == kCheckPackets;

  // 2. Load: the daemon's idle CPU first, then a steady stream verified by a receiver thread.
  const uint64_t idle_t0 = NowNs(), idle_c0 = engine.CpuNs();
  usleep(1000000);
  const double idle_ns_per_s = double(engine.CpuNs() - idle_c0) * 1e9 / double(NowNs() - idle_t0);

  Counts load;
  std::thread receiver([&] { Receive(b.fd, verifier, load, args.packets, 1000); });
  const uint64_t interval_ns = 1000000000ull / uint64_t(args.rate);
  const uint64_t t0 = NowNs();
  const Rtpengine::CpuTimes c0 = engine.Cpu();
  for (int i = 0; i < args.packets; ++i) {
    SleepUntilNs(t0 + uint64_t(i) * interval_ns);
    if (SendTo(a.fd, relay->engine_port_for_a, sent[size_t(kCheckPackets + i)])) ++load.sent;
  }
  receiver.join();
  const Rtpengine::CpuTimes c1 = engine.Cpu();
  const uint64_t t1 = NowNs();
  const double secs = double(t1 - t0) / 1e9;
  const double n = load.received ? double(load.received) : 1.0;
  const double user = double(c1.user_ns - c0.user_ns), sys = double(c1.system_ns - c0.system_ns);
  std::printf("  load:  sent %d received %d verified %d in %.2f s (%.0f pps)\n", load.sent,
              load.received, load.verified, secs, load.received / secs);
  std::printf(
      "  rtpengine CPU: %.0f ns per output packet (user %.0f + system %.0f; %.0f net of its idle "
      "%.2f ms/s)\n",
      (user + sys) / n, user / n, sys / n, (user + sys - idle_ns_per_s * secs) / n,
      idle_ns_per_s / 1e6);
  ok = ok && load.sent == args.packets && load.received == args.packets &&
       load.verified == args.packets;
  if (load.received < load.sent && EngineGaveUpOnAPort(args.log, log_from)) {
    std::printf(
        "  rtpengine stopped reading A's port ('UDP receive queue exceeded' in %s): it was\n"
        "  held off its CPU long enough for more than 50 packets to queue, repeatedly. Rerun on\n"
        "  a quiet machine, lower --rate, or give it priority (--rtpengine-arg=--scheduling=fifo\n"
        "  --rtpengine-arg=--priority=10); see RTPENGINE.md, pitfalls.\n",
        args.log.c_str());
  }

  absl::Status del = engine.DeleteCall(call_id);
  if (!del.ok()) {
    std::fprintf(stderr, "  DeleteCall: %s\n", del.ToString().c_str());
    ok = false;
  }
  std::printf("  %s: %s\n", name, ok ? "OK" : "FAILED");
  return ok;
}

bool ParseArgs(int argc, char** argv, Args& args) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    uint32_t v = 0;
    if (absl::ConsumePrefix(&a, "--packets=") && absl::SimpleAtoi(a, &v) && v > 0 && v < 60000) {
      args.packets = int(v);
    } else if (absl::ConsumePrefix(&a, "--rate=") && absl::SimpleAtoi(a, &v) && v > 0) {
      args.rate = int(v);
    } else if (absl::ConsumePrefix(&a, "--payload=") && absl::SimpleAtoi(a, &v) && v < 1400) {
      args.payload = int(v);
    } else if (absl::ConsumePrefix(&a, "--ng-port=") && absl::SimpleAtoi(a, &v) && v > 0 &&
               v < 65536) {
      args.ng_port = uint16_t(v);
    } else if (absl::ConsumePrefix(&a, "--cpu=") && absl::SimpleAtoi(a, &args.cpu) &&
               args.cpu >= -1) {
    } else if (absl::ConsumePrefix(&a, "--rtpengine-arg=")) {
      args.rtpengine_args.emplace_back(a);
    } else if (absl::ConsumePrefix(&a, "--log=")) {
      args.log = std::string(a);
    } else if (a == "--verbose") {
      args.verbose = true;
    } else {
      std::fprintf(stderr, "unknown or bad argument: %s\n", argv[i]);
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, args)) return 2;
  if (srtp_init() != srtp_err_status_ok) {
    std::fprintf(stderr, "srtp_init failed\n");
    return 1;
  }
  RtpengineOptions opts;
  opts.ng_port = args.ng_port;
  opts.log_file = args.log;
  opts.extra_args = args.rtpengine_args;
  const int ncpu = int(sysconf(_SC_NPROCESSORS_ONLN));
  opts.cpu = args.cpu;
  if (opts.cpu >= 0 && ncpu >= 2) {
    // The probe's sender and receiver keep off rtpengine's CPU, as in the io benchmark, so that
    // its CPU time is its own work and not time-slicing with ours.
    cpu_set_t others;
    CPU_ZERO(&others);
    for (int c = 0; c < ncpu; ++c) {
      if (c != opts.cpu) CPU_SET(c, &others);
    }
    sched_setaffinity(0, sizeof(others), &others);
  }
  absl::StatusOr<std::unique_ptr<Rtpengine>> engine = Rtpengine::Start(opts);
  if (!engine.ok()) {
    std::fprintf(stderr, "Rtpengine::Start: %s\n", engine.status().ToString().c_str());
    return 1;
  }
  std::printf(
      "rtpengine pid %d on cpu %d, ng 127.0.0.1:%u, log %s; %d packets at %d pps, payload %d\n",
      int((*engine)->pid()), opts.cpu, opts.ng_port, opts.log_file.c_str(), args.packets, args.rate,
      args.payload);
  std::mt19937_64 rng(std::random_device{}());
  bool ok = RunMode(**engine, RelayMode::kPassThrough, args, rng);
  ok = RunMode(**engine, RelayMode::kReencrypt, args, rng) && ok;
  engine->reset();
  srtp_shutdown();
  std::printf("%s\n", ok ? "ALL OK" : "FAILURES");
  return ok ? 0 : 1;
}
