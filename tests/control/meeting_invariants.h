// Invariants of a Meeting's decisions, checked after every call (header-only, GoogleTest
// EXPECT-based, so any test that drives a Meeting can use it: scenario tests, the random-sequence
// property test, and dataplane tests that turn the decisions into routes).
//
// Use `CheckedMeeting` (a Meeting whose every call is recorded and checked), or drive an
// `InvariantChecker` by hand: for each call on the meeting, first Record...() its input, then make
// the call, then Check(meeting, meeting.TakeEvents()).
//
// What is checked, from the inputs alone (never from the meeting's internals):
// - Video: a display gets a new shown source only with a kVideoSwitched event, and only if an
//   IDR/GDR-flagged packet of that source arrived at or after the switch was decided (the display
//   became pending on it), or the refresh timeout expired (kSwitchTimedOut, counted in
//   switch_timeouts()); nothing stays pending longer than the timeout; a source newly waited for
//   is asked for a refresh exactly once, and again only after a wait for it timed out; a source
//   nobody waits for is never asked.
// - Nobody sees or hears itself; nothing of a departed leg is shown, pending or heard; a stream is
//   shown on at most one display of a receiver; cameras go to camera displays (a three-screen
//   receiver's display P shows position-P cameras only), presentation video only to kAux and only
//   while its presenter is sending.
// - Audio: the N loudest set is full (min(N, microphones of the others)), presentation audio of
//   every other leg is always there.
// - Security: MayReceiveGroupKey never true for a non-secure leg (and exactly "secure leg in a
//   secure meeting"), NeedsReencryption exactly "secure sender, non-secure receiver", the state
//   matches the policy (best-effort: secure iff every leg is), every leg was last told the
//   current state, refusals come with kLegRefused.
// - Liveness: every leg had media within media_timeout_ms; a kLegRemoved leg had none for longer
//   and its text is the exact log line.
// - version() increases whenever a decision changed.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "mpswitch/control/meeting.h"

namespace mpswitch::control::testing {

inline std::string ToString(const std::optional<StreamRef>& s) {
  if (!s) return "none";
  return absl::StrFormat("{leg %d %s ssrc 0x%x}", s->leg, PositionName(s->position), s->ssrc);
}

inline std::string ToString(const Event& e) {
  return absl::StrFormat("%s leg=%d ssrc=0x%x pos=%s secure=%d text=\"%s\"", EventKindName(e.kind),
                         e.leg, e.ssrc, PositionName(e.position), e.secure, e.text);
}

class InvariantChecker {
 public:
  explicit InvariantChecker(const MeetingConfig& config)
      : config_(config), secure_(config.policy != SecurityPolicy::kNonSecure) {}

  // Inputs: record each before making the call, then Check after it.
  void RecordJoin(const LegConfig& leg, int64_t now) {
    Reset(now);
    input_.join = leg;
  }
  void RecordJoinResult(const absl::StatusOr<LegId>& result) { input_.join_result = result; }
  void RecordLeave(LegId leg, int64_t now) {
    Reset(now);
    input_.leave = leg;
  }
  void RecordLeaveResult(const absl::Status& result) { input_.leave_result = result; }
  void RecordAudioLevel(uint32_t ssrc, uint8_t level, int64_t now) {
    Reset(now);
    input_.ssrc = ssrc;
    input_.level = level;
  }
  void RecordVideoPacket(uint32_t ssrc, uint8_t refresh_flag, int64_t now) {
    Reset(now);
    input_.ssrc = ssrc;
    input_.refresh_flag = refresh_flag;
  }
  void RecordMedia(uint32_t ssrc, int64_t now) {
    Reset(now);
    input_.ssrc = ssrc;
  }
  // Tick, SetMode: only the clock moves.
  void RecordTime(int64_t now) { Reset(now); }
  // SetLocked: no clock.
  void RecordLock(bool locked) {
    Reset(now_);
    locked_ = locked;
  }

