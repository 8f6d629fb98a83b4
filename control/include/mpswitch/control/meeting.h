// The meeting: who is seen and heard (DESIGN.md "Meetings", PROTOCOLS.md §2, §3, §8).
//
// Pure decision logic: no I/O, no wall clock, no threads. The caller feeds the samples the
// dataplane reports (activity byte, refresh byte, liveness) and timer ticks, each with its own
// int64_t millisecond time; the meeting answers with decisions (what every display of every leg
// shows and waits for, which audio streams every leg hears, the security state) and events
// (refresh requests, switches, notifications, operator log lines). Same inputs, same outputs.
//
// Not thread-safe: one control thread owns a Meeting. References returned by accessors stay
// valid until the next non-const call.
//
// Time. Every call that takes `now` first advances the meeting's clock to it (a time earlier
// than one already seen is taken as that one, so a late report cannot rewind timers), then runs
// the timers in this order: media timeouts (legs removed), quiet presentations (stopped), refresh
// timeouts (switched anyway); then it applies the input and re-decides. Deadlines are strict:
// something arriving exactly `timeout` after the last one still counts as in time.
//
// Security (PROTOCOLS.md §8). The meeting is secure or non-secure at any moment (`secure()`).
// While it is non-secure no leg may be given the EKT group key (KEK) — `MayReceiveGroupKey` is
// true only for secure legs while the meeting is secure — because a leg holding the KEK can
// decrypt every sender's EKT-wrapped master key: a non-secure leg must never have it, and while
// the meeting is non-secure nobody is promised confidentiality, so no new group key (SPIMAP,
// rotation) is handed out at all. Media of a secure leg is never forwarded to a non-secure leg as
// is; it reaches that leg only re-encrypted per leg with the leg's own hop keys
// (`NeedsReencryption`, PROTOCOLS.md §7). Those two functions state the confidentiality rules
// only; how a non-secure sender's media reaches receivers (plain or hop keys) is the tables
// builder's transport choice.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mpswitch/control/speaker.h"

