// The simulated rooms on their own: the talk script, what a room sends, and that a receiving room
// notices everything a broken switch could do wrong (so the end-to-end verdict cannot pass
// vacuously).
#include "mpswitch/sim/room.h"

#include <gtest/gtest.h>

#include <set>

#include "mpswitch/dataplane/core/packet.h"

namespace mpswitch::sim {
namespace {

ekt::GroupParams Group() {
  ekt::GroupParams g;
  g.spi = 7;
  g.kek.assign(16, 0x42);
  g.salt.fill(0x17);
  return g;
}

RoomSpec Spec(uint16_t id, int screens) {
  RoomSpec s;
  s.name = "room" + std::to_string(id);
  s.id = id;
  s.screens = screens;
  s.ssrc_base = 0x50000000u | (uint32_t{id} << 8);
  s.video_kbps = 800;
  return s;
}

TEST(TalkScriptTest, DeterministicTurnsCoverTheMeeting) {
  const std::vector<int> screens = {3, 1, 1};
  const TalkScript a = TalkScript::Conversation(screens, 60000, 5);
  const TalkScript b = TalkScript::Conversation(screens, 60000, 5);
  ASSERT_EQ(a.spurts.size(), b.spurts.size());
  std::set<std::pair<uint16_t, Position>> talkers;
  for (size_t i = 0; i < a.spurts.size(); ++i) {
    EXPECT_EQ(a.spurts[i].start_ms, b.spurts[i].start_ms);
    EXPECT_LT(a.spurts[i].start_ms, a.spurts[i].end_ms);
    EXPECT_LE(a.spurts[i].level, 98);
    ASSERT_LT(a.spurts[i].room, screens.size());
    if (a.spurts[i].position != Position::kCenter) EXPECT_EQ(screens[a.spurts[i].room], 3);
    talkers.insert({a.spurts[i].room, a.spurts[i].position});
  }
  EXPECT_GE(talkers.size(), 4u);  // a minute of conversation reaches most segments
  EXPECT_TRUE(a.LevelAt(a.spurts[0].room, a.spurts[0].position, a.spurts[0].start_ms).has_value());
}

class ReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = RoomSender::Create(Spec(1, 3), Group(), nullptr, nullptr, 3);
    ASSERT_TRUE(s.ok()) << s.status();
    sender_ = std::move(*s);
    receiver_ = std::make_unique<RoomReceiver>(Spec(2, 1), Group());
    const control::LegConfig leg = RoomSender::LegFor(Spec(1, 3));
    for (const auto& [p, ssrc] : leg.video) receiver_->AddSender(ssrc, 1, p, true);
    for (const auto& [p, ssrc] : leg.audio) receiver_->AddSender(ssrc, 1, p, false);
    sender_->Poll(30, 1, out_);
    ASSERT_FALSE(out_.empty());
  }
  // The first packet the sender emitted of a kind.
  std::vector<uint8_t> First(bool video) {
    for (const Outgoing& o : out_) {
      if (o.video == video) return o.bytes;
    }
    return {};
  }

  std::unique_ptr<RoomSender> sender_;
  std::unique_ptr<RoomReceiver> receiver_;
  std::vector<Outgoing> out_;
};

TEST_F(ReceiverTest, SenderSendsEveryStreamWithEktAndMuxCsrc) {
  std::set<uint32_t> ssrcs;
  for (const Outgoing& o : out_) {
    ASSERT_GE(o.bytes.size(), 16u);
    ssrcs.insert(dataplane::LoadBe32(o.bytes.data() + 8));
    EXPECT_EQ(o.bytes[0] & 0x0f, 1);  // one CSRC: the MUX-CSRC
  }
  EXPECT_EQ(ssrcs.size(), 6u);  // three cameras, three microphones
  // The first packets announce their keys (in-tag long form: the last bit).
  EXPECT_EQ(First(true).back() & 1, 1);
}

TEST_F(ReceiverTest, AnUnstrippedTrailingByteIsCaughtAsCorrupt) {
  // What the sender emits still carries the refresh byte; a switch that forwarded it as is would
  // hand the receiver a payload one byte longer than written.
  std::vector<uint8_t> p = First(true);
  receiver_->Receive(p.data(), p.size(), true, 0, 1);
  EXPECT_EQ(receiver_->stats().corrupt, 1u);
  EXPECT_EQ(receiver_->stats().verified, 0u);
}

TEST_F(ReceiverTest, TamperingOwnMediaForeignStreamsAndWrongPortsAreCounted) {
  std::vector<uint8_t> p = First(true);
  p[p.size() - 20] ^= 1;  // inside the tag/EKT field
  receiver_->Receive(p.data(), p.size(), true, 0, 1);
  EXPECT_EQ(receiver_->stats().ekt_failed, 1u);

  std::vector<uint8_t> own = First(false);
  dataplane::StoreBe32(own.data() + 8, Spec(2, 1).ssrc_base + 0x11);  // the receiver's own mic
  receiver_->Receive(own.data(), own.size(), false, 0, 1);
  EXPECT_EQ(receiver_->stats().own_media, 1u);

  std::vector<uint8_t> foreign = First(false);
  dataplane::StoreBe32(foreign.data() + 8, 0x12345678);
  receiver_->Receive(foreign.data(), foreign.size(), false, 0, 1);
  EXPECT_EQ(receiver_->stats().foreign, 1u);

  std::vector<uint8_t> audio = First(false);
  receiver_->Receive(audio.data(), audio.size(), true, 0, 1);
  EXPECT_EQ(receiver_->stats().wrong_socket, 1u);

  std::vector<uint8_t> sink = First(false);
  sink[15] = static_cast<uint8_t>((sink[15] & 0xf0) | 3);  // right: a one-screen room has none
  receiver_->Receive(sink.data(), sink.size(), false, 0, 1);
  EXPECT_EQ(receiver_->stats().wrong_sink, 1u);

  const uint8_t runt[8] = {0x80};
  receiver_->Receive(runt, sizeof(runt), false, 0, 1);
  EXPECT_EQ(receiver_->stats().corrupt, 1u);
  EXPECT_EQ(receiver_->stats().Problems(), 6u);
  EXPECT_FALSE(receiver_->first_problem().empty());
}

}  // namespace
}  // namespace mpswitch::sim
