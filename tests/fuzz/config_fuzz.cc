// libFuzzer target for the daemon's config file: arbitrary bytes through the TOML parser and the
// checks. Neither may crash or throw (an exception escaping is a crash here), the two must agree,
// every problem must name a line inside the text, and a config that passed must hold what the
// checks promise.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mpswitch/control/config.h"

using namespace mpswitch::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<ConfigProblem> problems = CheckConfig(text, "fuzz.toml");
  const absl::StatusOr<Config> config = ParseConfig(text, "fuzz.toml");
  if (config.ok() != problems.empty()) __builtin_trap();

  size_t lines = 1;
  for (const char c : text) lines += c == '\n';
  uint32_t previous = 0;
  for (const ConfigProblem& p : problems) {
    if (p.line > lines + 1 || p.line < previous || p.what.empty()) __builtin_trap();
    previous = p.line;
    if (p.ToString().rfind("fuzz.toml", 0) != 0) __builtin_trap();
  }
  if (!config.ok()) {
    if (config.status().message() != FormatConfigProblems(problems)) __builtin_trap();
    return 0;
  }

  const DataplaneConfig& d = config->dataplane;
  if (d.addresses.empty() || d.workers < 1 || d.first_port < 1 || d.port_count < 1 ||
      uint32_t{d.first_port} + d.port_count > 65536) {
    __builtin_trap();
  }
  if (!d.cpus.empty() && d.cpus.size() != d.workers) __builtin_trap();
  for (const mpswitch::dataplane::IpAddr& a : d.addresses) {
    if (a.family == 0 || a.IsUnspecified()) __builtin_trap();
  }
  if (config->sip.servers.size() > kMaxSipServers) __builtin_trap();
  for (const SipServerConfig& s : config->sip.servers) {
    if (s.name.empty() || s.host.family == 0 || s.port == 0) __builtin_trap();
    if (s.transport == SipTransport::kTls && s.subject.empty()) __builtin_trap();
  }
  for (const StaticMeetingConfig& m : config->meetings.static_meetings) {
    if (m.number.empty() || m.capacity < 1) __builtin_trap();
  }
  // What the daemon would log or hand back must parse as it was written.
  for (const HostPort& hp : config->sip.listen_tls) {
    const absl::StatusOr<HostPort> again = ParseHostPort(FormatHostPort(hp));
    if (!again.ok() || !(*again == hp)) __builtin_trap();
  }
  return 0;
}
