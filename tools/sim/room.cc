#include "mpswitch/sim/room.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/sim/payload.h"

namespace mpswitch::sim {
namespace {

constexpr Position kScreenPositions[] = {Position::kCenter, Position::kLeft, Position::kRight};
constexpr int64_t kAudioPacketMs = 20;
constexpr int kPresentationFps = 5;
constexpr int kPresentationKbps = 500;

uint32_t MuxCsrc(uint16_t room, Position source) {
  // Clock id = room, source = the camera/microphone, sink = its own position until the switch
  // rewrites it (PROTOCOLS.md §3).
  const uint32_t pos = static_cast<uint32_t>(source);
  return (uint32_t{room} << 12) | (pos << 4) | pos;
}

}  // namespace

TalkScript TalkScript::Conversation(const std::vector<int>& screens, int64_t duration_ms,
                                    uint64_t seed) {
  TalkScript s;
  if (screens.empty()) return s;
  std::mt19937_64 rng(seed);
  auto uniform = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  auto pick = [&]() {
    const uint16_t room = static_cast<uint16_t>(uniform(0, static_cast<int64_t>(screens.size()) - 1));
    const int pos = static_cast<int>(uniform(0, screens[room] - 1));
    return std::make_pair(room, kScreenPositions[pos]);
  };
  std::pair<uint16_t, Position> last{0xffff, Position::kCenter};
  int64_t t = 300;
  while (t < duration_ms) {
    auto who = pick();
    // Never the same segment twice in a row (a turn passes), unless there is only one.
    for (int tries = 0; who == last && tries < 8; ++tries) who = pick();
    last = who;
    const int64_t len = uniform(2000, 6000);
    s.spurts.push_back({t, t + len, who.first, who.second, static_cast<uint8_t>(uniform(55, 85))});
    if (uniform(0, 9) < 3) {  // a murmur of agreement from somebody else
      auto other = pick();
      if (other != who) {
        const int64_t at = t + uniform(500, std::max<int64_t>(600, len - 900));
        s.spurts.push_back({at, at + uniform(300, 800), other.first, other.second,
                            static_cast<uint8_t>(uniform(25, 40))});
      }
    }
    t += len - uniform(0, 300);  // the next speaker sometimes starts before this one ends
  }
  return s;
}

std::optional<uint8_t> TalkScript::LevelAt(uint16_t room, Position p, int64_t t) const {
  std::optional<uint8_t> best;
  for (const TalkSpurt& s : spurts) {
    if (s.room == room && s.position == p && t >= s.start_ms && t < s.end_ms) {
      if (!best || s.level > *best) best = s.level;
    }
  }
  return best;
}

absl::StatusOr<std::unique_ptr<RoomSender>> RoomSender::Create(const RoomSpec& spec,
                                                               const ekt::GroupParams& group,
                                                               const TalkScript* script,
                                                               control::Keylog* keylog,
                                                               uint64_t seed) {
  if (spec.screens != 1 && spec.screens != 3) {
    return absl::InvalidArgumentError(
        absl::StrFormat("room %s: %d screens; a room has 1 or 3", spec.name, spec.screens));
  }
  if (spec.max_payload < kPayloadHeaderLen + 1 || spec.audio_payload < kPayloadHeaderLen) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "room %s: payloads must hold the %d-byte simulator header", spec.name, kPayloadHeaderLen));
  }
  std::unique_ptr<RoomSender> r(new RoomSender(spec, script, keylog, seed));
  auto add = [&](uint32_t ssrc, Position pos, bool video, bool presentation) -> absl::Status {
    absl::StatusOr<std::unique_ptr<ekt::EktSender>> sender =
        ekt::EktSender::Create(group, ssrc, video);
    if (!sender.ok()) return sender.status();
    // A random first sequence number (RFC 3550), or one just before the wrap when asked.
    const uint16_t seq = spec.seq_near_wrap ? static_cast<uint16_t>(65535 - r->rng_() % 64)
                                            : static_cast<uint16_t>(r->rng_());
    Stream s{ssrc, pos, video, presentation, std::move(*sender), seq};
    // Streams start a little apart, as real cameras and microphones do.
    s.next_ms = static_cast<int64_t>(r->rng_() % 20);
    s.next_idr_ms = spec.idr_interval_ms;
    r->LogKey(s);
    r->streams_.emplace(ssrc, std::move(s));
    return absl::OkStatus();
  };
  // The streams the room joins with (LegFor), so the sender and the leg cannot disagree.
  const control::LegConfig leg = LegFor(spec);
  for (const auto& [p, ssrc] : leg.video) {
    if (absl::Status st = add(ssrc, p, true, false); !st.ok()) return st;
  }
  for (const auto& [p, ssrc] : leg.audio) {
    if (absl::Status st = add(ssrc, p, false, false); !st.ok()) return st;
  }
  if (leg.presentation_video) {
    if (absl::Status st = add(*leg.presentation_video, Position::kAux, true, true); !st.ok()) {
      return st;
    }
  }
  return r;
}

