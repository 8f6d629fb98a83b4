// The DPDK backend on net_ring ports built from rte_rings, so the test is the wire: it spreads
// flows over two worker lcores by the Toeplitz hash a NIC's RSS would use, takes what each queue
// transmits, and drives the punt path (ARP, NDP, DTLS, STUN), malformed frames, neighbour
// resolution and the neighbour table's defences, telemetry and table publication under traffic.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "dpdk_compat.h"
#include "mpswitch/dataplane/core/packet.h"
#include "dpdk_test_support.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_eth_ring.h>
#include <rte_thash.h>
#pragma GCC diagnostic pop

namespace mpswitch::dataplane::io {
namespace {

using namespace testing;

constexpr uint16_t kFirstPort = 21000;
constexpr int kWorkers = 2;

// A port whose queue q receives what the test enqueues on rx[q] and transmits into tx[q]; queue
// kWorkers is the control thread's.
struct RingPort {
  explicit RingPort(const std::string& name) {
    for (int q = 0; q < kWorkers; ++q) {
      rx[q] = rte_ring_create((name + "_rx" + std::to_string(q)).c_str(), 4096, 0,
                              RING_F_SP_ENQ | RING_F_SC_DEQ);
    }
    for (int q = 0; q <= kWorkers; ++q) {
      tx[q] = rte_ring_create((name + "_tx" + std::to_string(q)).c_str(), 16384, 0,
                              RING_F_SP_ENQ | RING_F_SC_DEQ);
    }
    id = rte_eth_from_rings(name.c_str(), rx, kWorkers, tx, kWorkers + 1, 0);
    pool = rte_pktmbuf_pool_create((name + "_gen").c_str(), 16383, 256, 0,
                                   RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  }
  // Frees what the switch transmitted and nobody took. Must run before the backend goes: the
  // mbufs belong to its pool.
  void Drain() {
    for (rte_ring* r : tx) {
      void* m;
      while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
  }

  void Inject(int queue, const std::vector<uint8_t>& frame) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(),
                frame.size());
    while (rte_ring_enqueue(rx[queue], m) != 0) std::this_thread::yield();
  }
  // The queue RSS would choose: Toeplitz over (src, dst, sport, dport) with the default key.
  int RssQueue(const FrameInfo& fi) const {
    rte_ipv4_tuple t;
    t.src_addr = fi.src.V4();
    t.dst_addr = fi.dst.V4();
    t.sport = fi.src_port;
    t.dport = fi.dst_port;
    static const uint8_t kKey[40] = {
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
        0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
        0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
    return static_cast<int>(rte_softrss(reinterpret_cast<uint32_t*>(&t), RTE_THASH_V4_L4_LEN,
                                        kKey) %
                            kWorkers);
  }
  void InjectRss(const std::vector<uint8_t>& frame) {
    FrameInfo fi;
    ASSERT_EQ(ParseFrame(frame, RxOffload{}, fi), IoDrop::kNone);
    Inject(RssQueue(fi), frame);
  }
  std::vector<std::vector<uint8_t>> Take(int queue) {
    std::vector<std::vector<uint8_t>> out;
    void* m;
    while (rte_ring_dequeue(tx[queue], &m) == 0) {
      auto* mb = static_cast<rte_mbuf*>(m);
      const uint8_t* d = rte_pktmbuf_mtod(mb, const uint8_t*);
      out.emplace_back(d, d + mb->data_len);
      rte_pktmbuf_free(mb);
    }
    return out;
  }

  rte_ring* rx[kWorkers];
  rte_ring* tx[kWorkers + 1];
  int id = -1;
  rte_mempool* pool = nullptr;
};

class DpdkRingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Main lcore 0 plus two workers, all on the machine's first two CPUs.
    ASSERT_TRUE(StartEal("(0-2)@(0-1)").ok());
  }

  void SetUp() override { CreateBackend([](DpdkBackendConfig&) {}); }

  // The backend on a fresh ring port, with the suite's configuration adjusted by `tweak`.
  void CreateBackend(const std::function<void(DpdkBackendConfig&)>& tweak) {
    static int serial = 0;
    const std::string name = "net_ring_t" + std::to_string(serial++);
    port = std::make_unique<RingPort>(name);
    ASSERT_GE(port->id, 0);
    DpdkBackendConfig c;
    DpdkPortConfig p;
    char dev[RTE_ETH_NAME_MAX_LEN];
    ASSERT_EQ(rte_eth_dev_get_name_by_port(static_cast<uint16_t>(port->id), dev), 0);
    p.device = dev;
    p.ipv4 = SwitchIp();
    p.ipv4_prefix = 24;
    p.ipv6 = *IpAddr::Parse("fd00::1");
    p.ipv6_prefix = 64;
    c.ports = {p};
    c.first_port = kFirstPort;
    c.port_count = 256;
    c.idle_sleep_us = 50;  // two busy workers would starve the test thread on two CPUs
    c.tx_drain_us = 50;
    tweak(c);
    auto b = DpdkBackend::Create(c);
    ASSERT_TRUE(b.ok()) << b.status();
    backend = std::move(*b);
  }

  void TearDown() override {
    if (backend) backend->Stop();
    if (port) port->Drain();
    backend.reset();
    port.reset();
  }

  // Waits until `done` holds, polling the control thread's side meanwhile.
  template <typename F>
  bool WaitFor(F done, std::vector<PuntedDatagram>* punts = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      backend->PollControl([&](const PuntedDatagram& d) {
        if (punts) punts->push_back(d);
      });
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }

  uint64_t Total(auto get) {
    uint64_t v = 0;
    for (uint32_t w = 0; w < backend->workers(); ++w) v += get(backend->stats(w));
    return v;
  }

  void PublishMeetings(oracle::MeetingTraffic& traffic) {
    for (size_t i = 0; i < traffic.legs(); ++i) ASSERT_TRUE(backend->AddNeighbor(LegIp(i), LegMac(i)).ok());
    auto t = DataplaneTables::Build(traffic.Streams(), LegEgress(traffic));
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE(backend->Publish(std::move(*t)).ok());
  }

