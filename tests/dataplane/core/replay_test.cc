#include "mpswitch/dataplane/core/replay.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace mpswitch::dataplane {
namespace {

TEST(ReplayWindowTest, FirstPacketUsesInitialRoc) {
  ReplayWindow w;
  EXPECT_EQ(w.EstimateSrtpIndex(7), 7u);
  w.ResetWithRoc(3);
  EXPECT_EQ(w.roc(), 3u);
  EXPECT_EQ(w.EstimateSrtpIndex(7), (uint64_t{3} << 16) | 7);
}

// RFC 3711 appendix A, both halves of the sequence space.
TEST(ReplayWindowTest, UpdateBelowTheWindowChangesNothing) {
  ReplayWindow w;
  w.Update(10000);
  w.Update(9999);
  w.Update(5000);  // far below: nothing to mark, nothing written past the bitmap
  EXPECT_EQ(w.highest(), 10000u);
  EXPECT_EQ(w.Check(9999), ReplayVerdict::kDuplicate);
  EXPECT_EQ(w.Check(9998), ReplayVerdict::kNew);
  EXPECT_EQ(w.Check(5000), ReplayVerdict::kTooOld);
}

TEST(ReplayWindowTest, RocEstimation) {
  ReplayWindow w;
  w.Update(65530);                                       // ROC 0, s_l high
  EXPECT_EQ(w.EstimateSrtpIndex(65535), 65535u);
  EXPECT_EQ(w.EstimateSrtpIndex(3), 65536u + 3);         // wrapped forward
  EXPECT_EQ(w.EstimateSrtpIndex(40000), 40000u);         // late, same ROC
  w.Update(65536 + 10);                                  // ROC 1, s_l low
  EXPECT_EQ(w.roc(), 1u);
  EXPECT_EQ(w.EstimateSrtpIndex(65500), 65500u);         // late, previous ROC
  EXPECT_EQ(w.EstimateSrtpIndex(20), 65536u + 20);
  ReplayWindow z;
  z.Update(5);
  EXPECT_EQ(z.EstimateSrtpIndex(65000), kIndexOutOfRange);  // would be ROC -1
}

TEST(ReplayWindowTest, RocCannotPassTheTopOfTheIndexSpace) {
  ReplayWindow w;
  w.Update(kMaxSrtpIndex - 5);  // ROC 2^32-1, s_l = 65530
  EXPECT_EQ(w.EstimateSrtpIndex(65535), kMaxSrtpIndex);
  EXPECT_EQ(w.EstimateSrtpIndex(2), kIndexOutOfRange);
}

TEST(ReplayWindowTest, DuplicatesAndTooOld) {
  ReplayWindow w;
  EXPECT_EQ(w.Check(1000), ReplayVerdict::kNew);
  w.Update(1000);
  EXPECT_EQ(w.Check(1000), ReplayVerdict::kDuplicate);
  EXPECT_EQ(w.Check(999), ReplayVerdict::kNew);
  EXPECT_EQ(w.Check(1000 - 127), ReplayVerdict::kNew);
  EXPECT_EQ(w.Check(1000 - 128), ReplayVerdict::kTooOld);
  w.Update(1000 - 127);
  EXPECT_EQ(w.Check(1000 - 127), ReplayVerdict::kDuplicate);
  w.Update(1064);  // shift by exactly 64
  EXPECT_EQ(w.Check(1000), ReplayVerdict::kDuplicate);
  EXPECT_EQ(w.Check(1000 - 63), ReplayVerdict::kNew);
  w.Update(1064 + 200);  // shift past the window
  EXPECT_EQ(w.Check(1064), ReplayVerdict::kTooOld);
  EXPECT_EQ(w.Check(1264 - 127), ReplayVerdict::kNew);
}

// Against a model that remembers every index, on random traffic with reordering and repeats.
TEST(ReplayWindowTest, MatchesReferenceModel) {
  std::mt19937_64 rng(1);
  ReplayWindow w;
  std::set<uint64_t> seen;
  uint64_t top = 500;
  for (int i = 0; i < 200000; ++i) {
    const int r = static_cast<int>(rng() % 10);
    uint64_t idx;
    if (r < 6) {
      idx = top + rng() % 3;
    } else if (r < 9) {
      idx = top - std::min<uint64_t>(top, rng() % 140);
    } else {
      idx = top + rng() % 300;
    }
    top = std::max(top, idx);
    ReplayVerdict want;
    const uint64_t hi = seen.empty() ? 0 : *seen.rbegin();
    if (!seen.empty() && idx + kReplayWindow <= hi) {
      want = ReplayVerdict::kTooOld;
    } else {
      want = seen.count(idx) ? ReplayVerdict::kDuplicate : ReplayVerdict::kNew;
    }
    ASSERT_EQ(w.Check(idx), want) << "step " << i << " index " << idx;
    if (want == ReplayVerdict::kNew) {
      w.Update(idx);
      seen.insert(idx);
    }
  }
}

}  // namespace
}  // namespace mpswitch::dataplane
