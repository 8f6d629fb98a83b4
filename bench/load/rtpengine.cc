#include "rtpengine.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace mpswitch::bench {
namespace {

constexpr absl::string_view kSuite = "AES_CM_128_HMAC_SHA1_80";
// Deep enough for any ng reply (query nests about 6 levels), shallow enough that a hostile
// "llll..." cannot exhaust the stack of the recursive decoder.
constexpr int kMaxDepth = 64;

int64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

std::string ErrnoText(int err) { return std::string(strerror(err)); }

// ----- bencode decoding ------------------------------------------------------------------------

class Decoder {
 public:
  explicit Decoder(absl::string_view in) : in_(in) {}

  absl::StatusOr<Bencode> Value(int depth) {
    if (depth > kMaxDepth) return Error("nesting too deep");
    if (pos_ >= in_.size()) return Error("truncated input");
    char c = in_[pos_];
    if (c == 'i') {
      ++pos_;
      absl::StatusOr<int64_t> v = Number('e', /*allow_negative=*/true);
      if (!v.ok()) return v.status();
      return Bencode::Int(*v);
    }
    if (c == 'l') {
      ++pos_;
      std::vector<Bencode> items;
      while (true) {
        if (pos_ >= in_.size()) return Error("unterminated list");
        if (in_[pos_] == 'e') break;
        absl::StatusOr<Bencode> item = Value(depth + 1);
        if (!item.ok()) return item.status();
        items.push_back(*std::move(item));
      }
      ++pos_;
      return Bencode::List(std::move(items));
    }
    if (c == 'd') {
      ++pos_;
      Bencode::Dict items;
      while (true) {
        if (pos_ >= in_.size()) return Error("unterminated dictionary");
        if (in_[pos_] == 'e') break;
        // Keys must be strings. Their order is not checked: rtpengine does not sort its output.
        if (!absl::ascii_isdigit(static_cast<unsigned char>(in_[pos_]))) {
          return Error("dictionary key is not a string");
        }
        absl::StatusOr<std::string> key = String();
        if (!key.ok()) return key.status();
        if (pos_ >= in_.size()) return Error("dictionary key without value");
        absl::StatusOr<Bencode> value = Value(depth + 1);
        if (!value.ok()) return value.status();
        // Kept as sent, duplicates included: Find() returns the first.
        items.emplace_back(*std::move(key), *std::move(value));
      }
      ++pos_;
      return Bencode::MakeDict(std::move(items));
    }
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      absl::StatusOr<std::string> s = String();
      if (!s.ok()) return s.status();
      return Bencode::Str(*std::move(s));
    }
    return Error(absl::StrCat("unexpected byte 0x", absl::Hex(static_cast<unsigned char>(c))));
  }

  size_t pos() const { return pos_; }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("bencode: ", what, " at offset ", pos_));
  }

  // Decimal digits up to `terminator`. No leading zeros and no "-0" (the spec's canonical form),
  // no overflow: a reply is rejected rather than misread.
  absl::StatusOr<int64_t> Number(char terminator, bool allow_negative) {
    bool negative = false;
    if (allow_negative && pos_ < in_.size() && in_[pos_] == '-') {
      negative = true;
      ++pos_;
    }
    size_t start = pos_;
    uint64_t magnitude = 0;
    const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
    while (pos_ < in_.size() && absl::ascii_isdigit(static_cast<unsigned char>(in_[pos_]))) {
      uint64_t digit = static_cast<uint64_t>(in_[pos_] - '0');
      if (magnitude > (limit - digit) / 10) return Error("integer out of range");
      magnitude = magnitude * 10 + digit;
      ++pos_;
    }
    size_t digits = pos_ - start;
    if (digits == 0) return Error("number without digits");
    if (pos_ >= in_.size() || in_[pos_] != terminator) return Error("malformed number");
    if (digits > 1 && in_[start] == '0') return Error("number with leading zero");
    if (negative && magnitude == 0) return Error("negative zero");
    ++pos_;  // the terminator
    // Two's complement by hand: negating INT64_MIN as a signed value would be undefined.
    if (negative) return static_cast<int64_t>(~magnitude + 1);
    return static_cast<int64_t>(magnitude);
  }

  absl::StatusOr<std::string> String() {
    absl::StatusOr<int64_t> len = Number(':', /*allow_negative=*/false);
    if (!len.ok()) return len.status();
    if (static_cast<uint64_t>(*len) > in_.size() - pos_) return Error("string runs past the end");
    std::string s(in_.substr(pos_, static_cast<size_t>(*len)));
    pos_ += static_cast<size_t>(*len);
    return s;
  }

  absl::string_view in_;
  size_t pos_ = 0;
};

