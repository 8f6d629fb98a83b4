// The pieces of table publication on their own: the single-producer ring, the epoch domain and the
// publisher's reclamation rule, and the egress tables' validation.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "mpswitch/dataplane/io/publisher.h"
#include "mpswitch/dataplane/io/quiescent.h"
#include "mpswitch/dataplane/io/spsc_ring.h"
#include "mpswitch/dataplane/tables/egress.h"

namespace mpswitch::dataplane::io {
namespace {

TEST(SpscRingTest, FillsToCapacityAndKeepsOrderAcrossThreads) {
  SpscRing<uint64_t> ring(5);
  EXPECT_EQ(ring.capacity(), 8u);
  for (uint64_t i = 0; i < 8; ++i) {
    uint64_t* s = ring.Reserve();
    ASSERT_NE(s, nullptr);
    *s = i;
    ring.Push();
  }
  EXPECT_EQ(ring.Reserve(), nullptr) << "a full ring must refuse";
  for (uint64_t i = 0; i < 8; ++i) {
    ASSERT_NE(ring.Front(), nullptr);
    EXPECT_EQ(*ring.Front(), i);
    ring.Pop();
  }
  EXPECT_EQ(ring.Front(), nullptr);

  constexpr uint64_t kN = 200000;
  std::thread producer([&] {
    for (uint64_t i = 0; i < kN;) {
      if (uint64_t* s = ring.Reserve()) {
        *s = i++;
        ring.Push();
      }
    }
  });
  uint64_t want = 0;
  while (want < kN) {
    if (const uint64_t* s = ring.Front()) {
      ASSERT_EQ(*s, want);
      ring.Pop();
      ++want;
    }
  }
  producer.join();
}

TEST(EpochDomainTest, OnlineReaderHoldsReclamationUntilQuiescent) {
  EpochDomain d(2);
  auto a = d.Register();
  auto b = d.Register();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(d.Register().ok()) << "a third reader exceeds the domain";
  const uint64_t t = d.Start();
  EXPECT_FALSE(d.Check(t));
  d.Quiescent(*a);
  EXPECT_FALSE(d.Check(t)) << "reader b has not passed a quiescent point yet";
  d.Offline(*b);
  EXPECT_TRUE(d.Check(t)) << "an offline reader holds nothing";
  d.Online(*b);
  const uint64_t t2 = d.Start();
  EXPECT_FALSE(d.Check(t2));
  d.Quiescent(*a);
  d.Quiescent(*b);
  EXPECT_TRUE(d.Check(t2));
}

struct Tracked {
  explicit Tracked(std::atomic<int>& live) : live_(live) { ++live_; }
  ~Tracked() { --live_; }
  std::atomic<int>& live_;
};

TEST(PublisherTest, FreesAnOldTableOnlyAfterEveryReaderMovedOn) {
  std::atomic<int> live{0};
  EpochDomain d(1);
  auto r = d.Register();
  ASSERT_TRUE(r.ok());
  {
    Publisher<Tracked, EpochDomain> p(d);
    p.Publish(std::make_unique<const Tracked>(live));
    const Tracked* held = p.Current();  // the reader holds the first table
    p.Publish(std::make_unique<const Tracked>(live));
    EXPECT_EQ(live.load(), 2) << "freed while a reader may hold it";
    EXPECT_NE(p.Current(), held);
    EXPECT_EQ(p.Reclaim(), 1u);
    d.Quiescent(*r);
    EXPECT_EQ(p.Reclaim(), 0u);
    EXPECT_EQ(live.load(), 1);
    EXPECT_EQ(p.reclaimed(), 1u);
  }
  EXPECT_EQ(live.load(), 0) << "the publisher frees the current table";
}

TEST(DataplaneTablesTest, RefusesRoutesToMissingEgressAndUnsetAddresses) {
  StreamConfig s;
  s.local_port = 16384;
  s.ssrc = 7;
  RouteConfig r;
  r.egress = 1;
  s.routes = {r};
  Egress e{.local_port = 16385, .addr = IpAddr::FromV4(0x7f000001), .port = 5000};
  auto bad = DataplaneTables::Build({&s, 1}, {e});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("egress 1"), std::string::npos) << bad.status();
  auto good = DataplaneTables::Build({&s, 1}, {e, e});
  EXPECT_TRUE(good.ok()) << good.status();
  Egress unset;
  EXPECT_FALSE(DataplaneTables::Build({&s, 1}, {e, unset}).ok());
}

}  // namespace
}  // namespace mpswitch::dataplane::io