  std::unique_ptr<RingPort> port;
  std::unique_ptr<DpdkBackend> backend;
};

TEST_F(DpdkRingTest, RssSpreadsMeetingsOverTwoLcoresAndEveryOutputDecrypts) {
  oracle::MeetingTraffic traffic(/*meetings=*/4, /*legs=*/4, kFirstPort, /*seed=*/11);
  PublishMeetings(traffic);
  ASSERT_TRUE(backend->Start().ok());
  constexpr int kRounds = 40;
  const MacAddr mac = backend->port_mac(0);
  for (int r = 0; r < kRounds; ++r) {
    for (size_t i = 0; i < traffic.legs(); ++i) {
      port->InjectRss(LegFrame(i, mac, traffic.switch_port(i), traffic.Next(i, 200 + 40 * i)));
    }
  }
  const uint64_t want = uint64_t{kRounds} * traffic.legs() * traffic.fanout();
  std::map<uint32_t, std::set<int>> queues_of_ssrc;
  uint64_t got = 0;
  ASSERT_TRUE(WaitFor([&] {
    for (int q = 0; q < kWorkers; ++q) {
      for (const auto& fr : port->Take(q)) {
        FrameInfo fi;
        EXPECT_EQ(ParseFrame(fr, RxOffload{}, fi), IoDrop::kNone);
        const size_t leg = DestinationLeg(traffic, fi);
        EXPECT_LT(leg, traffic.legs());
        if (leg >= traffic.legs()) continue;
        const uint8_t* rtp = fr.data() + fi.payload_offset;
        queues_of_ssrc[LoadBe32(rtp + 8)].insert(q);
        EXPECT_EQ(traffic.Verify(leg, {rtp, fi.payload_len}), "");
        ++got;
      }
    }
    return got >= want;
  })) << got << " of " << want;
  EXPECT_EQ(got, want);
  for (const auto& [ssrc, qs] : queues_of_ssrc) {
    EXPECT_EQ(qs.size(), 1u) << "stream " << ssrc << " handled by more than one worker";
  }
  for (uint32_t w = 0; w < backend->workers(); ++w) {
    EXPECT_GT(backend->stats(w).pipeline->accepted.Get(), 0u) << "RSS left worker " << w << " idle";
  }
  EXPECT_EQ(Total([](auto s) { return s.pipeline->accepted.Get(); }),
            uint64_t{kRounds} * traffic.legs());
}

TEST_F(DpdkRingTest, MalformedFramesAreCountedByNameAndNeverForwarded) {
  oracle::MeetingTraffic traffic(1, 2, kFirstPort, 3);
  PublishMeetings(traffic);
  ASSERT_TRUE(backend->Start().ok());
  const MacAddr mac = backend->port_mac(0);
  auto good = [&] { return LegFrame(0, mac, traffic.switch_port(0), traffic.Next(0, 120)); };
  std::vector<std::pair<IoDrop, std::vector<uint8_t>>> cases;
  {
    auto f = good();
    f.resize(10);
    cases.push_back({IoDrop::kEthTruncated, f});
  }
  {
    auto f = good();
    f.resize(14 + 12);
    cases.push_back({IoDrop::kIpTruncated, f});
  }
  {
    auto f = good();
    f.resize(14 + 20 + 4);
    f[14 + 2] = 0, f[14 + 3] = 24;  // total length 24: a UDP header cannot fit
    f[24] = f[25] = 0;
    StoreBe16(&f[24], InternetChecksum({f.data() + 14, 20}));
    // Padded to the Ethernet minimum as a real short frame would be.
    f.resize(60, 0);
    cases.push_back({IoDrop::kUdpTruncated, f});
  }
  {
    auto f = good();
    f[14 + 10] ^= 1;
    cases.push_back({IoDrop::kIpBadChecksum, f});
  }
  {
    auto f = good();
    f.back() ^= 0x40;  // payload byte: only the UDP checksum notices
    cases.push_back({IoDrop::kUdpBadChecksum, f});
  }
  {
    // IPv4 with an options word, checksum recomputed so only the options are wrong.
    auto f = good();
    f.insert(f.begin() + 34, {1, 1, 1, 0});
    f[14] = 0x46;
    const uint16_t tl = static_cast<uint16_t>(LoadBe16(&f[16]) + 4);
    StoreBe16(&f[16], tl);
    f[24] = f[25] = 0;
    StoreBe16(&f[24], InternetChecksum({f.data() + 14, 24}));
    cases.push_back({IoDrop::kIpOptions, f});
  }
  {
    auto f = good();
    f[14 + 6] |= 0x20;  // more fragments
    f[24] = f[25] = 0;
    StoreBe16(&f[24], InternetChecksum({f.data() + 14, 20}));
    cases.push_back({IoDrop::kIpFragment, f});
  }
  cases.push_back({IoDrop::kNotMediaPort, LegFrame(0, mac, 53, {0x80, 1, 2, 3, 4, 5, 6, 7})});
  {
    UdpFlow fl;
    fl.src_mac = LegMac(0);
    fl.dst_mac = mac;
    fl.src = LegIp(0);
    fl.dst = IpAddr::FromV4(0x0a000002);  // another host's address
    fl.src_port = LegPort(0);
    fl.dst_port = traffic.switch_port(0);
    auto t = MakeUdpTemplate(fl);
    std::vector<uint8_t> f(t->len + 20, 0x80);
    WriteUdpHeaders(*t, f.data(), 20, 0, false, false);
    cases.push_back({IoDrop::kIpNotForUs, f});
  }
  {
    auto f = good();
    f[12] = 0x88, f[13] = 0xb5;  // local experimental EtherType
    cases.push_back({IoDrop::kUnsupportedEtherType, f});
  }
  for (const auto& c : cases) port->Inject(0, c.second);
  ASSERT_TRUE(WaitFor([&] {
    return Total([](auto s) { return s.io->rx_datagrams.Get(); }) == cases.size();
  }));
  std::map<IoDrop, uint64_t> want;
  for (const auto& c : cases) ++want[c.first];
  for (const auto& [d, n] : want) {
    EXPECT_EQ(Total([d = d](auto s) { return s.io->Drops(d); }), n) << IoDropName(d);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (int q = 0; q <= kWorkers; ++q) EXPECT_TRUE(port->Take(q).empty()) << "queue " << q;
  EXPECT_EQ(Total([](auto s) { return s.pipeline->rx_packets.Get(); }), 0u);
}

TEST_F(DpdkRingTest, ControlAnswersArpAndNdpAndGetsDtlsAndStunWithTheirSenders) {
  oracle::MeetingTraffic traffic(1, 2, kFirstPort, 5);
  PublishMeetings(traffic);
  ASSERT_TRUE(backend->Start().ok());
  const MacAddr mac = backend->port_mac(0);
  uint8_t buf[128];
  const MacAddr peer_mac = {0x02, 0, 0, 0, 7, 7};
  size_t n = BuildArpRequest(peer_mac, IpAddr::FromV4(0x0a000042), SwitchIp(), std::nullopt, buf);
  port->Inject(1, {buf, buf + n});
  const IpAddr peer6 = *IpAddr::Parse("fd00::42");
  n = BuildNeighborSolicitation(peer_mac, peer6, *IpAddr::Parse("fd00::1"), std::nullopt, buf);
  port->Inject(0, {buf, buf + n});
  const std::vector<uint8_t> dtls = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9};
  const std::vector<uint8_t> stun = {0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8,
                                     9, 10, 11, 12};
  port->Inject(0, LegFrame(0, mac, traffic.switch_port(0), dtls));
  port->Inject(1, LegFrame(1, mac, traffic.switch_port(1), stun));

  std::vector<PuntedDatagram> punts;
  std::vector<std::vector<uint8_t>> replies;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (auto& f : port->Take(kWorkers)) replies.push_back(std::move(f));
        return punts.size() == 2 && replies.size() == 2;
      },
      &punts));
  std::sort(punts.begin(), punts.end(),
            [](const auto& a, const auto& b) { return a.local_port < b.local_port; });
  EXPECT_EQ(std::vector<uint8_t>(punts[0].data, punts[0].data + punts[0].len), dtls);
  EXPECT_EQ(punts[0].from, LegIp(0));
  EXPECT_EQ(punts[0].from_port, LegPort(0));
  EXPECT_EQ(punts[0].local_port, traffic.switch_port(0));
  EXPECT_EQ(std::vector<uint8_t>(punts[1].data, punts[1].data + punts[1].len), stun);
  int arp_replies = 0, nas = 0;
  for (const auto& r : replies) {
    FrameInfo fi;
    ASSERT_EQ(ParseFrame(r, RxOffload{}, fi), IoDrop::kNone);
    if (fi.kind == FrameKind::kArp) {
      ArpMessage a;
      ASSERT_EQ(ParseArp(r, fi, a), IoDrop::kNone);
      EXPECT_EQ(a.op, ArpOp::kReply);
      EXPECT_EQ(a.sender_mac, mac);
      EXPECT_EQ(a.target_mac, peer_mac);
      ++arp_replies;
    } else if (fi.kind == FrameKind::kIcmpv6) {
      NdMessage nd;
      ASSERT_EQ(ParseNdp(r, fi, nd), IoDrop::kNone);
      EXPECT_EQ(nd.type, NdType::kNeighborAdvertisement);
      EXPECT_TRUE(nd.solicited);
      EXPECT_EQ(nd.target_ll, mac);
      EXPECT_EQ(fi.dst, peer6);
      ++nas;
    }
  }
  EXPECT_EQ(arp_replies, 1);
  EXPECT_EQ(nas, 1);
  // Answered, but not learned: the switch asked for neither and no egress goes through them.
  EXPECT_FALSE(backend->Neighbor(IpAddr::FromV4(0x0a000042)).has_value()) << "requester";
  EXPECT_FALSE(backend->Neighbor(peer6).has_value()) << "solicitor";
  EXPECT_EQ(backend->control_counters().Drops(IoDrop::kNeighborUnsolicited), 2u);

  // Control answers a DTLS peer from the media port, on its own queue.
  ASSERT_TRUE(backend->SendFrom(traffic.switch_port(0), LegIp(0), LegPort(0), dtls).ok());
  const auto sent = port->Take(kWorkers);
  ASSERT_EQ(sent.size(), 1u);
  FrameInfo fi;
  ASSERT_EQ(ParseFrame(sent[0], RxOffload{}, fi), IoDrop::kNone);
  EXPECT_EQ(fi.src_port, traffic.switch_port(0));
  EXPECT_EQ(std::vector<uint8_t>(sent[0].begin() + fi.payload_offset, sent[0].end()), dtls);
}

