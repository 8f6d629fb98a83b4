#include "mpswitch/control/speaker.h"

#include <gtest/gtest.h>

#include <map>

namespace mpswitch::control {
namespace {

constexpr int64_t kPacketMs = 20;  // one activity sample per audio packet

// Streams fed at a steady level every 20 ms, evaluated by one contest: the way the meeting uses
// these classes.
class Room {
 public:
  explicit Room(SpeakerParams p = {}) : params_(p), contest_(p) {}

  void Add(uint64_t id, bool presentation = false) {
    meters_.emplace(id, LevelMeter(params_, presentation));
    contest_.Add(id);
  }
  void Set(uint64_t id, std::optional<uint8_t> level) { levels_[id] = level; }

  // Feeds every stream with a level from t_ to `until` (exclusive) and re-evaluates after every
  // packet time. Returns the times at which the speaker changed.
  std::vector<int64_t> RunUntil(int64_t until) {
    std::vector<int64_t> changes;
    for (; t_ < until; t_ += kPacketMs) {
      for (auto& [id, level] : levels_) {
        if (level) meters_.at(id).Add(*level, t_);
      }
      if (contest_.Update([&](uint64_t id) { return meters_.at(id).Score(t_); }, t_)) {
        changes.push_back(t_);
      }
    }
    return changes;
  }

  uint64_t speaker() const { return *contest_.current(); }
  SpeakerContest& contest() { return contest_; }
  const LevelMeter& meter(uint64_t id) const { return meters_.at(id); }
  int64_t now() const { return t_; }

