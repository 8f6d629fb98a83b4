// IpAddr and port to and from the kernel's socket addresses. Control plane and socket workers.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "mpswitch/dataplane/tables/ip_addr.h"

namespace mpswitch::dataplane::io {

// Writes `a`:`port` (host order) as a sockaddr of the address's family; returns its length.
inline socklen_t ToSockaddr(const IpAddr& a, uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof(sockaddr_in6));
  if (a.family == 4) {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    std::memcpy(&s4->sin_addr, a.b.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  s6->sin6_family = AF_INET6;
  s6->sin6_port = htons(port);
  std::memcpy(&s6->sin6_addr, a.b.data(), 16);
  return sizeof(sockaddr_in6);
}

inline void FromSockaddr(const sockaddr_storage& ss, IpAddr& a, uint16_t& port) {
  a = IpAddr{};
  if (ss.ss_family == AF_INET) {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
    a.family = 4;
    std::memcpy(a.b.data(), &s4->sin_addr, 4);
    port = ntohs(s4->sin_port);
  } else {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    a.family = 6;
    std::memcpy(a.b.data(), &s6->sin6_addr, 16);
    port = ntohs(s6->sin6_port);
  }
}

}  // namespace mpswitch::dataplane::io