// ----- SDP -------------------------------------------------------------------------------------

absl::StatusOr<RelayKeys> DecodeInlineKey(absl::string_view b64) {
  std::string raw;
  // rtpengine leaves out the '=' padding by default (SDES "pad" flag); absl accepts both.
  if (!absl::Base64Unescape(b64, &raw)) {
    return absl::InvalidArgumentError(absl::StrCat("bad base64 in a=crypto: ", b64));
  }
  RelayKeys k{};
  if (raw.size() != k.key.size() + k.salt.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a=crypto key||salt is ", raw.size(), " bytes, want 30"));
  }
  std::memcpy(k.key.data(), raw.data(), k.key.size());
  std::memcpy(k.salt.data(), raw.data() + k.key.size(), k.salt.size());
  return k;
}

bool SameKeys(const RelayKeys& a, const RelayKeys& b) { return a.key == b.key && a.salt == b.salt; }

// The SDP bodies both sides would send: one m= line, payload type 96, SDES lines as given.
std::string BuildSdp(const RtpengineOptions& o, uint16_t port,
                     const std::vector<std::pair<int, const RelayKeys*>>& cryptos) {
  // clang-format off
  std::string sdp = absl::StrCat(
      "v=0\r\n"
      "o=- ", port, " 1 IN IP4 127.0.0.1\r\n"
      "s=mpswitch-bench\r\n"
      "c=IN IP4 127.0.0.1\r\n"
      "t=0 0\r\n"
      "m=", o.media_type, " ", port, " RTP/SAVP 96\r\n"
      "a=rtpmap:96 ", o.rtpmap, "\r\n"
      "a=sendrecv\r\n");
  // clang-format on
  for (const auto& [tag, keys] : cryptos) {
    absl::StrAppend(&sdp, "a=crypto:", tag, " ", kSuite, " inline:", SdesInlineKey(*keys), "\r\n");
  }
  return sdp;
}

// Flags shared by offer and answer. Each one pins down behaviour that would otherwise depend on
// rtpengine's defaults or on what the peers happen to send:
//  - ICE remove: no candidates, no STUN; media goes to the c=/m= address directly.
//  - DTLS off: otherwise rtpengine also offers DTLS-SRTP (a=fingerprint, a=setup:actpass) to B
//    and, had DTLS been chosen, would re-encrypt for that reason alone.
//  - replace origin + session-connection: o= and c= name rtpengine, so the address we read back
//    is the one media must go to.
//  - record call no: recording forces decrypt/re-encrypt as well (and writes files).
void AddCommonFlags(Bencode& req) {
  req.Set("ICE", Bencode::Str("remove"));
  req.Set("DTLS", Bencode::Str("off"));
  req.Set("replace", Bencode::StrList({"origin", "session-connection"}));
  req.Set("record call", Bencode::Str("no"));
}