TEST_F(DpdkRingTest, UnresolvedNextHopIsAskedForAndMediaFlowsOnceItAnswers) {
  oracle::MeetingTraffic traffic(1, 2, kFirstPort, 9);
  // No static neighbours: the switch must ARP for both legs.
  auto t = DataplaneTables::Build(traffic.Streams(), LegEgress(traffic));
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(backend->Publish(std::move(*t)).ok());
  ASSERT_TRUE(backend->Start().ok());
  std::set<IpAddr, bool (*)(const IpAddr&, const IpAddr&)> asked(
      [](const IpAddr& a, const IpAddr& b) { return a.b < b.b; });
  for (const auto& f : port->Take(kWorkers)) {
    FrameInfo fi;
    ArpMessage a;
    ASSERT_EQ(ParseFrame(f, RxOffload{}, fi), IoDrop::kNone);
    ASSERT_EQ(ParseArp(f, fi, a), IoDrop::kNone);
    EXPECT_EQ(a.op, ArpOp::kRequest);
    asked.insert(a.target_ip);
  }
  EXPECT_EQ(asked.size(), 2u);
  const MacAddr mac = backend->port_mac(0);
  port->Inject(0, LegFrame(0, mac, traffic.switch_port(0), traffic.Next(0, 100)));
  ASSERT_TRUE(WaitFor([&] { return Total([](auto s) { return s.io->Drops(IoDrop::kNoNeighbor); }) == 1; }));
  // Leg 1 answers: its ARP reply to the switch.
  uint8_t req[64], rep[64];
  const size_t rl = BuildArpRequest(mac, SwitchIp(), LegIp(1), std::nullopt, req);
  FrameInfo rfi;
  ArpMessage ra;
  ASSERT_EQ(ParseFrame({req, rl}, RxOffload{}, rfi), IoDrop::kNone);
  ASSERT_EQ(ParseArp({req, rl}, rfi, ra), IoDrop::kNone);
  const size_t n = BuildArpReply(rfi, ra, LegMac(1), rep);
  port->Inject(1, {rep, rep + n});
  ASSERT_TRUE(WaitFor([&] { return backend->Neighbor(LegIp(1)).has_value(); }))
      << "punted " << Total([](auto s) { return s.io->punted.Get(); }) << " unhandled "
      << backend->control_counters().Drops(IoDrop::kPuntUnhandled) << " arp_malformed "
      << Total([](auto s) { return s.io->Drops(IoDrop::kArpMalformed); });
  port->Inject(0, LegFrame(0, mac, traffic.switch_port(0), traffic.Next(0, 100)));
  std::vector<std::vector<uint8_t>> out;
  ASSERT_TRUE(WaitFor([&] {
    for (int q = 0; q < kWorkers; ++q)
      for (auto& f : port->Take(q)) out.push_back(std::move(f));
    return !out.empty();
  }));
  FrameInfo fi;
  ASSERT_EQ(ParseFrame(out[0], RxOffload{}, fi), IoDrop::kNone);
  EXPECT_EQ(fi.dst_mac, LegMac(1));
  EXPECT_EQ(traffic.Verify(1, {out[0].data() + fi.payload_offset, fi.payload_len}), "");
}