namespace mpswitch::control {

// MUX-CSRC positions (PROTOCOLS.md §3): the source nibble of a camera/microphone, the sink nibble
// of a display.
enum class Position : uint8_t { kCenter = 1, kLeft = 2, kRight = 3, kAux = 4 };
enum class SwitchingMode : uint8_t { kSegment, kSite };
enum class SecurityPolicy : uint8_t { kSecure, kNonSecure, kBestEffort };

const char* PositionName(Position p);
const char* SwitchingModeName(SwitchingMode m);

// Assigned by Join, counting up from 1, never reused within a Meeting. 0 means "no leg".
using LegId = uint32_t;

// One media stream of one leg. Camera and microphone streams carry their source position;
// presentation streams are kAux.
struct StreamRef {
  LegId leg = 0;
  Position position = Position::kCenter;
  uint32_t ssrc = 0;
  bool operator==(const StreamRef&) const = default;
};

struct LegConfig {
  std::string call_id;        // for log texts ("call id=x")
  std::string called_number;  // "called num = ..." and "Num=..." in log texts
  std::string endpoint_name;  // "does not allow endpoint xxxxx to join"
  int screens = 1;            // 1 or 3
  bool secure = true;         // negotiated SRTP + EKT capable
  // SSRC of each camera / microphone, by source position. One-screen legs have only kCenter;
  // three-screen legs kCenter and usually kLeft and kRight (a missing side camera is simply never
  // shown; a missing side microphone makes that segment as loud as the center microphone).
  std::map<Position, uint32_t> video;
  std::map<Position, uint32_t> audio;
  std::optional<uint32_t> presentation_video;  // aux, position kAux
  std::optional<uint32_t> presentation_audio;
};

struct MeetingConfig {
  std::string conference_id;
  SecurityPolicy policy = SecurityPolicy::kSecure;
  SwitchingMode mode = SwitchingMode::kSegment;
  int loudest_audio = 3;              // N loudest audio streams forwarded to each receiver
  SpeakerParams speaker;              // also the hysteresis of the loudest-N audio sets
  int64_t refresh_timeout_ms = 1000;  // switch anyway if no IDR/GDR arrives
  int64_t media_timeout_ms = 10000;   // leg with no media for this long is removed
};

// OK, or InvalidArgument naming the field that is out of range. Meeting's constructor clamps such
// values to the nearest valid one (window >= 1 ms; hysteresis, hold, sample hold, N and timeouts
// >= 0) so a Meeting is always usable; configuration loaders call this to refuse them instead.
absl::Status ValidateMeetingConfig(const MeetingConfig& config);

// What a receiver's display position shows and what it waits for.
struct Display {
  std::optional<StreamRef> shown;    // video stream currently forwarded to this display
  std::optional<StreamRef> pending;  // chosen next source, waiting for its IDR/GDR
  int64_t pending_since = 0;         // when `pending` was chosen; meaningful only with pending
};

struct Event {
  enum class Kind : uint8_t {
    // The source (leg, ssrc, position = its source position) is asked for an IDR (TIP REFRESH):
    // one per source per pending period, however many displays wait for it. A source whose
    // earlier request timed out is asked again if displays still wait for it.
    kRefreshRequest,
    // A display (leg = receiver, position = display) now shows `ssrc`. Emitted for every new
    // shown source, whether an IDR/GDR arrived or the refresh timed out.
    kVideoSwitched,
    // Precedes the kVideoSwitched of a switch made without an IDR/GDR after refresh_timeout_ms
    // (same leg, ssrc, position); counted in switch_timeouts().
    kSwitchTimedOut,
    // Somebody took the floor by speaking (site contest): leg = the new speaker, ssrc/position =
    // its loudest microphone. Not emitted when the floor passes on because the speaker left.
    kSpeakerChanged,
    // Tell `leg` the meeting's security state (TIP NOTIFY tag 3, the lock icon): `secure`.
    kSecurityNotify,
    // Join refused (leg = 0, no id was assigned): text is the operator log line.
    kLegRefused,
    // The meeting removed `leg` on its own (media timeout); text is the operator log line. A
    // Leave() call emits none: the caller already knows.
    kLegRemoved,
    // An operator log line (text), e.g. the security state changes of PROTOCOLS.md §8.
    kLog,
    // Give `leg` the meeting's new EKT group (TIP SPIMAP) after its key encrypting key was
    // rotated because a leg left. Emitted by MediaSwitch, never by a Meeting; the group travels
    // in SwitchEvent::group.
    kGroupKey,
  };
  Kind kind;
  // The leg concerned (receiver for kVideoSwitched, target for kSecurityNotify).
  LegId leg = 0;
  // kRefreshRequest: the source asked for an IDR; kVideoSwitched: the new source.
  uint32_t ssrc = 0;
  // kVideoSwitched / kSwitchTimedOut: the display; kRefreshRequest: the source's position.
  Position position = Position::kCenter;
  // kSecurityNotify: the icon (TIP NOTIFY tag 3).
  bool secure = false;
  // kLog / kLegRefused / kLegRemoved: the exact operator log text.
  std::string text = {};
};

const char* EventKindName(Event::Kind k);

// Switching (DESIGN.md "Meetings"):
// - Segment mode: a three-screen receiver's display P shows the loudest P segment of the other
//   legs (a one-screen leg's camera is a center segment); a one-screen receiver's display shows
//   the loudest segment of any position.
// - Site mode: a three-screen receiver's displays show the loudest other site's cameras, each on
//   its own position (a one-screen site on the center display); a one-screen receiver shows the
//   loudest other site's currently loudest segment.
// - Every choice walks a recency history (loudest first, then previous speakers, then never-spoken
//   legs in join order), skipping the receiver's own leg and positions the candidate cannot fill,
//   so the current speaker sees the previous one and side displays keep the last site that had
//   that camera. With nobody having spoken yet, displays show legs in join order.
// - A new choice waits for the source's IDR/GDR (kRefreshRequest), while the display keeps
//   showing the old source; refresh_timeout_ms without one switches anyway. A display whose source
//   left shows nothing until the replacement's refresh frame: never a departed leg's stream.
// - The kAux display of every leg shows the latest presenter's presentation video (not its own),
//   from the presentation's first media until it is quiet for media_timeout_ms or the presenter
//   leaves (then it is taken off at once); the IDR rule applies. If the latest presenter stops,
//   an earlier one still sending is shown again, from its next refresh frame.
// - Audio: each leg hears the N loudest microphones of the other legs (a stream leaves the set
//   only for one louder by more than the hysteresis; with nobody speaking, join order fills it) and
//   every presentation audio stream but its own.
class Meeting {
 public:
  explicit Meeting(MeetingConfig config);