  void Check(const Meeting& m, const std::vector<Event>& events) {
    SCOPED_TRACE(absl::StrFormat("at t=%d", now_));
    const MeetingConfig& cfg = config_;
    EXPECT_GE(m.version(), version_) << "version went backwards";

    // 1. What happened before the input was applied: media timeouts and refresh timeouts, both
    //    judged against the state after the previous call.
    for (size_t i = 0; i < events.size(); ++i) {
      const Event& e = events[i];
      if (e.kind == Event::Kind::kLegRemoved) {
        auto it = legs_.find(e.leg);
        if (it == legs_.end()) {
          ADD_FAILURE() << "kLegRemoved for a leg not in the meeting: " << ToString(e);
          continue;
        }
        EXPECT_GT(now_ - it->second.last_media, cfg.media_timeout_ms)
            << "leg " << e.leg << " removed although it sent media at " << it->second.last_media;
        EXPECT_EQ(e.text, "Media Timeout occurred for call : called num = " +
                              it->second.config.called_number);
        DropLeg(e.leg);
      }
      if (e.kind == Event::Kind::kSwitchTimedOut) {
        ++timeouts_;
        auto prev = displays_.find({e.leg, e.position});
        const bool was_pending =
            prev != displays_.end() && prev->second.pending && prev->second.pending->ssrc == e.ssrc;
        EXPECT_TRUE(was_pending) << "switch timed out on a source the display was not waiting for: "
                                 << ToString(e);
        if (was_pending) {
          EXPECT_GT(now_ - prev->second.pending_since, cfg.refresh_timeout_ms)
              << "switched anyway before the refresh timeout: " << ToString(e);
        }
        const bool followed = i + 1 < events.size() &&
                              events[i + 1].kind == Event::Kind::kVideoSwitched &&
                              events[i + 1].leg == e.leg && events[i + 1].ssrc == e.ssrc &&
                              events[i + 1].position == e.position;
        EXPECT_TRUE(followed) << "kSwitchTimedOut not followed by its kVideoSwitched: "
                              << ToString(e);
      }
    }

    // 2. The input itself.
    ApplyInput(m, events);

    // 3. Events of the call.
    std::map<std::pair<LegId, Position>, uint32_t> switched;  // last switch per display
    std::map<uint32_t, int> requests;
    for (size_t i = 0; i < events.size(); ++i) {
      const Event& e = events[i];
      switch (e.kind) {
        case Event::Kind::kVideoSwitched: {
          switched[{e.leg, e.position}] = e.ssrc;
          EXPECT_NE(OwnerOf(e.ssrc), e.leg) << "a leg switched to its own stream: " << ToString(e);
          const bool timed_out = i > 0 && events[i - 1].kind == Event::Kind::kSwitchTimedOut &&
                                 events[i - 1].leg == e.leg && events[i - 1].ssrc == e.ssrc &&
                                 events[i - 1].position == e.position;
          if (timed_out) break;
          auto prev = displays_.find({e.leg, e.position});
          const int64_t decided = prev != displays_.end() && prev->second.pending &&
                                          prev->second.pending->ssrc == e.ssrc
                                      ? prev->second.pending_since
                                      : now_;
          auto idr = last_refresh_.find(e.ssrc);
          EXPECT_TRUE(idr != last_refresh_.end() && idr->second >= decided)
              << "switched without an IDR/GDR of the new source at or after the decision (t="
              << decided << "): " << ToString(e);
          break;
        }
        case Event::Kind::kRefreshRequest: {
          ++requests[e.ssrc];
          std::optional<StreamRef> s = m.Find(e.ssrc);
          EXPECT_TRUE(s && s->leg == e.leg && s->position == e.position)
              << "refresh request names a stream that is not in the meeting: " << ToString(e);
          break;
        }
        case Event::Kind::kSpeakerChanged: {
          std::optional<StreamRef> s = m.Find(e.ssrc);
          EXPECT_TRUE(s && s->leg == e.leg) << ToString(e);
          break;
        }
        case Event::Kind::kSecurityNotify:
          notified_[e.leg] = e.secure;
          break;
        case Event::Kind::kLegRefused:
          EXPECT_TRUE(input_.join.has_value()) << "kLegRefused outside Join: " << ToString(e);
          EXPECT_EQ(e.leg, 0u);
          EXPECT_FALSE(e.text.empty());
          break;
        case Event::Kind::kLegRemoved:
        case Event::Kind::kSwitchTimedOut:
        case Event::Kind::kLog:
          break;
      }
    }
    EXPECT_EQ(m.switch_timeouts(), timeouts_) << "switch_timeouts() disagrees with the events";

    // 4. Legs.
    std::vector<LegId> expected_legs;
    for (const auto& [id, l] : legs_) expected_legs.push_back(id);
    EXPECT_EQ(m.legs(), expected_legs) << "legs differ from joins minus leaves and timeouts";
    for (const auto& [id, l] : legs_) {
      EXPECT_NE(m.leg(id), nullptr);
      EXPECT_LE(now_ - l.last_media, cfg.media_timeout_ms)
          << "leg " << id << " silent since " << l.last_media << " is still in the meeting";
    }

    // 5. Displays.
    std::map<std::pair<LegId, Position>, Display> displays;
    std::set<uint32_t> waited;
    for (const auto& [rid, r] : legs_) {
      std::vector<Position> positions = {Position::kCenter};
      if (r.config.screens == 3) positions = {Position::kCenter, Position::kLeft, Position::kRight};
      positions.push_back(Position::kAux);
      std::set<uint32_t> shown_here;
      std::set<uint32_t> pending_here;
      for (Position p : positions) {
        SCOPED_TRACE(absl::StrFormat("receiver %d display %s", rid, PositionName(p)));
        const Display& d = m.display(rid, p);
        displays[{rid, p}] = d;
        CheckSource(m, rid, r, p, d.shown, "shown");
        CheckSource(m, rid, r, p, d.pending, "pending");
        if (d.shown) {
          EXPECT_TRUE(shown_here.insert(d.shown->ssrc).second)
              << "stream shown on two displays of one receiver: " << ToString(d.shown);
          if (p == Position::kAux) {
            auto pl = legs_.find(d.shown->leg);
            EXPECT_TRUE(pl != legs_.end() && pl->second.presentation_last &&
                        now_ - *pl->second.presentation_last <= cfg.media_timeout_ms)
                << "presentation shown while its presenter is quiet";
          }
        }
        if (d.pending) {
          EXPECT_NE(d.shown, d.pending) << "pending on what is already shown";
          EXPECT_LE(d.pending_since, now_);
          EXPECT_LE(now_ - d.pending_since, cfg.refresh_timeout_ms)
              << "still pending after the refresh timeout";
          EXPECT_TRUE(pending_here.insert(d.pending->ssrc).second);
          waited.insert(d.pending->ssrc);
        }
        auto prev = displays_.find({rid, p});
        const std::optional<StreamRef> before =
            prev == displays_.end() ? std::nullopt : prev->second.shown;
        if (d.shown && d.shown != before) {
          auto sw = switched.find({rid, p});
          EXPECT_TRUE(sw != switched.end() && sw->second == d.shown->ssrc)
              << "new shown source " << ToString(d.shown) << " without its kVideoSwitched";
        }
      }
      for (Position p : {Position::kLeft, Position::kRight}) {
        if (r.config.screens == 1) {
          const Display& d = m.display(rid, p);
          EXPECT_FALSE(d.shown || d.pending) << "one-screen receiver has a side display";
        }
      }
    }
    for (uint32_t ssrc : waited) {
      if (waited_.count(ssrc) == 0) {
        EXPECT_EQ(requests[ssrc], 1) << "source 0x" << std::hex << ssrc
                                     << " newly waited for: exactly one kRefreshRequest expected";
      }
    }
    for (const auto& [ssrc, n] : requests) {
      EXPECT_LE(n, 1) << "several refresh requests in one call for 0x" << std::hex << ssrc;
      EXPECT_TRUE(waited.count(ssrc))
          << "refresh requested for 0x" << std::hex << ssrc << " which no display waits for";
      // Asked again while still waited for: only because the earlier request evidently got
      // lost (a display's wait for it timed out in this call).
      if (waited_.count(ssrc)) {
        const bool timed_out = std::any_of(events.begin(), events.end(), [&](const Event& e) {
          return e.kind == Event::Kind::kSwitchTimedOut && e.ssrc == ssrc;
        });
        EXPECT_TRUE(timed_out) << "refresh requested again for 0x" << std::hex << ssrc
                               << " within one pending period";
      }
    }

    // 6. Audio.
    std::map<LegId, std::vector<StreamRef>> audio;
    for (const auto& [rid, r] : legs_) {
      SCOPED_TRACE(absl::StrFormat("audio for receiver %d", rid));
      std::vector<StreamRef> a = m.audio_for(rid);
      audio[rid] = a;
      std::set<uint32_t> seen;
      size_t microphones = 0;
      for (const StreamRef& s : a) {
        EXPECT_NE(s.leg, rid) << "a leg hears itself: " << ToString(s);
        EXPECT_TRUE(seen.insert(s.ssrc).second) << "audio stream twice: " << ToString(s);
        auto kind = KindOf(s.ssrc);
        EXPECT_TRUE(kind == Kind::kMicrophone || kind == Kind::kPresentationAudio)
            << "not an audio stream of a leg in the meeting: " << ToString(s);
        if (kind == Kind::kMicrophone && !SaysPresentation(s.ssrc)) ++microphones;
      }
      size_t candidates = 0;
      for (const auto& [oid, o] : legs_) {
        if (oid == rid) continue;
        for (const auto& [p, ssrc] : o.config.audio) {
          if (SaysPresentation(ssrc)) {
            EXPECT_TRUE(seen.count(ssrc))
                << "99-flagged audio 0x" << std::hex << ssrc << " not forwarded";
          } else {
            ++candidates;
          }
        }
        if (o.config.presentation_audio) {
          EXPECT_TRUE(seen.count(*o.config.presentation_audio))
              << "presentation audio of leg " << oid << " not forwarded";
        }
      }
      EXPECT_EQ(microphones,
                std::min<size_t>(candidates, static_cast<size_t>(std::max(cfg.loudest_audio, 0))))
          << "the loudest-N set is not full";
    }

    // 7. Security.
    bool all_secure = true;
    for (const auto& [id, l] : legs_) all_secure = all_secure && l.config.secure;
    switch (cfg.policy) {
      case SecurityPolicy::kSecure:
        EXPECT_TRUE(m.secure());
        EXPECT_TRUE(all_secure) << "a non-secure leg is in a secure meeting";
        break;
      case SecurityPolicy::kNonSecure:
        EXPECT_FALSE(m.secure());
        break;
      case SecurityPolicy::kBestEffort:
        EXPECT_EQ(m.secure(), all_secure) << "best-effort meeting must be secure iff every leg is";
        break;
    }
    for (const auto& [id, l] : legs_) {
      EXPECT_EQ(m.MayReceiveGroupKey(id), m.secure() && l.config.secure)
          << "MayReceiveGroupKey(" << id << ")";
      if (!l.config.secure) {
        EXPECT_FALSE(m.MayReceiveGroupKey(id)) << "group key for non-secure leg " << id;
      }
      auto n = notified_.find(id);
      EXPECT_TRUE(n != notified_.end() && n->second == m.secure())
          << "leg " << id << " was not told the current security state";
      for (const auto& [oid, o] : legs_) {
        EXPECT_EQ(m.NeedsReencryption(oid, id), o.config.secure && !l.config.secure)
            << "NeedsReencryption(" << oid << ", " << id << ")";
      }
    }
    // Within one call the state may flip twice (a timeout upgrades, then the joining leg
    // downgrades again), so transitions are read from the log lines as well.
    const bool transition = std::any_of(events.begin(), events.end(), [](const Event& e) {
      return e.kind == Event::Kind::kLog && e.text.find("security from") != std::string::npos;
    });
    const bool secure_changed = m.secure() != secure_ || transition;
    if (cfg.policy == SecurityPolicy::kBestEffort && secure_ && !m.secure()) {
      const bool logged = std::any_of(events.begin(), events.end(), [](const Event& e) {
        return e.kind == Event::Kind::kLog &&
               (e.text.find("will downgrade security from secure to non-secure") !=
                    std::string::npos ||
                e.text.find("will start as non-secure") != std::string::npos);
      });
      EXPECT_TRUE(logged) << "best-effort meeting went non-secure without its log line";
    }
    for (const Event& e : events) {
      if (e.kind != Event::Kind::kSecurityNotify) continue;
      const bool joined_now =
          input_.join_result && input_.join_result->ok() && e.leg == **input_.join_result;
      EXPECT_TRUE(joined_now || secure_changed)
          << "security notification without a join or a change: " << ToString(e);
    }

    // 8. Version.
    const bool changed = !Same(displays, displays_) || audio != audio_ || m.secure() != secure_ ||
                         expected_legs != legs_seen_;
    if (changed) {
      EXPECT_GT(m.version(), version_) << "a decision changed but version() did not";
    }

    displays_ = std::move(displays);
    audio_ = std::move(audio);
    secure_ = m.secure();
    legs_seen_ = std::move(expected_legs);
    version_ = m.version();
    waited_ = std::move(waited);
  }