control::LegConfig RoomSender::LegFor(const RoomSpec& spec) {
  control::LegConfig l;
  l.call_id = absl::StrFormat("%s@sim", spec.name);
  l.called_number = absl::StrFormat("%d", 4000 + spec.id);
  l.endpoint_name = spec.name;
  l.screens = spec.screens;
  l.secure = true;
  for (int i = 0; i < spec.screens; ++i) {
    const Position p = kScreenPositions[i];
    l.video[p] = spec.ssrc_base + static_cast<uint32_t>(p);
    l.audio[p] = spec.ssrc_base + 0x10 + static_cast<uint32_t>(p);
  }
  if (spec.presentation) l.presentation_video = spec.ssrc_base + 0x24;
  return l;
}

RoomSender::StreamLoad RoomSender::LoadOfStream(const RoomSpec& spec, bool video,
                                               bool presentation) {
  if (!video) return {1, spec.audio_payload, 1000 / kAudioPacketMs};
  const int kbps = presentation ? kPresentationKbps : spec.video_kbps;
  const int fps = presentation ? kPresentationFps : spec.fps;
  // Constant bit rate: an IDR frame is no larger than the others, so offered load is steady.
  const size_t frame_bytes = std::max<size_t>(
      kPayloadHeaderLen + 1, static_cast<size_t>(kbps) * 1000 / 8 / static_cast<size_t>(fps));
  return {(frame_bytes + spec.max_payload - 1) / spec.max_payload, frame_bytes, fps};
}

std::vector<RoomSender::StreamLoad> RoomSender::LoadOf(const RoomSpec& spec) {
  const control::LegConfig leg = LegFor(spec);
  std::vector<StreamLoad> v;
  for (size_t i = 0; i < leg.video.size(); ++i) v.push_back(LoadOfStream(spec, true, false));
  for (size_t i = 0; i < leg.audio.size(); ++i) v.push_back(LoadOfStream(spec, false, false));
  if (leg.presentation_video) v.push_back(LoadOfStream(spec, true, true));
  return v;
}

std::optional<std::pair<Position, bool>> RoomSender::StreamOf(uint32_t ssrc) const {
  auto it = streams_.find(ssrc);
  if (it == streams_.end()) return std::nullopt;
  return std::make_pair(it->second.position, it->second.video);
}

void RoomSender::LogKey(const Stream& s) {
  if (keylog_) keylog_->Srtp(s.ssrc, s.sender->master(), dataplane::SrtpProfile::kAesCm128HmacSha1_80);
}

absl::Status RoomSender::ChangeGroup(const ekt::GroupParams& group) {
  for (auto& [ssrc, s] : streams_) {
    if (absl::Status st = s.sender->ChangeGroup(group); !st.ok()) return st;
    ++key_changes_;
    LogKey(s);
  }
  ++group_changes_;
  return absl::OkStatus();
}

void RoomSender::RequestRefresh(uint32_t ssrc) {
  auto it = streams_.find(ssrc);
  if (it != streams_.end() && it->second.video) it->second.refresh_wanted = true;
}

void RoomSender::Poll(int64_t now_ms, uint64_t now_ns, std::vector<Outgoing>& out) {
  if (!keys_changed_ && spec_.key_change_at_ms >= 0 && now_ms >= spec_.key_change_at_ms) {
    keys_changed_ = true;
    for (auto& [ssrc, s] : streams_) {
      if (s.sender->ChangeKey().ok()) {
        ++key_changes_;
        LogKey(s);
      }
    }
  }
  for (auto& [ssrc, s] : streams_) {
    // Catch up at most 100 ms, as a camera that stalls drops frames rather than sending them all
    // at once: a simulator stalled by a busy machine must not flood the switch (and the loopback
    // backlog) with a second of media afterwards.
    if (s.next_ms < now_ms - 100) s.next_ms = now_ms - 100;
    while (s.next_ms <= now_ms) {
      if (s.video) {
        SendFrame(s, s.next_ms, now_ns, out);
        s.next_ms += 1000 / LoadOfStream(spec_, true, s.presentation).ticks_per_s;
      } else {
        SendAudio(s, s.next_ms, now_ns, out);
        s.next_ms += kAudioPacketMs;
      }
    }
  }
}

