#include "mpswitch/control/meeting.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"

namespace mpswitch::control {
namespace {

constexpr Position kScreenPositions[] = {Position::kCenter, Position::kLeft, Position::kRight};

constexpr int64_t kMaxWindowMs = 60000;

// Contest candidates are segments (leg, position) or sites (leg). A segment id keeps the leg in
// the high bits so it can be read back without a table.
uint64_t SegmentId(LegId leg, Position p) { return (uint64_t{leg} << 8) | static_cast<uint8_t>(p); }
LegId SegmentLeg(uint64_t segment) { return static_cast<LegId>(segment >> 8); }
Position SegmentPosition(uint64_t segment) { return static_cast<Position>(segment & 0xff); }

size_t ContestIndex(Position p) { return static_cast<size_t>(p) - 1; }

std::string Describe(const LegConfig& leg) {
  return absl::StrFormat("endpoint %s (call id=%s, Num=%s)", leg.endpoint_name, leg.call_id,
                         leg.called_number);
}

MeetingConfig Clamped(MeetingConfig c) {
  c.speaker.window_ms = std::clamp<int64_t>(c.speaker.window_ms, 1, kMaxWindowMs);
  c.speaker.sample_hold_ms = std::clamp<int64_t>(c.speaker.sample_hold_ms, 1, kMaxWindowMs);
  c.speaker.hysteresis = std::clamp(c.speaker.hysteresis, 0, int{kMaxActivity});
  c.speaker.min_hold_ms = std::max<int64_t>(c.speaker.min_hold_ms, 0);
  c.loudest_audio = std::max(c.loudest_audio, 0);
  c.refresh_timeout_ms = std::max<int64_t>(c.refresh_timeout_ms, 0);
  c.media_timeout_ms = std::max<int64_t>(c.media_timeout_ms, 1);
  return c;
}

}  // namespace

const char* PositionName(Position p) {
  switch (p) {
    case Position::kCenter:
      return "center";
    case Position::kLeft:
      return "left";
    case Position::kRight:
      return "right";
    case Position::kAux:
      return "aux";
  }
  return "unknown";
}

const char* SwitchingModeName(SwitchingMode m) {
  return m == SwitchingMode::kSegment ? "segment" : "site";
}

const char* EventKindName(Event::Kind k) {
  switch (k) {
    case Event::Kind::kRefreshRequest:
      return "refresh_request";
    case Event::Kind::kVideoSwitched:
      return "video_switched";
    case Event::Kind::kSwitchTimedOut:
      return "switch_timed_out";
    case Event::Kind::kSpeakerChanged:
      return "speaker_changed";
    case Event::Kind::kSecurityNotify:
      return "security_notify";
    case Event::Kind::kLegRefused:
      return "leg_refused";
    case Event::Kind::kLegRemoved:
      return "leg_removed";
    case Event::Kind::kLog:
      return "log";
    case Event::Kind::kGroupKey:
      return "group_key";
  }
  return "unknown";
}

absl::Status ValidateMeetingConfig(const MeetingConfig& c) {
  if (c.conference_id.empty()) {
    return absl::InvalidArgumentError(
        "conference_id is empty: the operator log lines and TIP name the conference by it");
  }
  if (c.speaker.window_ms < 1 || c.speaker.window_ms > kMaxWindowMs) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "speaker.window_ms = %d: the level averaging window must be 1..%d ms (default 500)",
        c.speaker.window_ms, kMaxWindowMs));
  }
  if (c.speaker.sample_hold_ms < 1 || c.speaker.sample_hold_ms > kMaxWindowMs) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "speaker.sample_hold_ms = %d: an activity sample must stand for 1..%d ms (default 100)",
        c.speaker.sample_hold_ms, kMaxWindowMs));
  }
  if (c.speaker.hysteresis < 0 || c.speaker.hysteresis > kMaxActivity) {
    return absl::InvalidArgumentError(
        absl::StrFormat("speaker.hysteresis = %d: must be 0..100 activity points (default 6)",
                        c.speaker.hysteresis));
  }
  if (c.speaker.min_hold_ms < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "speaker.min_hold_ms = %d: must be >= 0 (default 1500)", c.speaker.min_hold_ms));
  }
  if (c.loudest_audio < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "loudest_audio = %d: the number of audio streams forwarded must be >= 0 (default 3)",
        c.loudest_audio));
  }
  if (c.refresh_timeout_ms < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "refresh_timeout_ms = %d: must be >= 0 (default 1000)", c.refresh_timeout_ms));
  }
  if (c.media_timeout_ms < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("media_timeout_ms = %d: must be >= 1 (default 10000)", c.media_timeout_ms));
  }
  return absl::OkStatus();
}

