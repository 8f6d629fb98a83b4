// Simulated TelePresence rooms (one or three screens) for the demonstration, the load benchmark
// and the tests: what a room sends, and what a room checks of what it receives.
//
// Sending (`RoomSender`): per position a microphone (20 ms packets, the activity byte following
// the talk script with natural variation) and a camera (frames of several packets at the
// configured rate, the refresh byte on the first packet of an IDR: at the start, on a refresh
// request, and periodically); an optional presentation (aux video at 5 fps). Every stream is SRTP
// AES_CM_128_HMAC_SHA1_80 under its own master key announced with EKT (either format, the seed
// guide's schedule, `ekt::EktSender`), with a MUX-CSRC naming its source position; keys change
// mid-call when asked.
//
// Receiving (`RoomReceiver`): starts with only the meeting's KEK, learns every sender's key from
// EKT, decrypts with libsrtp2, checks the payload (sender, position, frame, filler), order, that
// no own or foreign media arrives, that the CSRC sink names the position it is shown on, and that
// every video switch starts on the first packet of a refresh frame; records which source shows
// on which position over time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mpswitch/control/keylog.h"
#include "mpswitch/control/meeting.h"
#include "mpswitch/ekt/endpoint.h"
#include "mpswitch/oracle/libsrtp_oracle.h"

namespace mpswitch::sim {

using control::Position;

// Who talks when: spurts of one room's microphone at one position.
struct TalkSpurt {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  uint16_t room = 0;
  Position position = Position::kCenter;
  uint8_t level = 70;  // the spurt's typical activity metric (0..100)
};

struct TalkScript {
  std::vector<TalkSpurt> spurts;
  // A conversation over `rooms` (their screens given) for `duration_ms`: turns of 2-6 s by one
  // room's one position, picked at random but never the same segment twice in a row, with short
  // overlaps and back-channel murmurs from others; deterministic per seed.
  static TalkScript Conversation(const std::vector<int>& screens_per_room, int64_t duration_ms,
                                 uint64_t seed);
  // The spurt level of (room, position) at `t`, or nullopt when silent.
  std::optional<uint8_t> LevelAt(uint16_t room, Position p, int64_t t_ms) const;
};

struct RoomSpec {
  std::string name;
  uint16_t id = 0;       // unique in the run; in every payload and the CSRC's clock id
  int screens = 1;       // 1 or 3
  bool presentation = false;
  // Cameras ssrc_base + position, microphones + 0x10 + position, presentation + 0x24; the low
  // byte must be free (a receiver recognises its own streams by ssrc_base).
  uint32_t ssrc_base = 0;
  int video_kbps = 4000;   // per camera (1080p30-class)
  int fps = 30;
  int64_t idr_interval_ms = 10000;  // periodic IDR
  size_t max_payload = 1100;        // bytes of RTP payload per video packet
  size_t audio_payload = 160;       // bytes per 20 ms audio packet
  int64_t key_change_at_ms = -1;    // every stream of the room changes key then (-1: never)
  bool seq_near_wrap = false;       // first sequence numbers just below 65536 (tests the ROC)
};

// One packet a room sends.
struct Outgoing {
  bool video = false;  // to the switch's video port, else the audio port
  std::vector<uint8_t> bytes;
};

class RoomSender {
 public:
  // `group`: the meeting's EKT group the switch gave the room. `keylog` (may be null) receives
  // every sender key the room installs.
  static absl::StatusOr<std::unique_ptr<RoomSender>> Create(const RoomSpec& spec,
                                                            const ekt::GroupParams& group,
                                                            const TalkScript* script,
                                                            control::Keylog* keylog,
                                                            uint64_t seed);

  // Packets due by `now_ms` since the last call (`now_ns` is written into every payload).
  void Poll(int64_t now_ms, uint64_t now_ns, std::vector<Outgoing>& out);
  // A refresh request (TIP REFRESH) for the camera `ssrc`: its next frame is an IDR.
  void RequestRefresh(uint32_t ssrc);