// The last max_bytes of what was written to `path` after offset `from` (this run's part of a log
// that is appended to).
std::string TailOfFile(const std::string& path, off_t from, size_t max_bytes) {
  if (path.empty()) return "";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  off_t size = lseek(fd, 0, SEEK_END);
  off_t start = std::max(from, size - static_cast<off_t>(max_bytes));
  if (size <= start) {
    close(fd);
    return "";
  }
  std::string out(static_cast<size_t>(size - start), '\0');
  ssize_t n = pread(fd, out.data(), out.size(), start);
  close(fd);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

// waitpid without blocking; true (and the status) if the child has exited.
bool Reaped(pid_t pid, int* status) {
  pid_t r;
  do {
    r = waitpid(pid, status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  return r == pid;
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("was killed by signal ", WTERMSIG(status));
  return "stopped";
}

}  // namespace

// ----- Bencode ---------------------------------------------------------------------------------

Bencode Bencode::Str(std::string s) {
  Bencode b;
  b.type_ = Type::kString;
  b.str_ = std::move(s);
  return b;
}

Bencode Bencode::Int(int64_t v) {
  Bencode b;
  b.type_ = Type::kInteger;
  b.int_ = v;
  return b;
}

Bencode Bencode::List(std::vector<Bencode> items) {
  Bencode b;
  b.type_ = Type::kList;
  b.list_ = std::move(items);
  return b;
}

Bencode Bencode::StrList(const std::vector<std::string>& items) {
  std::vector<Bencode> v;
  v.reserve(items.size());
  for (const std::string& s : items) v.push_back(Str(s));
  return List(std::move(v));
}

Bencode Bencode::MakeDict(Dict items) {
  Bencode b;
  b.type_ = Type::kDict;
  b.dict_ = std::move(items);
  return b;
}

Bencode& Bencode::Set(std::string key, Bencode value) {
  if (type_ != Type::kDict) *this = MakeDict();
  for (auto& [k, v] : dict_) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  dict_.emplace_back(std::move(key), std::move(value));
  return *this;
}

const Bencode* Bencode::Find(absl::string_view key) const {
  if (type_ != Type::kDict) return nullptr;
  for (const auto& [k, v] : dict_) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::optional<absl::string_view> Bencode::FindString(absl::string_view key) const {
  const Bencode* v = Find(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return absl::string_view(v->str());
}

void Bencode::EncodeTo(std::string& out) const {
  switch (type_) {
    case Type::kString:
      absl::StrAppend(&out, str_.size(), ":", str_);
      return;
    case Type::kInteger:
      absl::StrAppend(&out, "i", int_, "e");
      return;
    case Type::kList:
      out.push_back('l');
      for (const Bencode& item : list_) item.EncodeTo(out);
      out.push_back('e');
      return;
    case Type::kDict: {
      std::vector<const std::pair<std::string, Bencode>*> sorted;
      sorted.reserve(dict_.size());
      for (const auto& kv : dict_) sorted.push_back(&kv);
      std::stable_sort(sorted.begin(), sorted.end(),
                       [](const auto* a, const auto* b) { return a->first < b->first; });
      out.push_back('d');
      for (const auto* kv : sorted) {
        absl::StrAppend(&out, kv->first.size(), ":", kv->first);
        kv->second.EncodeTo(out);
      }
      out.push_back('e');
      return;
    }
  }
}

std::string Bencode::Encode() const {
  std::string out;
  EncodeTo(out);
  return out;
}

absl::StatusOr<Bencode> BencodeDecode(absl::string_view in) {
  Decoder d(in);
  absl::StatusOr<Bencode> v = d.Value(0);
  if (!v.ok()) return v.status();
  if (d.pos() != in.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bencode: ", in.size() - d.pos(), " trailing bytes after the value"));
  }
  return v;
}

// ----- SDP helpers -----------------------------------------------------------------------------

std::string SdesInlineKey(const RelayKeys& keys) {
  std::string raw(reinterpret_cast<const char*>(keys.key.data()), keys.key.size());
  raw.append(reinterpret_cast<const char*>(keys.salt.data()), keys.salt.size());
  return absl::Base64Escape(raw);
}

absl::StatusOr<SdpSummary> ParseSdp(absl::string_view sdp) {
  SdpSummary out;
  bool in_media = false;
  bool have_media = false;
  for (absl::string_view line : absl::StrSplit(sdp, '\n')) {
    line = absl::StripSuffix(line, "\r");
    if (absl::ConsumePrefix(&line, "m=")) {
      if (have_media) break;  // only the first media section
      // m=<media> <port>[/<count>] <proto> <fmt>...
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      uint32_t port = 0;
      if (f.size() < 4 || !absl::SimpleAtoi(f[1].substr(0, f[1].find('/')), &port) ||
          port > 65535) {
        return absl::InvalidArgumentError(absl::StrCat("bad m= line: ", line));
      }
      out.port = static_cast<uint16_t>(port);
      out.protocol = std::string(f[2]);
      in_media = have_media = true;
    } else if (absl::ConsumePrefix(&line, "c=")) {
      // c=IN IP4 <addr>; a media-level c= overrides the session-level one.
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() >= 3 && (in_media || out.connection_address.empty())) {
        out.connection_address = std::string(f[2].substr(0, f[2].find('/')));
      }
    } else if (in_media && absl::ConsumePrefix(&line, "a=crypto:")) {
      // a=crypto:<tag> <suite> inline:<key||salt>[|lifetime][|mki:len] [session params]
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      SdpCrypto c;
      if (f.size() < 3 || !absl::SimpleAtoi(f[0], &c.tag) || !absl::StartsWith(f[2], "inline:")) {
        return absl::InvalidArgumentError(absl::StrCat("bad a=crypto line: ", line));
      }
      c.suite = std::string(f[1]);
      if (c.suite == kSuite) {
        absl::string_view key = f[2].substr(7);
        key = key.substr(0, key.find('|'));
        absl::StatusOr<RelayKeys> k = DecodeInlineKey(key);
        if (!k.ok()) return k.status();
        c.keys = *k;
      }
      out.cryptos.push_back(std::move(c));
    }
  }
  if (!have_media) return absl::InvalidArgumentError("SDP without m= line");
  return out;
}

// ----- Rtpengine -------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Rtpengine>> Rtpengine::Start(const RtpengineOptions& options) {
  if (access(options.binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("rtpengine binary ", options.binary, " is not executable (", ErrnoText(errno),
                     "): install the Debian package with 'apt-get install --no-install-recommends "
                     "rtpengine-daemon' or set RtpengineOptions::binary"));
  }
  if (options.port_min > options.port_max || options.port_max - options.port_min < 3) {
    return absl::InvalidArgumentError("rtpengine port range needs at least 4 ports (one call)");
  }
  if (options.threads < 1) return absl::InvalidArgumentError("rtpengine needs >= 1 thread");
  if (options.cpu >= CPU_SETSIZE || options.cpu >= sysconf(_SC_NPROCESSORS_CONF)) {
    return absl::InvalidArgumentError(absl::StrCat("no CPU ", options.cpu, " to pin rtpengine to"));
  }

  sockaddr_in ng{};
  ng.sin_family = AF_INET;
  ng.sin_port = htons(options.ng_port);
  ng.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  // A daemon we did not start (the packaged service, a leftover from a crashed run) would answer
  // our pings and silently become the baseline, or hold the port so ours exits at once.
  {
    int probe = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return absl::InternalError(absl::StrCat("socket: ", ErrnoText(errno)));
    int rc = bind(probe, reinterpret_cast<sockaddr*>(&ng), sizeof(ng));
    int err = errno;
    close(probe);
    if (rc != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ng port 127.0.0.1:", options.ng_port, " is taken (", ErrnoText(err),
          "): another rtpengine may be running (check 'ss -ulpn'); stop it or pick another "
          "ng_port"));
    }
  }

  int ng_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ng_fd < 0) return absl::InternalError(absl::StrCat("socket: ", ErrnoText(errno)));
  if (connect(ng_fd, reinterpret_cast<sockaddr*>(&ng), sizeof(ng)) != 0) {
    int err = errno;
    close(ng_fd);
    return absl::InternalError(absl::StrCat("connect to ng port: ", ErrnoText(err)));
  }

  // Userspace only: --table=-1 means no kernel forwarding table (the xt_RTPENGINE module is not
  // loaded, nor wanted: the baseline is rtpengine's userspace relay), and --no-fallback must NOT
  // be given, as it makes the daemon exit when the module is missing. --config-file=none: the
  // package's /etc/rtpengine/rtpengine.conf is read by default and would add table=0, a
  // recording method, listeners on ports 2223-2225 and interface=any to our command line.
  std::vector<std::string> args = {
      options.binary,
      "--config-file=none",
      "--table=-1",
      "--foreground",
      "--log-stderr",
      absl::StrCat("--log-level=", options.log_level),
      absl::StrCat("--listen-ng=127.0.0.1:", options.ng_port),
      absl::StrCat("--interface=", options.interface),
      absl::StrCat("--port-min=", options.port_min),
      absl::StrCat("--port-max=", options.port_max),
      absl::StrCat("--num-threads=", options.threads),
      // Deleted calls free their ports at once (default: 30 s later).
      "--delete-delay=0",
  };
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int log_fd = STDERR_FILENO;
  off_t log_start = 0;
  if (!options.log_file.empty()) {
    log_fd = open(options.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      int err = errno;
      close(ng_fd);
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open log file ", options.log_file, ": ", ErrnoText(err)));
    }
    log_start = lseek(log_fd, 0, SEEK_END);
  }
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = getpid();
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (options.cpu >= 0) CPU_SET(options.cpu, &cpus);

  pid_t pid = fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec. The daemon gets SIGTERM if its parent
    // dies (crashed benchmark), so it never lingers holding the ng and media ports. Note that
    // the death signal fires when the *thread* that called Start exits.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    if (options.cpu >= 0 && sched_setaffinity(0, sizeof(cpus), &cpus) != 0) _exit(126);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    if (log_fd != STDERR_FILENO) dup2(log_fd, STDERR_FILENO);
    execv(argv[0], argv.data());
    static const char kMsg[] = "Rtpengine::Start: execv of the rtpengine binary failed\n";
    ssize_t ignored = write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
    (void)ignored;
    _exit(127);
  }
  int fork_errno = errno;
  if (null_fd >= 0) close(null_fd);
  if (log_fd != STDERR_FILENO) close(log_fd);
  if (pid < 0) {
    close(ng_fd);
    return absl::InternalError(absl::StrCat("fork: ", ErrnoText(fork_errno)));
  }

  // From here on the destructor owns the process: it is stopped on every error path below.
  std::unique_ptr<Rtpengine> engine(new Rtpengine(options, pid, ng_fd));
  std::string where_log = options.log_file.empty() ? std::string("its output on stderr")
                                                   : absl::StrCat("the log ", options.log_file);

  // Startup takes ~10 ms (mostly generating the DTLS certificate); ping with short attempts.
  const int64_t deadline = MonotonicMs() + options.startup_timeout_ms;
  engine->options_.ng_timeout_ms = 100;
  engine->options_.ng_attempts = 1;
  while (true) {
    int status = 0;
    if (Reaped(pid, &status)) {
      engine->pid_ = -1;  // nothing left to stop
      std::string tail = TailOfFile(options.log_file, log_start, 800);
      // Status 255 without a word in the log is how 10.5 reacts to an option it does not know.
      return absl::FailedPreconditionError(absl::StrCat(
          "rtpengine ", DescribeExit(status),
          " during startup; command line: ", absl::StrJoin(args, " "), "; see ", where_log,
          tail.empty() ? " (empty: an unknown option makes it exit 255 silently)"
                       : ", which ends with:\n",
          tail));
    }
    Bencode ping = Bencode::MakeDict();
    ping.Set("command", Bencode::Str("ping"));
    absl::StatusOr<Bencode> reply = engine->Command(ping);
    if (reply.ok()) {
      if (reply->FindString("result") == "pong") break;
      return absl::FailedPreconditionError(
          absl::StrCat("rtpengine answered ping without pong: ", reply->Encode()));
    }
    if (MonotonicMs() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "rtpengine (pid ", pid, ") did not answer an ng ping on 127.0.0.1:", options.ng_port,
          " within ", options.startup_timeout_ms, " ms; see ", where_log));
    }
  }
  engine->options_.ng_timeout_ms = options.ng_timeout_ms;
  engine->options_.ng_attempts = options.ng_attempts;
  return engine;
}