Meeting::Meeting(MeetingConfig config)
    : config_(Clamped(std::move(config))),
      secure_(config_.policy != SecurityPolicy::kNonSecure),
      position_contests_{SpeakerContest(config_.speaker), SpeakerContest(config_.speaker),
                         SpeakerContest(config_.speaker)},
      any_contest_(config_.speaker),
      site_contest_(config_.speaker) {}

// ---------------------------------------------------------------------------------------------
// Public calls: Begin (clock and timers), the input, Decide, Publish.

absl::StatusOr<LegId> Meeting::Join(const LegConfig& leg, int64_t now) {
  Begin(now);
  absl::StatusOr<LegId> id = AddLeg(leg);
  Decide();
  Publish();
  return id;
}

absl::Status Meeting::Leave(LegId leg, int64_t now) {
  Begin(now);
  absl::Status status;
  if (legs_.count(leg) == 0) {
    status = absl::NotFoundError(absl::StrFormat(
        "leg %d is not in conference %s (never joined, already left, or removed by a media "
        "timeout: see its kLegRemoved event)",
        leg, config_.conference_id));
  } else {
    RemoveLeg(leg);
  }
  Decide();
  Publish();
  return status;
}

void Meeting::SetMode(SwitchingMode mode, int64_t now) {
  Begin(now);
  if (mode != config_.mode) {
    config_.mode = mode;
    Emit({.kind = Event::Kind::kLog,
          .text = absl::StrFormat("Conf Id %s: switching mode changed to %s", config_.conference_id,
                                  SwitchingModeName(mode))});
  }
  Decide();
  Publish();
}

void Meeting::SetLocked(bool locked) { locked_ = locked; }

void Meeting::OnAudioLevel(uint32_t ssrc, uint8_t level, int64_t now) {
  Begin(now);
  Touch(ssrc);
  if (auto it = meters_.find(ssrc); it != meters_.end()) it->second.Add(level, now_);
  Decide();
  Publish();
}

void Meeting::OnVideoPacket(uint32_t ssrc, uint8_t refresh_flag, int64_t now) {
  Begin(now);
  Touch(ssrc);
  // Decide first: a presentation's very first packet is usually its IDR, and a display that
  // chooses this source now may take it as its switch point.
  Decide();
  auto it = streams_.find(ssrc);
  const bool video = it != streams_.end() && (it->second.kind == StreamKind::kVideo ||
                                              it->second.kind == StreamKind::kPresentationVideo);
  if (video && (refresh_flag == 1 || refresh_flag == 2)) SwitchOnRefresh(ssrc);
  Publish();
}

void Meeting::OnDisplaySwitched(LegId receiver, Position display, uint32_t ssrc, int64_t now) {
  Begin(now);
  Touch(ssrc);
  auto r = legs_.find(receiver);
  auto s = streams_.find(ssrc);
  if (r != legs_.end() && s != streams_.end() && s->second.leg != receiver) {
    auto d = r->second.displays.find(display);
    if (d != r->second.displays.end()) {
      // Applied before deciding again: the dataplane already shows it.
      const StreamRef ref{s->second.leg, s->second.position, ssrc};
      if (!d->second.shown || !(*d->second.shown == ref)) {
        d->second.shown = ref;
        Emit({.kind = Event::Kind::kVideoSwitched, .leg = receiver, .ssrc = ssrc,
              .position = display});
        changed_ = true;
      }
      if (d->second.pending && d->second.pending->ssrc == ssrc) {
        d->second.pending.reset();
        d->second.pending_since = 0;
        changed_ = true;
      }
    }
  }
  Decide();
  Publish();
}

