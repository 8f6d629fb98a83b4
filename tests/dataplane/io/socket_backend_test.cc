// The socket backend over loopback: several meetings switched through real UDP sockets on IPv4
// and IPv6, every output checked with libsrtp2; the punt path; table publication under traffic.
#include "mpswitch/dataplane/io/socket_backend.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "mpswitch/oracle/meeting_traffic.h"
#include "mpswitch/oracle/udp_endpoint.h"

namespace mpswitch::dataplane::io {
namespace {

using oracle::UdpEndpoint;

// Each test binds its own port range so that CTest may run them side by side.
struct Loopback {
  Loopback(const IpAddr& addr, int meetings, int legs, uint16_t first_port, uint32_t workers)
      : traffic(meetings, legs, first_port, first_port) {
    for (size_t i = 0; i < traffic.legs(); ++i) {
      endpoints.push_back(std::make_unique<UdpEndpoint>(addr));
      egress.push_back({traffic.switch_port(i), addr, endpoints.back()->port()});
    }
    SocketBackendConfig c;
    c.addresses = {addr.ToString()};
    c.first_port = first_port;
    c.port_count = static_cast<uint16_t>(traffic.legs());
    c.workers = workers;
    auto b = SocketBackend::Create(c);
    if (!b.ok()) {
      status = b.status();
      return;
    }
    backend = std::move(*b);
    auto t = DataplaneTables::Build(traffic.Streams(), egress);
    status = t.ok() ? backend->Publish(std::move(*t)) : t.status();
    if (status.ok()) status = backend->Start();
  }