Rtpengine::~Rtpengine() {
  if (pid_ > 0) {
    int status = 0;
    // SIGTERM lets rtpengine close its calls and sockets; it exits within a few ms.
    kill(pid_, SIGTERM);
    const int64_t deadline = MonotonicMs() + 3000;
    bool gone = false;
    while (!(gone = Reaped(pid_, &status)) && MonotonicMs() < deadline) usleep(10000);
    if (!gone) {
      kill(pid_, SIGKILL);
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
  if (ng_fd_ >= 0) close(ng_fd_);
}

Rtpengine::CpuTimes Rtpengine::Cpu() const {
  CpuTimes out;
  if (pid_ <= 0) return out;
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid_));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return out;
  absl::string_view stat(buf, static_cast<size_t>(n));
  // "pid (comm) state ppid ...": comm may contain spaces and ')', so count fields from the last
  // ')'. After it come field 3 (state) onwards; utime and stime are fields 14 and 15 (proc(5)),
  // and at the process level they sum all threads, live and exited.
  size_t paren = stat.rfind(')');
  if (paren == absl::string_view::npos) return out;
  std::vector<absl::string_view> f = absl::StrSplit(stat.substr(paren + 1), ' ', absl::SkipEmpty());
  uint64_t utime = 0, stime = 0;
  if (f.size() < 13 || !absl::SimpleAtoi(f[11], &utime) || !absl::SimpleAtoi(f[12], &stime)) {
    return out;
  }
  static const long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return out;
  out.user_ns = utime * 1000000000ull / static_cast<uint64_t>(ticks);
  out.system_ns = stime * 1000000000ull / static_cast<uint64_t>(ticks);
  return out;
}

