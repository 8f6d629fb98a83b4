// Random meetings, each step one action of one or more calls: joins (one- and three-screen,
// secure or not, with and without presentation, sometimes invalid), leaves (sometimes of unknown
// legs), activity samples (talkers that start and stop, presentation metric 99), video packets
// with every refresh flag, refresh requests answered late or never, presentations started and
// dropped, legs that fall silent, mode changes, lock toggles and time jumps past every timeout.
// The invariants of meeting_invariants.h are checked after every single call. Fixed seeds: every
// run is the same run.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "meeting_invariants.h"
#include "mpswitch/control/meeting.h"

namespace mpswitch::control {
namespace {

using testing::CheckedMeeting;
using Kind = Event::Kind;

constexpr int kSteps = 8000;
constexpr size_t kMaxLegs = 8;

class RandomMeeting {
 public:
  RandomMeeting(uint64_t seed, SecurityPolicy policy) : rng_(seed), m_(MakeConfig(policy)) {}

  // Runs `steps` random calls; stops at the first invariant failure. Returns every event.
  std::vector<std::string> Run(int steps) {
    std::vector<std::string> trace;
    for (int i = 0; i < steps; ++i) {
      SCOPED_TRACE(absl::StrFormat("step %d", i));
      Step();
      for (const Event& e : m_.TakeEvents()) {
        trace.push_back(absl::StrFormat("%d %s", t_, testing::ToString(e)));
        ++counts_[e.kind];
        if (e.kind == Kind::kRefreshRequest) requested_.insert(e.ssrc);
      }
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "stopped at step " << i;
        break;
      }
    }
    return trace;
  }

  uint64_t count(Kind k) const {
    auto it = counts_.find(k);
    return it == counts_.end() ? 0 : it->second;
  }
  uint64_t joins() const { return joins_; }
  const Meeting& meeting() const { return m_.meeting(); }

 private:
  static MeetingConfig MakeConfig(SecurityPolicy policy) {
    MeetingConfig c;
    c.conference_id = "4242";
    c.policy = policy;
    return c;
  }

  uint64_t Below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool Chance(int percent) { return static_cast<int>(Below(100)) < percent; }

  void Step() {
    // Time: mostly a few ms per call, sometimes past the hold and refresh timeouts, rarely past
    // the media timeout.
    const uint64_t jump = Below(1000);
    if (jump < 2) {
      t_ += 10000 + static_cast<int64_t>(Below(2000));
    } else if (jump < 15) {
      t_ += 500 + static_cast<int64_t>(Below(2500));
    } else {
      t_ += static_cast<int64_t>(Below(30));
    }

    const uint64_t action = Below(1000);
    if (action < 30) {
      Join();
    } else if (action < 45) {
      Leave();
    } else if (action < 52) {
      m_.SetMode(Chance(50) ? SwitchingMode::kSegment : SwitchingMode::kSite, t_);
    } else if (action < 58) {
      m_.SetLocked(Chance(30));
    } else if (action < 600) {
      Audio();
    } else if (action < 900) {
      Video();
    } else if (action < 950) {
      Media();
    } else {
      m_.Tick(t_);
    }
  }

  void Join() {
    if (m_->legs().size() >= kMaxLegs) return;
    const int n = next_room_++;
    LegConfig c;
    c.call_id = absl::StrFormat("%d", n);
    c.called_number = absl::StrFormat("1310%d", n);
    c.endpoint_name = absl::StrFormat("room%d", n);
    c.screens = Chance(40) ? 3 : 1;
    c.secure = Chance(75);
    const uint32_t base = static_cast<uint32_t>(n) * 100;
    c.video[Position::kCenter] = base + 1;
    c.audio[Position::kCenter] = base + 11;
    if (c.screens == 3) {
      c.video[Position::kLeft] = base + 2;
      c.video[Position::kRight] = base + 3;
      c.audio[Position::kLeft] = base + 12;
      if (Chance(80)) c.audio[Position::kRight] = base + 13;  // sometimes one side microphone
    }
    if (Chance(40)) {
      c.presentation_video = base + 21;
      c.presentation_audio = base + 22;
    }
    if (Chance(3)) c.screens = 2;                                          // invalid
    if (Chance(3) && n > 1) c.audio[Position::kCenter] = base - 100 + 11;  // SSRC in use
    absl::StatusOr<LegId> id = m_.Join(c, t_);
    ++joins_;
    if (id.ok()) {
      // A few legs fall silent for good right after joining: the media timeout removes them.
      if (Chance(10)) silent_.insert(*id);
    }
  }