  const RoomSpec& spec() const { return spec_; }
  // The leg the room joins with (its SSRCs follow from the spec).
  static control::LegConfig LegFor(const RoomSpec& spec);
  // What one stream sends, per frame (video) or per 20 ms (audio): how many packets, how many
  // payload bytes in all, and how often. Constant bit rate, so also the offered load.
  struct StreamLoad {
    size_t packets_per_tick;
    size_t bytes_per_tick;
    int ticks_per_s;
  };
  static StreamLoad LoadOfStream(const RoomSpec& spec, bool video, bool presentation);
  // Every stream of the room (LegFor's, in its order: cameras, microphones, presentation).
  static std::vector<StreamLoad> LoadOf(const RoomSpec& spec);
  bool Owns(uint32_t ssrc) const { return streams_.count(ssrc) != 0; }
  // The position of a stream of this room, and whether it is video.
  std::optional<std::pair<Position, bool>> StreamOf(uint32_t ssrc) const;
  uint64_t packets_sent() const { return packets_; }
  // When the camera `ssrc` last sent a refresh frame, or -1.
  int64_t last_refresh_ms(uint32_t ssrc) const {
    auto it = streams_.find(ssrc);
    return it == streams_.end() ? -1 : it->second.last_idr_ms;
  }
  uint64_t refreshes_sent() const { return refreshes_; }
  uint64_t key_changes() const { return key_changes_; }
  // The switch rotated the meeting's group (TIP SPIMAP, delivered in-process): every stream
  // announces a new master key under it from its next packet on.
  absl::Status ChangeGroup(const ekt::GroupParams& group);
  uint64_t group_changes() const { return group_changes_; }

 private:
  struct Stream {
    uint32_t ssrc;
    Position position;
    bool video;
    bool presentation;
    std::unique_ptr<ekt::EktSender> sender;
    uint16_t seq;
    uint32_t frame = 0;
    int64_t next_ms = 0;
    int64_t next_idr_ms = 0;
    int64_t last_idr_ms = -1;
    bool refresh_wanted = true;  // the first frame is an IDR
    uint8_t smoothed = 0;        // audio: the level, moving toward the script's
  };
  RoomSender(const RoomSpec& spec, const TalkScript* script, control::Keylog* keylog,
             uint64_t seed)
      : spec_(spec), script_(script), keylog_(keylog), rng_(seed) {}
  void SendAudio(Stream& s, int64_t t_ms, uint64_t now_ns, std::vector<Outgoing>& out);
  void SendFrame(Stream& s, int64_t t_ms, uint64_t now_ns, std::vector<Outgoing>& out);
  void LogKey(const Stream& s);