  // Adds a leg at `now`. Errors:
  // - InvalidArgument: screens not 1 or 3, no center camera or microphone, positions a leg with
  //   that many screens does not have, an SSRC used twice (in this leg or by another leg).
  //   Nothing is recorded.
  // - FailedPrecondition: the meeting is locked, or the security policy refuses the leg
  //   (PROTOCOLS.md §8); the message carries the log text, and a kLegRefused event (plus, for a
  //   security refusal, the second §8 kLog line) is emitted.
  // On success the new leg gets a kSecurityNotify with the current state (after a best-effort
  // downgrade: every leg, the new one included).
  absl::StatusOr<LegId> Join(const LegConfig& leg, int64_t now);
  // NotFound if `leg` is not (or no longer: media timeout) in the meeting.
  absl::Status Leave(LegId leg, int64_t now);
  void SetMode(SwitchingMode mode, int64_t now);
  // While locked, Join refuses every new leg; legs already in stay.
  void SetLocked(bool locked);

  // Dataplane samples. Unknown SSRCs are ignored (a stream may report after its leg left); any
  // sample of a known SSRC counts as liveness for its leg.
  void OnAudioLevel(uint32_t ssrc, uint8_t level, int64_t now);
  // refresh_flag: 0 none, 1 first packet of an IDR, 2 of a GDR, 3..7 long-term reference; only 1
  // and 2 are switch points.
  void OnVideoPacket(uint32_t ssrc, uint8_t refresh_flag, int64_t now);
  void OnMedia(uint32_t ssrc, int64_t now);
  // The dataplane switched `receiver`'s `display` to `ssrc` on its refresh frame (a gate opened,
  // see MeetingTables). That is what the receiver now sees, whatever was decided since the switch
  // was published: the display shows `ssrc` (and still waits for a newer choice, if any).
  // Unknown legs or streams, and a receiver's own stream, are ignored.
  void OnDisplaySwitched(LegId receiver, Position display, uint32_t ssrc, int64_t now);
  // The source `ssrc` answered its refresh request: its refresh frame reached the displays the
  // dataplane's gate covered (call after OnDisplaySwitched for all of them). A display that
  // began waiting for it after that gate was published was not covered: it is asked for again
  // at once, instead of waiting for the refresh timeout.
  void OnRefreshAnswered(uint32_t ssrc, int64_t now);
  void Tick(int64_t now);

  // Events since the last call, in order.
  std::vector<Event> TakeEvents();

  // Current decisions.
  bool secure() const { return secure_; }
  // p in center/left/right/aux; one-screen receivers only have center (+aux). Any other
  // (receiver, position) answers an empty Display.
  const Display& display(LegId receiver, Position p) const;
  // Audio streams forwarded to the receiver: its N loudest others plus the presentation audio of
  // the others, ordered by leg then position. Empty for an unknown leg.
  std::vector<StreamRef> audio_for(LegId receiver) const;
  std::vector<LegId> legs() const;  // in join order
  const LegConfig* leg(LegId id) const;
  std::optional<StreamRef> Find(uint32_t ssrc) const;
  uint64_t switch_timeouts() const { return switch_timeouts_; }
  // Bumps (once per call) when any decision changed: display shown/pending, audio sets, security,
  // and the set of legs (their streams come and go in the tables), so callers republish only on
  // change.
  uint64_t version() const { return version_; }

