// Scripted meetings with expected timelines, and every policy case of PROTOCOLS.md §8 with its
// exact log texts. Every call goes through CheckedMeeting, so the invariants of
// meeting_invariants.h hold at every step of every scenario as well.
#include "mpswitch/control/meeting.h"

#include <gtest/gtest.h>

#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "meeting_invariants.h"

namespace mpswitch::control {
namespace {

using testing::CheckedMeeting;
using Kind = Event::Kind;

constexpr Position kC = Position::kCenter;
constexpr Position kL = Position::kLeft;
constexpr Position kR = Position::kRight;
constexpr Position kAux = Position::kAux;
constexpr int64_t kStepMs = 20;  // every microphone reports its activity every 20 ms

// Room n joins n-th, so its LegId is n. Its SSRCs: cameras n01..n03, microphones n11..n13,
// presentation video n21 and audio n22 (n * 100 + ...), center/left/right in that order.
uint32_t PosIndex(Position p) { return p == kC ? 1 : p == kL ? 2 : 3; }
uint32_t Cam(int n, Position p = kC) { return static_cast<uint32_t>(n) * 100 + PosIndex(p); }
uint32_t Mic(int n, Position p = kC) { return static_cast<uint32_t>(n) * 100 + 10 + PosIndex(p); }
uint32_t PresVideo(int n) { return static_cast<uint32_t>(n) * 100 + 21; }
uint32_t PresAudio(int n) { return static_cast<uint32_t>(n) * 100 + 22; }

LegConfig Room(int n, int screens, bool secure = true, bool presentation = false) {
  LegConfig c;
  c.call_id = absl::StrFormat("%d", 40 + n);
  c.called_number = absl::StrFormat("%d", 13100 + n);
  c.endpoint_name = absl::StrFormat("room%d", n);
  c.screens = screens;
  c.secure = secure;
  c.video[kC] = Cam(n);
  c.audio[kC] = Mic(n);
  if (screens == 3) {
    for (Position p : {kL, kR}) {
      c.video[p] = Cam(n, p);
      c.audio[p] = Mic(n, p);
    }
  }
  if (presentation) {
    c.presentation_video = PresVideo(n);
    c.presentation_audio = PresAudio(n);
  }
  return c;
}

MeetingConfig Config(SecurityPolicy policy = SecurityPolicy::kSecure,
                     SwitchingMode mode = SwitchingMode::kSegment) {
  MeetingConfig c;
  c.conference_id = "8001";
  c.policy = policy;
  c.mode = mode;
  return c;
}

// One event of a timeline, as the tests write them.
struct Ev {
  int64_t t;
  Kind kind;
  LegId leg;
  uint32_t ssrc;
  Position position;
  bool operator==(const Ev&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Ev& e) {
  return os << absl::StrFormat("{t=%d %s leg=%d ssrc=%d %s}", e.t, EventKindName(e.kind), e.leg,
                               e.ssrc, PositionName(e.position));
}

// Drives a meeting like a set of endpoints: every step (20 ms) every microphone of every leg
// reports its level (0 unless set), so do the streams in `also_send`, every presenting leg sends
// a presentation packet, and
// refresh requests are answered with an IDR `refresh_delay` later (unless turned off).
class Driver {
 public:
  explicit Driver(MeetingConfig config) : m(config) {}

  LegId Join(const LegConfig& leg) {
    absl::StatusOr<LegId> id = m.Join(leg, t);
    EXPECT_TRUE(id.ok()) << id.status();
    Collect();
    return id.ok() ? *id : 0;
  }
  void Leave(LegId id) {
    EXPECT_TRUE(m.Leave(id, t).ok());
    Collect();
  }
  void SetMode(SwitchingMode mode) {
    m.SetMode(mode, t);
    Collect();
  }
  void Level(uint32_t mic, uint8_t level) { levels[mic] = level; }

  void RunUntil(int64_t until) {
    for (; t < until; t += kStepMs) {
      for (LegId id : m->legs()) {
        if (mute.count(id)) continue;
        const LegConfig* leg = m->leg(id);
        for (const auto& [p, ssrc] : leg->audio) {
          m.OnAudioLevel(ssrc, levels.count(ssrc) ? levels[ssrc] : 0, t);
          Collect();
        }
      }
      for (const auto& [ssrc, level] : also_send) {
        m.OnAudioLevel(ssrc, level, t);
        Collect();
      }
      for (uint32_t ssrc : presenting) {
        m.OnVideoPacket(ssrc, 0, t);
        Collect();
      }
      for (auto it = idr_due.begin(); it != idr_due.end();) {
        if (it->second > t) {
          ++it;
          continue;
        }
        // A muted leg sends nothing, refresh frames included.
        std::optional<StreamRef> src = m->Find(it->first);
        if (!src || mute.count(src->leg) == 0) {
          m.OnVideoPacket(it->first, 1, t);
          Collect();
        }
        it = idr_due.erase(it);
      }
    }
  }

  uint32_t Shown(LegId r, Position p = kC) const {
    const Display& d = m->display(r, p);
    return d.shown ? d.shown->ssrc : 0;
  }
  uint32_t Pending(LegId r, Position p = kC) const {
    const Display& d = m->display(r, p);
    return d.pending ? d.pending->ssrc : 0;
  }
  std::set<uint32_t> Heard(LegId r) const {
    std::set<uint32_t> out;
    for (const StreamRef& s : m->audio_for(r)) out.insert(s.ssrc);
    return out;
  }
  // The video events (refresh requests, switches, timeouts, speaker changes) in [from, to).
  std::vector<Ev> Timeline(int64_t from, int64_t to) const {
    std::vector<Ev> out;
    for (const auto& [at, e] : log) {
      if (at < from || at >= to) continue;
      if (e.kind == Kind::kRefreshRequest || e.kind == Kind::kVideoSwitched ||
          e.kind == Kind::kSwitchTimedOut || e.kind == Kind::kSpeakerChanged) {
        out.push_back({at, e.kind, e.leg, e.ssrc, e.position});
      }
    }
    return out;
  }
  std::vector<Event> EventsOf(Kind kind) const {
    std::vector<Event> out;
    for (const auto& [at, e] : log) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }

  CheckedMeeting m;
  int64_t t = 0;
  std::map<uint32_t, uint8_t> levels;
  std::map<uint32_t, uint8_t> also_send;  // other audio streams (presentation audio) and levels
  std::set<LegId> mute;                   // legs that send nothing at all
  std::set<uint32_t> presenting;          // presentation video SSRCs being sent
  bool answer_refresh = true;
  int64_t refresh_delay = 40;
  std::map<uint32_t, int64_t> idr_due;
  std::vector<std::pair<int64_t, Event>> log;