  RoomSpec spec_;
  const TalkScript* script_;
  control::Keylog* keylog_;
  std::mt19937_64 rng_;
  std::map<uint32_t, Stream> streams_;
  std::vector<uint8_t> scratch_;
  bool keys_changed_ = false;
  uint64_t packets_ = 0;
  uint64_t refreshes_ = 0;
  uint64_t key_changes_ = 0;
  uint64_t group_changes_ = 0;
};

// True when the packet's EKT field announces its key: in-tag, the long form (last bit 1); RFC
// 8870, a Full field (type 0x02 last).
bool AnnouncesKey(ekt::EktFormat format, const uint8_t* data, size_t len);

// The seed guide's schedule announces a key at least every third packet, so a receiver that has
// just started to hear a stream (or resumes it after a pause, maybe past a key change) may get
// up to two short forms it cannot verify yet. True for exactly those: a short form, refused as
// "no key yet" or as not verifying with the previous key, while `resuming`, fewer than two in a
// row (`awaiting` so far). Everything else that fails is a real failure.
bool MayAwaitKey(const absl::Status& refused, bool announces, bool resuming, int awaiting);

// What a receiving room found. Every count except `received`, `verified`, `video_switches`,
// `keys_learned` and `skipped` must stay zero in a correct run.
struct ReceiverStats {
  uint64_t received = 0;
  uint64_t verified = 0;      // EKT-learned key, libsrtp2 unprotect, payload and filler all good
  uint64_t skipped = 0;       // not decrypted (load mode checks a sample; headers still checked)
  // Short-form audio packets of a stream the room has no current key for: it just started
  // hearing the stream (a loudest-N set moved to it) and the next long form, at most two packets
  // away on the seed guide's schedule, will teach the key. More than two in a row, any video
  // (a display always starts on a refresh frame, which is a long form), or a failure other than
  // "no key yet" or "tag does not verify with the old key" is a problem (ekt_failed).
  uint64_t awaiting_key = 0;
  uint64_t ekt_failed = 0;    // EKT unwrap or tag check failed (no key, forged, ...)
  uint64_t srtp_failed = 0;   // libsrtp2 refused the packet with the learned key
  uint64_t corrupt = 0;       // decrypted payload not what the sender wrote, or garbage header
  uint64_t own_media = 0;     // a stream of this room came back
  uint64_t foreign = 0;       // a stream of no room of this meeting
  uint64_t wrong_sink = 0;    // CSRC sink not a display/speaker this room has
  uint64_t wrong_socket = 0;  // video on the audio port or the reverse
  uint64_t reordered = 0;
  uint64_t lost = 0;          // sequence gaps while a source stayed on a display
  uint64_t video_switches = 0;
  uint64_t switch_not_on_refresh = 0;  // a display's new source started mid-frame
  uint64_t keys_learned = 0;
  uint64_t Problems() const {
    return ekt_failed + srtp_failed + corrupt + own_media + foreign + wrong_sink + wrong_socket +
           reordered + lost + switch_not_on_refresh;
  }
};

// A display's change of source, as the receiving room saw it.
struct ShownChange {
  int64_t t_ms = 0;
  Position display = Position::kCenter;
  uint32_t ssrc = 0;
};

class RoomReceiver {
 public:
  // Senders are announced with AddSender as rooms join. `verify_every`: decrypt every Nth packet
  // (1 = all); packets announcing a key and the first packet of every new source on a display
  // are always decrypted.
  RoomReceiver(const RoomSpec& spec, const ekt::GroupParams& group, int verify_every = 1);

  void AddSender(uint32_t ssrc, uint16_t room, Position position, bool video);
  // A rotated meeting group: keys announced under it are learned from now on; the old group's
  // keys stay usable for what is in flight.
  absl::Status AddGroup(const ekt::GroupParams& group) { return ekt_.AddGroup(group); }
  void RemoveSender(uint32_t ssrc);
  void Receive(const uint8_t* data, size_t len, bool on_video_socket, int64_t now_ms,
               uint64_t now_ns);
  // Send-to-receive times (ns) of the decrypted packets, at most `kMaxLatencySamples`.
  static constexpr size_t kMaxLatencySamples = 1 << 20;
  const std::vector<uint32_t>& latency_ns() const { return latency_ns_; }

  const ReceiverStats& stats() const { return stats_; }
  // Current source per display position (video), or 0.
  uint32_t Showing(Position display) const;
  // When the display last received a packet, or INT64_MIN.
  int64_t DisplayHeardMs(Position display) const;
  const std::vector<ShownChange>& history() const { return history_; }
  // SSRCs heard within `window_ms` before `now_ms`.
  std::vector<uint32_t> Hearing(int64_t now_ms, int64_t window_ms = 500) const;
  // First problem found, for the summary ("" when none).
  const std::string& first_problem() const { return first_problem_; }

 private:
  struct Sender {
    uint16_t room;
    Position position;
    bool video;
    std::unique_ptr<oracle::LibsrtpSession> srtp;
    dataplane::MasterKey key;
    std::optional<uint16_t> last_seq;
    int64_t last_heard_ms = INT64_MIN;
    int awaiting = 0;  // consecutive short forms not verifiable yet
  };
  void Problem(uint64_t& counter, const std::string& what);

  RoomSpec spec_;
  ekt::EktFormat format_;
  ekt::EktReceiver ekt_;
  int verify_every_;
  std::map<uint32_t, Sender> senders_;
  std::map<Position, uint32_t> showing_;
  std::map<Position, int64_t> display_heard_ms_;
  std::vector<ShownChange> history_;
  ReceiverStats stats_;
  std::string first_problem_;
  std::vector<uint32_t> latency_ns_;
};

}  // namespace mpswitch::sim
