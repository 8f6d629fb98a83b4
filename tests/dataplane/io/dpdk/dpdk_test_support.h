// Shared by the DPDK backend's tests: EAL start-up for a test process, pcap files, and frames
// that simulated endpoints put on the wire.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "mpswitch/dataplane/io/dpdk_backend.h"
#include "mpswitch/dataplane/io/frame.h"
#include "mpswitch/oracle/meeting_traffic.h"

namespace mpswitch::dataplane::io::testing {

// EAL without hugepages or PCI, with a file prefix of its own so that test processes run side by
// side. `extra` adds vdevs; lcore 0 is the control thread, the rest are workers.
inline absl::Status StartEal(const std::string& lcores, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--no-huge", "-m", "256", "--no-pci", "--lcores", lcores,
                                   "--file-prefix",
                                   "mpswitch_test_" + std::to_string(getpid()), "--log-level",
                                   "lib.eal:error"};
  args.insert(args.end(), extra.begin(), extra.end());
  return InitEal(args);
}

// The addresses of simulated leg i: 10.0.0.(10+i), port 5000+i, MAC 02:00:00:00:01:(i).
inline IpAddr LegIp(size_t i) { return IpAddr::FromV4(0x0a00000a + static_cast<uint32_t>(i)); }
inline uint16_t LegPort(size_t i) { return static_cast<uint16_t>(5000 + i); }
inline MacAddr LegMac(size_t i) { return {0x02, 0, 0, 0, 1, static_cast<uint8_t>(i)}; }
inline IpAddr SwitchIp() { return IpAddr::FromV4(0x0a000001); }

// An Ethernet/IPv4/UDP frame from leg `i` to the switch's `switch_port`, checksums computed.
inline std::vector<uint8_t> LegFrame(size_t i, const MacAddr& switch_mac, uint16_t switch_port,
                                     const std::vector<uint8_t>& payload) {
  UdpFlow f;
  f.src_mac = LegMac(i);
  f.dst_mac = switch_mac;
  f.src = LegIp(i);
  f.dst = SwitchIp();
  f.src_port = LegPort(i);
  f.dst_port = switch_port;
  auto t = MakeUdpTemplate(f);
  EXPECT_TRUE(t.ok()) << t.status();
  std::vector<uint8_t> frame(t->len + payload.size());
  std::copy(payload.begin(), payload.end(), frame.begin() + t->len);
  WriteUdpHeaders(*t, frame.data(), static_cast<uint16_t>(payload.size()), 1, false, false);
  return frame;
}

// The egress table of MeetingTraffic's legs at their simulated addresses.
inline std::vector<Egress> LegEgress(const oracle::MeetingTraffic& traffic) {
  std::vector<Egress> e;
  for (size_t i = 0; i < traffic.legs(); ++i) {
    e.push_back({traffic.switch_port(i), LegIp(i), LegPort(i)});
  }
  return e;
}

// Minimal pcap (libpcap classic format, microsecond stamps, Ethernet link type).
inline void WritePcap(const std::string& path, const std::vector<std::vector<uint8_t>>& frames) {
  std::ofstream f(path, std::ios::binary);
  const uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
  f.write(reinterpret_cast<const char*>(hdr), sizeof(hdr));
  uint32_t usec = 0;
  for (const auto& fr : frames) {
    const uint32_t rec[4] = {1, usec++, static_cast<uint32_t>(fr.size()),
                             static_cast<uint32_t>(fr.size())};
    f.write(reinterpret_cast<const char*>(rec), sizeof(rec));
    f.write(reinterpret_cast<const char*>(fr.data()), static_cast<std::streamsize>(fr.size()));
  }
}

inline std::vector<std::vector<uint8_t>> ReadPcap(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<std::vector<uint8_t>> frames;
  uint32_t hdr[6];
  if (!f.read(reinterpret_cast<char*>(hdr), sizeof(hdr))) return frames;
  const bool swapped = hdr[0] == 0xd4c3b2a1;
  auto fix = [&](uint32_t v) { return swapped ? __builtin_bswap32(v) : v; };
  uint32_t rec[4];
  while (f.read(reinterpret_cast<char*>(rec), sizeof(rec))) {
    std::vector<uint8_t> fr(fix(rec[2]));
    if (!f.read(reinterpret_cast<char*>(fr.data()), static_cast<std::streamsize>(fr.size()))) break;
    frames.push_back(std::move(fr));
  }
  return frames;
}

// Which leg a frame the switch sent is for, by its destination address and port; legs() if none.
inline size_t DestinationLeg(const oracle::MeetingTraffic& traffic, const FrameInfo& fi) {
  for (size_t i = 0; i < traffic.legs(); ++i) {
    if (fi.dst == LegIp(i) && fi.dst_port == LegPort(i)) return i;
  }
  return traffic.legs();
}

}  // namespace mpswitch::dataplane::io::testing