 private:
  void Collect() {
    for (const Event& e : m.last()) {
      log.emplace_back(t, e);
      if (e.kind == Kind::kRefreshRequest && answer_refresh) {
        idr_due.emplace(e.ssrc, t + refresh_delay);
      }
    }
  }
};

// Two three-screen rooms (1, 2) and two one-screen rooms (3, 4), all joined at t=0.
void JoinMixedRooms(Driver& d) {
  EXPECT_EQ(d.Join(Room(1, 3)), 1u);
  EXPECT_EQ(d.Join(Room(2, 3)), 2u);
  EXPECT_EQ(d.Join(Room(3, 1)), 3u);
  EXPECT_EQ(d.Join(Room(4, 1)), 4u);
}

// ---------------------------------------------------------------------------------------------
// Switching modes.

TEST(MeetingSegmentTest, MixedRoomsTimeline) {
  Driver d(Config());
  JoinMixedRooms(d);
  d.RunUntil(1000);
  // Nobody spoke: join order. Three-screen rooms see each other position by position; the
  // one-screen rooms see room 1's center (the first segment of any position).
  for (Position p : {kC, kL, kR}) {
    EXPECT_EQ(d.Shown(1, p), Cam(2, p));
    EXPECT_EQ(d.Shown(2, p), Cam(1, p));
  }
  EXPECT_EQ(d.Shown(3), Cam(1));
  EXPECT_EQ(d.Shown(4), Cam(1));
  EXPECT_EQ(d.m->switch_timeouts(), 0u);

  // Room 3 (one screen, a center segment) talks from t=1000: 60 * 60 ms > 6 * 500 at t=1060.
  d.Level(Mic(3), 60);
  d.RunUntil(3000);
  // Then room 2's left microphone from t=3000, room 3 at 0. The left contest moves to 2L at
  // 3060 (nothing on screen changes: 1's left display already shows 2L, 2 never sees itself);
  // the any-position contest (one-screen receivers) moves when 2L leads the draining 3C by the
  // margin: 70 * (t - 3000) > 60 * (3500 - t) + 3000 from t=3260.
  d.Level(Mic(3), 0);
  d.Level(Mic(2, kL), 70);
  d.RunUntil(5000);
  // clang-format off
  const std::vector<Ev> expected = {
      {1060, Kind::kSpeakerChanged, 3, Mic(3), kC},
      {1060, Kind::kRefreshRequest, 3, Cam(3), kC},  // once, though three displays wait
      {1100, Kind::kVideoSwitched, 1, Cam(3), kC},
      {1100, Kind::kVideoSwitched, 2, Cam(3), kC},
      {1100, Kind::kVideoSwitched, 4, Cam(3), kC},
      {3260, Kind::kSpeakerChanged, 2, Mic(2, kL), kL},
      {3260, Kind::kRefreshRequest, 2, Cam(2, kL), kL},
      {3300, Kind::kVideoSwitched, 3, Cam(2, kL), kC},
      {3300, Kind::kVideoSwitched, 4, Cam(2, kL), kC},
  };
  // clang-format on
  EXPECT_EQ(d.Timeline(1000, 5000), expected);
  // The center contest still belongs to room 3 (nobody else spoke at a center position).
  EXPECT_EQ(d.Shown(1, kC), Cam(3));
  EXPECT_EQ(d.Shown(1, kL), Cam(2, kL));
  EXPECT_EQ(d.Shown(1, kR), Cam(2, kR));
  EXPECT_EQ(d.Shown(2, kC), Cam(3));
  EXPECT_EQ(d.Shown(2, kL), Cam(1, kL));
  // Room 3 spoke and now sees the newest speaker; while it spoke it saw the previous one (1C).
  EXPECT_EQ(d.Shown(3), Cam(2, kL));
  EXPECT_EQ(d.Shown(4), Cam(2, kL));
  EXPECT_EQ(d.m->active_speaker(), 2u);
}

TEST(MeetingSiteTest, MixedRoomsTimeline) {
  Driver d(Config(SecurityPolicy::kSecure, SwitchingMode::kSite));
  JoinMixedRooms(d);
  d.RunUntil(1000);
  for (Position p : {kC, kL, kR}) {
    EXPECT_EQ(d.Shown(1, p), Cam(2, p));
    EXPECT_EQ(d.Shown(2, p), Cam(1, p));
  }
  // One-screen receivers: the first site's active segment (its center until one speaks).
  EXPECT_EQ(d.Shown(3), Cam(1));
  EXPECT_EQ(d.Shown(4), Cam(1));

  d.Level(Mic(3), 60);
  d.RunUntil(3000);
  // A one-screen site takes only the center displays; the sides keep the last three-screen
  // site. Room 3 itself keeps seeing the previous site, room 1.
  EXPECT_EQ(d.Shown(1, kC), Cam(3));
  EXPECT_EQ(d.Shown(1, kL), Cam(2, kL));
  EXPECT_EQ(d.Shown(1, kR), Cam(2, kR));
  EXPECT_EQ(d.Shown(2, kC), Cam(3));
  EXPECT_EQ(d.Shown(2, kL), Cam(1, kL));
  EXPECT_EQ(d.Shown(3), Cam(1));
  EXPECT_EQ(d.Shown(4), Cam(3));

  d.Level(Mic(3), 0);
  d.Level(Mic(2, kL), 70);
  d.RunUntil(5000);
  // clang-format off
  const std::vector<Ev> expected = {
      {1060, Kind::kSpeakerChanged, 3, Mic(3), kC},
      {1060, Kind::kRefreshRequest, 3, Cam(3), kC},
      {1100, Kind::kVideoSwitched, 1, Cam(3), kC},
      {1100, Kind::kVideoSwitched, 2, Cam(3), kC},
      {1100, Kind::kVideoSwitched, 4, Cam(3), kC},
      {3260, Kind::kSpeakerChanged, 2, Mic(2, kL), kL},
      // Room 1 gets room 2's whole site (its sides already show it); the one-screen rooms get
      // room 2's loudest segment, its left camera.
      {3260, Kind::kRefreshRequest, 2, Cam(2, kC), kC},
      {3260, Kind::kRefreshRequest, 2, Cam(2, kL), kL},
      {3300, Kind::kVideoSwitched, 1, Cam(2, kC), kC},
      {3300, Kind::kVideoSwitched, 3, Cam(2, kL), kC},
      {3300, Kind::kVideoSwitched, 4, Cam(2, kL), kC},
  };
  // clang-format on
  EXPECT_EQ(d.Timeline(1000, 5000), expected);
  for (Position p : {kC, kL, kR}) EXPECT_EQ(d.Shown(1, p), Cam(2, p));
  // Room 2 sees the previous site for the center (3) and the last three-screen site for its sides.
  EXPECT_EQ(d.Shown(2, kC), Cam(3));
  EXPECT_EQ(d.Shown(2, kL), Cam(1, kL));
  EXPECT_EQ(d.Shown(2, kR), Cam(1, kR));
}

TEST(MeetingModeTest, ChangeMidMeeting) {
  Driver d(Config());
  JoinMixedRooms(d);
  d.Level(Mic(3), 60);
  d.RunUntil(3000);
  d.Level(Mic(3), 0);
  d.Level(Mic(2, kL), 70);
  d.RunUntil(5000);
  ASSERT_EQ(d.Shown(1, kC), Cam(3));  // segment mode: the loudest center segment

  d.SetMode(SwitchingMode::kSite);
  EXPECT_EQ(d.m->mode(), SwitchingMode::kSite);
  // Site mode: room 1 should show room 2's center with its sides; it keeps room 3 until the IDR.
  EXPECT_EQ(d.Shown(1, kC), Cam(3));
  EXPECT_EQ(d.Pending(1, kC), Cam(2, kC));
  d.RunUntil(6000);
  // clang-format off
  const std::vector<Ev> to_site = {
      {5000, Kind::kRefreshRequest, 2, Cam(2, kC), kC},
      {5040, Kind::kVideoSwitched, 1, Cam(2, kC), kC},
  };
  // clang-format on
  EXPECT_EQ(d.Timeline(5000, 6000), to_site);
  EXPECT_EQ(d.Shown(3), Cam(2, kL));  // room 2's loudest segment in both modes

  d.SetMode(SwitchingMode::kSegment);
  d.RunUntil(7000);
  // clang-format off
  const std::vector<Ev> back = {
      {6000, Kind::kRefreshRequest, 3, Cam(3), kC},
      {6040, Kind::kVideoSwitched, 1, Cam(3), kC},
  };
  // clang-format on
  EXPECT_EQ(d.Timeline(6000, 7000), back);
  const std::vector<Event> logs = d.EventsOf(Kind::kLog);
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_EQ(logs[0].text, "Conf Id 8001: switching mode changed to site");
  EXPECT_EQ(logs[1].text, "Conf Id 8001: switching mode changed to segment");
}

// ---------------------------------------------------------------------------------------------
// Speaker choice.

TEST(MeetingSpeakerTest, HysteresisAvoidsFlapping) {
  Driver d(Config());
  for (int n = 1; n <= 3; ++n) d.Join(Room(n, 1));
  d.Level(Mic(2), 40);
  d.RunUntil(2000);
  ASSERT_EQ(d.Shown(1), Cam(2));
  // Room 3 a little louder (5 points): not enough to take the floor, however long.
  d.Level(Mic(3), 45);
  d.RunUntil(8000);
  EXPECT_EQ(d.Shown(1), Cam(2));
  EXPECT_EQ(d.m->active_speaker(), 2u);
  // Clearly louder (8 points): it does.
  d.Level(Mic(3), 48);
  d.RunUntil(9000);
  EXPECT_EQ(d.Shown(1), Cam(3));
  EXPECT_EQ(d.Shown(2), Cam(3));
  EXPECT_EQ(d.Shown(3), Cam(2));  // the current speaker sees the previous one
  EXPECT_EQ(d.EventsOf(Kind::kSpeakerChanged).size(), 2u);
}

TEST(MeetingSpeakerTest, HoldTimeBetweenChanges) {
  Driver d(Config());
  for (int n = 1; n <= 3; ++n) d.Join(Room(n, 1));
  d.RunUntil(1000);
  // Join order: 1 sees 2, 2 and 3 see 1.
  d.Level(Mic(2), 60);
  d.RunUntil(1200);
  // Room 2 took the floor at 1060. Room 3 is far louder from 1200, but not before 1060 + 1500.
  d.Level(Mic(2), 0);
  d.Level(Mic(3), 90);
  d.RunUntil(4000);
  // clang-format off
  const std::vector<Ev> expected = {
      {1060, Kind::kSpeakerChanged, 2, Mic(2), kC},
      {1060, Kind::kRefreshRequest, 2, Cam(2), kC},
      {1100, Kind::kVideoSwitched, 3, Cam(2), kC},
      {2560, Kind::kSpeakerChanged, 3, Mic(3), kC},
      {2560, Kind::kRefreshRequest, 3, Cam(3), kC},
      {2600, Kind::kVideoSwitched, 1, Cam(3), kC},
      {2600, Kind::kVideoSwitched, 2, Cam(3), kC},
  };
  // clang-format on
  EXPECT_EQ(d.Timeline(1000, 4000), expected);
}

TEST(MeetingSpeakerTest, PresentationAudioNeverTakesTheFloor) {
  Driver d(Config());
  d.Join(Room(1, 1));
  d.Join(Room(2, 1, true, /*presentation=*/true));
  d.Join(Room(3, 1));
  d.RunUntil(500);
  // Room 2's presentation audio is loud, and room 3's microphone carries presentation audio
  // (metric 99): neither is a talker.
  d.also_send[PresAudio(2)] = 95;
  d.Level(Mic(3), kPresentationActivity);
  d.RunUntil(5000);
  EXPECT_TRUE(d.EventsOf(Kind::kSpeakerChanged).empty());
  EXPECT_EQ(d.Shown(1), Cam(2));  // join order, unchanged
  // Both are forwarded to everyone else as presentation audio.
  EXPECT_TRUE(d.Heard(1).count(PresAudio(2)));
  EXPECT_TRUE(d.Heard(1).count(Mic(3)));
  EXPECT_FALSE(d.Heard(2).count(PresAudio(2)));
}

// ---------------------------------------------------------------------------------------------
// Audio.

TEST(MeetingAudioTest, LoudestThreeWithHysteresis) {
  Driver d(Config());
  for (int n = 1; n <= 5; ++n) d.Join(Room(n, 1));
  d.RunUntil(1000);
  // Nobody spoke: the first three others by join order.
  EXPECT_EQ(d.Heard(1), (std::set<uint32_t>{Mic(2), Mic(3), Mic(4)}));
  EXPECT_EQ(d.Heard(5), (std::set<uint32_t>{Mic(1), Mic(2), Mic(3)}));

  d.Level(Mic(2), 40);
  d.Level(Mic(3), 40);
  d.Level(Mic(4), 40);
  d.Level(Mic(5), 45);  // louder than the quietest member, but by less than the hysteresis
  d.RunUntil(4000);
  EXPECT_EQ(d.Heard(1), (std::set<uint32_t>{Mic(2), Mic(3), Mic(4)}));
  d.Level(Mic(5), 47);
  d.RunUntil(5000);
  // 5 replaces the quietest member (a tie among 2, 3, 4: the latest to join goes).
  EXPECT_EQ(d.Heard(1), (std::set<uint32_t>{Mic(2), Mic(3), Mic(5)}));
  d.RunUntil(8000);
  EXPECT_EQ(d.Heard(1), (std::set<uint32_t>{Mic(2), Mic(3), Mic(5)}));  // 4 at 40 does not flap
  // Room 5 never hears itself; it hears the three loudest of the others.
  EXPECT_EQ(d.Heard(5), (std::set<uint32_t>{Mic(2), Mic(3), Mic(4)}));
  // Room 2 hears 3, 4 and 5 (1 is silent).
  EXPECT_EQ(d.Heard(2), (std::set<uint32_t>{Mic(3), Mic(4), Mic(5)}));
}

TEST(MeetingAudioTest, ThreeScreenMicrophonesAndPresentation) {
  MeetingConfig c = Config();
  c.loudest_audio = 2;
  Driver d(c);
  d.Join(Room(1, 3));
  d.Join(Room(2, 3, true, /*presentation=*/true));
  d.Join(Room(3, 1));
  d.Level(Mic(2, kR), 50);
  d.Level(Mic(3), 30);
  d.RunUntil(2000);
  // The two loudest microphones of the others, plus room 2's presentation audio for everyone
  // but room 2.
  EXPECT_EQ(d.Heard(1), (std::set<uint32_t>{Mic(2, kR), Mic(3), PresAudio(2)}));
  EXPECT_EQ(d.Heard(3), (std::set<uint32_t>{Mic(2, kR), Mic(1, kC), PresAudio(2)}));
  EXPECT_EQ(d.Heard(2), (std::set<uint32_t>{Mic(3), Mic(1, kC)}));
  const std::vector<StreamRef> a = d.m->audio_for(1);
  ASSERT_EQ(a.size(), 3u);  // ordered by leg, then position
  EXPECT_EQ(a[0], (StreamRef{2, kR, Mic(2, kR)}));
  EXPECT_EQ(a[1], (StreamRef{2, kAux, PresAudio(2)}));
  EXPECT_EQ(a[2], (StreamRef{3, kC, Mic(3)}));
}

// ---------------------------------------------------------------------------------------------
// Presentation.

TEST(MeetingPresentationTest, LatestPresenterWinsAndStops) {
  Driver d(Config());
  d.Join(Room(1, 1));
  d.Join(Room(2, 1, true, true));
  d.Join(Room(3, 3, true, true));
  d.RunUntil(1000);
  EXPECT_FALSE(d.m->presenter().has_value());
  EXPECT_EQ(d.Shown(1, kAux), 0u);

  // Room 2 starts presenting with an IDR: the aux displays switch on that very packet.
  d.m.OnVideoPacket(PresVideo(2), 1, d.t);
  EXPECT_EQ(d.Shown(1, kAux), PresVideo(2));
  EXPECT_EQ(d.Shown(3, kAux), PresVideo(2));
  EXPECT_EQ(d.Shown(2, kAux), 0u);  // never its own
  d.presenting.insert(PresVideo(2));
  d.RunUntil(2000);

  // Room 3 starts later, without a refresh frame: the others ask for one and wait.
  d.presenting.insert(PresVideo(3));
  d.RunUntil(3000);
  // clang-format off
  const std::vector<Ev> expected = {
      {2000, Kind::kRefreshRequest, 3, PresVideo(3), kAux},
      {2040, Kind::kVideoSwitched, 1, PresVideo(3), kAux},
      {2040, Kind::kVideoSwitched, 2, PresVideo(3), kAux},
  };
  // clang-format on
  EXPECT_EQ(d.Timeline(2000, 3000), expected);
  EXPECT_EQ(d.m->presenter(), 3u);
  EXPECT_EQ(d.Shown(3, kAux), PresVideo(2));  // the presenter sees the earlier one

  // Room 3's presentation goes quiet (its room keeps talking): after media_timeout_ms it is
  // taken off; the others fall back to room 2, still presenting, from its next refresh frame,
  // and room 2's aux goes dark.
  d.presenting.erase(PresVideo(3));
  d.RunUntil(12980);
  EXPECT_EQ(d.Shown(1, kAux), PresVideo(3));
  d.RunUntil(13020);  // last packet at 2980: quiet for more than 10000 ms at the 13000 step
  EXPECT_EQ(d.m->presenter(), 2u);
  EXPECT_EQ(d.Shown(2, kAux), 0u);
  EXPECT_EQ(d.Pending(2, kAux), 0u);
  EXPECT_EQ(d.Shown(1, kAux), 0u);
  EXPECT_EQ(d.Pending(1, kAux), PresVideo(2));
  d.RunUntil(14000);
  EXPECT_EQ(d.Shown(1, kAux), PresVideo(2));
  EXPECT_EQ(d.m->legs().size(), 3u);

  // The presenter leaves: nothing left to show on aux.
  d.presenting.clear();
  d.Leave(2);
  EXPECT_EQ(d.Shown(1, kAux), 0u);
  EXPECT_EQ(d.Shown(3, kAux), 0u);
  EXPECT_FALSE(d.m->presenter().has_value());
}

// ---------------------------------------------------------------------------------------------
// The refresh rule.

TEST(MeetingRefreshTest, SwitchesAnywayAfterTheTimeoutAndCountsIt) {
  Driver d(Config());
  for (int n = 1; n <= 3; ++n) d.Join(Room(n, 1));
  d.RunUntil(1000);
  d.answer_refresh = false;
  d.Level(Mic(3), 60);  // takes the floor at 1060; 1 and 2 want it, it never sends an IDR
  d.RunUntil(2061);
  EXPECT_EQ(d.Shown(1), Cam(2));  // still the old source
  EXPECT_EQ(d.Pending(1), Cam(3));
  EXPECT_EQ(d.Shown(2), Cam(1));
  EXPECT_EQ(d.Pending(2), Cam(3));
  EXPECT_EQ(d.m->switch_timeouts(), 0u);
  d.RunUntil(2100);  // 2060 is exactly the timeout (still in time); 2080 is past it
  // clang-format off
  const std::vector<Ev> expected = {
      {2080, Kind::kSwitchTimedOut, 1, Cam(3), kC},
      {2080, Kind::kVideoSwitched, 1, Cam(3), kC},
      {2080, Kind::kSwitchTimedOut, 2, Cam(3), kC},
      {2080, Kind::kVideoSwitched, 2, Cam(3), kC},
  };
  // clang-format on
  EXPECT_EQ(d.Timeline(2061, 2100), expected);
  EXPECT_EQ(d.m->switch_timeouts(), 2u);
  EXPECT_EQ(d.Shown(1), Cam(3));
  EXPECT_EQ(d.Pending(1), 0u);
}

// The dataplane switched one display on a refresh frame (a gate), while another display began
// waiting for the same source after that gate was published: once the answer is applied the
// source is asked again at once, instead of leaving the second display to the refresh timeout.
TEST(MeetingRefreshTest, DisplayNotCoveredByTheGateGetsANewRequest) {
  Meeting m(Config());
  for (int n = 1; n <= 3; ++n) ASSERT_TRUE(m.Join(Room(n, 1), 0).ok());
  // Nobody has spoken: rooms 2 and 3 wait for room 1's camera, room 1 for room 2's.
  ASSERT_TRUE(m.display(2, kC).pending && m.display(3, kC).pending);
  ASSERT_EQ(m.display(3, kC).pending->ssrc, Cam(1));
  int asked = 0;
  for (const Event& e : m.TakeEvents()) asked += e.kind == Kind::kRefreshRequest && e.ssrc == Cam(1);
  ASSERT_EQ(asked, 1);
  m.OnDisplaySwitched(2, kC, Cam(1), 40);  // the gate covered room 2 only
  EXPECT_EQ(m.display(2, kC).shown->ssrc, Cam(1));
  ASSERT_TRUE(m.display(3, kC).pending);
  asked = 0;
  for (const Event& e : m.TakeEvents()) asked += e.kind == Kind::kRefreshRequest && e.ssrc == Cam(1);
  EXPECT_EQ(asked, 0);  // not before every switch of that gate is applied
  m.OnRefreshAnswered(Cam(1), 40);
  asked = 0;
  for (const Event& e : m.TakeEvents()) asked += e.kind == Kind::kRefreshRequest && e.ssrc == Cam(1);
  EXPECT_EQ(asked, 1);
}

// A gate that covered every waiting display: its answer asks for nothing more.
TEST(MeetingRefreshTest, AnsweredRefreshCoveringEveryDisplayAsksNoMore) {
  Meeting m(Config());
  for (int n = 1; n <= 3; ++n) ASSERT_TRUE(m.Join(Room(n, 1), 0).ok());
  (void)m.TakeEvents();
  m.OnDisplaySwitched(2, kC, Cam(1), 40);
  m.OnDisplaySwitched(3, kC, Cam(1), 40);
  m.OnRefreshAnswered(Cam(1), 40);
  int asked = 0;
  for (const Event& e : m.TakeEvents()) asked += e.kind == Kind::kRefreshRequest && e.ssrc == Cam(1);
  EXPECT_EQ(asked, 0);
}

TEST(MeetingRefreshTest, IdrExactlyAtTheDeadlineIsInTime) {
  Driver d(Config());
  for (int n = 1; n <= 3; ++n) d.Join(Room(n, 1));
  d.RunUntil(1000);
  d.refresh_delay = 1000;  // pending from 1060; IDR at 2060
  d.Level(Mic(3), 60);
  d.RunUntil(3000);
  EXPECT_EQ(d.m->switch_timeouts(), 0u);
  EXPECT_EQ(d.Shown(1), Cam(3));
  EXPECT_EQ(d.Shown(2), Cam(3));
  EXPECT_TRUE(d.EventsOf(Kind::kSwitchTimedOut).empty());
}

TEST(MeetingRefreshTest, OnlyRefreshFlagsOneAndTwoAreSwitchPoints) {
  Driver d(Config());
  for (int n = 1; n <= 2; ++n) d.Join(Room(n, 1));
  // Both displays wait for the other's IDR from the start (nothing was shown yet).
  EXPECT_EQ(d.Shown(1), 0u);
  EXPECT_EQ(d.Pending(1), Cam(2));
  for (uint8_t flag : {0, 3, 4, 5, 6, 7}) {
    d.m.OnVideoPacket(Cam(2), flag, 10);
    EXPECT_EQ(d.Shown(1), 0u) << "flag " << int{flag};
  }
  d.m.OnVideoPacket(Cam(2), 2, 20);  // GDR
  EXPECT_EQ(d.Shown(1), Cam(2));
  EXPECT_EQ(d.Shown(2), 0u);
  d.m.OnVideoPacket(Cam(1), 1, 30);  // IDR
  EXPECT_EQ(d.Shown(2), Cam(1));
  // An IDR of a source nobody waits for changes nothing.
  const uint64_t v = d.m->version();
  d.m.OnVideoPacket(Cam(1), 1, 40);
  EXPECT_EQ(d.m->version(), v);
}

TEST(MeetingRefreshTest, JoinAndLeaveDuringAPendingSwitch) {
  Driver d(Config());
  for (int n = 1; n <= 3; ++n) d.Join(Room(n, 1));
  d.RunUntil(1000);
  d.answer_refresh = false;
  d.Level(Mic(3), 60);
  d.RunUntil(1080);
  ASSERT_EQ(d.Pending(1), Cam(3));
  ASSERT_EQ(d.Pending(2), Cam(3));
  // Room 4 joins while 1 and 2 wait for 3's IDR: it waits for the same one, no second request.
  d.Join(Room(4, 1));
  EXPECT_EQ(d.Pending(4), Cam(3));
  d.m.OnVideoPacket(Cam(3), 1, 1100);
  EXPECT_EQ(d.Shown(1), Cam(3));
  EXPECT_EQ(d.Shown(2), Cam(3));
  EXPECT_EQ(d.Shown(4), Cam(3));
  std::vector<Event> requests = d.EventsOf(Kind::kRefreshRequest);
  EXPECT_EQ(std::count_if(requests.begin(), requests.end(),
                          [](const Event& e) { return e.ssrc == Cam(3); }),
            1);
  d.t = 1100;
  d.RunUntil(3000);

  // Room 2 takes the floor at 3240 (80 * (t - 3000) > 60 * (3500 - t) + 3000); it leaves before
  // its IDR: the waiting displays choose again, and what they show (room 3) is the right choice.
  d.Level(Mic(3), 0);
  d.Level(Mic(2), 80);
  d.RunUntil(3300);
  ASSERT_EQ(d.Pending(1), Cam(2));
  ASSERT_EQ(d.Pending(4), Cam(2));
  ASSERT_EQ(d.Pending(3), Cam(2));
  d.Leave(2);
  for (LegId r : {1u, 4u}) {
    EXPECT_EQ(d.Pending(r), 0u);
    EXPECT_EQ(d.Shown(r), Cam(3));
  }
  EXPECT_EQ(d.Pending(3), 0u);
  EXPECT_EQ(d.Shown(3), Cam(1));

  // Room 3, on two screens, leaves: those displays go dark at once (no stale stream of a
  // departed leg) and wait for the replacement's IDR.
  d.RunUntil(4000);
  d.Leave(3);
  EXPECT_EQ(d.Shown(1), 0u);
  EXPECT_EQ(d.Pending(1), Cam(4));
  EXPECT_EQ(d.Shown(4), 0u);
  EXPECT_EQ(d.Pending(4), Cam(1));
  d.m.OnVideoPacket(Cam(4), 1, d.t);
  EXPECT_EQ(d.Shown(1), Cam(4));
  EXPECT_EQ(d.Shown(4), 0u);
  EXPECT_FALSE(d.m->Find(Cam(3)).has_value());
  // A late report from the departed leg is ignored.
  const uint64_t v = d.m->version();
  d.m.OnVideoPacket(Cam(3), 1, d.t);
  d.m.OnAudioLevel(Mic(3), 90, d.t);
  EXPECT_EQ(d.m->version(), v);
  EXPECT_TRUE(absl::IsNotFound(d.m.Leave(3, d.t)));
}

// ---------------------------------------------------------------------------------------------
// Lock, media timeout, validation, version.

TEST(MeetingLockTest, RefusesNewLegsWhileLocked) {
  Driver d(Config());
  d.Join(Room(1, 1));
  d.m.SetLocked(true);
  EXPECT_TRUE(d.m->locked());
  absl::StatusOr<LegId> r = d.m.Join(Room(2, 1), 10);
  ASSERT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("conference 8001 is locked"), std::string::npos)
      << r.status();
  ASSERT_EQ(d.m.last().size(), 1u);
  EXPECT_EQ(d.m.last()[0].kind, Kind::kLegRefused);
  EXPECT_EQ(d.m.last()[0].text,
            "conference 8001 is locked: endpoint room2 (call id=42, Num=13102) may not join until "
            "it is unlocked");
  EXPECT_EQ(d.m->legs(), (std::vector<LegId>{1}));
  d.m.SetLocked(false);
  r = d.m.Join(Room(2, 1), 20);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 2u);  // the refused attempt used no id
}

TEST(MeetingTimeoutTest, MediaTimeoutRemovesTheLegWithTheLogText) {
  Driver d(Config());
  for (int n = 1; n <= 3; ++n) d.Join(Room(n, 1));
  d.mute.insert(1);  // room 1 sends nothing from the start (joined at 0)
  d.RunUntil(10000);
  EXPECT_EQ(d.m->legs().size(), 3u);
  EXPECT_EQ(d.Shown(2), Cam(1));
  d.RunUntil(10001);  // t = 10000: exactly the timeout, still in
  EXPECT_EQ(d.m->legs().size(), 3u);
  d.RunUntil(10021);  // t = 10020
  EXPECT_EQ(d.m->legs(), (std::vector<LegId>{2, 3}));
  const std::vector<Event> removed = d.EventsOf(Kind::kLegRemoved);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].leg, 1u);
  EXPECT_EQ(removed[0].text, "Media Timeout occurred for call : called num = 13101");
  // Recomputed at once: 2 and 3 now wait for each other.
  EXPECT_EQ(d.Shown(2), 0u);
  EXPECT_EQ(d.Pending(2), Cam(3));
  EXPECT_FALSE(d.Heard(2).count(Mic(1)));
  d.RunUntil(11000);
  EXPECT_EQ(d.Shown(2), Cam(3));
  EXPECT_EQ(d.Shown(3), Cam(2));
}