TEST_F(DpdkRingTest, ThousandRouteChangesUnderTrafficWithRcuLoseNothingOnUnaffectedStreams) {
  oracle::MeetingTraffic traffic(1, 4, kFirstPort, 13);
  PublishMeetings(traffic);
  ASSERT_TRUE(backend->Start().ok());
  auto streams = traffic.Streams();
  const auto full = streams[0].routes;
  const MacAddr mac = backend->port_mac(0);
  std::vector<size_t> from_unaffected(traffic.legs(), 0);
  uint64_t total_out = 0;
  auto take = [&] {
    for (int q = 0; q < kWorkers; ++q) {
      for (const auto& fr : port->Take(q)) {
        FrameInfo fi;
        ASSERT_EQ(ParseFrame(fr, RxOffload{}, fi), IoDrop::kNone);
        const size_t leg = DestinationLeg(traffic, fi);
        ASSERT_LT(leg, traffic.legs());
        const uint8_t* rtp = fr.data() + fi.payload_offset;
        EXPECT_EQ(traffic.Verify(leg, {rtp, fi.payload_len}), "");
        if (traffic.LegOf(LoadBe32(rtp + 8)) != 0) ++from_unaffected[leg];
        ++total_out;
      }
    }
  };
  constexpr int kPublications = 1000;
  for (int p = 0; p < kPublications; ++p) {
    for (size_t i = 0; i < traffic.legs(); ++i) {
      port->InjectRss(LegFrame(i, mac, traffic.switch_port(i), traffic.Next(i, 200)));
    }
    streams[0].routes = p % 2 ? full : std::vector<RouteConfig>{full[0]};
    auto t = DataplaneTables::Build(streams, LegEgress(traffic), {}, static_cast<uint64_t>(p));
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE(backend->Publish(std::move(*t)).ok());
    backend->PollControl([](const PuntedDatagram&) {});
    take();
  }
  ASSERT_TRUE(WaitFor([&] {
    take();
    return Total([](auto s) { return s.pipeline->accepted.Get(); }) ==
               uint64_t{kPublications} * traffic.legs() &&
           Total([](auto s) { return s.io->tx_datagrams.Get(); }) == total_out;
  }));
  EXPECT_EQ(from_unaffected[0], size_t{kPublications} * 3);
  for (size_t i = 1; i < traffic.legs(); ++i) {
    EXPECT_EQ(from_unaffected[i], size_t{kPublications} * 2) << "leg " << i;
  }
}

// Reads one JSON reply from DPDK's telemetry socket for `cmd`.
std::string Telemetry(const std::string& cmd) {
  const std::string path = std::string(rte_eal_get_runtime_dir()) + "/dpdk_telemetry.v2";
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) {
    close(fd);
    return "connect failed: " + path;
  }
  char buf[16384];
  (void)!read(fd, buf, sizeof(buf));  // the greeting
  (void)!write(fd, cmd.data(), cmd.size());
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

TEST_F(DpdkRingTest, TelemetryServesPerLcoreCountersUnderMpswitchPrefix) {
  oracle::MeetingTraffic traffic(1, 3, kFirstPort, 17);
  PublishMeetings(traffic);
  ASSERT_TRUE(backend->Start().ok());
  const MacAddr mac = backend->port_mac(0);
  for (int r = 0; r < 5; ++r) {
    for (size_t i = 0; i < traffic.legs(); ++i)
      port->InjectRss(LegFrame(i, mac, traffic.switch_port(i), traffic.Next(i, 64)));
  }
  port->Inject(0, LegFrame(0, mac, 53, {0x80, 0, 0, 0}));
  ASSERT_TRUE(WaitFor([&] { return Total([](auto s) { return s.io->tx_datagrams.Get(); }) == 30; }));
  const std::string stats = Telemetry("/mpswitch/stats");
  EXPECT_NE(stats.find("\"accepted\":15"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"tx_frames\":30"), std::string::npos) << stats;
  const std::string lcores = Telemetry("/mpswitch/lcores");
  EXPECT_NE(lcores.find("[1,2]"), std::string::npos) << lcores;
  const std::string one = Telemetry("/mpswitch/lcore,1");
  EXPECT_NE(one.find("\"rx_frames\""), std::string::npos) << one;
  const std::string drops = Telemetry("/mpswitch/drops");
  EXPECT_NE(drops.find("\"not_media_port\":1"), std::string::npos) << drops;
  EXPECT_NE(drops.find("\"auth_failed\":0"), std::string::npos) << drops;
  // The neighbour table's refusals are drops by name, its work is in the totals.
  EXPECT_NE(drops.find("\"neighbor_unsolicited\":0"), std::string::npos) << drops;
  EXPECT_NE(drops.find("\"neighbor_table_full\":0"), std::string::npos) << drops;
  EXPECT_NE(drops.find("\"no_headroom\":0"), std::string::npos) << drops;
  EXPECT_NE(stats.find("\"neighbors\":3"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"neighbor_recompiles_deferred\":0"), std::string::npos) << stats;
}

