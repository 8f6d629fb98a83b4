// rtpengine (Debian package rtpengine-daemon, 10.5) as a side-by-side baseline for the load
// benchmark: the same SRTP stream relayed by rtpengine's userspace relay on loopback, set up over
// its ng control protocol. bench/load/RTPENGINE.md has the details and what was verified.
//
// rtpengine decides per call whether to touch SRTP at all: it copies every a=crypto line of an
// offer, key included, into its own offer to the other side, and when the key it receives with on
// one leg equals the key it sends with on the other (in both directions) it forwards the packets
// without decrypting them. So the two modes differ only in what the SDP bodies carry:
//
//  - kPassThrough: A offers one AES_CM_128_HMAC_SHA1_80 line (key A), B accepts it with its own
//    key B. Each leg's keys are copies of the other's: rtpengine forwards the SRTP bytes as they
//    came in, and B decrypts them with key A.
//  - kReencrypt: A offers a second line of the same suite (tag 2) carrying key B, and B accepts
//    tag 2 (again with key B). rtpengine receives from A with tag 1 (key A) but sends to B with
//    tag 2 (key B): keys differ, so it decrypts every packet and encrypts it again, and B
//    decrypts with key B.
//
// SDES keys are per sender (the key in an SDP is the one its author encrypts with), which is why
// "key B" towards B has to come from the offer: B's answer only sets what B would send with.
//
// Control-plane code for a benchmark harness: blocking sockets, no exceptions, absl::Status.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mpswitch::bench {

// ---------------------------------------------------------------------------------------------
// Bencode (https://www.bittorrent.org/beps/bep_0003.html), the ng protocol's encoding: byte
// strings "4:spam", integers "i42e", lists "l...e", dictionaries "d<key><value>...e".

class Bencode {
 public:
  enum class Type : uint8_t { kString, kInteger, kList, kDict };
  using Dict = std::vector<std::pair<std::string, Bencode>>;

  Bencode() = default;  // the empty string
  static Bencode Str(std::string s);
  static Bencode Int(int64_t v);
  static Bencode List(std::vector<Bencode> items = {});
  static Bencode StrList(const std::vector<std::string>& items);
  static Bencode MakeDict(Dict items = {});

  Type type() const { return type_; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_int() const { return type_ == Type::kInteger; }
  bool is_list() const { return type_ == Type::kList; }
  bool is_dict() const { return type_ == Type::kDict; }

  // Accessors return empty values for the wrong type rather than failing: callers check type().
  const std::string& str() const { return str_; }
  int64_t integer() const { return int_; }
  const std::vector<Bencode>& list() const { return list_; }
  const Dict& dict() const { return dict_; }

  // Dictionary: sets key (replacing an existing one). Turns a non-dict value into a dict.
  Bencode& Set(std::string key, Bencode value);
  // Dictionary lookup (first match); nullptr when absent or not a dict.
  const Bencode* Find(absl::string_view key) const;
  // The string under key, if present and a string.
  std::optional<absl::string_view> FindString(absl::string_view key) const;

  // Canonical encoding: dictionary keys sorted bytewise as the spec demands (rtpengine does not
  // insist, but sorted output is deterministic and what other peers expect).
  std::string Encode() const;
  void EncodeTo(std::string& out) const;

 private:
  Type type_ = Type::kString;
  std::string str_;
  int64_t int_ = 0;
  std::vector<Bencode> list_;
  Dict dict_;
};

// Parses exactly one value spanning all of `in`. Input comes from a UDP socket: any malformed,
// truncated, over-long or too deeply nested input gives InvalidArgument, never a crash.
absl::StatusOr<Bencode> BencodeDecode(absl::string_view in);

// ---------------------------------------------------------------------------------------------
// The daemon.

struct RtpengineOptions {
  std::string binary = "/usr/bin/rtpengine";
  std::string interface = "127.0.0.1";  // --interface: the address media ports are bound to
  uint16_t ng_port = 22222;             // --listen-ng on 127.0.0.1
  // --port-min/--port-max. Every call takes 2 ports (RTP+RTCP) on each of its 2 legs.
  uint16_t port_min = 30000, port_max = 30999;
  int threads = 1;  // --num-threads: media worker threads
  // Pins the daemon, all its threads, to this CPU (-1: no pinning), as the io benchmark pins the
  // switch's worker, so that both are measured alone on a core.
  int cpu = -1;
  std::string log_file;  // the daemon's log (it logs to stderr); empty: our stderr
  // --log-level, syslog scale. 5 (notice) keeps startup/shutdown and problems but drops the
  // info line rtpengine writes for every ng command and every call, which would flood the log
  // of a benchmark that sets up many calls.
  int log_level = 5;
  int startup_timeout_ms = 10000;  // until the first ng ping is answered
  int ng_timeout_ms = 500;         // per ng attempt; a request is sent up to ng_attempts times
  int ng_attempts = 3;
  // m= line of the SDP bodies SetupCall builds. rtpengine does not look into payloads of a codec
  // it is not asked to transcode, so the codec only has to be plausible.
  std::string media_type = "video";
  std::string rtpmap = "VP8/90000";     // payload type is always 96
  std::vector<std::string> extra_args;  // appended to the command line as given
};

enum class RelayMode { kPassThrough, kReencrypt };

struct RelayKeys {
  std::array<uint8_t, 16> key;
  std::array<uint8_t, 14> salt;
};

struct Relay {
  std::string call_id;
  uint16_t engine_port_for_a;  // where side A must send its RTP (rtpengine's port on A's leg)
  // rtpengine's port on side B's leg: it sends to B from here (and B may send to it).
  uint16_t engine_port_for_b;
  // The key rtpengine encrypts A's media with towards B, as advertised in the offer it gave B
  // (checked by SetupCall): key_a in kPassThrough, key_b in kReencrypt.
  RelayKeys key_to_b;
  std::string offer_sdp_to_b;   // rtpengine's rewritten offer (what B would receive)
  std::string answer_sdp_to_a;  // rtpengine's rewritten answer (what A would receive)
};

class Rtpengine {
 public:
  // Spawns `binary` in the foreground, userspace only, and waits until it answers an ng ping.
  // Errors name what to check (binary missing, port taken, daemon exited, see its log).
  static absl::StatusOr<std::unique_ptr<Rtpengine>> Start(const RtpengineOptions& options);