TEST(MeetingTimeoutTest, AnyStreamKeepsALegAlive) {
  Driver d(Config());
  d.Join(Room(1, 1, true, true));
  d.Join(Room(2, 1));
  d.mute.insert(1);
  for (int64_t t = 0; t < 30000; t += 5000) {
    d.t = t;
    d.m.OnMedia(PresAudio(1), t);  // a stream without the trailing byte
    d.RunUntil(t + 5000);
  }
  EXPECT_EQ(d.m->legs().size(), 2u);
}

TEST(MeetingValidationTest, RefusesBadLegs) {
  Meeting m(Config());
  auto invalid = [&](const LegConfig& c, const std::string& needle) {
    absl::StatusOr<LegId> r = m.Join(c, 0);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status();
  };
  LegConfig c = Room(1, 1);
  c.screens = 2;
  invalid(c, "screens = 2");
  c = Room(1, 1);
  c.video.erase(kC);
  invalid(c, "no center camera");
  c = Room(1, 3);
  c.audio.erase(kC);
  invalid(c, "no center microphone");
  c = Room(1, 1);
  c.video[kL] = 999;
  invalid(c, "a 1-screen leg has no left camera");
  c = Room(1, 3);
  c.audio[kAux] = 999;
  invalid(c, "presentation streams go in presentation_video");
  c = Room(1, 1, true, true);
  c.presentation_audio = Cam(1);
  invalid(c, "SSRC 0x00000065 is both its center camera and its presentation audio");
  EXPECT_TRUE(m.TakeEvents().empty()) << "invalid legs leave no trace";
  EXPECT_TRUE(m.legs().empty());

  ASSERT_TRUE(m.Join(Room(1, 1), 0).ok());
  c = Room(2, 1);
  c.audio[kC] = Mic(1);
  invalid(c, "is already used by leg 1 (endpoint room1)");
  EXPECT_TRUE(absl::IsNotFound(m.Leave(7, 0)));
}