// ---------------------------------------------------------------------------------------------
// The neighbour table's defences. The control thread's clock is the test's own (it moves only
// when a test advances it), so the recompile rate limit and the checks of claimed moves are
// driven through PollControl without sleeping; the table holds at most kMaxNeighbors entries.

// An ARP request from `ip` at `mac` for `target` (target == ip: a gratuitous ARP).
std::vector<uint8_t> ArpRequestFrame(const MacAddr& mac, const IpAddr& ip, const IpAddr& target) {
  uint8_t buf[64];
  const size_t n = BuildArpRequest(mac, ip, target, std::nullopt, buf);
  EXPECT_NE(n, 0u);
  return {buf, buf + n};
}

// The ARP reply "`ip` is at `mac`" to the switch, in the form of an answer to its request.
std::vector<uint8_t> ArpReplyFrame(const MacAddr& switch_mac, const IpAddr& ip,
                                   const MacAddr& mac) {
  const std::vector<uint8_t> req = ArpRequestFrame(switch_mac, SwitchIp(), ip);
  FrameInfo fi;
  ArpMessage a;
  EXPECT_EQ(ParseFrame(req, RxOffload{}, fi), IoDrop::kNone);
  EXPECT_EQ(ParseArp(req, fi, a), IoDrop::kNone);
  uint8_t buf[64];
  const size_t n = BuildArpReply(fi, a, mac, buf);
  EXPECT_NE(n, 0u);
  return {buf, buf + n};
}

IpAddr SwitchIp6() { return *IpAddr::Parse("fd00::1"); }

// A Neighbor Advertisement "`target` is at `mac`": with `solicited`, to the switch's fd00::1 with
// the solicited flag, as the answer to a solicitation from the switch; without, to all nodes and
// without the flag (what a host announces, e.g. answering duplicate address detection).
std::vector<uint8_t> AdvertisementFrame(const MacAddr& switch_mac, const IpAddr& target,
                                        const MacAddr& mac, bool solicited) {
  uint8_t ns[128], na[128];
  const IpAddr from = solicited ? SwitchIp6() : *IpAddr::Parse("::");
  const size_t nl = BuildNeighborSolicitation(switch_mac, from, target, std::nullopt, ns);
  FrameInfo fi;
  NdMessage nd;
  EXPECT_EQ(ParseFrame({ns, nl}, RxOffload{}, fi), IoDrop::kNone);
  EXPECT_EQ(ParseNdp({ns, nl}, fi, nd), IoDrop::kNone);
  const size_t n = BuildNeighborAdvertisement(fi, nd, mac, na);
  EXPECT_NE(n, 0u);
  return {na, na + n};
}

class DpdkNeighborTest : public DpdkRingTest {
 protected:
  static constexpr uint32_t kMaxNeighbors = 4;
  static constexpr uint32_t kRecompileMs = 50;

  void SetUp() override {
    CreateBackend([this](DpdkBackendConfig& c) {
      c.clock = [this] { return now_; };
      c.max_neighbors = kMaxNeighbors;
      c.neighbor_recompile_ms = kRecompileMs;
    });
  }

  void Advance(std::chrono::milliseconds d) { now_ += d; }
  // One control turn at the current (test) time, for what is due by the clock alone.
  void Turn() { backend->PollControl([](const PuntedDatagram&) {}); }

  uint64_t Refused(IoDrop d) const { return backend->control_counters().Drops(d); }
  uint64_t Events(NeighborEvent e) const { return backend->neighbor_counters().Get(e); }
  uint64_t Entries() const { return backend->neighbor_counters().entries.Get(); }
  uint64_t Handled() const { return backend->control_counters().punted.Get(); }

  // Publishes `traffic`'s tables with no neighbour known: the switch asks for every leg.
  void PublishUnresolved(oracle::MeetingTraffic& traffic) {
    auto t = DataplaneTables::Build(traffic.Streams(), LegEgress(traffic));
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE(backend->Publish(std::move(*t)).ok());
  }

  // The addresses the switch asked for (ARP requests, NSes) on its queue since the last call;
  // the other frames there are discarded.
  std::vector<IpAddr> TakeAsked() {
    std::vector<IpAddr> out;
    for (const auto& f : port->Take(kWorkers)) {
      FrameInfo fi;
      if (ParseFrame(f, RxOffload{}, fi) != IoDrop::kNone) continue;
      ArpMessage a;
      NdMessage nd;
      if (fi.kind == FrameKind::kArp && ParseArp(f, fi, a) == IoDrop::kNone &&
          a.op == ArpOp::kRequest) {
        out.push_back(a.target_ip);
      } else if (fi.kind == FrameKind::kIcmpv6 && ParseNdp(f, fi, nd) == IoDrop::kNone &&
                 nd.type == NdType::kNeighborSolicitation) {
        out.push_back(nd.target);
      }
    }
    return out;
  }

