#include "mpswitch/dataplane/tables/egress.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace mpswitch::dataplane {

IpAddr IpAddr::V4(uint32_t host_order) {
  IpAddr a;
  a.family = 4;
  a.b[0] = static_cast<uint8_t>(host_order >> 24);
  a.b[1] = static_cast<uint8_t>(host_order >> 16);
  a.b[2] = static_cast<uint8_t>(host_order >> 8);
  a.b[3] = static_cast<uint8_t>(host_order);
  return a;
}

IpAddr IpAddr::V6(std::span<const uint8_t, 16> bytes) {
  IpAddr a;
  a.family = 6;
  std::memcpy(a.b.data(), bytes.data(), 16);
  return a;
}

absl::StatusOr<IpAddr> IpAddr::Parse(std::string_view text) {
  const std::string s(text);
  IpAddr a;
  if (inet_pton(AF_INET, s.c_str(), a.b.data()) == 1) {
    a.family = 4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.b.data()) == 1) {
    a.family = 6;
    return a;
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("'%s' is neither an IPv4 nor an IPv6 address", text));
}

std::string IpAddr::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == 4) inet_ntop(AF_INET, b.data(), buf, sizeof(buf));
  else if (family == 6) inet_ntop(AF_INET6, b.data(), buf, sizeof(buf));
  else return "(unset)";
  return buf;
}

absl::StatusOr<DataplaneTables> DataplaneTables::Build(
    std::span<const StreamConfig> streams, std::vector<Egress> egress,
    std::span<const ekt::GroupParams> ekt_groups, uint64_t generation) {
  for (size_t i = 0; i < egress.size(); ++i) {
    if (egress[i].addr.family != 4 && egress[i].addr.family != 6) {
      return absl::InvalidArgumentError(absl::StrFormat("egress %d has no address", i));
    }
    if (egress[i].port == 0 || egress[i].local_port == 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("egress %d (%s) needs a remote port and a local media port", i,
                          egress[i].addr.ToString()));
    }
  }
  for (const StreamConfig& s : streams) {
    for (const RouteConfig& r : s.routes) {
      if (r.egress >= egress.size()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "stream port %d SSRC %08x routes to egress %d, but only %d egress entries exist",
            s.local_port, s.ssrc, r.egress, egress.size()));
      }
    }
  }
  auto snap = Snapshot::Build(streams, ekt_groups);
  if (!snap.ok()) return snap.status();
  DataplaneTables t;
  t.media = std::move(*snap);
  t.egress = std::move(egress);
  t.generation = generation;
  return t;
}

}  // namespace mpswitch::dataplane