TEST(MeetingConfigTest, ValidationAndClamping) {
  EXPECT_TRUE(ValidateMeetingConfig(Config()).ok());
  MeetingConfig c = Config();
  c.speaker.window_ms = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateMeetingConfig(c)));
  c = Config();
  c.loudest_audio = -1;
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateMeetingConfig(c)));
  c.conference_id.clear();
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateMeetingConfig(c)));
  c = Config();
  c.speaker.hysteresis = 101;
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateMeetingConfig(c)));
  // The constructor clamps instead: N = -1 forwards no microphones.
  c = Config();
  c.loudest_audio = -1;
  Meeting m(c);
  EXPECT_EQ(m.config().loudest_audio, 0);
  ASSERT_TRUE(m.Join(Room(1, 1), 0).ok());
  ASSERT_TRUE(m.Join(Room(2, 1), 0).ok());
  EXPECT_TRUE(m.audio_for(1).empty());
}

TEST(MeetingVersionTest, BumpsOnlyOnChange) {
  Meeting m(Config());
  const uint64_t v0 = m.version();
  ASSERT_TRUE(m.Join(Room(1, 1), 0).ok());
  EXPECT_EQ(m.version(), v0 + 1);
  m.Tick(10);
  EXPECT_EQ(m.version(), v0 + 1);
  ASSERT_TRUE(m.Join(Room(2, 1), 20).ok());  // displays become pending, audio sets fill
  EXPECT_EQ(m.version(), v0 + 2);
  m.OnVideoPacket(Cam(2), 0, 30);
  EXPECT_EQ(m.version(), v0 + 2);
  m.OnVideoPacket(Cam(2), 1, 40);
  EXPECT_EQ(m.version(), v0 + 3);
  // Time going backwards is taken as the latest time seen.
  m.Tick(5);
  EXPECT_EQ(m.version(), v0 + 3);
  EXPECT_EQ(m.display(1, kC).shown, (StreamRef{2, kC, Cam(2)}));
  EXPECT_EQ(m.display(1, kL).shown, std::nullopt);  // a one-screen leg has no left display
  EXPECT_EQ(m.display(99, kC).shown, std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// Security policy (PROTOCOLS.md §8): exact texts and the notification every leg receives.

std::vector<std::pair<LegId, bool>> Notifies(const std::vector<Event>& events) {
  std::vector<std::pair<LegId, bool>> out;
  for (const Event& e : events) {
    if (e.kind == Kind::kSecurityNotify) out.emplace_back(e.leg, e.secure);
  }
  return out;
}
std::vector<std::string> Logs(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const Event& e : events) {
    if (e.kind == Kind::kLog) out.push_back(e.text);
  }
  return out;
}
using Notes = std::vector<std::pair<LegId, bool>>;
using Lines = std::vector<std::string>;

TEST(MeetingSecurityTest, SecureMeetingRefusesANonSecureLeg) {
  CheckedMeeting m(Config(SecurityPolicy::kSecure));
  ASSERT_TRUE(m.Join(Room(1, 3), 0).ok());
  EXPECT_EQ(Notifies(m.last()), (Notes{{1, true}}));
  LegConfig bad = Room(2, 1, /*secure=*/false);
  bad.call_id = "7";
  bad.called_number = "13105";
  bad.endpoint_name = "SEP001122334455";
  absl::StatusOr<LegId> r = m.Join(bad, 10);
  ASSERT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  const std::string mismatch =
      "Call in state=Connected, call id=7, conference id = 8001 received error from Confmgr with "
      "error='security mismatch' during verification of security policy. Num=13105";
  const std::string property =
      "The security property of conference 8001 does not allow endpoint SEP001122334455 to join";
  EXPECT_NE(r.status().message().find(mismatch), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find(property), std::string::npos) << r.status();
  ASSERT_EQ(m.last().size(), 2u);
  EXPECT_EQ(m.last()[0].kind, Kind::kLegRefused);
  EXPECT_EQ(m.last()[0].text, mismatch);
  EXPECT_EQ(m.last()[1].kind, Kind::kLog);
  EXPECT_EQ(m.last()[1].text, property);
  EXPECT_EQ(m->legs(), (std::vector<LegId>{1}));
  EXPECT_TRUE(m->secure());
  ASSERT_TRUE(m.Join(Room(3, 1), 20).ok());
  EXPECT_EQ(Notifies(m.last()), (Notes{{2, true}}));
  EXPECT_TRUE(m->MayReceiveGroupKey(1));
  EXPECT_TRUE(m->MayReceiveGroupKey(2));
  EXPECT_FALSE(m->NeedsReencryption(1, 2));
}

TEST(MeetingSecurityTest, BestEffortStartedByANonSecureLeg) {
  CheckedMeeting m(Config(SecurityPolicy::kBestEffort));
  EXPECT_TRUE(m->secure());
  ASSERT_TRUE(m.Join(Room(1, 1, /*secure=*/false), 0).ok());
  EXPECT_EQ(Logs(m.last()), (Lines{"Conf Id 8001: will start as non-secure"}));
  EXPECT_EQ(Notifies(m.last()), (Notes{{1, false}}));
  EXPECT_FALSE(m->secure());
  ASSERT_TRUE(m.Join(Room(2, 3), 10).ok());
  EXPECT_TRUE(Logs(m.last()).empty());
  EXPECT_EQ(Notifies(m.last()), (Notes{{2, false}}));
  EXPECT_FALSE(m->MayReceiveGroupKey(1));
  EXPECT_FALSE(m->MayReceiveGroupKey(2));  // the meeting is non-secure: no group key for anyone
  EXPECT_TRUE(m->NeedsReencryption(2, 1));
  EXPECT_FALSE(m->NeedsReencryption(1, 2));
  // The non-secure leg leaves: everyone left is secure, the meeting upgrades.
  ASSERT_TRUE(m.Leave(1, 20).ok());
  EXPECT_EQ(Logs(m.last()),
            (Lines{"Conference Manager Conf Id 8001: will upgrade security from non-secure to "
                   "secure. All existing endpoints will be upgraded to secure."}));
  EXPECT_EQ(Notifies(m.last()), (Notes{{2, true}}));
  EXPECT_TRUE(m->secure());
  EXPECT_TRUE(m->MayReceiveGroupKey(2));
}

TEST(MeetingSecurityTest, BestEffortDowngradesAndUpgrades) {
  CheckedMeeting m(Config(SecurityPolicy::kBestEffort));
  ASSERT_TRUE(m.Join(Room(1, 3), 0).ok());
  EXPECT_EQ(Notifies(m.last()), (Notes{{1, true}}));
  EXPECT_TRUE(Logs(m.last()).empty());
  ASSERT_TRUE(m.Join(Room(2, 1), 0).ok());
  EXPECT_EQ(Notifies(m.last()), (Notes{{2, true}}));
  EXPECT_TRUE(m->MayReceiveGroupKey(1));

  ASSERT_TRUE(m.Join(Room(3, 1, /*secure=*/false), 10).ok());
  EXPECT_EQ(Logs(m.last()),
            (Lines{"Conference Manager Conf Id 8001: will downgrade security from secure to "
                   "non-secure. All existing endpoints will be downgraded to non-secure."}));
  EXPECT_EQ(Notifies(m.last()), (Notes{{1, false}, {2, false}, {3, false}}));
  EXPECT_FALSE(m->secure());
  for (LegId id : {1u, 2u, 3u}) EXPECT_FALSE(m->MayReceiveGroupKey(id));
  EXPECT_TRUE(m->NeedsReencryption(1, 3));
  EXPECT_FALSE(m->NeedsReencryption(3, 1));
  EXPECT_FALSE(m->NeedsReencryption(1, 2));

  // A second non-secure leg: already non-secure, only it is told.
  ASSERT_TRUE(m.Join(Room(4, 1, /*secure=*/false), 20).ok());
  EXPECT_TRUE(Logs(m.last()).empty());
  EXPECT_EQ(Notifies(m.last()), (Notes{{4, false}}));
  // One of them leaves: still a non-secure leg in, nothing changes.
  ASSERT_TRUE(m.Leave(3, 30).ok());
  EXPECT_TRUE(Notifies(m.last()).empty());
  EXPECT_FALSE(m->secure());

  // The last non-secure leg goes silent and is removed by the media timeout: upgrade. Everyone
  // else keeps sending.
  for (int64_t t = 40; t < 10000; t += 1000) {
    for (uint32_t ssrc : {Mic(1), Mic(2)}) m.OnAudioLevel(ssrc, 0, t);
  }
  m.TakeEvents();
  m.Tick(10020);  // room 4 joined at 20: exactly the timeout, still in
  ASSERT_EQ(m.last().size(), 0u);
  m.Tick(10021);
  std::vector<Event> ev = m.last();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].kind, Kind::kLegRemoved);
  EXPECT_EQ(ev[0].text, "Media Timeout occurred for call : called num = 13104");
  EXPECT_EQ(Logs(ev),
            (Lines{"Conference Manager Conf Id 8001: will upgrade security from non-secure to "
                   "secure. All existing endpoints will be upgraded to secure."}));
  EXPECT_EQ(Notifies(ev), (Notes{{1, true}, {2, true}}));
  EXPECT_TRUE(m->secure());
  EXPECT_TRUE(m->MayReceiveGroupKey(1));
}