  // Sends one media packet from each leg in `from` and returns the destination MAC of every copy
  // by the leg it went to, each copy verified against what its sender sent.
  std::map<size_t, std::vector<MacAddr>> Forward(oracle::MeetingTraffic& traffic,
                                                 const std::vector<size_t>& from) {
    const MacAddr mac = backend->port_mac(0);
    const uint64_t before = Total([](auto s) { return s.io->tx_datagrams.Get(); });
    for (size_t i : from) {
      port->InjectRss(LegFrame(i, mac, traffic.switch_port(i), traffic.Next(i, 80)));
    }
    const uint64_t want = from.size() * traffic.fanout();
    std::map<size_t, std::vector<MacAddr>> got;
    size_t n = 0;
    EXPECT_TRUE(WaitFor([&] {
      for (int q = 0; q < kWorkers; ++q) {
        for (const auto& fr : port->Take(q)) {
          FrameInfo fi;
          EXPECT_EQ(ParseFrame(fr, RxOffload{}, fi), IoDrop::kNone);
          const size_t leg = DestinationLeg(traffic, fi);
          EXPECT_LT(leg, traffic.legs());
          if (leg >= traffic.legs()) continue;
          EXPECT_EQ(traffic.Verify(leg, {fr.data() + fi.payload_offset, fi.payload_len}), "");
          got[leg].push_back(fi.dst_mac);
          ++n;
        }
      }
      return n >= want &&
             Total([](auto s) { return s.io->tx_datagrams.Get(); }) - before >= want;
    })) << n << " of " << want;
    return got;
  }

  std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
};

TEST_F(DpdkNeighborTest, ArpFromSendersNeitherAskedForNorRoutedToIsAnsweredButNotLearned) {
  oracle::MeetingTraffic traffic(1, 2, kFirstPort, 21);
  // Leg 0 is configured; leg 1 is a next hop of the egress the switch has not resolved yet.
  ASSERT_TRUE(backend->AddNeighbor(LegIp(0), LegMac(0)).ok());
  PublishUnresolved(traffic);
  EXPECT_EQ(TakeAsked(), std::vector<IpAddr>{LegIp(1)});
  ASSERT_TRUE(backend->Start().ok());
  const MacAddr mac = backend->port_mac(0);
  const MacAddr stranger = {0x02, 0, 0, 0, 9, 9};
  const IpAddr asker = IpAddr::FromV4(0x0a000042), answerer = IpAddr::FromV4(0x0a000043);
  port->Inject(0, ArpRequestFrame(stranger, asker, SwitchIp()));    // asks for the switch
  port->Inject(0, ArpReplyFrame(mac, answerer, stranger));          // answers what nobody asked
  // The egress's next hop may introduce itself by asking for the switch.
  port->Inject(1, ArpRequestFrame(LegMac(1), LegIp(1), SwitchIp()));
  ASSERT_TRUE(WaitFor([&] { return Handled() == 3; }));
  EXPECT_EQ(Refused(IoDrop::kNeighborUnsolicited), 2u);
  EXPECT_FALSE(backend->Neighbor(asker).has_value());
  EXPECT_FALSE(backend->Neighbor(answerer).has_value());
  EXPECT_EQ(backend->Neighbor(LegIp(1)), LegMac(1));
  EXPECT_EQ(Events(NeighborEvent::kLearned), 1u);
  EXPECT_EQ(Entries(), 2u);
  // Both requests were answered all the same.
  int replies = 0;
  for (const auto& f : port->Take(kWorkers)) {
    FrameInfo fi;
    ArpMessage a;
    ASSERT_EQ(ParseFrame(f, RxOffload{}, fi), IoDrop::kNone);
    if (fi.kind == FrameKind::kArp && ParseArp(f, fi, a) == IoDrop::kNone &&
        a.op == ArpOp::kReply) {
      EXPECT_EQ(a.sender_ip, SwitchIp());
      ++replies;
    }
  }
  EXPECT_EQ(replies, 2);
  // The first learned next hop is compiled at once: media reaches leg 1.
  const auto out = Forward(traffic, {0});
  ASSERT_EQ(out.count(1), 1u);
  EXPECT_EQ(out.at(1), std::vector<MacAddr>{LegMac(1)});
}

TEST_F(DpdkNeighborTest, NeighborAdvertisementsAreLearnedOnlyAsAnswersToTheSwitchsSolicitation) {
  ASSERT_TRUE(backend->Start().ok());
  const MacAddr mac = backend->port_mac(0);
  const MacAddr peer = {0x02, 0, 0, 0, 6, 6}, other = {0x02, 0, 0, 0, 6, 7};
  const IpAddr announced = *IpAddr::Parse("fd00::42"), flagged = *IpAddr::Parse("fd00::43");
  port->Inject(0, AdvertisementFrame(mac, announced, peer, /*solicited=*/false));
  // The solicited flag alone proves nothing: the switch sent no solicitation for fd00::43.
  port->Inject(1, AdvertisementFrame(mac, flagged, peer, /*solicited=*/true));
  ASSERT_TRUE(WaitFor([&] { return Handled() == 2; }));
  EXPECT_EQ(Refused(IoDrop::kNeighborUnsolicited), 2u);
  EXPECT_FALSE(backend->Neighbor(announced).has_value());
  EXPECT_FALSE(backend->Neighbor(flagged).has_value());
  EXPECT_EQ(Entries(), 0u);

  // A peer control must answer (DTLS, STUN) is solicited, and its answer learned.
  const IpAddr peer_ip = *IpAddr::Parse("fd00::44");
  const std::vector<uint8_t> dtls = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9};
  EXPECT_EQ(backend->SendFrom(kFirstPort, peer_ip, 5000, dtls).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(TakeAsked(), std::vector<IpAddr>{peer_ip});
  port->Inject(0, AdvertisementFrame(mac, peer_ip, peer, /*solicited=*/true));
  ASSERT_TRUE(WaitFor([&] { return backend->Neighbor(peer_ip).has_value(); }));
  EXPECT_EQ(backend->Neighbor(peer_ip), peer);
  EXPECT_EQ(Events(NeighborEvent::kLearned), 1u);
  // A second answer (another host's) finds the request used up: a claimed move, not taken.
  port->Inject(0, AdvertisementFrame(mac, peer_ip, other, /*solicited=*/true));
  ASSERT_TRUE(WaitFor([&] { return Refused(IoDrop::kNeighborMoveRefused) == 1; }));
  EXPECT_EQ(backend->Neighbor(peer_ip), peer);
  EXPECT_EQ(TakeAsked(), std::vector<IpAddr>{peer_ip}) << "the switch checks the address itself";
  ASSERT_TRUE(backend->SendFrom(kFirstPort, peer_ip, 5000, dtls).ok());
  const auto sent = port->Take(kWorkers);
  ASSERT_EQ(sent.size(), 1u);
  FrameInfo fi;
  ASSERT_EQ(ParseFrame(sent[0], RxOffload{}, fi), IoDrop::kNone);
  EXPECT_EQ(fi.dst, peer_ip);
  EXPECT_EQ(fi.dst_mac, peer);
}