  // Stops the daemon: SIGTERM, up to 3 s for it to exit, then SIGKILL.
  ~Rtpengine();
  Rtpengine(const Rtpengine&) = delete;
  Rtpengine& operator=(const Rtpengine&) = delete;

  pid_t pid() const { return pid_; }

  // User + system CPU time of the whole daemon process (all threads) in ns, from
  // /proc/<pid>/stat (clock ticks, so 10 ms resolution at the usual 100 Hz). 0 if unreadable.
  uint64_t CpuNs() const {
    CpuTimes t = Cpu();
    return t.user_ns + t.system_ns;
  }
  // The same split: on loopback most of rtpengine's time is the kernel's (one recvmsg and one
  // sendto per packet, no batching), which is worth seeing next to the switch's numbers.
  struct CpuTimes {
    uint64_t user_ns = 0;
    uint64_t system_ns = 0;
  };
  CpuTimes Cpu() const;

  // One call: side A is 127.0.0.1:a_port, side B is 127.0.0.1:b_port, media A->B is relayed.
  // Sends ng offer (as A, keys per the mode, see the top of this file) and answer (as B, always
  // with key_b) and reads the ports rtpengine allocated from the rewritten SDP. rtpengine sends
  // to B's SDP address from the first packet on: B need not send anything (no latching; a leg
  // only moves to a learned address once packets arrive from its peer, 3 s into the call with
  // the default "delayed" endpoint learning). A should send from a_port, though only media
  // towards A, which is not measured, depends on it.
  absl::StatusOr<Relay> SetupCall(const std::string& call_id, RelayMode mode, uint16_t a_port,
                                  uint16_t b_port, const RelayKeys& key_a, const RelayKeys& key_b);

  // ng delete with "delete delay" 0, so the call's ports are free again at once.
  absl::Status DeleteCall(const std::string& call_id);

  // One ng request/response: cookie, retransmission (same cookie: rtpengine answers a repeat
  // from its cookie cache without executing it twice) and cookie check. Does not interpret the
  // reply's "result".
  absl::StatusOr<Bencode> Command(const Bencode& request);

 private:
  Rtpengine(RtpengineOptions options, pid_t pid, int ng_fd)
      : options_(std::move(options)), pid_(pid), ng_fd_(ng_fd) {}

  // Sends `request` and checks result == "ok", giving error-reason otherwise.
  absl::StatusOr<Bencode> CommandOk(const Bencode& request, absl::string_view what);

  RtpengineOptions options_;
  pid_t pid_ = -1;
  int ng_fd_ = -1;  // UDP socket connected to 127.0.0.1:ng_port
  uint64_t next_cookie_ = 1;
};

// ---------------------------------------------------------------------------------------------
// Helpers, exposed for the probe and tests.

// "inline:" parameter of an a=crypto line: base64(key || salt).
std::string SdesInlineKey(const RelayKeys& keys);

struct SdpCrypto {
  int tag = 0;
  std::string suite;
  RelayKeys keys{};
};

// The parts of an SDP body rtpengine rewrites that SetupCall needs: the first m= line's port and
// protocol, and its a=crypto lines with AES_CM_128 keys (other suites are listed with zero keys).
struct SdpSummary {
  uint16_t port = 0;
  std::string protocol;
  std::string connection_address;  // c= (media level if present, else session level)
  std::vector<SdpCrypto> cryptos;
};
absl::StatusOr<SdpSummary> ParseSdp(absl::string_view sdp);

}  // namespace mpswitch::bench