void RoomSender::SendAudio(Stream& s, int64_t t, uint64_t now_ns, std::vector<Outgoing>& out) {
  // The activity metric: the script's level with syllabic variation and noise while talking,
  // room noise otherwise; never 99 (presentation audio) or more.
  int level;
  if (auto talk = script_ ? script_->LevelAt(spec_.id, s.position, t) : std::nullopt) {
    const double syllable = 0.8 + 0.2 * std::sin(static_cast<double>(t) / 40.0 + s.ssrc);
    level = static_cast<int>(*talk * syllable) + static_cast<int>(rng_() % 11) - 5;
  } else {
    level = static_cast<int>(rng_() % 9);
  }
  s.smoothed = static_cast<uint8_t>(std::clamp(level, 0, 98));
  oracle::RtpSpec r;
  r.payload_type = 111;
  r.seq = s.seq++;
  r.timestamp = static_cast<uint32_t>(t * 48);
  r.ssrc = s.ssrc;
  r.csrcs = {MuxCsrc(spec_.id, s.position)};
  r.payload.resize(spec_.audio_payload);
  WritePayload(r.payload, {spec_.id, static_cast<uint8_t>(s.position), 0, 0, now_ns}, s.ssrc,
               r.seq);
  out.push_back({false, s.sender->Protect(oracle::BuildRtp(r), s.smoothed, false)});
  ++packets_;
}

void RoomSender::SendFrame(Stream& s, int64_t t, uint64_t now_ns, std::vector<Outgoing>& out) {
  const bool periodic = t >= s.next_idr_ms;
  const bool idr = s.refresh_wanted || periodic;
  if (idr) {
    s.refresh_wanted = false;
    s.next_idr_ms = t + spec_.idr_interval_ms;
    s.last_idr_ms = t;
    ++refreshes_;
  }
  const StreamLoad load = LoadOfStream(spec_, true, s.presentation);
  const size_t frame_bytes = load.bytes_per_tick;
  const size_t packets = load.packets_per_tick;
  const uint32_t frame = ++s.frame;
  for (size_t k = 0; k < packets; ++k) {
    oracle::RtpSpec r;
    r.payload_type = 96;
    r.marker = k + 1 == packets;
    r.seq = s.seq++;
    r.timestamp = static_cast<uint32_t>(t * 90);
    r.ssrc = s.ssrc;
    r.csrcs = {MuxCsrc(spec_.id, s.position)};
    const size_t len = k + 1 == packets ? frame_bytes - k * spec_.max_payload : spec_.max_payload;
    r.payload.resize(std::max(len, kPayloadHeaderLen));
    uint8_t flags = kVideo;
    if (k == 0) flags |= kFrameStart;
    if (idr) flags |= kRefresh;
    if (s.presentation) flags |= kPresentation;
    WritePayload(r.payload, {spec_.id, static_cast<uint8_t>(s.position), flags, frame, now_ns},
                 s.ssrc, r.seq);
    // Refresh byte (PROTOCOLS.md §2): 1 on the first packet of an IDR, else 0.
    const uint8_t refresh = (idr && k == 0) ? 1 : 0;
    out.push_back({true, s.sender->Protect(oracle::BuildRtp(r), refresh, k == 0)});
    ++packets_;
  }
}

RoomReceiver::RoomReceiver(const RoomSpec& spec, const ekt::GroupParams& group, int verify_every)
    : spec_(spec),
      format_(group.format),
      ekt_(
          [&group] {
            ekt::GroupTable t;
            (void)t.Create(group);
            return t;
          }(),
          group.format, group.tag_32),
      verify_every_(std::max(verify_every, 1)) {
  oracle::InitLibsrtp();
}

void RoomReceiver::AddSender(uint32_t ssrc, uint16_t room, Position position, bool video) {
  Sender s;
  s.room = room;
  s.position = position;
  s.video = video;
  senders_[ssrc] = std::move(s);
}