 private:
  enum class Kind { kNone, kCamera, kMicrophone, kPresentationVideo, kPresentationAudio };
  struct Leg {
    LegConfig config;
    int64_t last_media = 0;
    std::optional<int64_t> presentation_last;
  };
  struct Input {
    std::optional<LegConfig> join;
    std::optional<absl::StatusOr<LegId>> join_result;
    std::optional<LegId> leave;
    std::optional<absl::Status> leave_result;
    std::optional<uint32_t> ssrc;
    std::optional<uint8_t> level;
    std::optional<uint8_t> refresh_flag;
  };

  using DisplayMap = std::map<std::pair<LegId, Position>, Display>;
  static bool Same(const DisplayMap& a, const DisplayMap& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
      return x.first == y.first && x.second.shown == y.second.shown &&
             x.second.pending == y.second.pending &&
             (!x.second.pending || x.second.pending_since == y.second.pending_since);
    });
  }

  void Reset(int64_t now) {
    input_ = Input{};
    now_ = std::max(now_, now);
  }

  void DropLeg(LegId id) {
    auto it = legs_.find(id);
    if (it == legs_.end()) return;
    for (auto s = owner_.begin(); s != owner_.end();) {
      s = s->second.first == id ? owner_.erase(s) : std::next(s);
    }
    legs_.erase(it);
    notified_.erase(id);
  }

  LegId OwnerOf(uint32_t ssrc) const {
    auto it = owner_.find(ssrc);
    return it == owner_.end() ? 0 : it->second.first;
  }
  Kind KindOf(uint32_t ssrc) const {
    auto it = owner_.find(ssrc);
    return it == owner_.end() ? Kind::kNone : it->second.second;
  }
  bool SaysPresentation(uint32_t ssrc) const {
    auto it = last_level_.find(ssrc);
    return it != last_level_.end() && it->second == kPresentationActivity;
  }

  void ApplyInput(const Meeting& m, const std::vector<Event>& events) {
    if (input_.join) {
      EXPECT_TRUE(input_.join_result.has_value()) << "RecordJoinResult missing";
      const bool refused = std::any_of(events.begin(), events.end(), [](const Event& e) {
        return e.kind == Event::Kind::kLegRefused;
      });
      if (input_.join_result && input_.join_result->ok()) {
        const LegId id = **input_.join_result;
        EXPECT_GT(id, max_leg_) << "leg id reused or not increasing";
        max_leg_ = std::max(max_leg_, id);
        EXPECT_FALSE(refused);
        EXPECT_FALSE(locked_) << "joined a locked meeting";
        EXPECT_FALSE(config_.policy == SecurityPolicy::kSecure && !input_.join->secure)
            << "non-secure leg joined a secure meeting";
        Leg& l = legs_[id];
        l.config = *input_.join;
        l.last_media = now_;
        for (const auto& [p, ssrc] : l.config.video) owner_[ssrc] = {id, Kind::kCamera};
        for (const auto& [p, ssrc] : l.config.audio) owner_[ssrc] = {id, Kind::kMicrophone};
        if (l.config.presentation_video) {
          owner_[*l.config.presentation_video] = {id, Kind::kPresentationVideo};
        }
        if (l.config.presentation_audio) {
          owner_[*l.config.presentation_audio] = {id, Kind::kPresentationAudio};
        }
        const bool told = std::any_of(events.begin(), events.end(), [&](const Event& e) {
          return e.kind == Event::Kind::kSecurityNotify && e.leg == id;
        });
        EXPECT_TRUE(told) << "new leg " << id << " got no kSecurityNotify";
      } else if (input_.join_result) {
        const absl::Status& s = input_.join_result->status();
        EXPECT_EQ(refused, absl::IsFailedPrecondition(s))
            << "a refusal (FailedPrecondition) comes with kLegRefused, nothing else does: " << s;
      }
    }
    if (input_.leave) {
      EXPECT_TRUE(input_.leave_result.has_value()) << "RecordLeaveResult missing";
      const bool present = legs_.count(*input_.leave) != 0;
      if (input_.leave_result) {
        EXPECT_EQ(input_.leave_result->ok(), present) << *input_.leave_result;
        if (!input_.leave_result->ok()) {
          EXPECT_TRUE(absl::IsNotFound(*input_.leave_result)) << *input_.leave_result;
        }
      }
      DropLeg(*input_.leave);
    }
    if (input_.ssrc) {
      auto it = owner_.find(*input_.ssrc);
      if (it != owner_.end()) {
        Leg& l = legs_.at(it->second.first);
        l.last_media = now_;
        if (it->second.second == Kind::kPresentationVideo) l.presentation_last = now_;
        if (input_.level && (it->second.second == Kind::kMicrophone ||
                             it->second.second == Kind::kPresentationAudio)) {
          last_level_[*input_.ssrc] = *input_.level;
        }
        const bool video =
            it->second.second == Kind::kCamera || it->second.second == Kind::kPresentationVideo;
        if (video && input_.refresh_flag &&
            (*input_.refresh_flag == 1 || *input_.refresh_flag == 2)) {
          last_refresh_[*input_.ssrc] = now_;
        }
      }
    }
    (void)m;
  }

  void CheckSource(const Meeting& m, LegId rid, const Leg& r, Position p,
                   const std::optional<StreamRef>& s, const char* what) {
    if (!s) return;
    SCOPED_TRACE(absl::StrFormat("%s %s", what, ToString(s)));
    EXPECT_NE(s->leg, rid) << "a leg sees itself";
    EXPECT_TRUE(legs_.count(s->leg)) << "stream of a leg that is not in the meeting";
    EXPECT_EQ(OwnerOf(s->ssrc), s->leg) << "stream does not belong to the leg it names";
    EXPECT_EQ(m.Find(s->ssrc), s) << "Find disagrees with the display";
    const Kind k = KindOf(s->ssrc);
    if (p == Position::kAux) {
      EXPECT_EQ(k, Kind::kPresentationVideo) << "aux display shows something else";
      EXPECT_EQ(s->position, Position::kAux);
    } else {
      EXPECT_EQ(k, Kind::kCamera) << "camera display shows something else";
      if (r.config.screens == 3) {
        EXPECT_EQ(s->position, p) << "three-screen display shows another position's camera";
      }
    }
  }

  MeetingConfig config_;
  int64_t now_ = INT64_MIN;
  bool locked_ = false;
  Input input_;
  std::map<LegId, Leg> legs_;
  std::map<uint32_t, std::pair<LegId, Kind>> owner_;
  std::map<uint32_t, int64_t> last_refresh_;  // last IDR/GDR-flagged packet per source
  std::map<uint32_t, uint8_t> last_level_;
  std::map<LegId, bool> notified_;
  std::map<std::pair<LegId, Position>, Display> displays_;
  std::map<LegId, std::vector<StreamRef>> audio_;
  std::set<uint32_t> waited_;
  std::vector<LegId> legs_seen_;
  bool secure_ = false;
  uint64_t version_ = 0;
  uint64_t timeouts_ = 0;
  LegId max_leg_ = 0;
};