  void Leave() {
    std::vector<LegId> legs = m_->legs();
    if (legs.empty() || Chance(5)) {
      (void)m_.Leave(static_cast<LegId>(1000 + Below(5)), t_);  // unknown: NotFound
      return;
    }
    (void)m_.Leave(legs[Below(legs.size())], t_);
  }

  // A random stream of a live, sending leg (or, rarely, of a departed one).
  std::optional<uint32_t> PickStream(bool audio, bool video, bool presentation) {
    std::vector<LegId> legs = m_->legs();
    std::vector<uint32_t> streams;
    for (LegId id : legs) {
      if (silent_.count(id)) continue;
      const LegConfig* l = m_->leg(id);
      if (audio) {
        for (const auto& [p, ssrc] : l->audio) streams.push_back(ssrc);
      }
      if (video) {
        for (const auto& [p, ssrc] : l->video) streams.push_back(ssrc);
      }
      if (presentation && l->presentation_video && presenting_.count(id)) {
        streams.push_back(*l->presentation_video);
      }
      if (presentation && audio && l->presentation_audio) streams.push_back(*l->presentation_audio);
    }
    if (Chance(2)) return static_cast<uint32_t>(100 * Below(next_room_) + 11);  // maybe gone
    if (streams.empty()) return std::nullopt;
    return streams[Below(streams.size())];
  }

  void Audio() {
    // Mostly a packet round (every microphone and presentation audio stream of every sending
    // leg reports, as every 20 ms in a real meeting), sometimes a single stray sample.
    if (Chance(70)) {
      for (LegId id : m_->legs()) {
        // An earlier call of this round may have removed the leg (media timeout); a copy, as
        // a call may remove it while its streams are being walked.
        if (silent_.count(id) || m_->leg(id) == nullptr) continue;
        const LegConfig l = *m_->leg(id);
        for (const auto& [p, ssrc] : l.audio) Sample(ssrc);
        if (l.presentation_audio && Chance(50)) Sample(*l.presentation_audio);
      }
      return;
    }
    std::optional<uint32_t> ssrc = PickStream(true, false, true);
    if (!ssrc) {
      m_.Tick(t_);
      return;
    }
    Sample(*ssrc);
  }

  void Sample(uint32_t ssrc) {
    // Talkers start and stop; a talking microphone is loud, a quiet one murmurs.
    bool& talking = talking_[ssrc];
    if (Chance(2)) talking = !talking;
    uint8_t level =
        talking ? static_cast<uint8_t>(30 + Below(70)) : static_cast<uint8_t>(Below(12));
    if (Chance(1)) level = kPresentationActivity;
    m_.OnAudioLevel(ssrc, level, t_);
  }