  // True only for a secure leg while the meeting is secure (see the file comment).
  bool MayReceiveGroupKey(LegId leg) const;
  // True when `sender` is secure and `receiver` is not: the sender's media may reach the receiver
  // only re-encrypted for it (see the file comment). False for unknown legs.
  bool NeedsReencryption(LegId sender, LegId receiver) const;

  // Also useful to callers and tests.
  SwitchingMode mode() const { return config_.mode; }
  bool locked() const { return locked_; }
  const MeetingConfig& config() const { return config_; }
  // The site contest's current speaker (the first leg to join until somebody speaks).
  std::optional<LegId> active_speaker() const;
  // The latest presenter still sending, if any.
  std::optional<LegId> presenter() const;

 private:
  enum class StreamKind : uint8_t { kVideo, kAudio, kPresentationVideo, kPresentationAudio };
  struct StreamInfo {
    LegId leg;
    Position position;
    StreamKind kind;
  };
  struct LegState {
    LegConfig config;
    int64_t last_media = 0;
    bool presenting = false;
    uint64_t presentation_order = 0;  // when it last started presenting; the largest wins
    int64_t presentation_last = 0;
    std::map<Position, Display> displays;
    std::vector<uint32_t> audio_members;     // the loudest-N set, sorted
    std::vector<StreamRef> audio;            // what audio_for answers
    std::optional<SpeakerContest> segments;  // three-screen legs: their own loudest segment
  };

  absl::Status ValidateLeg(const LegConfig& leg) const;
  absl::StatusOr<LegId> AddLeg(const LegConfig& leg);
  void RemoveLeg(LegId id);
  void NotifyAll();
  void Emit(Event e) { events_.push_back(std::move(e)); }

  // Each public call: Begin, apply its input, Decide, Publish.
  void Begin(int64_t now);
  void Decide();
  void Publish();

  void ExpireMedia();
  void ExpirePresentations();
  void ExpireRefreshes();
  void Touch(uint32_t ssrc);
  void SwitchOnRefresh(uint32_t ssrc);

  int64_t StreamScore(uint32_t ssrc) const;
  int64_t SegmentScore(uint64_t segment) const;
  int64_t SiteScore(LegId leg) const;
  void UpdateContests();
  void UpdateAudio();
  void UpdateDisplays();
  std::optional<StreamRef> Desired(LegId receiver, const LegState& r, Position p) const;
  std::optional<StreamRef> Segment(uint64_t segment) const;
  uint64_t ActiveSegment(LegId site) const;

  MeetingConfig config_;
  bool locked_ = false;
  bool secure_;
  LegId next_leg_ = 1;
  int64_t now_ = INT64_MIN;
  std::map<LegId, LegState> legs_;
  std::map<uint32_t, StreamInfo> streams_;
  std::map<uint32_t, LevelMeter> meters_;  // every microphone and presentation audio stream
  std::map<uint32_t, int64_t> scores_;     // meters_ evaluated at now_, refreshed by Decide
  // Indexed by position - 1 (center, left, right): the loudest segment per position.
  std::array<SpeakerContest, 3> position_contests_;
  SpeakerContest any_contest_;              // the loudest segment of any position
  SpeakerContest site_contest_;             // the loudest leg
  std::set<uint32_t> refresh_outstanding_;  // sources asked for an IDR, still awaited
  uint64_t presentation_seq_ = 0;
  uint64_t switch_timeouts_ = 0;
  uint64_t version_ = 0;
  bool changed_ = false;
  std::vector<Event> events_;
};

}  // namespace mpswitch::control
