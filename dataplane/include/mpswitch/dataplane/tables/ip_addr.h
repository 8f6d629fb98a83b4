// An IPv4 or IPv6 address, shared by the routing tables (where outputs go), the I/O backends and
// the frame codec.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mpswitch::dataplane {

// An IPv4 or IPv6 address in network byte order. Invariant kept by the factories: an IPv4 address
// lives in b[0..3] and b[4..15] are zero, so `==` compares addresses, and a default-constructed
// value (family 0) equals no real address.
struct IpAddr {
  uint8_t family = 0;  // 4, 6, or 0 for "none"
  std::array<uint8_t, 16> b{};

  static constexpr IpAddr FromV4(uint32_t host_order) {
    IpAddr a;
    a.family = 4;
    a.b[0] = static_cast<uint8_t>(host_order >> 24);
    a.b[1] = static_cast<uint8_t>(host_order >> 16);
    a.b[2] = static_cast<uint8_t>(host_order >> 8);
    a.b[3] = static_cast<uint8_t>(host_order);
    return a;
  }
  // `p` points at 4 readable bytes in network order.
  static IpAddr FromV4Bytes(const uint8_t* p);
  static IpAddr FromV6(std::span<const uint8_t, 16> bytes);
  // IPv4 dotted quad or IPv6 text (inet_pton rules); InvalidArgument naming the text otherwise.
  // Control plane only.
  static absl::StatusOr<IpAddr> Parse(std::string_view text);

  // The IPv4 address in host order; meaningful only when family == 4.
  constexpr uint32_t V4() const {
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  }
  constexpr bool is_v4() const { return family == 4; }
  constexpr bool is_v6() const { return family == 6; }
  // 0.0.0.0 or ::.
  bool IsUnspecified() const;
  // 224.0.0.0/4 or 255.255.255.255 for IPv4, ff00::/8 for IPv6.
  bool IsMulticastOrBroadcast() const;

  // Dotted quad for IPv4; RFC 5952 text for IPv6 (lower case, longest run of two or more zero
  // groups as "::", IPv4-mapped as ::ffff:a.b.c.d); "none" for family 0. Control plane only.
  std::string ToString() const;

  friend bool operator==(const IpAddr&, const IpAddr&) = default;
};

}  // namespace mpswitch::dataplane
