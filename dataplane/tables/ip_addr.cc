#include "mpswitch/dataplane/tables/ip_addr.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace mpswitch::dataplane {
namespace {

uint16_t LoadBe16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

}  // namespace

IpAddr IpAddr::FromV4Bytes(const uint8_t* p) {
  IpAddr a;
  a.family = 4;
  std::memcpy(a.b.data(), p, 4);
  return a;
}

IpAddr IpAddr::FromV6(std::span<const uint8_t, 16> bytes) {
  IpAddr a;
  a.family = 6;
  std::memcpy(a.b.data(), bytes.data(), 16);
  return a;
}

bool IpAddr::IsUnspecified() const {
  const size_t n = family == 4 ? 4 : family == 6 ? 16 : 0;
  for (size_t i = 0; i < n; ++i) {
    if (b[i] != 0) return false;
  }
  return n != 0;
}

bool IpAddr::IsMulticastOrBroadcast() const {
  if (family == 4) return (b[0] & 0xF0) == 0xE0 || V4() == 0xFFFFFFFFu;
  if (family == 6) return b[0] == 0xFF;
  return false;
}

std::string IpAddr::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (family == 4) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
    return buf;
  }
  if (family != 6) return "none";
  uint16_t w[8];
  for (int i = 0; i < 8; ++i) w[i] = LoadBe16(&b[2 * i]);
  // RFC 5952 §5: only IPv4-mapped addresses use the dotted tail.
  const bool mapped =
      w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0xFFFF;
  const int groups = mapped ? 6 : 8;
  // §4.2: "::" replaces the longest run of two or more zero groups, the first one on a tie.
  int best = -1, best_len = 1;
  for (int i = 0; i < groups;) {
    if (w[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < groups && w[j] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  std::string out;
  for (int i = 0; i < groups; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", w[i]);  // §4.1, §4.3: no leading zeros, lower case
    out += buf;
  }
  if (mapped) {
    if (out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    out += buf;
  }
  return out;
}

absl::StatusOr<IpAddr> IpAddr::Parse(std::string_view text) {
  const std::string s(text);  // inet_pton needs a terminated string
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

}  // namespace mpswitch::dataplane