void RoomReceiver::RemoveSender(uint32_t ssrc) {
  senders_.erase(ssrc);
  for (auto it = showing_.begin(); it != showing_.end();) {
    it = it->second == ssrc ? showing_.erase(it) : std::next(it);
  }
}

int64_t RoomReceiver::DisplayHeardMs(Position display) const {
  auto it = display_heard_ms_.find(display);
  return it == display_heard_ms_.end() ? INT64_MIN : it->second;
}

uint32_t RoomReceiver::Showing(Position display) const {
  auto it = showing_.find(display);
  return it == showing_.end() ? 0 : it->second;
}

std::vector<uint32_t> RoomReceiver::Hearing(int64_t now_ms, int64_t window_ms) const {
  std::vector<uint32_t> v;
  for (const auto& [ssrc, s] : senders_) {
    if (!s.video && s.last_heard_ms != INT64_MIN && now_ms - s.last_heard_ms <= window_ms) {
      v.push_back(ssrc);
    }
  }
  return v;
}

void RoomReceiver::Problem(uint64_t& counter, const std::string& what) {
  ++counter;
  if (first_problem_.empty()) first_problem_ = what;
}

bool AnnouncesKey(ekt::EktFormat format, const uint8_t* data, size_t len) {
  if (len == 0) return false;
  return format == ekt::EktFormat::kInTag ? (data[len - 1] & 1) != 0
                                          : data[len - 1] == ekt::kRfc8870TypeFull;
}

bool MayAwaitKey(const absl::Status& refused, bool announces, bool resuming, int awaiting) {
  return !refused.ok() && !announces && resuming && awaiting < 2 &&
         (absl::IsFailedPrecondition(refused) || absl::IsPermissionDenied(refused));
}