TEST(MeetingSecurityTest, NonSecureMeetingTellsEveryLegNonSecure) {
  CheckedMeeting m(Config(SecurityPolicy::kNonSecure));
  EXPECT_FALSE(m->secure());
  ASSERT_TRUE(m.Join(Room(1, 3), 0).ok());  // secure legs may join
  EXPECT_EQ(Notifies(m.last()), (Notes{{1, false}}));
  ASSERT_TRUE(m.Join(Room(2, 1, /*secure=*/false), 0).ok());
  EXPECT_EQ(Notifies(m.last()), (Notes{{2, false}}));
  ASSERT_TRUE(m.Join(Room(3, 1), 0).ok());
  EXPECT_EQ(Notifies(m.last()), (Notes{{3, false}}));
  ASSERT_TRUE(m.Leave(2, 10).ok());
  EXPECT_TRUE(Notifies(m.last()).empty());  // policy non-secure: no upgrade
  EXPECT_TRUE(Logs(m.last()).empty());
  EXPECT_FALSE(m->secure());
  EXPECT_FALSE(m->MayReceiveGroupKey(1));
  EXPECT_FALSE(m->MayReceiveGroupKey(3));
}

TEST(MeetingSecurityTest, EmptiedBestEffortMeetingStartsAfresh) {
  CheckedMeeting m(Config(SecurityPolicy::kBestEffort));
  ASSERT_TRUE(m.Join(Room(1, 1, /*secure=*/false), 0).ok());
  ASSERT_TRUE(m.Leave(1, 10).ok());
  EXPECT_TRUE(m.last().empty());  // nobody to tell
  EXPECT_TRUE(m->secure());
  ASSERT_TRUE(m.Join(Room(2, 1), 20).ok());
  EXPECT_TRUE(Logs(m.last()).empty());
  EXPECT_EQ(Notifies(m.last()), (Notes{{2, true}}));
}