void Meeting::OnRefreshAnswered(uint32_t ssrc, int64_t now) {
  Begin(now);
  // No longer outstanding: Publish asks again for any display still waiting for it.
  refresh_outstanding_.erase(ssrc);
  Decide();
  Publish();
}

void Meeting::OnMedia(uint32_t ssrc, int64_t now) {
  Begin(now);
  Touch(ssrc);
  Decide();
  Publish();
}

void Meeting::Tick(int64_t now) {
  Begin(now);
  Decide();
  Publish();
}

std::vector<Event> Meeting::TakeEvents() {
  std::vector<Event> out;
  out.swap(events_);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Accessors.

const Display& Meeting::display(LegId receiver, Position p) const {
  static const Display kNone;
  auto it = legs_.find(receiver);
  if (it == legs_.end()) return kNone;
  auto d = it->second.displays.find(p);
  return d == it->second.displays.end() ? kNone : d->second;
}

std::vector<StreamRef> Meeting::audio_for(LegId receiver) const {
  auto it = legs_.find(receiver);
  if (it == legs_.end()) return {};
  return it->second.audio;
}

std::vector<LegId> Meeting::legs() const {
  std::vector<LegId> out;
  out.reserve(legs_.size());
  for (const auto& [id, l] : legs_) out.push_back(id);
  return out;
}

const LegConfig* Meeting::leg(LegId id) const {
  auto it = legs_.find(id);
  return it == legs_.end() ? nullptr : &it->second.config;
}

std::optional<StreamRef> Meeting::Find(uint32_t ssrc) const {
  auto it = streams_.find(ssrc);
  if (it == streams_.end()) return std::nullopt;
  return StreamRef{it->second.leg, it->second.position, ssrc};
}

bool Meeting::MayReceiveGroupKey(LegId leg) const {
  auto it = legs_.find(leg);
  return secure_ && it != legs_.end() && it->second.config.secure;
}

bool Meeting::NeedsReencryption(LegId sender, LegId receiver) const {
  auto s = legs_.find(sender);
  auto r = legs_.find(receiver);
  if (s == legs_.end() || r == legs_.end()) return false;
  return s->second.config.secure && !r->second.config.secure;
}

std::optional<LegId> Meeting::active_speaker() const {
  std::optional<uint64_t> c = site_contest_.current();
  if (!c) return std::nullopt;
  return static_cast<LegId>(*c);
}

std::optional<LegId> Meeting::presenter() const {
  std::optional<LegId> best;
  uint64_t best_order = 0;
  for (const auto& [id, l] : legs_) {
    if (l.presenting && l.presentation_order > best_order) {
      best = id;
      best_order = l.presentation_order;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Legs.

absl::Status Meeting::ValidateLeg(const LegConfig& leg) const {
  const std::string who = Describe(leg);
  if (leg.screens != 1 && leg.screens != 3) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: screens = %d; a leg has 1 or 3 screens", who, leg.screens));
  }
  auto allowed = [&](Position p) {
    return p == Position::kCenter ||
           (leg.screens == 3 && (p == Position::kLeft || p == Position::kRight));
  };
  for (const auto& [what, streams] :
       {std::pair<const char*, const std::map<Position, uint32_t>*>{"camera", &leg.video},
        {"microphone", &leg.audio}}) {
    for (const auto& [p, ssrc] : *streams) {
      if (!allowed(p)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: a %d-screen leg has no %s %s (SSRC 0x%08x); %s", who, leg.screens, PositionName(p),
            what, ssrc,
            p == Position::kAux ? "presentation streams go in presentation_video/_audio"
                                : "one-screen legs have only a center camera and microphone"));
      }
    }
    if (streams->count(Position::kCenter) == 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: no center %s; every leg needs one", who, what));
    }
  }
  std::map<uint32_t, std::string> seen;
  auto claim = [&](uint32_t ssrc, std::string what) -> absl::Status {
    if (auto it = seen.find(ssrc); it != seen.end()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: SSRC 0x%08x is both its %s and its %s; every stream needs its own SSRC", who, ssrc,
          it->second, what));
    }
    if (auto it = streams_.find(ssrc); it != streams_.end()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: SSRC 0x%08x (%s) is already used by leg %d (endpoint %s) in conference %s; SSRCs "
          "must be unique within a meeting",
          who, ssrc, what, it->second.leg, legs_.at(it->second.leg).config.endpoint_name,
          config_.conference_id));
    }
    seen.emplace(ssrc, std::move(what));
    return absl::OkStatus();
  };
  for (const auto& [p, ssrc] : leg.video) {
    if (absl::Status s = claim(ssrc, absl::StrFormat("%s camera", PositionName(p))); !s.ok()) {
      return s;
    }
  }
  for (const auto& [p, ssrc] : leg.audio) {
    if (absl::Status s = claim(ssrc, absl::StrFormat("%s microphone", PositionName(p))); !s.ok()) {
      return s;
    }
  }
  if (leg.presentation_video) {
    if (absl::Status s = claim(*leg.presentation_video, "presentation video"); !s.ok()) return s;
  }
  if (leg.presentation_audio) {
    if (absl::Status s = claim(*leg.presentation_audio, "presentation audio"); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<LegId> Meeting::AddLeg(const LegConfig& leg) {
  if (absl::Status s = ValidateLeg(leg); !s.ok()) return s;
  if (locked_) {
    std::string text =
        absl::StrFormat("conference %s is locked: %s may not join until it is unlocked",
                        config_.conference_id, Describe(leg));
    Emit({.kind = Event::Kind::kLegRefused, .text = text});
    return absl::FailedPreconditionError(text);
  }
  if (config_.policy == SecurityPolicy::kSecure && !leg.secure) {
    std::string mismatch = absl::StrFormat(
        "Call in state=Connected, call id=%s, conference id = %s received error from Confmgr "
        "with error='security mismatch' during verification of security policy. Num=%s",
        leg.call_id, config_.conference_id, leg.called_number);
    std::string property =
        absl::StrFormat("The security property of conference %s does not allow endpoint %s to join",
                        config_.conference_id, leg.endpoint_name);
    Emit({.kind = Event::Kind::kLegRefused, .text = mismatch});
    Emit({.kind = Event::Kind::kLog, .text = property});
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s (%s): the meeting's policy is secure; the endpoint must negotiate SRTP with EKT "
        "(release 1.5 or later), or the meeting must be best-effort or non-secure",
        mismatch, property));
  }

  const bool first = legs_.empty();
  const LegId id = next_leg_++;
  LegState& s = legs_[id];
  s.config = leg;
  s.last_media = now_;
  for (Position p : kScreenPositions) {
    if (p == Position::kCenter || leg.screens == 3) s.displays[p] = Display{};
  }
  s.displays[Position::kAux] = Display{};

  for (const auto& [p, ssrc] : leg.video) streams_[ssrc] = {id, p, StreamKind::kVideo};
  for (const auto& [p, ssrc] : leg.audio) {
    streams_[ssrc] = {id, p, StreamKind::kAudio};
    meters_.emplace(ssrc, LevelMeter(config_.speaker));
  }
  if (leg.presentation_video) {
    streams_[*leg.presentation_video] = {id, Position::kAux, StreamKind::kPresentationVideo};
  }
  if (leg.presentation_audio) {
    streams_[*leg.presentation_audio] = {id, Position::kAux, StreamKind::kPresentationAudio};
    meters_.emplace(*leg.presentation_audio, LevelMeter(config_.speaker, /*presentation=*/true));
  }

  if (leg.screens == 3) s.segments.emplace(config_.speaker);
  for (Position p : kScreenPositions) {
    if (leg.video.count(p) == 0) continue;
    const uint64_t seg = SegmentId(id, p);
    position_contests_[ContestIndex(p)].Add(seg);
    any_contest_.Add(seg);
    if (s.segments) s.segments->Add(seg);
  }
  site_contest_.Add(id);
  changed_ = true;

  auto notify = [&](LegId target) {
    Emit({.kind = Event::Kind::kSecurityNotify, .leg = target, .secure = secure_});
  };
  switch (config_.policy) {
    case SecurityPolicy::kSecure:
    case SecurityPolicy::kNonSecure:
      notify(id);
      break;
    case SecurityPolicy::kBestEffort:
      if (first) {
        // The first leg starts the meeting: its security decides the meeting's.
        secure_ = leg.secure;
        if (!leg.secure) {
          Emit({.kind = Event::Kind::kLog,
                .text = absl::StrFormat("Conf Id %s: will start as non-secure",
                                        config_.conference_id)});
        }
        notify(id);
      } else if (secure_ && !leg.secure) {
        secure_ = false;
        Emit({.kind = Event::Kind::kLog,
              .text = absl::StrFormat(
                  "Conference Manager Conf Id %s: will downgrade security from secure to "
                  "non-secure. All existing endpoints will be downgraded to non-secure.",
                  config_.conference_id)});
        NotifyAll();
      } else {
        notify(id);
      }
      break;
  }
  return id;
}

