// The DPDK backend on a net_pcap virtual device: generated SRTP traffic of several meetings (plus
// an ARP request and a few malformed frames) in, switched traffic out; every output frame is
// parsed with its checksums and decrypted with libsrtp2 under the sender's key.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "dpdk_test_support.h"

namespace mpswitch::dataplane::io {
namespace {

using namespace testing;

TEST(DpdkPcapTest, SwitchesMeetingsFromPcapToPcapVerifiedByLibsrtp) {
  const std::string dir = ::testing::TempDir() + "mpswitch_pcap_" + std::to_string(getpid());
  ASSERT_EQ(system(("mkdir -p " + dir).c_str()), 0);
  const std::string in = dir + "/in.pcap", out_media = dir + "/out0.pcap",
                    out_control = dir + "/out1.pcap";
  constexpr uint16_t kFirstPort = 20000;
  oracle::MeetingTraffic traffic(/*meetings=*/3, /*legs=*/3, kFirstPort, /*seed=*/7);
  const MacAddr kSwitchMac = {0x02, 0, 0, 0, 0, 1};

  std::vector<std::vector<uint8_t>> frames;
  constexpr int kRounds = 50;
  for (int r = 0; r < kRounds; ++r) {
    for (size_t i = 0; i < traffic.legs(); ++i) {
      frames.push_back(LegFrame(i, kSwitchMac, traffic.switch_port(i),
                                traffic.Next(i, r % 2 ? 1100 : 160)));
    }
  }
  // An ARP request for the switch from a host that is not a leg, and malformed frames.
  uint8_t arp[64];
  const size_t arp_len = BuildArpRequest({0x02, 0, 0, 0, 9, 9}, IpAddr::FromV4(0x0a000063),
                                         SwitchIp(), std::nullopt, arp);
  ASSERT_GT(arp_len, 0u);
  frames.emplace_back(arp, arp + arp_len);
  std::vector<uint8_t> bad_csum = LegFrame(0, kSwitchMac, traffic.switch_port(0), traffic.Next(0, 100));
  bad_csum[14 + 10] ^= 0x55;  // IPv4 header checksum
  frames.push_back(bad_csum);
  std::vector<uint8_t> truncated = LegFrame(1, kSwitchMac, traffic.switch_port(1), traffic.Next(1, 100));
  truncated.resize(14 + 10);
  frames.push_back(truncated);
  frames.push_back(LegFrame(2, kSwitchMac, 9, {0x80, 0, 0, 1}));  // not a media port
  WritePcap(in, frames);
  const size_t media_frames = size_t{kRounds} * traffic.legs();

  ASSERT_TRUE(StartEal("0-1", {"--vdev=net_pcap0,rx_pcap=" + in + ",tx_pcap=" + out_media +
                                   ",tx_pcap=" + out_control})
                  .ok());
  DpdkBackendConfig c;
  DpdkPortConfig p;
  p.device = "net_pcap0";
  p.ipv4 = SwitchIp();
  p.ipv4_prefix = 24;
  c.ports = {p};
  c.first_port = kFirstPort;
  c.port_count = 64;
  c.idle_sleep_us = 100;
  auto b = DpdkBackend::Create(c);
  ASSERT_TRUE(b.ok()) << b.status();
  DpdkBackend& backend = **b;
  for (size_t i = 0; i < traffic.legs(); ++i) ASSERT_TRUE(backend.AddNeighbor(LegIp(i), LegMac(i)).ok());
  auto tables = DataplaneTables::Build(traffic.Streams(), LegEgress(traffic));
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_TRUE(backend.Publish(std::move(*tables)).ok());
  ASSERT_TRUE(backend.Start().ok());

  const uint64_t want_out = media_frames * traffic.fanout();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  size_t datagrams = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    backend.PollControl([&](const PuntedDatagram&) { ++datagrams; });
    const auto s = backend.stats(0);
    if (s.io->rx_datagrams.Get() == frames.size() && s.io->tx_datagrams.Get() == want_out &&
        backend.control_counters().tx_datagrams.Get() == 1)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  backend.Stop();
  const auto s = backend.stats(0);
  EXPECT_EQ(s.io->rx_datagrams.Get(), frames.size());
  EXPECT_EQ(s.pipeline->accepted.Get(), media_frames);
  EXPECT_EQ(s.io->tx_datagrams.Get(), want_out);
  EXPECT_EQ(s.io->Drops(IoDrop::kIpBadChecksum), 1u);
  EXPECT_EQ(s.io->Drops(IoDrop::kIpTruncated), 1u);
  EXPECT_EQ(s.io->Drops(IoDrop::kNotMediaPort), 1u);
  EXPECT_EQ(s.io->punted.Get(), 1u) << "the ARP request";
  EXPECT_EQ(datagrams, 0u);
  const MacAddr switch_mac = backend.port_mac(0);
  b->reset();  // closes the port: net_pcap writes its files out

  // Every output: valid Ethernet/IPv4/UDP with correct checksums, from the switch's media port to
  // a leg, and decrypts under the sender's key to what the sender sent.
  const auto outputs = ReadPcap(out_media);
  ASSERT_EQ(outputs.size(), want_out);
  std::vector<size_t> per_leg(traffic.legs(), 0);
  for (const auto& fr : outputs) {
    FrameInfo fi;
    ASSERT_EQ(ParseFrame(fr, RxOffload{}, fi), IoDrop::kNone);
    ASSERT_EQ(fi.kind, FrameKind::kUdp);
    EXPECT_EQ(fi.src, SwitchIp());
    EXPECT_EQ(fi.src_mac, switch_mac);
    const size_t leg = DestinationLeg(traffic, fi);
    ASSERT_LT(leg, traffic.legs());
    EXPECT_EQ(fi.dst_mac, LegMac(leg));
    EXPECT_EQ(fi.src_port, traffic.switch_port(leg)) << "sent from the receiving leg's port";
    EXPECT_EQ(traffic.Verify(leg, {fr.data() + fi.payload_offset, fi.payload_len}), "");
    ++per_leg[leg];
  }
  for (size_t i = 0; i < traffic.legs(); ++i) EXPECT_EQ(per_leg[i], kRounds * traffic.fanout());
  EXPECT_EQ(traffic.verified(), want_out);

  // The control queue answered the ARP request.
  const auto control = ReadPcap(out_control);
  ASSERT_EQ(control.size(), 1u);
  FrameInfo fi;
  ASSERT_EQ(ParseFrame(control[0], RxOffload{}, fi), IoDrop::kNone);
  ArpMessage a;
  ASSERT_EQ(ParseArp(control[0], fi, a), IoDrop::kNone);
  EXPECT_EQ(a.op, ArpOp::kReply);
  EXPECT_EQ(a.sender_ip, SwitchIp());
  EXPECT_EQ(a.sender_mac, switch_mac);
  EXPECT_EQ(a.target_ip, IpAddr::FromV4(0x0a000063));
}

}  // namespace
}  // namespace mpswitch::dataplane::io
