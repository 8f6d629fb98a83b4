// MediaSwitch on a real (socket) dataplane: admission, ports, groups, policy and the tables it
// publishes. The media path through it is tested end to end in tests/tools/sim.
#include "mpswitch/control/media_switch.h"

#include <gtest/gtest.h>

#include <set>

#include "mpswitch/control/socket_dataplane.h"

namespace mpswitch::control {
namespace {

LegConfig Leg(const std::string& name, uint32_t base, bool secure = true, int screens = 1) {
  LegConfig l;
  l.call_id = name;
  l.called_number = name;
  l.endpoint_name = name;
  l.screens = screens;
  l.secure = secure;
  const Position ps[] = {Position::kCenter, Position::kLeft, Position::kRight};
  for (int i = 0; i < screens; ++i) {
    l.video[ps[i]] = base + static_cast<uint32_t>(i);
    l.audio[ps[i]] = base + 0x10 + static_cast<uint32_t>(i);
  }
  return l;
}

class MediaSwitchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dataplane::io::SocketBackendConfig c;
    // ctest runs the tests of this binary as separate processes, two at a time: each test takes
    // its own four ports so that two of them never bind the same one.
    c.first_port = static_cast<uint16_t>(20600 + 4 * TestIndex());
    c.port_count = 4;  // two legs
    auto b = dataplane::io::SocketBackend::Create(c);
    ASSERT_TRUE(b.ok()) << b.status();
    backend_ = std::move(*b);
    dp_ = std::make_unique<SocketDataplane>(*backend_);
    MediaSwitchOptions o;
    o.first_port = c.first_port;
    o.port_count = c.port_count;
    node_ = std::make_unique<MediaSwitch>(o, *dp_);
  }
  static int TestIndex() {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    const char* const tests[] = {"AdmitsLegsOnDistinctPortsAndPublishesTheirStreams",
                                 "MeetingsGetTheirOwnGroupsAndThePolicyDecides",
                                 "ALegTimedOutWhileAnotherJoinsGivesItsPortsBack",
                                 "RefusesWhatItCannotCarry",
                                 "LeavingRotatesTheGroupAndReadmissionStartsClean"};
    for (size_t i = 0; i < std::size(tests); ++i) {
      if (name == tests[i]) return static_cast<int>(i);
    }
    ADD_FAILURE() << "give test " << name << " its own ports in TestIndex";
    return 50;
  }
  LegAddress Addr(uint16_t port) { return {dataplane::IpAddr::FromV4(0x7f000001), port, static_cast<uint16_t>(port + 1)}; }

  std::unique_ptr<dataplane::io::SocketBackend> backend_;
  std::unique_ptr<SocketDataplane> dp_;
  std::unique_ptr<MediaSwitch> node_;
};

TEST_F(MediaSwitchTest, AdmitsLegsOnDistinctPortsAndPublishesTheirStreams) {
  MeetingConfig mc;
  mc.conference_id = "9001";
  auto m = node_->CreateMeeting(mc);
  ASSERT_TRUE(m.ok());
  auto a = node_->Join(*m, Leg("a", 0x100), Addr(40000), 0);
  auto b = node_->Join(*m, Leg("b", 0x200), Addr(40002), 0);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  const std::set<uint16_t> ports = {a->video_port, a->audio_port, b->video_port, b->audio_port};
  EXPECT_EQ(ports.size(), 4u);
  for (uint16_t p : ports) {
    EXPECT_GE(p, 20600);
    EXPECT_LT(p, 20604);  // the first test's range
  }
  // Secure legs of a secure meeting get the meeting's group, which is the same for both.
  ASSERT_TRUE(a->group && b->group);
  EXPECT_EQ(a->group->kek, b->group->kek);
  EXPECT_EQ(a->group->spi, node_->group(*m).spi);
  ASSERT_TRUE(node_->Step(10).ok());
  EXPECT_EQ(node_->streams(), 4u);
  const dataplane::DataplaneTables* t = backend_->current();
  ASSERT_NE(t, nullptr);
  ASSERT_NE(t->media.Find(a->video_port, 0x100, dataplane::StreamKind::kSrtp), nullptr);
  ASSERT_NE(t->media.FindGroup(a->group->spi), nullptr);

  // The port range is full: a third leg is refused with a message naming the range.
  auto c = node_->Join(*m, Leg("c", 0x300), Addr(40004), 20);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(c.status().message().find("20600-20603"), std::string::npos) << c.status();

  // Leaving frees the ports for the next leg.
  ASSERT_TRUE(node_->Leave(*m, a->leg, 30).ok());
  auto d = node_->Join(*m, Leg("d", 0x400), Addr(40006), 40);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(node_->Step(50).ok());
  t = backend_->current();
  EXPECT_EQ(t->media.Find(a->video_port, 0x100, dataplane::StreamKind::kSrtp), nullptr);
  EXPECT_NE(t->media.Find(d->video_port, 0x400, dataplane::StreamKind::kSrtp), nullptr);
}