TEST(MeetingSecurityTest, ReencryptionMatrix) {
  CheckedMeeting m(Config(SecurityPolicy::kNonSecure));
  ASSERT_TRUE(m.Join(Room(1, 1, true), 0).ok());
  ASSERT_TRUE(m.Join(Room(2, 1, false), 0).ok());
  EXPECT_TRUE(m->NeedsReencryption(1, 2));
  EXPECT_FALSE(m->NeedsReencryption(2, 1));
  EXPECT_FALSE(m->NeedsReencryption(1, 1));
  EXPECT_FALSE(m->NeedsReencryption(2, 2));
  EXPECT_FALSE(m->NeedsReencryption(1, 9));
  EXPECT_FALSE(m->MayReceiveGroupKey(9));
}

// ---------------------------------------------------------------------------------------------
// Determinism: the same inputs give the same outputs.

std::vector<std::string> Script() {
  Driver d(Config(SecurityPolicy::kBestEffort));
  JoinMixedRooms(d);
  d.Join(Room(5, 1, false, true));
  d.Level(Mic(3), 60);
  d.presenting.insert(PresVideo(5));
  d.RunUntil(3000);
  d.SetMode(SwitchingMode::kSite);
  d.Level(Mic(2, kR), 70);
  d.RunUntil(6000);
  d.Leave(3);
  d.RunUntil(8000);
  std::vector<std::string> out;
  for (const auto& [t, e] : d.log) out.push_back(absl::StrFormat("%d %s", t, testing::ToString(e)));
  return out;
}

TEST(MeetingDeterminismTest, SameInputsSameEvents) {
  const std::vector<std::string> a = Script();
  const std::vector<std::string> b = Script();
  EXPECT_GT(a.size(), 20u);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace mpswitch::control
