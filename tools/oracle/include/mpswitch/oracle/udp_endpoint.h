// A UDP endpoint on loopback for the socket backend's tests and benchmarks (and, next, the
// endpoint simulator): a leg sends to its switch port from it and receives what the switch sends
// it. Never used by the switch itself.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "mpswitch/dataplane/io/sockaddr.h"
#include "mpswitch/dataplane/tables/ip_addr.h"

namespace mpswitch::oracle {

using dataplane::IpAddr;

class UdpEndpoint {
 public:
  // Binds an ephemeral port on `addr`; ok() is false when the family is not available.
  explicit UdpEndpoint(const IpAddr& addr) : addr_(addr) {
    fd_ = socket(addr.family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    // A receiver that falls behind on a busy machine must not lose datagrams in the kernel: 8 MB
    // (FORCE passes net.core.rmem_max as root; otherwise as much as rmem_max allows).
    int bytes = 8 << 20;
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
    }
    sockaddr_storage ss;
    socklen_t sl = Fill(addr, 0, ss);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&ss), sl) != 0) {
      close(fd_);
      fd_ = -1;
      return;
    }
    sl = sizeof(ss);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &sl);
    port_ = ntohs(addr.family == 4 ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                   : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  ~UdpEndpoint() {
    if (fd_ >= 0) close(fd_);
  }
  UdpEndpoint(const UdpEndpoint&) = delete;
  UdpEndpoint& operator=(const UdpEndpoint&) = delete;

  bool ok() const { return fd_ >= 0; }
  uint16_t port() const { return port_; }
  int fd() const { return fd_; }

  bool SendTo(uint16_t port, const std::vector<uint8_t>& bytes) const {
    return SendTo(addr_, port, bytes);
  }
  bool SendTo(const IpAddr& to, uint16_t port, const std::vector<uint8_t>& bytes) const {
    sockaddr_storage ss;
    const socklen_t sl = Fill(to, port, ss);
    return sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), sl) ==
           static_cast<ssize_t>(bytes.size());
  }
  // One datagram if one arrives within `timeout_ms`, else empty.
  std::vector<uint8_t> Receive(int timeout_ms) const {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return {};
    std::vector<uint8_t> buf(65536);
    const ssize_t n = recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return buf;
  }

  static socklen_t Fill(const IpAddr& a, uint16_t port, sockaddr_storage& ss) {
    return dataplane::io::ToSockaddr(a, port, ss);
  }

 private:
  IpAddr addr_;
  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace mpswitch::oracle