  // Sends `rounds` packets from every leg; `pace` rounds at a time, then a short pause so the
  // receivers' socket buffers never overflow (loss would be the kernel's, not the switch's).
  void Send(int rounds, size_t payload, const std::vector<size_t>& legs_to_send = {}) {
    for (int r = 0; r < rounds; ++r) {
      for (size_t i = 0; i < traffic.legs(); ++i) {
        if (!legs_to_send.empty() &&
            std::find(legs_to_send.begin(), legs_to_send.end(), i) == legs_to_send.end())
          continue;
        ASSERT_TRUE(endpoints[i]->SendTo(traffic.switch_port(i), traffic.Next(i, payload)));
      }
      if (r % 16 == 15) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  // Receives until every leg has `want[leg]` datagrams or nothing arrives for 2 s; verifies each.
  std::vector<size_t> Collect(const std::vector<size_t>& want) {
    std::vector<size_t> got(traffic.legs(), 0);
    auto quiet_since = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - quiet_since < std::chrono::seconds(2)) {
      bool any = false, done = true;
      for (size_t i = 0; i < traffic.legs(); ++i) {
        if (got[i] >= want[i]) continue;
        done = false;
        auto d = endpoints[i]->Receive(1);
        if (d.empty()) continue;
        any = true;
        const std::string why = traffic.Verify(i, d);
        EXPECT_EQ(why, "") << "leg " << i;
        ++got[i];
      }
      if (done) break;
      if (any) quiet_since = std::chrono::steady_clock::now();
    }
    return got;
  }

  oracle::MeetingTraffic traffic;
  std::vector<std::unique_ptr<UdpEndpoint>> endpoints;
  std::vector<Egress> egress;
  std::unique_ptr<SocketBackend> backend;
  absl::Status status;
};

void SwitchesMeetings(const IpAddr& addr, uint16_t first_port, uint32_t workers) {
  Loopback lb(addr, /*meetings=*/2, /*legs=*/4, first_port, workers);
  ASSERT_TRUE(lb.status.ok()) << lb.status;
  constexpr int kRounds = 200;
  lb.Send(kRounds, 160);
  std::vector<size_t> want(lb.traffic.legs(), kRounds * lb.traffic.fanout());
  const auto got = lb.Collect(want);
  EXPECT_EQ(got, want);
  EXPECT_EQ(lb.traffic.verified(), lb.traffic.legs() * kRounds * lb.traffic.fanout());
  lb.backend->Stop();
  uint64_t accepted = 0, outputs = 0, rx = 0;
  for (uint32_t w = 0; w < lb.backend->workers(); ++w) {
    accepted += lb.backend->pipeline_counters(w).accepted.Get();
    outputs += lb.backend->io_counters(w).tx_datagrams.Get();
    rx += lb.backend->io_counters(w).rx_datagrams.Get();
    if (workers > 1) {
      EXPECT_GT(lb.backend->io_counters(w).rx_datagrams.Get(), 0u) << "worker " << w << " idle";
    }
    for (size_t d = 1; d < kIoDropCount; ++d) {
      EXPECT_EQ(lb.backend->io_counters(w).drops[d].Get(), 0u) << kIoDropInfo[d].name;
    }
  }
  EXPECT_EQ(rx, lb.traffic.legs() * kRounds);
  EXPECT_EQ(accepted, rx);
  EXPECT_EQ(outputs, rx * lb.traffic.fanout());
  EXPECT_GT(lb.backend->io_counters(0).latency.QuantileNs(0.5), 0u);
}

TEST(SocketBackendTest, SwitchesMeetingsOverIpv4Loopback) {
  SwitchesMeetings(IpAddr::FromV4(0x7f000001), 31000, 1);
}

TEST(SocketBackendTest, SwitchesMeetingsOverIpv4WithTwoWorkers) {
  SwitchesMeetings(IpAddr::FromV4(0x7f000001), 31100, 2);
}

TEST(SocketBackendTest, SwitchesMeetingsOverIpv6Loopback) {
  const IpAddr v6 = *IpAddr::Parse("::1");
  if (!UdpEndpoint(v6).ok()) GTEST_SKIP() << "no IPv6 loopback on this host";
  SwitchesMeetings(v6, 31200, 1);
}

TEST(SocketBackendTest, PuntsDtlsAndStunWithTheSenderAddressAndAnswersFromTheMediaPort) {
  const IpAddr lo = IpAddr::FromV4(0x7f000001);
  Loopback lb(lo, 1, 2, 31300, 1);
  ASSERT_TRUE(lb.status.ok()) << lb.status;
  // A DTLS ClientHello record header and a STUN binding request (RFC 7983 first bytes 22 and 0).
  std::vector<uint8_t> dtls = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3};
  std::vector<uint8_t> stun = {0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8,
                               9, 10, 11, 12};
  ASSERT_TRUE(lb.endpoints[0]->SendTo(lb.traffic.switch_port(0), dtls));
  ASSERT_TRUE(lb.endpoints[1]->SendTo(lb.traffic.switch_port(1), stun));
  std::vector<PuntedDatagram> seen;
  for (int i = 0; i < 200 && seen.size() < 2; ++i) {
    lb.backend->DrainPunts([&](const PuntedDatagram& d) { seen.push_back(d); });
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(seen.size(), 2u);
  std::sort(seen.begin(), seen.end(),
            [](const auto& a, const auto& b) { return a.local_port < b.local_port; });
  EXPECT_EQ(seen[0].local_port, lb.traffic.switch_port(0));
  EXPECT_EQ(seen[0].from, lo);
  EXPECT_EQ(seen[0].from_port, lb.endpoints[0]->port());
  EXPECT_EQ(std::vector<uint8_t>(seen[0].data, seen[0].data + seen[0].len), dtls);
  EXPECT_EQ(seen[1].from_port, lb.endpoints[1]->port());
  EXPECT_EQ(std::vector<uint8_t>(seen[1].data, seen[1].data + seen[1].len), stun);
  ASSERT_TRUE(lb.backend->SendFrom(lb.traffic.switch_port(0), lo, lb.endpoints[0]->port(), dtls)
                  .ok());
  EXPECT_EQ(lb.endpoints[0]->Receive(2000), dtls);
  EXPECT_EQ(lb.backend->pipeline_counters(0).rx_packets.Get(), 0u)
      << "non-media must not reach the pipeline";
}

TEST(SocketBackendTest, RefusesTablesLargerThanItsWorkers) {
  SocketBackendConfig c;
  c.first_port = 31400;
  c.port_count = 1;
  c.stream_slots = 2;
  auto b = SocketBackend::Create(c);
  ASSERT_TRUE(b.ok()) << b.status();
  StreamConfig s;
  s.local_port = 31400;
  s.rt_slot = 5;
  auto t = DataplaneTables::Build({&s, 1}, {});
  ASSERT_TRUE(t.ok());
  const absl::Status st = (*b)->Publish(std::move(*t));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("stream_slots"), std::string::npos) << st;
  c.first_port = 31400;  // taken by the backend above
  EXPECT_FALSE(SocketBackend::Create(c).ok()) << "a port in use must be refused, naming it";
}

// Control republishes the tables 1000 times while every leg sends; only leg 0's routes change
// (to leg 1 alone, then to legs 1 and 2). Every other stream must arrive complete and intact,
// and ASan must see no table freed under a worker.
TEST(SocketBackendTest, ThousandRouteChangesUnderTrafficLoseNothingOnUnaffectedStreams) {
  const IpAddr lo = IpAddr::FromV4(0x7f000001);
  Loopback lb(lo, /*meetings=*/1, /*legs=*/4, 31500, /*workers=*/2);
  ASSERT_TRUE(lb.status.ok()) << lb.status;
  std::atomic<bool> sending{true};
  constexpr int kRounds = 600;
  auto streams = lb.traffic.Streams();
  std::thread sender([&] {
    // Legs 1..3 are unaffected; leg 0's stream is the one whose routes flip.
    lb.Send(kRounds, 200);
    sending = false;
  });
  int publications = 0;
  const std::vector<RouteConfig> full = streams[0].routes;
  while (publications < 1000) {
    streams[0].routes = publications % 2 ? full : std::vector<RouteConfig>{full[0]};
    auto t = DataplaneTables::Build(streams, lb.egress, {}, static_cast<uint64_t>(publications));
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE(lb.backend->Publish(std::move(*t)).ok());
    ++publications;
    if (sending) std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
  sender.join();
  // What each leg must receive from the unaffected legs 1..3; leg 0's packets to legs 2 and 3
  // depend on the timing of the flips, so those receivers are checked for integrity only.
  std::vector<size_t> got(lb.traffic.legs(), 0), from_unaffected(lb.traffic.legs(), 0);
  auto quiet_since = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - quiet_since < std::chrono::seconds(2)) {
    bool any = false;
    for (size_t i = 0; i < lb.traffic.legs(); ++i) {
      auto d = lb.endpoints[i]->Receive(1);
      if (d.empty()) continue;
      any = true;
      EXPECT_EQ(lb.traffic.Verify(i, d), "") << "leg " << i;
      ++got[i];
      if (lb.traffic.LegOf((uint32_t{d[8]} << 24) | (d[9] << 16) | (d[10] << 8) | d[11]) != 0)
        ++from_unaffected[i];
    }
    if (any) quiet_since = std::chrono::steady_clock::now();
  }
  EXPECT_EQ(from_unaffected[0], size_t{kRounds} * 3);
  for (size_t i = 1; i < lb.traffic.legs(); ++i) {
    EXPECT_EQ(from_unaffected[i], size_t{kRounds} * 2) << "leg " << i;
  }
  EXPECT_EQ(got[1], from_unaffected[1] + kRounds) << "leg 1 is on both of leg 0's route sets";
  lb.backend->Stop();
  EXPECT_EQ(lb.backend->Reclaim(), 0u) << "every retired table is freed once workers stop";
}

}  // namespace
}  // namespace mpswitch::dataplane::io