// A Meeting whose every call is recorded and checked. Events are kept: `last()` holds those of
// the latest call, `TakeEvents()` everything since it was last called.
class CheckedMeeting {
 public:
  explicit CheckedMeeting(MeetingConfig config) : meeting_(config), checker_(config) {}

  absl::StatusOr<LegId> Join(const LegConfig& leg, int64_t now) {
    checker_.RecordJoin(leg, now);
    absl::StatusOr<LegId> r = meeting_.Join(leg, now);
    checker_.RecordJoinResult(r);
    Finish();
    return r;
  }
  absl::Status Leave(LegId leg, int64_t now) {
    checker_.RecordLeave(leg, now);
    absl::Status s = meeting_.Leave(leg, now);
    checker_.RecordLeaveResult(s);
    Finish();
    return s;
  }
  void SetMode(SwitchingMode mode, int64_t now) {
    checker_.RecordTime(now);
    meeting_.SetMode(mode, now);
    Finish();
  }
  void SetLocked(bool locked) {
    checker_.RecordLock(locked);
    meeting_.SetLocked(locked);
    Finish();
  }
  void OnAudioLevel(uint32_t ssrc, uint8_t level, int64_t now) {
    checker_.RecordAudioLevel(ssrc, level, now);
    meeting_.OnAudioLevel(ssrc, level, now);
    Finish();
  }
  void OnVideoPacket(uint32_t ssrc, uint8_t refresh_flag, int64_t now) {
    checker_.RecordVideoPacket(ssrc, refresh_flag, now);
    meeting_.OnVideoPacket(ssrc, refresh_flag, now);
    Finish();
  }
  void OnMedia(uint32_t ssrc, int64_t now) {
    checker_.RecordMedia(ssrc, now);
    meeting_.OnMedia(ssrc, now);
    Finish();
  }
  void Tick(int64_t now) {
    checker_.RecordTime(now);
    meeting_.Tick(now);
    Finish();
  }

  const Meeting& meeting() const { return meeting_; }
  const Meeting* operator->() const { return &meeting_; }
  const std::vector<Event>& last() const { return last_; }
  std::vector<Event> TakeEvents() {
    std::vector<Event> out;
    out.swap(all_);
    return out;
  }

 private:
  void Finish() {
    last_ = meeting_.TakeEvents();
    checker_.Check(meeting_, last_);
    all_.insert(all_.end(), last_.begin(), last_.end());
  }

  Meeting meeting_;
  InvariantChecker checker_;
  std::vector<Event> last_;
  std::vector<Event> all_;
};

}  // namespace mpswitch::control::testing