  void Video() {
    // Presentations start and stop now and then.
    if (Chance(2)) {
      std::vector<LegId> legs = m_->legs();
      if (!legs.empty()) {
        const LegId id = legs[Below(legs.size())];
        if (presenting_.count(id)) {
          presenting_.erase(id);
        } else if (m_->leg(id)->presentation_video) {
          presenting_.insert(id);
        }
      }
    }
    // Answer an outstanding refresh request now and then (late, or never).
    if (!requested_.empty() && Chance(25)) {
      auto it = requested_.begin();
      std::advance(it, static_cast<std::ptrdiff_t>(Below(requested_.size())));
      const uint32_t ssrc = *it;
      requested_.erase(it);
      std::optional<StreamRef> s = m_->Find(ssrc);
      if (!s || silent_.count(s->leg) == 0) {
        m_.OnVideoPacket(ssrc, static_cast<uint8_t>(1 + Below(2)), t_);
        return;
      }
    }
    std::optional<uint32_t> ssrc = PickStream(false, true, true);
    if (!ssrc) {
      m_.Tick(t_);
      return;
    }
    const uint64_t f = Below(100);
    const uint8_t flag = f < 80 ? 0 : f < 88 ? 1 : f < 93 ? 2 : static_cast<uint8_t>(3 + Below(5));
    m_.OnVideoPacket(*ssrc + (Chance(1) ? 7 : 0), flag, t_);  // rarely an unknown SSRC
  }

  void Media() {
    std::optional<uint32_t> ssrc = PickStream(true, true, true);
    if (!ssrc) {
      m_.Tick(t_);
      return;
    }
    m_.OnMedia(*ssrc, t_);
  }

  std::mt19937_64 rng_;
  CheckedMeeting m_;
  int64_t t_ = 0;
  int next_room_ = 1;
  uint64_t joins_ = 0;
  std::set<LegId> silent_;
  std::set<LegId> presenting_;
  std::set<uint32_t> requested_;
  std::map<uint32_t, bool> talking_;
  std::map<Kind, uint64_t> counts_;
};

struct Case {
  uint64_t seed;
  SecurityPolicy policy;
};

class MeetingPropertyTest : public ::testing::TestWithParam<Case> {};

TEST_P(MeetingPropertyTest, InvariantsHoldAtEveryStep) {
  const Case c = GetParam();
  SCOPED_TRACE(absl::StrFormat("seed %d policy %d", c.seed, static_cast<int>(c.policy)));
  RandomMeeting r(c.seed, c.policy);
  r.Run(kSteps);
  // The run must have exercised what it is meant to: otherwise the invariants held vacuously.
  EXPECT_GT(r.joins(), 50u);
  EXPECT_GT(r.count(Kind::kVideoSwitched), 100u);
  EXPECT_GT(r.count(Kind::kRefreshRequest), 50u);
  EXPECT_GT(r.count(Kind::kSwitchTimedOut), 0u);
  EXPECT_GT(r.count(Kind::kSpeakerChanged), 10u);
  EXPECT_GT(r.count(Kind::kLegRemoved), 0u);
  EXPECT_GT(r.count(Kind::kLegRefused), 0u);
  EXPECT_GT(r.count(Kind::kSecurityNotify), 50u);
  EXPECT_EQ(r.meeting().switch_timeouts(), r.count(Kind::kSwitchTimedOut));
}

std::vector<Case> Cases() {
  std::vector<Case> out;
  for (SecurityPolicy p :
       {SecurityPolicy::kSecure, SecurityPolicy::kNonSecure, SecurityPolicy::kBestEffort}) {
    for (uint64_t seed : {1u, 2u, 20240601u}) out.push_back({seed, p});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Seeds, MeetingPropertyTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           const char* p = info.param.policy == SecurityPolicy::kSecure ? "secure"
                                           : info.param.policy == SecurityPolicy::kNonSecure
                                               ? "nonsecure"
                                               : "besteffort";
                           return absl::StrFormat("%s_seed%d", p, info.param.seed);
                         });

TEST(MeetingPropertyDeterminismTest, SameSeedSameEvents) {
  RandomMeeting a(7, SecurityPolicy::kBestEffort);
  RandomMeeting b(7, SecurityPolicy::kBestEffort);
  const std::vector<std::string> ta = a.Run(3000);
  const std::vector<std::string> tb = b.Run(3000);
  EXPECT_GT(ta.size(), 500u);
  EXPECT_EQ(ta, tb);
}

}  // namespace
}  // namespace mpswitch::control