absl::StatusOr<Bencode> Rtpengine::Command(const Bencode& request) {
  // The cookie only has to be unique among requests still in flight; pid makes it unique
  // between processes talking to the same daemon.
  std::string cookie = absl::StrCat(getpid(), "_", next_cookie_++);
  std::string wire = absl::StrCat(cookie, " ", request.Encode());
  std::string buf(65536, '\0');

  for (int attempt = 0; attempt < options_.ng_attempts; ++attempt) {
    if (send(ng_fd_, wire.data(), wire.size(), 0) < 0 && errno != ECONNREFUSED) {
      return absl::UnavailableError(absl::StrCat("ng send: ", ErrnoText(errno)));
    }
    const int64_t deadline = MonotonicMs() + options_.ng_timeout_ms;
    while (true) {
      int64_t left = deadline - MonotonicMs();
      if (left <= 0) break;
      pollfd p{ng_fd_, POLLIN, 0};
      int pr = poll(&p, 1, static_cast<int>(left));
      if (pr < 0 && errno == EINTR) continue;
      if (pr <= 0) break;
      ssize_t n = recv(ng_fd_, buf.data(), buf.size(), 0);
      // ECONNREFUSED: an ICMP port unreachable from an earlier send (nobody listening yet).
      if (n < 0) {
        if (errno == EINTR || errno == ECONNREFUSED) continue;
        return absl::UnavailableError(absl::StrCat("ng recv: ", ErrnoText(errno)));
      }
      absl::string_view reply(buf.data(), static_cast<size_t>(n));
      size_t space = reply.find(' ');
      // A reply to an earlier, retransmitted request: not ours, keep waiting.
      if (space == absl::string_view::npos || reply.substr(0, space) != cookie) continue;
      absl::StatusOr<Bencode> body = BencodeDecode(reply.substr(space + 1));
      if (!body.ok()) {
        return absl::DataLossError(absl::StrCat("undecodable ng reply: ", body.status().message()));
      }
      if (!body->is_dict()) return absl::DataLossError("ng reply is not a dictionary");
      return body;
    }
  }
  return absl::DeadlineExceededError(
      absl::StrCat("no ng reply from rtpengine on 127.0.0.1:", options_.ng_port, " after ",
                   options_.ng_attempts, " x ", options_.ng_timeout_ms, " ms"));
}