 private:
  SpeakerParams params_;
  SpeakerContest contest_;
  std::map<uint64_t, LevelMeter> meters_;
  std::map<uint64_t, std::optional<uint8_t>> levels_;
  int64_t t_ = 0;
};

TEST(LevelMeterTest, SteadyLevelAveragesToItself) {
  LevelMeter m(SpeakerParams{});
  for (int64_t t = 0; t <= 1000; t += kPacketMs) m.Add(40, t);
  EXPECT_EQ(m.Score(1000), 40 * 500);
  EXPECT_DOUBLE_EQ(m.Level(1000), 40.0);
}

TEST(LevelMeterTest, RampsUpOverTheWindow) {
  LevelMeter m(SpeakerParams{});
  for (int64_t t = 0; t <= 250; t += kPacketMs) m.Add(80, t);
  // 240 ms covered by the samples at 0..220 (each until the next), the one at 240 until 250.
  EXPECT_EQ(m.Score(250), 80 * 250);
  EXPECT_DOUBLE_EQ(m.Level(250), 40.0);
}

TEST(LevelMeterTest, SilentStreamDecaysToZero) {
  LevelMeter m(SpeakerParams{});
  for (int64_t t = 0; t <= 1000; t += kPacketMs) m.Add(40, t);
  // The last sample stands for sample_hold_ms (100), then the window drains linearly.
  EXPECT_EQ(m.Score(1100), 40 * 500);
  EXPECT_EQ(m.Score(1350), 40 * 250);
  EXPECT_EQ(m.Score(1599), 40 * 1);
  EXPECT_EQ(m.Score(1600), 0);
  EXPECT_EQ(m.Score(100000), 0);
}

TEST(LevelMeterTest, PresentationAudioScoresZero) {
  LevelMeter configured(SpeakerParams{}, /*presentation=*/true);
  for (int64_t t = 0; t <= 1000; t += kPacketMs) configured.Add(90, t);
  EXPECT_TRUE(configured.presentation());
  EXPECT_EQ(configured.Score(1000), 0);

  // A stream whose samples say 99 is presentation audio while they do, and 99 never counts as
  // loudness; once it sends a real metric it is a microphone again.
  LevelMeter flagged(SpeakerParams{});
  for (int64_t t = 0; t <= 1000; t += kPacketMs) flagged.Add(kPresentationActivity, t);
  EXPECT_TRUE(flagged.presentation());
  EXPECT_EQ(flagged.Score(1000), 0);
  for (int64_t t = 1020; t <= 2000; t += kPacketMs) flagged.Add(30, t);
  EXPECT_FALSE(flagged.presentation());
  EXPECT_EQ(flagged.Score(2000), 30 * 500);
}

TEST(LevelMeterTest, ClampsAndNeverRewinds) {
  LevelMeter m(SpeakerParams{});
  m.Add(250, 0);
  EXPECT_EQ(m.Score(50), 100 * 50);
  // A late sample is taken as arriving with the previous one: no negative spans.
  LevelMeter r(SpeakerParams{});
  r.Add(50, 100);
  r.Add(50, 60);
  EXPECT_EQ(r.Score(150), 50 * 50);
}

TEST(SpeakerContestTest, StartsWithTheFirstCandidate) {
  SpeakerContest c(SpeakerParams{});
  EXPECT_FALSE(c.current().has_value());
  c.Add(7);
  c.Add(3);
  c.Add(5);
  c.Add(3);  // no duplicates
  EXPECT_EQ(c.current(), 7u);
  EXPECT_EQ(c.history(), (std::vector<uint64_t>{7, 3, 5}));
  // Everybody silent: nobody takes the floor.
  EXPECT_FALSE(c.Update([](uint64_t) { return int64_t{0}; }, 0));
  EXPECT_EQ(c.FirstWhere([](uint64_t id) { return id != 7; }), 3u);
}

TEST(SpeakerContestTest, HysteresisKeepsTheCurrentSpeaker) {
  Room room;
  room.Add(1);
  room.Add(2);
  room.Set(1, 40);
  room.Set(2, 46);  // exactly `hysteresis` (6) points louder: not enough
  EXPECT_TRUE(room.RunUntil(5000).empty());
  EXPECT_EQ(room.speaker(), 1u);

  room.Set(2, 47);  // 7 points louder over the whole window
  const std::vector<int64_t> changes = room.RunUntil(10000);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(room.speaker(), 2u);
  // At 5020 the window holds 480 ms of 46 and 20 ms of 47: 23020 > 40 * 500 + 6 * 500 = 23000.
  EXPECT_EQ(changes[0], 5020);
}

TEST(SpeakerContestTest, ChallengerFromSilenceNeedsTheMargin) {
  Room room;
  room.Add(1);
  room.Add(2);
  room.Set(1, 0);
  room.Set(2, 50);
  // 2 needs more than 6 * 500 = 3000 level-ms: 50 * 60 = 3000 at t=60 is not enough, t=80 is.
  EXPECT_EQ(room.RunUntil(1000), (std::vector<int64_t>{80}));
}

TEST(SpeakerContestTest, HoldTimeDelaysTheNextChange) {
  Room room;
  room.Add(1);
  room.Add(2);
  room.Add(3);
  room.Set(1, 0);
  room.Set(2, 60);
  room.Set(3, 0);
  EXPECT_EQ(room.RunUntil(200), (std::vector<int64_t>{60}));  // 60 * 60 = 3600 > 3000
  // 3 is much louder at once, but 2 took the floor at 60: no change before 60 + 1500.
  room.Set(2, 0);
  room.Set(3, 90);
  const std::vector<int64_t> changes = room.RunUntil(3000);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0], 1560);
  EXPECT_EQ(room.speaker(), 3u);
  EXPECT_EQ(room.contest().history(), (std::vector<uint64_t>{3, 2, 1}));
}

TEST(SpeakerContestTest, SilentSpeakerLosesToAQuietTalker) {
  Room room;
  room.Add(1);
  room.Add(2);
  room.Set(1, 70);
  room.Set(2, 0);
  EXPECT_TRUE(room.RunUntil(3000).empty());
  EXPECT_EQ(room.speaker(), 1u);
  // 1 stops sending altogether (no samples); 2 talks softly at 10. 1's level decays from 70 to
  // 0 between 3080 (its last sample at 2980 + 100 ms hold) and 3580: 70 * (3580 - t). 2 (10 from
  // t=3000, a full window by 3500) leads by more than 6 points once 70 * (3580 - t) < 2000.
  room.Set(1, std::nullopt);
  room.Set(2, 10);
  const std::vector<int64_t> changes = room.RunUntil(6000);
  EXPECT_EQ(changes, (std::vector<int64_t>{3560}));
  EXPECT_EQ(room.speaker(), 2u);
  EXPECT_EQ(room.meter(1).Score(room.now()), 0);
  EXPECT_EQ(room.meter(2).Score(room.now()), 10 * 500);
}