void Meeting::NotifyAll() {
  for (const auto& [id, l] : legs_) {
    Emit({.kind = Event::Kind::kSecurityNotify, .leg = id, .secure = secure_});
  }
}

void Meeting::RemoveLeg(LegId id) {
  auto it = legs_.find(id);
  if (it == legs_.end()) return;
  // Nothing of a departed leg stays on a display, not even until the replacement's IDR: its
  // routes are going away, and a frozen picture of someone who left is worse than a dark screen.
  for (auto& [rid, r] : legs_) {
    for (auto& [p, d] : r.displays) {
      if (d.shown && d.shown->leg == id) d.shown.reset();
      if (d.pending && d.pending->leg == id) {
        d.pending.reset();
        d.pending_since = 0;
      }
    }
  }
  for (Position p : kScreenPositions) {
    const uint64_t seg = SegmentId(id, p);
    position_contests_[ContestIndex(p)].Remove(seg);
    any_contest_.Remove(seg);
  }
  site_contest_.Remove(id);
  for (auto s = streams_.begin(); s != streams_.end();) {
    if (s->second.leg == id) {
      meters_.erase(s->first);
      scores_.erase(s->first);
      refresh_outstanding_.erase(s->first);
      s = streams_.erase(s);
    } else {
      ++s;
    }
  }
  legs_.erase(it);
  changed_ = true;

  if (config_.policy == SecurityPolicy::kBestEffort && !secure_) {
    if (legs_.empty()) {
      // Nobody left to tell; the next leg starts the meeting afresh.
      secure_ = true;
    } else if (std::all_of(legs_.begin(), legs_.end(),
                           [](const auto& kv) { return kv.second.config.secure; })) {
      secure_ = true;
      Emit({.kind = Event::Kind::kLog,
            .text = absl::StrFormat(
                "Conference Manager Conf Id %s: will upgrade security from non-secure to "
                "secure. All existing endpoints will be upgraded to secure.",
                config_.conference_id)});
      NotifyAll();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Clock, timers and inputs.

void Meeting::Begin(int64_t now) {
  now_ = std::max(now_, now);
  ExpireMedia();
  ExpirePresentations();
  ExpireRefreshes();
}

void Meeting::ExpireMedia() {
  std::vector<LegId> dead;
  for (const auto& [id, l] : legs_) {
    if (now_ - l.last_media > config_.media_timeout_ms) dead.push_back(id);
  }
  for (LegId id : dead) {
    Emit({.kind = Event::Kind::kLegRemoved,
          .leg = id,
          .text = absl::StrFormat("Media Timeout occurred for call : called num = %s",
                                  legs_.at(id).config.called_number)});
    RemoveLeg(id);
  }
}

void Meeting::ExpirePresentations() {
  for (auto& [id, l] : legs_) {
    if (!l.presenting || now_ - l.presentation_last <= config_.media_timeout_ms) continue;
    l.presenting = false;
    // A presentation that stopped is taken off at once, like a departed leg's stream: the aux
    // display waits dark for the next presentation's refresh frame rather than claim to show one
    // that ended.
    const uint32_t ssrc = *l.config.presentation_video;
    for (auto& [rid, r] : legs_) {
      Display& d = r.displays.at(Position::kAux);
      if (d.shown && d.shown->ssrc == ssrc) {
        d.shown.reset();
        changed_ = true;
      }
    }
  }
}

void Meeting::ExpireRefreshes() {
  for (auto& [rid, r] : legs_) {
    for (auto& [p, d] : r.displays) {
      if (!d.pending || now_ - d.pending_since <= config_.refresh_timeout_ms) continue;
      const StreamRef src = *d.pending;
      Emit({.kind = Event::Kind::kSwitchTimedOut, .leg = rid, .ssrc = src.ssrc, .position = p});
      Emit({.kind = Event::Kind::kVideoSwitched, .leg = rid, .ssrc = src.ssrc, .position = p});
      d.shown = src;
      d.pending.reset();
      d.pending_since = 0;
      ++switch_timeouts_;
      // The request evidently got lost: a display still waiting for this source asks again.
      refresh_outstanding_.erase(src.ssrc);
      changed_ = true;
    }
  }
}

void Meeting::Touch(uint32_t ssrc) {
  auto it = streams_.find(ssrc);
  if (it == streams_.end()) return;
  LegState& l = legs_.at(it->second.leg);
  l.last_media = now_;
  if (it->second.kind == StreamKind::kPresentationVideo) {
    l.presentation_last = now_;
    if (!l.presenting) {
      l.presenting = true;
      l.presentation_order = ++presentation_seq_;
    }
  }
}

void Meeting::SwitchOnRefresh(uint32_t ssrc) {
  for (auto& [rid, r] : legs_) {
    for (auto& [p, d] : r.displays) {
      if (!d.pending || d.pending->ssrc != ssrc) continue;
      d.shown = d.pending;
      d.pending.reset();
      d.pending_since = 0;
      Emit({.kind = Event::Kind::kVideoSwitched, .leg = rid, .ssrc = ssrc, .position = p});
      changed_ = true;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decisions.

void Meeting::Decide() {
  for (const auto& [ssrc, meter] : meters_) scores_[ssrc] = meter.Score(now_);
  UpdateContests();
  UpdateAudio();
  UpdateDisplays();
}

int64_t Meeting::StreamScore(uint32_t ssrc) const {
  auto it = scores_.find(ssrc);
  return it == scores_.end() ? 0 : it->second;
}

int64_t Meeting::SegmentScore(uint64_t segment) const {
  auto it = legs_.find(SegmentLeg(segment));
  if (it == legs_.end()) return 0;
  const auto& audio = it->second.config.audio;
  auto a = audio.find(SegmentPosition(segment));
  if (a == audio.end()) a = audio.find(Position::kCenter);
  return a == audio.end() ? 0 : StreamScore(a->second);
}

int64_t Meeting::SiteScore(LegId leg) const {
  auto it = legs_.find(leg);
  if (it == legs_.end()) return 0;
  int64_t best = 0;
  for (const auto& [p, ssrc] : it->second.config.audio) best = std::max(best, StreamScore(ssrc));
  return best;
}

void Meeting::UpdateContests() {
  auto segment_score = [this](uint64_t s) { return SegmentScore(s); };
  for (SpeakerContest& c : position_contests_) c.Update(segment_score, now_);
  any_contest_.Update(segment_score, now_);
  for (auto& [id, l] : legs_) {
    if (l.segments) l.segments->Update(segment_score, now_);
  }
  if (site_contest_.Update([this](uint64_t leg) { return SiteScore(static_cast<LegId>(leg)); },
                           now_)) {
    const LegId speaker = static_cast<LegId>(*site_contest_.current());
    const LegState& l = legs_.at(speaker);
    Position loudest = Position::kCenter;
    int64_t loudest_score = -1;
    for (const auto& [p, ssrc] : l.config.audio) {
      if (StreamScore(ssrc) > loudest_score) {
        loudest = p;
        loudest_score = StreamScore(ssrc);
      }
    }
    Emit({.kind = Event::Kind::kSpeakerChanged,
          .leg = speaker,
          .ssrc = l.config.audio.at(loudest),
          .position = loudest});
  }
}

void Meeting::UpdateAudio() {
  struct Candidate {
    StreamRef ref;
    int64_t score;
    size_t rank;  // position in `ranked`: lower is louder (ties by leg, then position)
  };
  std::vector<Candidate> ranked;
  std::vector<StreamRef> presentation;
  for (const auto& [ssrc, info] : streams_) {
    const StreamRef ref{info.leg, info.position, ssrc};
    if (info.kind == StreamKind::kPresentationAudio) {
      presentation.push_back(ref);
    } else if (info.kind == StreamKind::kAudio) {
      if (meters_.at(ssrc).presentation()) {
        presentation.push_back(ref);
      } else {
        ranked.push_back({ref, StreamScore(ssrc), 0});
      }
    }
  }
  std::sort(ranked.begin(), ranked.end(), [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.ref.leg != b.ref.leg) return a.ref.leg < b.ref.leg;
    return a.ref.position < b.ref.position;
  });
  std::map<uint32_t, size_t> rank_of;
  for (size_t i = 0; i < ranked.size(); ++i) {
    ranked[i].rank = i;
    rank_of[ranked[i].ref.ssrc] = i;
  }
  auto by_leg_position = [](const StreamRef& a, const StreamRef& b) {
    if (a.leg != b.leg) return a.leg < b.leg;
    if (a.position != b.position) return a.position < b.position;
    return a.ssrc < b.ssrc;
  };

  const size_t n = static_cast<size_t>(config_.loudest_audio);
  const int64_t margin = int64_t{config_.speaker.hysteresis} * config_.speaker.window_ms;
  for (auto& [rid, r] : legs_) {
    std::vector<size_t> members;  // indices into `ranked`
    std::vector<bool> in(ranked.size(), false);
    for (uint32_t ssrc : r.audio_members) {
      auto it = rank_of.find(ssrc);
      if (it == rank_of.end() || ranked[it->second].ref.leg == rid) continue;
      if (members.size() < n) {
        members.push_back(it->second);
        in[it->second] = true;
      }
    }
    for (size_t i = 0; i < ranked.size() && members.size() < n; ++i) {
      if (in[i] || ranked[i].ref.leg == rid) continue;
      members.push_back(i);
      in[i] = true;
    }
    // Swap the quietest member for the loudest outsider only when the outsider is clearly
    // louder, so two streams of similar level do not take turns at every sample. Each swap
    // raises the members' total score, so this ends.
    while (!members.empty()) {
      size_t out = ranked.size();
      for (size_t i = 0; i < ranked.size(); ++i) {
        if (!in[i] && ranked[i].ref.leg != rid) {
          out = i;
          break;
        }
      }
      if (out == ranked.size()) break;
      size_t worst = 0;
      for (size_t m = 1; m < members.size(); ++m) {
        if (members[m] > members[worst]) worst = m;
      }
      if (ranked[out].score <= ranked[members[worst]].score + margin) break;
      in[members[worst]] = false;
      members[worst] = out;
      in[out] = true;
    }

    std::vector<uint32_t> member_ssrcs;
    std::vector<StreamRef> audio;
    for (size_t m : members) {
      member_ssrcs.push_back(ranked[m].ref.ssrc);
      audio.push_back(ranked[m].ref);
    }
    for (const StreamRef& p : presentation) {
      if (p.leg != rid) audio.push_back(p);
    }
    std::sort(member_ssrcs.begin(), member_ssrcs.end());
    std::sort(audio.begin(), audio.end(), by_leg_position);
    if (member_ssrcs != r.audio_members || audio != r.audio) {
      r.audio_members = std::move(member_ssrcs);
      r.audio = std::move(audio);
      changed_ = true;
    }
  }
}

std::optional<StreamRef> Meeting::Segment(uint64_t segment) const {
  auto it = legs_.find(SegmentLeg(segment));
  if (it == legs_.end()) return std::nullopt;
  auto v = it->second.config.video.find(SegmentPosition(segment));
  if (v == it->second.config.video.end()) return std::nullopt;
  return StreamRef{it->first, v->first, v->second};
}

uint64_t Meeting::ActiveSegment(LegId site) const {
  const LegState& l = legs_.at(site);
  if (l.segments) {
    if (std::optional<uint64_t> c = l.segments->current()) return *c;
  }
  return SegmentId(site, Position::kCenter);
}

std::optional<StreamRef> Meeting::Desired(LegId receiver, const LegState& r, Position p) const {
  if (p == Position::kAux) {
    std::optional<StreamRef> best;
    uint64_t best_order = 0;
    for (const auto& [id, l] : legs_) {
      if (id == receiver || !l.presenting || !l.config.presentation_video) continue;
      if (l.presentation_order > best_order) {
        best = StreamRef{id, Position::kAux, *l.config.presentation_video};
        best_order = l.presentation_order;
      }
    }
    return best;
  }
  const bool three = r.config.screens == 3;
  auto other_segment = [receiver](uint64_t s) { return SegmentLeg(s) != receiver; };
  if (config_.mode == SwitchingMode::kSegment) {
    const SpeakerContest& c = three ? position_contests_[ContestIndex(p)] : any_contest_;
    std::optional<uint64_t> seg = c.FirstWhere(other_segment);
    if (!seg) return std::nullopt;
    return Segment(*seg);
  }
  std::optional<uint64_t> site;
  if (three) {
    // Each display keeps the most recent site that has a camera for it: a one-screen site
    // speaking takes only the center display.
    site = site_contest_.FirstWhere([&](uint64_t id) {
      return id != receiver && legs_.at(static_cast<LegId>(id)).config.video.count(p) != 0;
    });
    if (!site) return std::nullopt;
    return Segment(SegmentId(static_cast<LegId>(*site), p));
  }
  site = site_contest_.FirstWhere([receiver](uint64_t id) { return id != receiver; });
  if (!site) return std::nullopt;
  return Segment(ActiveSegment(static_cast<LegId>(*site)));
}

void Meeting::UpdateDisplays() {
  for (auto& [rid, r] : legs_) {
    for (auto& [p, d] : r.displays) {
      const std::optional<StreamRef> want = Desired(rid, r, p);
      if (!want) {
        // Nothing to show (no other leg has this camera, the presentation stopped): stop at
        // once; going dark needs no refresh frame.
        if (d.shown || d.pending) {
          d = Display{};
          changed_ = true;
        }
      } else if (d.shown == want) {
        if (d.pending) {
          d.pending.reset();
          d.pending_since = 0;
          changed_ = true;
        }
      } else if (d.pending != want) {
        d.pending = want;
        d.pending_since = now_;
        changed_ = true;
      }
    }
  }
}

void Meeting::Publish() {
  // One refresh request per source while displays wait for it, in display order.
  std::set<uint32_t> waiting;
  std::vector<StreamRef> order;
  for (const auto& [rid, r] : legs_) {
    for (const auto& [p, d] : r.displays) {
      if (d.pending && waiting.insert(d.pending->ssrc).second) order.push_back(*d.pending);
    }
  }
  for (auto it = refresh_outstanding_.begin(); it != refresh_outstanding_.end();) {
    it = waiting.count(*it) ? std::next(it) : refresh_outstanding_.erase(it);
  }
  for (const StreamRef& src : order) {
    if (refresh_outstanding_.insert(src.ssrc).second) {
      Emit({.kind = Event::Kind::kRefreshRequest,
            .leg = src.leg,
            .ssrc = src.ssrc,
            .position = src.position});
    }
  }
  if (changed_) {
    ++version_;
    changed_ = false;
  }
}

}  // namespace mpswitch::control