TEST_F(DpdkNeighborTest, FloodOfArpFromManySendersLeavesTheTableBoundedAndCounted) {
  ASSERT_TRUE(backend->Start().ok());
  const MacAddr mac = backend->port_mac(0);
  constexpr uint32_t kFlood = 600;
  for (uint32_t i = 0; i < kFlood; ++i) {
    const MacAddr m = {0x02, 0, 0, 1, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    const IpAddr ip = IpAddr::FromV4(0x0a000100 + i);  // 10.0.1.0 and on, each sender its own
    // Requests for the switch and replies to requests it never sent, half each.
    port->Inject(static_cast<int>(i % kWorkers),
                 i % 2 ? ArpReplyFrame(mac, ip, m) : ArpRequestFrame(m, ip, SwitchIp()));
  }
  ASSERT_TRUE(WaitFor([&] { return Handled() == kFlood; }))
      << Handled() << " punt_ring_full "
      << Total([](auto s) { return s.io->Drops(IoDrop::kPuntRingFull); });
  EXPECT_EQ(Refused(IoDrop::kNeighborUnsolicited), kFlood);
  EXPECT_EQ(Entries(), 0u);
  EXPECT_EQ(Events(NeighborEvent::kLearned), 0u);
  EXPECT_EQ(Events(NeighborEvent::kRecompiles), 0u);
  port->Take(kWorkers);  // the switch's answers to the requests

  // A peer control talks to (not an egress next hop): asked for, learned from its answer.
  const IpAddr peer = IpAddr::FromV4(0x0a0000c8);
  const MacAddr peer_mac = {0x02, 0, 0, 0, 0x0c, 0x08};
  const std::vector<uint8_t> dtls = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9};
  EXPECT_EQ(backend->SendFrom(kFirstPort, peer, 5000, dtls).code(),
            absl::StatusCode::kUnavailable);
  port->Inject(0, ArpReplyFrame(mac, peer, peer_mac));
  ASSERT_TRUE(WaitFor([&] { return backend->Neighbor(peer).has_value(); }));
  EXPECT_EQ(TakeAsked(), std::vector<IpAddr>{peer});

  // Egress to four legs fills the table; the peer, which no egress uses, makes room for the last.
  oracle::MeetingTraffic traffic(1, 4, kFirstPort, 23);
  PublishUnresolved(traffic);
  EXPECT_EQ(TakeAsked().size(), 4u);
  for (size_t i = 0; i < traffic.legs(); ++i) {
    port->Inject(0, ArpReplyFrame(mac, LegIp(i), LegMac(i)));
  }
  ASSERT_TRUE(WaitFor([&] { return Events(NeighborEvent::kLearned) == 1 + traffic.legs(); }));
  EXPECT_EQ(Entries(), kMaxNeighbors);
  EXPECT_EQ(Events(NeighborEvent::kReclaimed), 1u);
  EXPECT_FALSE(backend->Neighbor(peer).has_value());
  for (size_t i = 0; i < traffic.legs(); ++i) EXPECT_EQ(backend->Neighbor(LegIp(i)), LegMac(i));

  // Now every entry is an egress next hop: nothing more gets in, asked for or configured.
  const IpAddr peer2 = IpAddr::FromV4(0x0a0000c9);
  EXPECT_EQ(backend->SendFrom(kFirstPort, peer2, 5000, dtls).code(),
            absl::StatusCode::kUnavailable);
  port->Inject(0, ArpReplyFrame(mac, peer2, peer_mac));
  ASSERT_TRUE(WaitFor([&] { return Refused(IoDrop::kNeighborTableFull) == 1; }));
  EXPECT_FALSE(backend->Neighbor(peer2).has_value());
  EXPECT_EQ(backend->AddNeighbor(peer2, peer_mac).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Refused(IoDrop::kNeighborTableFull), 2u);
  EXPECT_EQ(Entries(), kMaxNeighbors);
}