absl::StatusOr<Bencode> Rtpengine::CommandOk(const Bencode& request, absl::string_view what) {
  absl::StatusOr<Bencode> reply = Command(request);
  if (!reply.ok()) {
    return absl::Status(reply.status().code(),
                        absl::StrCat("rtpengine ", what, ": ", reply.status().message()));
  }
  std::optional<absl::string_view> result = reply->FindString("result");
  if (result != "ok") {
    std::optional<absl::string_view> reason = reply->FindString("error-reason");
    return absl::FailedPreconditionError(
        absl::StrCat("rtpengine ", what, " failed: result=", result.value_or("(none)"),
                     ", error-reason=", reason.value_or("(none)")));
  }
  return reply;
}

absl::StatusOr<Relay> Rtpengine::SetupCall(const std::string& call_id, RelayMode mode,
                                           uint16_t a_port, uint16_t b_port, const RelayKeys& key_a,
                                           const RelayKeys& key_b) {
  if (call_id.empty()) return absl::InvalidArgumentError("empty call id");
  const bool reencrypt = mode == RelayMode::kReencrypt;

  // Offer from A. rtpengine copies every crypto line it is offered, key included, into its own
  // offer to B (adding lines of its own for the other suites) and encrypts towards B with the
  // copy of the line B accepts; towards A it uses a copy of B's answer key. It decrypts only if
  // some leg's receive key differs from the other leg's send key (media_socket.c,
  // __determine_handler). kPassThrough: B accepts tag 1 = key A, all keys match, the SRTP goes
  // through untouched. kReencrypt: A also offers key B as tag 2 and B accepts that; rtpengine
  // still receives from A with tag 1 (the first line of A's offer with the suite B chose), so it
  // decrypts with key A and encrypts again with key B.
  std::vector<std::pair<int, const RelayKeys*>> a_cryptos = {{1, &key_a}};
  if (reencrypt) a_cryptos.push_back({2, &key_b});
  const int b_tag = reencrypt ? 2 : 1;

  Bencode offer = Bencode::MakeDict();
  offer.Set("command", Bencode::Str("offer"));
  offer.Set("call-id", Bencode::Str(call_id));
  offer.Set("from-tag", Bencode::Str("a"));
  offer.Set("sdp", Bencode::Str(BuildSdp(options_, a_port, a_cryptos)));
  AddCommonFlags(offer);
  absl::StatusOr<Bencode> offer_reply = CommandOk(offer, "offer");
  if (!offer_reply.ok()) return offer_reply.status();

  Relay relay{};
  relay.call_id = call_id;
  relay.offer_sdp_to_b = std::string(offer_reply->FindString("sdp").value_or(""));
  absl::StatusOr<SdpSummary> to_b = ParseSdp(relay.offer_sdp_to_b);
  if (!to_b.ok()) {
    return absl::DataLossError(absl::StrCat("rtpengine's offer SDP: ", to_b.status().message()));
  }
  relay.engine_port_for_b = to_b->port;
  const SdpCrypto* accepted = nullptr;
  for (const SdpCrypto& c : to_b->cryptos) {
    if (c.tag == b_tag && c.suite == kSuite) accepted = &c;
  }
  if (accepted == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("rtpengine's offer to B has no a=crypto:", b_tag, " ", kSuite, " line:\n",
                     relay.offer_sdp_to_b));
  }
  relay.key_to_b = accepted->keys;
  // The copy of A's lines is what both modes rest on; a version that generated fresh keys
  // instead would turn kPassThrough into a re-encryption without anyone noticing.
  if (!SameKeys(relay.key_to_b, reencrypt ? key_b : key_a)) {
    return absl::FailedPreconditionError(
        absl::StrCat("rtpengine's offer to B carries a different key at tag ", b_tag,
                     " than the one offered by A: its SDES handling differs from 10.5's"));
  }

  // Answer from B: accepts tag b_tag and announces key B as what B itself would send with.
  Bencode answer = Bencode::MakeDict();
  answer.Set("command", Bencode::Str("answer"));
  answer.Set("call-id", Bencode::Str(call_id));
  answer.Set("from-tag", Bencode::Str("a"));
  answer.Set("to-tag", Bencode::Str("b"));
  answer.Set("sdp", Bencode::Str(BuildSdp(options_, b_port, {{b_tag, &key_b}})));
  AddCommonFlags(answer);
  absl::StatusOr<Bencode> answer_reply = CommandOk(answer, "answer");
  if (!answer_reply.ok()) return answer_reply.status();

  relay.answer_sdp_to_a = std::string(answer_reply->FindString("sdp").value_or(""));
  absl::StatusOr<SdpSummary> to_a = ParseSdp(relay.answer_sdp_to_a);
  if (!to_a.ok()) {
    return absl::DataLossError(absl::StrCat("rtpengine's answer SDP: ", to_a.status().message()));
  }
  if (to_a->protocol != "RTP/SAVP" || to_a->cryptos.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("rtpengine's answer to A is not SDES RTP/SAVP:\n", relay.answer_sdp_to_a));
  }
  relay.engine_port_for_a = to_a->port;
  return relay;
}

absl::Status Rtpengine::DeleteCall(const std::string& call_id) {
  Bencode del = Bencode::MakeDict();
  del.Set("command", Bencode::Str("delete"));
  del.Set("call-id", Bencode::Str(call_id));
  del.Set("delete delay", Bencode::Int(0));
  // "fatal": an unknown call-id is an error instead of result=ok with a warning.
  del.Set("flags", Bencode::StrList({"fatal"}));
  return CommandOk(del, "delete").status();
}

}  // namespace mpswitch::bench