TEST(SpeakerContestTest, PresentationLevelNeverWins) {
  Room room;
  room.Add(1);
  room.Add(2, /*presentation=*/true);  // the configured presentation audio SSRC
  room.Add(3);                         // a stream that says 99: presentation audio
  room.Set(1, 10);
  room.Set(2, 95);
  room.Set(3, kPresentationActivity);
  EXPECT_TRUE(room.RunUntil(10000).empty());
  EXPECT_EQ(room.speaker(), 1u);

  // Even when the presentation stream heads the history (added first), a talker takes over.
  Room other;
  other.Add(2, /*presentation=*/true);
  other.Add(1);
  other.Set(2, 100);
  other.Set(1, 20);
  other.RunUntil(1000);
  EXPECT_EQ(other.speaker(), 1u);
  other.RunUntil(10000);
  EXPECT_EQ(other.speaker(), 1u);
}

TEST(SpeakerContestTest, LoudestChallengerWinsAndHistoryIsByRecency) {
  Room room;
  for (uint64_t id = 1; id <= 4; ++id) room.Add(id);
  room.Set(1, 0);
  room.Set(2, 80);
  room.Set(3, 90);
  room.Set(4, 0);
  // At 40 both challengers exceed 3000 (3200 and 3600): the louder one takes the floor.
  EXPECT_EQ(room.RunUntil(2000), (std::vector<int64_t>{40}));
  EXPECT_EQ(room.speaker(), 3u);
  room.Set(3, 0);
  room.Set(2, 0);
  room.Set(1, 50);
  // 3 decays as 90 * (2500 - t); 1 rises as 50 * (t - 2000): 1 leads by 3000 from 2343 on.
  EXPECT_EQ(room.RunUntil(4000), (std::vector<int64_t>{2360}));
  EXPECT_EQ(room.contest().history(), (std::vector<uint64_t>{1, 3, 2, 4}));
  // "The current speaker sees the previous one."
  EXPECT_EQ(room.contest().FirstWhere([](uint64_t id) { return id != 1; }), 3u);
}

TEST(SpeakerContestTest, RemovingTheSpeakerLiftsTheHold) {
  Room room;
  room.Add(1);
  room.Add(2);
  room.Add(3);
  room.Set(1, 0);
  room.Set(2, 60);
  room.Set(3, 0);
  room.RunUntil(200);
  ASSERT_EQ(room.speaker(), 2u);
  room.Set(3, 40);
  room.RunUntil(600);
  EXPECT_EQ(room.speaker(), 2u);  // held
  EXPECT_TRUE(room.contest().Remove(2));
  EXPECT_FALSE(room.contest().Remove(2));
  EXPECT_FALSE(room.contest().Contains(2));
  // The floor passes to the next in the history (1, which never spoke), and the hold is gone:
  // 3 takes it at the next evaluation.
  EXPECT_EQ(room.speaker(), 1u);
  room.Set(2, std::nullopt);
  EXPECT_EQ(room.RunUntil(700), (std::vector<int64_t>{600}));
  EXPECT_EQ(room.speaker(), 3u);
}

TEST(SpeakerContestTest, ZeroHysteresisStillNeedsStrictlyLouder) {
  SpeakerParams p;
  p.hysteresis = 0;
  p.min_hold_ms = 0;
  Room room(p);
  room.Add(1);
  room.Add(2);
  room.Set(1, 30);
  room.Set(2, 30);
  EXPECT_TRUE(room.RunUntil(3000).empty());
  room.Set(2, 31);
  EXPECT_EQ(room.RunUntil(3100), (std::vector<int64_t>{3020}));
}

}  // namespace
}  // namespace mpswitch::control