// The rule: a learned neighbour's MAC is never replaced on a claim's word. A claim (gratuitous
// ARP, unsolicited reply) makes the switch ask for the address and listen for a second; the entry
// moves only if the answer comes from one new MAC while the current MAC stays silent. A poisoner
// who answers the check is outvoted by the live neighbour; a neighbour that really moved is
// followed when its check ends.
TEST_F(DpdkNeighborTest, GratuitousArpCannotRepointANextHopButAMovedNeighbourIsFollowed) {
  oracle::MeetingTraffic traffic(1, 2, kFirstPort, 25);
  PublishUnresolved(traffic);
  EXPECT_EQ(TakeAsked().size(), 2u);
  ASSERT_TRUE(backend->Start().ok());
  const MacAddr mac = backend->port_mac(0);
  port->Inject(0, ArpReplyFrame(mac, LegIp(0), LegMac(0)));
  port->Inject(0, ArpReplyFrame(mac, LegIp(1), LegMac(1)));
  ASSERT_TRUE(WaitFor([&] { return Events(NeighborEvent::kLearned) == 2; }));
  Advance(std::chrono::milliseconds(kRecompileMs));
  Turn();
  TakeAsked();
  EXPECT_EQ(Forward(traffic, {0}).at(1), std::vector<MacAddr>{LegMac(1)});

  // The attack: leg 1's address claimed for the attacker's MAC.
  const MacAddr attacker = {0x02, 0, 0, 0, 0x0b, 0xad};
  port->Inject(0, ArpRequestFrame(attacker, LegIp(1), LegIp(1)));  // gratuitous
  ASSERT_TRUE(WaitFor([&] { return Refused(IoDrop::kNeighborMoveRefused) == 1; }));
  EXPECT_EQ(backend->Neighbor(LegIp(1)), LegMac(1));
  EXPECT_EQ(TakeAsked(), std::vector<IpAddr>{LegIp(1)}) << "the check asks leg 1";
  EXPECT_EQ(Events(NeighborEvent::kChecks), 1u);
  // The attacker answers the check first and claims again; the real leg 1 answers too.
  const uint64_t handled = Handled();
  port->Inject(0, ArpReplyFrame(mac, LegIp(1), attacker));
  port->Inject(0, ArpRequestFrame(attacker, LegIp(1), LegIp(1)));
  port->Inject(0, ArpReplyFrame(mac, LegIp(1), LegMac(1)));
  ASSERT_TRUE(WaitFor([&] { return Handled() == handled + 3; }));
  EXPECT_EQ(Refused(IoDrop::kNeighborMoveRefused), 2u) << "the repeated claim";
  EXPECT_EQ(Events(NeighborEvent::kChecks), 1u) << "one check at a time";
  Advance(std::chrono::seconds(1));
  Turn();
  EXPECT_EQ(Refused(IoDrop::kNeighborMoveRefused), 3u) << "the attacker's answer lost the check";
  EXPECT_EQ(backend->Neighbor(LegIp(1)), LegMac(1));
  EXPECT_EQ(Events(NeighborEvent::kMoved), 0u);
  EXPECT_EQ(Forward(traffic, {0}).at(1), std::vector<MacAddr>{LegMac(1)});

  // Leg 1 really moves (a new NIC, the old one gone): it announces itself, then answers the check.
  const MacAddr moved = {0x02, 0, 0, 0, 2, 1};
  port->Inject(0, ArpRequestFrame(moved, LegIp(1), LegIp(1)));
  ASSERT_TRUE(WaitFor([&] { return Refused(IoDrop::kNeighborMoveRefused) == 4; }));
  EXPECT_EQ(TakeAsked(), std::vector<IpAddr>{LegIp(1)});
  port->Inject(0, ArpReplyFrame(mac, LegIp(1), moved));
  ASSERT_TRUE(WaitFor([&] { return Handled() == handled + 5; }));
  EXPECT_EQ(backend->Neighbor(LegIp(1)), LegMac(1)) << "not before the check ends";
  Advance(std::chrono::seconds(1));
  Turn();
  EXPECT_EQ(Events(NeighborEvent::kMoved), 1u);
  EXPECT_EQ(backend->Neighbor(LegIp(1)), moved);
  EXPECT_EQ(Forward(traffic, {0}).at(1), std::vector<MacAddr>{moved});

  // A configured neighbour never moves by ARP, and is not checked.
  ASSERT_TRUE(backend->AddNeighbor(LegIp(0), LegMac(0)).ok());
  port->Inject(0, ArpRequestFrame(attacker, LegIp(0), LegIp(0)));
  ASSERT_TRUE(WaitFor([&] { return Refused(IoDrop::kNeighborMoveRefused) == 5; }));
  EXPECT_EQ(backend->Neighbor(LegIp(0)), LegMac(0));
  EXPECT_EQ(Events(NeighborEvent::kChecks), 2u);
}

TEST_F(DpdkNeighborTest, NeighboursLearnedInQuickSuccessionShareRecompilesAndEndCorrect) {
  oracle::MeetingTraffic traffic(1, 4, kFirstPort, 27);
  PublishUnresolved(traffic);
  EXPECT_EQ(TakeAsked().size(), traffic.legs());
  ASSERT_TRUE(backend->Start().ok());
  const MacAddr mac = backend->port_mac(0);
  // All four answer at once (one queue: they are handled in this order).
  for (size_t i = 0; i < traffic.legs(); ++i) {
    port->Inject(0, ArpReplyFrame(mac, LegIp(i), LegMac(i)));
  }
  ASSERT_TRUE(WaitFor([&] { return Events(NeighborEvent::kLearned) == traffic.legs(); }));
  // The first was compiled at once; the other three wait for the rate limit, coalesced.
  EXPECT_EQ(Events(NeighborEvent::kRecompiles), 1u);
  EXPECT_EQ(Events(NeighborEvent::kRecompilesDeferred), traffic.legs() - 1);
  for (size_t i = 0; i < traffic.legs(); ++i) EXPECT_EQ(backend->Neighbor(LegIp(i)), LegMac(i));
  // Meanwhile leg 0's copies to legs 1..3 have no neighbour in the published headers yet.
  port->InjectRss(LegFrame(0, mac, traffic.switch_port(0), traffic.Next(0, 80)));
  ASSERT_TRUE(WaitFor([&] {
    return Total([](auto s) { return s.io->Drops(IoDrop::kNoNeighbor); }) == traffic.fanout();
  }));
  // Nothing happens before the interval is over ...
  Advance(std::chrono::milliseconds(kRecompileMs - 1));
  Turn();
  EXPECT_EQ(Events(NeighborEvent::kRecompiles), 1u);
  // ... and then one recompile publishes all three.
  Advance(std::chrono::milliseconds(1));
  Turn();
  EXPECT_EQ(Events(NeighborEvent::kRecompiles), 2u);
  EXPECT_LT(Events(NeighborEvent::kRecompiles), Events(NeighborEvent::kLearned));
  Turn();
  EXPECT_EQ(Events(NeighborEvent::kRecompiles), 2u) << "nothing left pending";
  const auto out = Forward(traffic, {0, 1, 2, 3});
  for (size_t i = 0; i < traffic.legs(); ++i) {
    ASSERT_EQ(out.count(i), 1u) << "leg " << i;
    EXPECT_EQ(out.at(i), std::vector<MacAddr>(traffic.fanout(), LegMac(i))) << "leg " << i;
  }
  EXPECT_EQ(Total([](auto s) { return s.io->Drops(IoDrop::kNoNeighbor); }), traffic.fanout());
}

}  // namespace
}  // namespace mpswitch::dataplane::io