void RoomReceiver::Receive(const uint8_t* data, size_t len, bool on_video_socket,
                           int64_t now_ms, uint64_t now_ns) {
  ++stats_.received;
  if (len < 16) {
    Problem(stats_.corrupt, absl::StrFormat("%s: a %d-byte datagram", spec_.name, len));
    return;
  }
  const uint32_t ssrc = dataplane::LoadBe32(data + 8);
  const uint16_t seq = dataplane::LoadBe16(data + 2);
  const size_t cc = data[0] & 0x0f;
  if ((ssrc & ~0xffu) == spec_.ssrc_base) {
    Problem(stats_.own_media, absl::StrFormat("%s received its own stream %08x", spec_.name, ssrc));
    return;
  }
  auto it = senders_.find(ssrc);
  if (it == senders_.end()) {
    Problem(stats_.foreign,
            absl::StrFormat("%s received %08x, which no room of its meeting sends", spec_.name, ssrc));
    return;
  }
  Sender& snd = it->second;
  if (snd.video != on_video_socket) {
    Problem(stats_.wrong_socket, absl::StrFormat("%s got %08x on its %s port", spec_.name, ssrc,
                                                 on_video_socket ? "video" : "audio"));
    return;
  }
  if (cc == 0 || len < 16 + 4 * cc) {
    Problem(stats_.corrupt, absl::StrFormat("%s: %08x arrived without its MUX-CSRC", spec_.name, ssrc));
    return;
  }
  const Position sink = static_cast<Position>(data[15] & 0x0f);
  const bool sink_ok = sink == Position::kCenter || sink == Position::kAux ||
                       (spec_.screens == 3 && (sink == Position::kLeft || sink == Position::kRight));
  if (!sink_ok) {
    Problem(stats_.wrong_sink, absl::StrFormat("%s: %08x for position %d, which it does not have",
                                               spec_.name, ssrc, static_cast<int>(sink)));
    return;
  }
  const bool new_source = snd.video && Showing(sink) != ssrc;
  const bool decrypt = verify_every_ == 1 || new_source || AnnouncesKey(format_, data, len) ||
                       stats_.received % static_cast<uint64_t>(verify_every_) == 0;
  PayloadHeader h;
  if (decrypt) {
    absl::StatusOr<ekt::EktReceiver::Received> r = ekt_.Receive({data, len});
    const bool resuming = !snd.srtp || snd.last_heard_ms == INT64_MIN ||
                          now_ms - snd.last_heard_ms > 200 || snd.awaiting > 0;
    // Video never waits: a display always starts on a refresh frame, which announces the key.
    if (!snd.video && MayAwaitKey(r.status(), AnnouncesKey(format_, data, len), resuming,
                                  snd.awaiting)) {
      ++snd.awaiting;
      ++stats_.awaiting_key;
      // It arrived, in order: the next packet must not count it as lost.
      snd.last_seq = seq;
      snd.last_heard_ms = now_ms;
      return;
    }
    snd.awaiting = 0;
    if (!r.ok()) {
      Problem(stats_.ekt_failed, absl::StrFormat("%s: %08x seq %d: %s", spec_.name, ssrc, seq,
                                                 r.status().message()));
      return;
    }
    if (r->learned_now || !snd.srtp) {
      ++stats_.keys_learned;
      if (!snd.srtp) {
        snd.srtp = oracle::LibsrtpSession::ReceiverFor(
            r->master, dataplane::SrtpProfile::kAesCm128HmacSha1_80, ssrc);
      } else {
        snd.srtp->UpdateKey(r->master, dataplane::SrtpProfile::kAesCm128HmacSha1_80, ssrc);
      }
      snd.key = r->master;
    }
    std::vector<uint8_t> pkt = std::move(r->srtp);
    // The index as EKT places it: libsrtp2 alone would guess ROC 0 for a stream first heard
    // after its sender wrapped, or lose count over a long absence.
    snd.srtp->SetRoc(ssrc, r->roc);
    if (snd.srtp->Unprotect(pkt) != srtp_err_status_ok) {
      Problem(stats_.srtp_failed,
              absl::StrFormat("%s: libsrtp2 refused %08x seq %d with the learned key", spec_.name, ssrc, seq));
      return;
    }
    size_t hdr = 12 + 4 * cc;
    if ((pkt[0] & 0x10) && pkt.size() >= hdr + 4) hdr += 4 + 4 * size_t{dataplane::LoadBe16(pkt.data() + hdr + 2)};
    if (hdr > pkt.size() ||
        !ReadPayload({pkt.data() + hdr, pkt.size() - hdr}, ssrc, seq, h) || h.room != snd.room ||
        h.position != static_cast<uint8_t>(snd.position)) {
      Problem(stats_.corrupt, absl::StrFormat("%s: %08x seq %d decrypted to something its sender "
                                              "did not send", spec_.name, ssrc, seq));
      return;
    }
    ++stats_.verified;
    if (latency_ns_.size() < kMaxLatencySamples && now_ns >= h.send_ns) {
      latency_ns_.push_back(static_cast<uint32_t>(std::min<uint64_t>(now_ns - h.send_ns, UINT32_MAX)));
    }
  } else {
    ++stats_.skipped;
  }
  // Order: a gap while the source stayed with us is a loss; a source coming back after a pause
  // (a display or loudest-N set that moved away and back) starts afresh.
  if (snd.last_seq && snd.last_heard_ms != INT64_MIN && now_ms - snd.last_heard_ms < 200) {
    const int16_t d = static_cast<int16_t>(seq - *snd.last_seq);
    if (d <= 0) {
      Problem(stats_.reordered, absl::StrFormat("%s: %08x seq %d after %d", spec_.name, ssrc, seq, *snd.last_seq));
    } else if (d > 1 && !new_source) {
      stats_.lost += static_cast<uint64_t>(d - 1);
      if (first_problem_.empty()) {
        first_problem_ = absl::StrFormat("%s: %08x lost %d packets before seq %d", spec_.name, ssrc, d - 1, seq);
      }
    }
  }
  snd.last_seq = seq;
  snd.last_heard_ms = now_ms;
  if (snd.video) display_heard_ms_[sink] = now_ms;
  if (new_source) {
    ++stats_.video_switches;
    // The switch may only start a new source on a display at the first packet of a refresh frame
    // (decrypt was forced above, so h is this packet's header).
    if ((h.flags & (kFrameStart | kRefresh)) != (kFrameStart | kRefresh)) {
      Problem(stats_.switch_not_on_refresh,
              absl::StrFormat("%s: display %s switched to %08x at seq %d, not a refresh frame's "
                              "first packet", spec_.name, control::PositionName(sink), ssrc, seq));
    }
    // A stream is on one display at a time: leaving another display for this one.
    for (auto s = showing_.begin(); s != showing_.end();) {
      s = s->second == ssrc ? showing_.erase(s) : std::next(s);
    }
    showing_[sink] = ssrc;
    history_.push_back({now_ms, sink, ssrc});
  }
}

}  // namespace mpswitch::sim
