// A capture of what the simulated rooms send and receive, so that a run can be checked
// independently (Wireshark, or any SRTP tool with the key log): classic pcap, LINKTYPE_RAW
// (IPv4 packets), the IPv4 and UDP headers rebuilt from the sockets' addresses (UDP checksum 0,
// which IPv4 allows).
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"

namespace mpswitch::sim {

class PcapWriter {
 public:
  static absl::StatusOr<std::unique_ptr<PcapWriter>> Open(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return absl::NotFoundError(absl::StrFormat("cannot create the capture %s", path));
    std::unique_ptr<PcapWriter> w(new PcapWriter(f));
    // Global header: magic, version 2.4, zone 0, sigfigs 0, snaplen 65535, LINKTYPE_RAW (101).
    const uint32_t h[] = {0xa1b2c3d4u, 0, 0, 65535, 101};
    w->Raw(&h[0], 4);
    const uint16_t v[] = {2, 4};
    w->Raw(v, 4);
    w->Raw(&h[1], 16);
    return w;
  }
  ~PcapWriter() { std::fclose(f_); }

  // One UDP datagram between two 127.0.0.0/8 (or any IPv4) addresses, in host order.
  void Udp(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, const uint8_t* data,
           size_t len) {
    if (len > 65535 - 28) return;
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const uint32_t rec[] = {static_cast<uint32_t>(ts.tv_sec), static_cast<uint32_t>(ts.tv_nsec / 1000),
                            static_cast<uint32_t>(len + 28), static_cast<uint32_t>(len + 28)};
    Raw(rec, sizeof(rec));
    uint8_t ip[28] = {0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17};
    const uint16_t total = static_cast<uint16_t>(len + 28);
    ip[2] = static_cast<uint8_t>(total >> 8);
    ip[3] = static_cast<uint8_t>(total);
    ip[4] = static_cast<uint8_t>(id_ >> 8);
    ip[5] = static_cast<uint8_t>(id_++);
    for (int i = 0; i < 4; ++i) {
      ip[12 + i] = static_cast<uint8_t>(src >> (24 - 8 * i));
      ip[16 + i] = static_cast<uint8_t>(dst >> (24 - 8 * i));
    }
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += (uint32_t{ip[i]} << 8) | ip[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    const uint16_t csum = static_cast<uint16_t>(~sum);
    ip[10] = static_cast<uint8_t>(csum >> 8);
    ip[11] = static_cast<uint8_t>(csum);
    const uint16_t ulen = static_cast<uint16_t>(len + 8);
    const uint16_t u[] = {sport, dport, ulen};
    for (int i = 0; i < 3; ++i) {
      ip[20 + 2 * i] = static_cast<uint8_t>(u[i] >> 8);
      ip[21 + 2 * i] = static_cast<uint8_t>(u[i]);
    }
    Raw(ip, sizeof(ip));
    Raw(data, len);
    ++packets_;
  }
  uint64_t packets() const { return packets_; }

 private:
  explicit PcapWriter(std::FILE* f) : f_(f) {}
  void Raw(const void* p, size_t n) { std::fwrite(p, 1, n, f_); }
  std::FILE* f_;
  uint16_t id_ = 0;
  uint64_t packets_ = 0;
};

}  // namespace mpswitch::sim