TEST_F(MediaSwitchTest, MeetingsGetTheirOwnGroupsAndThePolicyDecides) {
  MeetingConfig secure;
  secure.conference_id = "9002";
  MeetingConfig best;
  best.conference_id = "9003";
  best.policy = SecurityPolicy::kBestEffort;
  auto m1 = node_->CreateMeeting(secure);
  auto m2 = node_->CreateMeeting(best);
  ASSERT_TRUE(m1.ok() && m2.ok());
  EXPECT_NE(node_->group(*m1).spi, node_->group(*m2).spi);
  EXPECT_NE(node_->group(*m1).kek, node_->group(*m2).kek);

  // A non-secure leg: a secure meeting refuses it with the §8 text...
  auto r = node_->Join(*m1, Leg("plain", 0x500, /*secure=*/false), Addr(40010), 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  bool refused = false;
  for (const SwitchEvent& e : node_->TakeEvents()) {
    refused |= e.event.kind == Event::Kind::kLegRefused && e.meeting == *m1;
  }
  EXPECT_TRUE(refused);
  // ... and a best-effort meeting would admit it, but this switch cannot carry plain media yet:
  // it says so instead of admitting a leg it would leave without media.
  auto u = node_->Join(*m2, Leg("plain", 0x600, false), Addr(40012), 0);
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(node_->meeting(*m2).legs().empty());
  // Nothing was taken: both port pairs are still free.
  EXPECT_TRUE(node_->Join(*m1, Leg("x", 0x700), Addr(40014), 1).ok());
  EXPECT_TRUE(node_->Join(*m2, Leg("y", 0x800), Addr(40016), 1).ok());

  EXPECT_FALSE(node_->Join(7, Leg("z", 0x900), Addr(40018), 1).ok());
  LegAddress none;
  EXPECT_EQ(node_->Join(*m1, Leg("w", 0xa00), none, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MediaSwitchTest, ALegTimedOutWhileAnotherJoinsGivesItsPortsBack) {
  MeetingConfig mc;
  mc.conference_id = "9004";
  auto m = node_->CreateMeeting(mc);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(node_->Join(*m, Leg("a", 0x100), Addr(40000), 0).ok());
  // 20 s without media: the meeting removes "a" as "b" joins, before any Step.
  ASSERT_TRUE(node_->Join(*m, Leg("b", 0x200), Addr(40002), 20000).ok());
  bool removed = false;
  for (const SwitchEvent& e : node_->TakeEvents()) removed |= e.event.kind == Event::Kind::kLegRemoved;
  EXPECT_TRUE(removed);
  // Its port pair is free again: a third leg fits in the two pairs.
  auto c = node_->Join(*m, Leg("c", 0x300), Addr(40004), 20000);
  EXPECT_TRUE(c.ok()) << c.status();
}

TEST_F(MediaSwitchTest, RefusesWhatItCannotCarry) {
  MeetingConfig plain;
  plain.conference_id = "9005";
  plain.policy = SecurityPolicy::kNonSecure;
  EXPECT_EQ(node_->CreateMeeting(plain).status().code(), absl::StatusCode::kUnimplemented);

  MediaSwitchOptions o;
  o.first_port = 65534;
  o.port_count = 4;  // past 65535
  MediaSwitch bad(o, *dp_);
  MeetingConfig mc;
  mc.conference_id = "9006";
  auto m = bad.CreateMeeting(mc);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(bad.Join(*m, Leg("a", 0x100), Addr(40000), 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace mpswitch::control

namespace mpswitch::control {
namespace {

const dataplane::StreamEntry* StreamOf(const dataplane::DataplaneTables* t, uint16_t port,
                                       uint32_t ssrc) {
  return t == nullptr ? nullptr : t->media.Find(port, ssrc, dataplane::StreamKind::kSrtp);
}

// A leg that leaves still holds the meeting's KEK: the others get a new group at once, the old
// one is accepted for the grace period only, and a leg admitted again with the same SSRCs gets
// streams the dataplane treats as new (a new key epoch), accepted only from its own address.
TEST_F(MediaSwitchTest, LeavingRotatesTheGroupAndReadmissionStartsClean) {
  MeetingConfig mc;
  mc.conference_id = "9005";
  auto m = node_->CreateMeeting(mc);
  ASSERT_TRUE(m.ok());
  auto a = node_->Join(*m, Leg("a", 0x100), Addr(40000), 0);
  LegAddress nat = Addr(40002);
  nat.behind_nat = true;
  auto b = node_->Join(*m, Leg("b", 0x200), nat, 0);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(node_->Step(10).ok());
  (void)node_->TakeEvents();
  const dataplane::DataplaneTables* t = backend_->current();
  const dataplane::StreamEntry* av = StreamOf(t, a->video_port, 0x100);
  ASSERT_NE(av, nullptr);
  EXPECT_EQ(av->source_policy, dataplane::SourcePolicy::kSignalled);
  EXPECT_EQ(av->source, dataplane::IpAddr::FromV4(0x7f000001));
  EXPECT_EQ(av->source_port, 40000);
  EXPECT_EQ(StreamOf(t, a->audio_port, 0x110)->source_port, 40001);
  EXPECT_EQ(StreamOf(t, b->video_port, 0x200)->source_policy, dataplane::SourcePolicy::kLatch);
  const uint32_t a_epoch = av->key_epoch;
  const ekt::GroupParams old = node_->group(*m);
  EXPECT_EQ(t->media.Group(av->ekt_group)->spi, old.spi);
  EXPECT_EQ(av->ekt_group_alt, dataplane::kNoEktGroup);

  ASSERT_TRUE(node_->Leave(*m, a->leg, 100).ok());
  EXPECT_EQ(node_->rotations(), 1u);
  const ekt::GroupParams& fresh = node_->group(*m);
  EXPECT_NE(fresh.spi, old.spi);
  EXPECT_NE(fresh.kek, old.kek);
  ASSERT_TRUE(node_->retiring_group(*m).has_value());
  EXPECT_EQ(node_->retiring_group(*m)->spi, old.spi);
  int handed = 0;
  for (const SwitchEvent& e : node_->TakeEvents()) {
    if (e.event.kind != Event::Kind::kGroupKey) continue;
    ++handed;
    EXPECT_EQ(e.event.leg, b->leg) << "only the remaining leg gets the new group";
    ASSERT_TRUE(e.group.has_value());
    EXPECT_EQ(e.group->spi, fresh.spi);
    EXPECT_EQ(e.group->kek, fresh.kek);
  }
  EXPECT_EQ(handed, 1);
  ASSERT_TRUE(node_->Step(110).ok());
  t = backend_->current();
  const dataplane::StreamEntry* bv = StreamOf(t, b->video_port, 0x200);
  ASSERT_NE(bv, nullptr);
  EXPECT_EQ(t->media.Group(bv->ekt_group)->spi, fresh.spi);
  ASSERT_NE(t->media.Group(bv->ekt_group_alt), nullptr);
  EXPECT_EQ(t->media.Group(bv->ekt_group_alt)->spi, old.spi);

  // Past the grace period the old group is gone from the dataplane.
  ASSERT_TRUE(node_->Step(100 + MediaSwitchOptions{}.group_retire_after_ms).ok());
  EXPECT_FALSE(node_->retiring_group(*m).has_value());
  t = backend_->current();
  EXPECT_EQ(t->media.FindGroup(old.spi), nullptr);
  EXPECT_EQ(StreamOf(t, b->video_port, 0x200)->ekt_group_alt, dataplane::kNoEktGroup);

  // The same endpoint again, same SSRCs: a new admission, so new stream state.
  auto again = node_->Join(*m, Leg("a", 0x100), Addr(40000), 2200);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->group->spi, fresh.spi);
  ASSERT_TRUE(node_->Step(2210).ok());
  const dataplane::StreamEntry* av2 = StreamOf(backend_->current(), again->video_port, 0x100);
  ASSERT_NE(av2, nullptr);
  EXPECT_NE(av2->key_epoch, a_epoch);
}

}  // namespace
}  // namespace mpswitch::control
