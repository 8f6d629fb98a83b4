// The configuration of the `mpswitch` daemon: one TOML file. deploy/mpswitch.toml documents every
// key with its default; a file that omits a section or a key gets that default, so no file at all
// is the embedded default: the switch on 127.0.0.1 (media ports 16384-32767, SIP over TLS on
// 5061, admin on 8443).
//
// The file is checked whole before anything is applied: every problem is reported at once, each
// as `FILE:LINE: key: what is wrong`, because an operator fixing a file one error per restart
// wastes a maintenance window. Unknown sections and keys are errors, not warnings: a misspelt
// key silently left at its default (say `refuse_unknown_servers`) is a security hole that looks
// configured.
//
// Thread-safety: the functions are pure (LoadConfig reads one file) and may run on any thread.
// Errors never escape as exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mpswitch/control/meeting.h"  // SecurityPolicy, SwitchingMode
#include "mpswitch/dataplane/tables/ip_addr.h"

namespace mpswitch::control {

// LoadConfig refuses larger files: a config is a few KiB, so anything near this is the wrong file
// (a log, a core dump) and is not worth reading into memory.
inline constexpr size_t kMaxConfigFileBytes = size_t{1} << 20;
// Call control offers at most five servers to a device (CM1..CM5 of its group).
inline constexpr size_t kMaxSipServers = 5;

enum class DataplaneBackend : uint8_t { kSocket, kDpdk };
enum class SipTransport : uint8_t { kTls, kTcp, kUdp };
// How SIP devices are set up, as in call control's device security profile: no TLS, TLS with
// SRTP keys through EKT, or TLS with SRTP keys also in SDP (sdescriptions).
enum class DeviceSecurityMode : uint8_t { kNonSecure, kEncrypted, kEncryptedSdpKeys };
enum class LogLevel : uint8_t { kDebug, kInfo, kWarning, kError };
enum class LogFormat : uint8_t { kText, kJson };

// The names the file uses ("socket", "tls", "encrypted-sdp-keys", "non-secure", "segment", ...).
std::string_view DataplaneBackendName(DataplaneBackend b);
std::string_view SipTransportName(SipTransport t);
std::string_view DeviceSecurityModeName(DeviceSecurityMode m);
std::string_view SecurityPolicyConfigName(SecurityPolicy p);
std::string_view SwitchingModeConfigName(SwitchingMode m);
std::string_view LogLevelName(LogLevel l);
std::string_view LogFormatName(LogFormat f);

// An IP address and a TCP or UDP port ("127.0.0.1:5061", "[::1]:5061").
struct HostPort {
  dataplane::IpAddr addr;
  uint16_t port = 0;
  friend bool operator==(const HostPort&, const HostPort&) = default;
};

// "address:port", IPv6 as "[address]:port"; the port 1-65535. Host names are refused: nothing in
// the daemon resolves names, and a listener bound to whatever a name resolved to at start-up
// would silently differ from what the operator meant after a DNS change. InvalidArgument whose
// message starts with the quoted text and says what is wrong with it.
absl::StatusOr<HostPort> ParseHostPort(std::string_view text);
// "127.0.0.1:5061" / "[::1]:5061", the form ParseHostPort reads.
std::string FormatHostPort(const HostPort& hp);

struct DataplaneConfig {
  DataplaneBackend backend = DataplaneBackend::kSocket;
  // The switch's media addresses (IPv4 and/or IPv6); never empty, no duplicates.
  std::vector<dataplane::IpAddr> addresses = {dataplane::IpAddr::FromV4(0x7f000001)};
  // Media ports [first_port, first_port + port_count); first_port + port_count <= 65536.
  uint16_t first_port = 16384;
  uint16_t port_count = 16384;
  uint32_t workers = 1;  // 1-1024
  // CPU of each worker (one per worker), or empty: not pinned.
  std::vector<int> cpus;
  bool busy_poll = false;
  uint32_t stream_slots = 65536;
  // DPDK EAL arguments; empty unless backend is kDpdk.
  std::vector<std::string> eal_args;
  friend bool operator==(const DataplaneConfig&, const DataplaneConfig&) = default;
};

// A call-control server (a trunk peer), tried in the order of the file.
struct SipServerConfig {
  std::string name;        // unique; letters, digits, '.', '-', '_'
  dataplane::IpAddr host;  // an address: names are not resolved
  uint16_t port = 5061;    // when the file omits it: 5061 for tls, 5060 for tcp and udp
  SipTransport transport = SipTransport::kTls;
  std::string subject;  // X.509 subject CN or SAN it must present; required for tls
  friend bool operator==(const SipServerConfig&, const SipServerConfig&) = default;
};

struct SipConfig {
  std::vector<HostPort> listen_tls = {{dataplane::IpAddr::FromV4(0x7f000001), 5061}};
  std::vector<HostPort> listen_tcp;  // non-secure trunks
  std::vector<HostPort> listen_udp;
  DeviceSecurityMode device_security_mode = DeviceSecurityMode::kEncrypted;
  bool refuse_unknown_servers = true;
  std::vector<SipServerConfig> servers;  // at most kMaxSipServers
  friend bool operator==(const SipConfig&, const SipConfig&) = default;
};

// PEM file paths as written in the file (relative paths are the daemon's to resolve). Key and
// certificate are given together or not at all; empty: the daemon's development PKI.
struct TlsConfig {
  std::string lsc_key;
  std::string lsc_cert;
  std::string lsc_chain;  // may be empty; needs lsc_cert
  std::string trust_dir;  // holds the trust units CAPF-trust/ and CTM-trust/
  friend bool operator==(const TlsConfig&, const TlsConfig&) = default;
};

// A meeting that exists from start-up, reached by dialling its number.
struct StaticMeetingConfig {
  std::string number;  // unique; digits, letters, '+', '*', '.', '-', '_'
  std::string name;
  SecurityPolicy policy = SecurityPolicy::kSecure;
  SwitchingMode mode = SwitchingMode::kSegment;
  uint32_t capacity = 48;  // segments (a three-screen room takes 3); 1-1024
  bool locked = false;
  friend bool operator==(const StaticMeetingConfig&, const StaticMeetingConfig&) = default;
};

struct MeetingsConfig {
  bool refuse_unknown = true;  // a dialled number that names no meeting gets 404
  std::vector<StaticMeetingConfig> static_meetings;  // [[meetings.static]]
  friend bool operator==(const MeetingsConfig&, const MeetingsConfig&) = default;
};

struct AdminConfig {
  bool enabled = true;
  HostPort listen = {dataplane::IpAddr::FromV4(0x7f000001), 8443};
  friend bool operator==(const AdminConfig&, const AdminConfig&) = default;
};

struct LoggingConfig {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  friend bool operator==(const LoggingConfig&, const LoggingConfig&) = default;
};

struct KeylogConfig {
  std::string path;  // the opt-in debug key log (PROTOCOLS.md §11); empty: off
  friend bool operator==(const KeylogConfig&, const KeylogConfig&) = default;
};

struct StateConfig {
  std::string dir;  // development PKI and state; empty: ./mpswitch-state (the daemon's choice)
  friend bool operator==(const StateConfig&, const StateConfig&) = default;
};

// One member per section of the file; a default-constructed Config is the embedded default.
struct Config {
  DataplaneConfig dataplane;
  SipConfig sip;
  TlsConfig tls;
  MeetingsConfig meetings;
  AdminConfig admin;
  LoggingConfig logging;
  KeylogConfig keylog;
  StateConfig state;
  friend bool operator==(const Config&, const Config&) = default;
};

// One thing wrong with a config file.
struct ConfigProblem {
  std::string file;
  uint32_t line = 0;  // 1-based; 0 when no line applies (a file over the size limit)
  std::string key;    // "sip.servers[2].transport" (0-based index); empty for a TOML syntax error
  std::string what;   // "70000 is not a UDP port (1-65535)"
  // "FILE:LINE: key: what" ("FILE:LINE: what" without a key, "FILE: ..." without a line).
  std::string ToString() const;
  friend bool operator==(const ConfigProblem&, const ConfigProblem&) = default;
};

// Every problem of `toml_text`, in line order (several on one line in the order found); empty
// when the text is a valid config. `file_name` only names the file in the problems. A TOML syntax
// error stops the check there (nothing after it can be read), so it is the only problem reported.
std::vector<ConfigProblem> CheckConfig(std::string_view toml_text, std::string_view file_name);

// The problems one per line (ConfigProblem::ToString), no trailing newline.
std::string FormatConfigProblems(const std::vector<ConfigProblem>& problems);

// The config `toml_text` describes, or InvalidArgument whose message is
// FormatConfigProblems(CheckConfig(toml_text, file_name)).
absl::StatusOr<Config> ParseConfig(std::string_view toml_text, std::string_view file_name);

// Reads and parses the file at `path`: NotFound when it does not exist, PermissionDenied or
// FailedPrecondition when it cannot be read or is not a regular file, InvalidArgument when it is
// larger than kMaxConfigFileBytes or has problems (named by `path`).
absl::StatusOr<Config> LoadConfig(const std::string& path);

// Every key the parser knows, as dotted paths, with "[]" for the elements of an array of tables:
// "dataplane.first_port", "sip.servers[].host". Leaves only: sections and the arrays of tables
// themselves are not listed. In the order of deploy/mpswitch.toml.
const std::vector<std::string>& KnownConfigKeys();

}  // namespace mpswitch::control
