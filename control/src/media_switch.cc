#include "mpswitch/control/media_switch.h"

#include <malloc.h>
#include <openssl/rand.h>

#include <utility>

#include "absl/strings/str_format.h"

namespace mpswitch::control {

MediaSwitch::MediaSwitch(MediaSwitchOptions options, Dataplane& dataplane)
    : options_(options),
      dataplane_(dataplane),
      tables_(options.gate_cells),
      port_used_(options.port_count, false) {}

absl::StatusOr<size_t> MediaSwitch::CreateMeeting(const MeetingConfig& config) {
  if (absl::Status s = ValidateMeetingConfig(config); !s.ok()) return s;
  if (config.policy == SecurityPolicy::kNonSecure) {
    // Its legs may never hold the group key, so they could neither send EKT media nor decrypt
    // any: a non-secure meeting needs plain RTP forwarding, which is not built.
    return absl::UnimplementedError(absl::StrFormat(
        "conference %s: non-secure meetings are not supported yet (no plain RTP forwarding); use "
        "a secure or best-effort policy", config.conference_id));
  }
  absl::StatusOr<ekt::GroupParams> g = NewGroup();
  if (!g.ok()) return g.status();
  MeetingState ms;
  ms.meeting = std::make_unique<Meeting>(config);
  ms.group = std::move(*g);
  meetings_.push_back(std::move(ms));
  dirty_ = true;
  return meetings_.size() - 1;
}

absl::StatusOr<ekt::GroupParams> MediaSwitch::NewGroup() {
  ekt::GroupParams g;
  g.format = options_.ekt_format;
  g.cipher = options_.ekt_format == ekt::EktFormat::kRfc8870 ? ekt::EktCipher::kAesKwp128
                                                             : options_.ekt_cipher;
  // In-tag SPIs are 15 bits; start at 1 so that 0 never names a group.
  uint16_t spi = 1;
  while (used_spis_.count(spi) != 0 && spi < 0x7fff) ++spi;
  if (used_spis_.count(spi) != 0) {
    return absl::ResourceExhaustedError("every EKT SPI (1..32767) is in use by a meeting");
  }
  g.spi = spi;
  g.kek.resize(16);
  if (RAND_bytes(g.kek.data(), static_cast<int>(g.kek.size())) != 1 ||
      RAND_bytes(g.salt.data(), static_cast<int>(g.salt.size())) != 1) {
    return absl::InternalError("OpenSSL's RNG refused to produce a meeting's KEK");
  }
  if (absl::Status s = ekt::Validate(g); !s.ok()) return s;
  used_spis_.insert(spi);
  if (options_.keylog) options_.keylog->Ekt(g);
  return g;
}

void MediaSwitch::SetStreamSpis(size_t m) {
  const MeetingState& ms = meetings_[m];
  for (auto it = keys_.lower_bound({m, 0}); it != keys_.end() && it->first.first == m; ++it) {
    it->second.ekt_spi = ms.group.spi;
    it->second.ekt_spi_retiring = ms.retiring ? ms.retiring->spi : 0;
  }
  dirty_ = true;
}

absl::Status MediaSwitch::RotateGroup(size_t m, int64_t now_ms) {
  if (m >= meetings_.size()) return absl::NotFoundError(absl::StrFormat("no meeting %d", m));
  absl::StatusOr<ekt::GroupParams> g = NewGroup();
  if (!g.ok()) return g.status();
  MeetingState& ms = meetings_[m];
  // A group older than the one being replaced has had its grace already cut short: only the
  // newest two are ever accepted. Its SPI is free again; its KEK is wiped as it goes.
  if (ms.retiring) used_spis_.erase(ms.retiring->spi);
  ms.retiring = std::move(ms.group);
  ms.group = std::move(*g);
  ms.retire_at_ms = now_ms + options_.group_retire_after_ms;
  ++rotations_;
  SetStreamSpis(m);
  for (LegId l : ms.meeting->legs()) {
    if (!ms.meeting->MayReceiveGroupKey(l)) continue;
    Event e{Event::Kind::kGroupKey};
    e.leg = l;
    events_.push_back({m, std::move(e), ms.group});
  }
  return absl::OkStatus();
}

absl::StatusOr<Admission> MediaSwitch::Join(size_t m, const LegConfig& leg,
                                            const LegAddress& address, int64_t now_ms) {
  if (m >= meetings_.size()) return absl::NotFoundError(absl::StrFormat("no meeting %d", m));
  if (address.addr.family == 0 || address.video_port == 0 || address.audio_port == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "leg %s: its receive address and both ports must be given", leg.call_id));
  }
  if (options_.port_count < 2 || uint32_t{options_.first_port} + options_.port_count > 65536) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the media port range %d+%d is unusable: it needs at least 2 ports, all below 65536",
        options_.first_port, options_.port_count));
  }
  // Ports first, so that a full switch refuses before the meeting records anything.
  const uint16_t half = options_.port_count / 2;
  int slot = -1;
  for (uint16_t i = 0; i < half; ++i) {
    if (!port_used_[i] && !port_used_[i + half]) {
      slot = i;
      break;
    }
  }
  if (slot < 0) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "no free media ports for leg %s: all %d port pairs of %d-%d are taken; configure a "
        "larger media port range",
        leg.call_id, half, options_.first_port, options_.first_port + options_.port_count - 1));
  }
  MeetingState& ms = meetings_[m];
  // A non-secure leg: a secure meeting refuses it itself (with the texts of PROTOCOLS.md §8,
  // below); any other policy would admit it, and downgrade a running best-effort meeting, for a
  // leg this switch could not carry. Refused before the meeting sees it.
  if (!leg.secure && ms.meeting->config().policy != SecurityPolicy::kSecure) {
    return absl::UnimplementedError(absl::StrFormat(
        "leg %s is non-secure: the policy of conference %s admits it, but this switch only "
        "carries secure (SRTP + EKT) legs; plain RTP forwarding and per-leg re-encryption are not "
        "built",
        leg.call_id, ms.meeting->config().conference_id));
  }
  absl::StatusOr<LegId> id = ms.meeting->Join(leg, now_ms);
  // The meeting's events (refusal texts, notifications, and removals of legs whose media timed
  // out by now) are kept whatever the outcome.
  AbsorbEvents(m, now_ms);
  if (!id.ok()) return id.status();

  LegPorts p;
  p.video_port = static_cast<uint16_t>(options_.first_port + slot);
  p.audio_port = static_cast<uint16_t>(options_.first_port + slot + half);
  port_used_[slot] = port_used_[slot + half] = true;
  auto take_egress = [this](dataplane::Egress e) {
    if (!free_egress_.empty()) {
      const uint32_t i = free_egress_.back();
      free_egress_.pop_back();
      egress_[i] = e;
      return i;
    }
    egress_.push_back(e);
    return static_cast<uint32_t>(egress_.size() - 1);
  };
  p.video_egress = take_egress({p.video_port, address.addr, address.video_port});
  p.audio_egress = take_egress({p.audio_port, address.addr, address.audio_port});
  ports_[{m, *id}] = p;
  LegMedia lm{p.video_port, p.audio_port, p.video_egress, p.audio_egress};
  lm.source_policy = address.behind_nat ? dataplane::SourcePolicy::kLatch
                                        : dataplane::SourcePolicy::kSignalled;
  lm.source = address.addr;
  lm.video_source_port = address.video_port;
  lm.audio_source_port = address.audio_port;
  media_[{m, *id}] = lm;

  const dataplane::TrailerFormat trailer = ms.group.format == ekt::EktFormat::kRfc8870
                                               ? dataplane::TrailerFormat::kEktRfc8870
                                               : dataplane::TrailerFormat::kEktInTag;
  const dataplane::SrtpProfile profile = ms.group.tag_32
                                             ? dataplane::SrtpProfile::kAesCm128HmacSha1_32
                                             : dataplane::SrtpProfile::kAesCm128HmacSha1_80;
  // Every stream of this admission gets a new instance: whatever the dataplane remembers of an
  // earlier owner of the same SSRC (key, replay window, ROC, source) is forgotten.
  const uint32_t instance = next_instance_;
  next_instance_ = next_instance_ + 1 == 0 ? 1 : next_instance_ + 1;
  auto key = [&](uint32_t ssrc) {
    StreamKeying k{trailer, profile, {}};
    k.instance = instance;
    k.ekt_spi = ms.group.spi;
    k.ekt_spi_retiring = ms.retiring ? ms.retiring->spi : 0;
    keys_[{m, ssrc}] = k;
  };
  for (const auto& [pos, ssrc] : leg.video) key(ssrc);
  for (const auto& [pos, ssrc] : leg.audio) key(ssrc);
  if (leg.presentation_video) key(*leg.presentation_video);
  if (leg.presentation_audio) key(*leg.presentation_audio);
  dirty_ = true;

  Admission a;
  a.leg = *id;
  a.video_port = p.video_port;
  a.audio_port = p.audio_port;
  if (ms.meeting->MayReceiveGroupKey(*id)) a.group = ms.group;
  return a;
}

void MediaSwitch::Release(size_t m, LegId leg, int64_t now_ms) {
  auto it = ports_.find({m, leg});
  if (it == ports_.end()) return;
  const LegPorts& p = it->second;
  port_used_[p.video_port - options_.first_port] = false;
  port_used_[p.audio_port - options_.first_port] = false;
  free_egress_.push_back(p.video_egress);
  free_egress_.push_back(p.audio_egress);
  ports_.erase(it);
  media_.erase({m, leg});
  // The leg's SSRCs leave the keys map; the meeting no longer lists its streams.
  for (auto k = keys_.begin(); k != keys_.end();) {
    if (k->first.first == m && !meetings_[m].meeting->Find(k->first.second)) {
      k = keys_.erase(k);
    } else {
      ++k;
    }
  }
  dirty_ = true;
  // Whoever left still holds the meeting's KEK: the others move to a new one. Failing that (no
  // SPI left, no randomness) the leg is gone all the same; its media is refused by address.
  (void)RotateGroup(m, now_ms);
}

absl::Status MediaSwitch::Leave(size_t m, LegId leg, int64_t now_ms) {
  if (m >= meetings_.size()) return absl::NotFoundError(absl::StrFormat("no meeting %d", m));
  if (absl::Status s = meetings_[m].meeting->Leave(leg, now_ms); !s.ok()) return s;
  Release(m, leg, now_ms);
  return absl::OkStatus();
}

absl::Status MediaSwitch::SetMode(size_t m, SwitchingMode mode, int64_t now_ms) {
  if (m >= meetings_.size()) return absl::NotFoundError(absl::StrFormat("no meeting %d", m));
  meetings_[m].meeting->SetMode(mode, now_ms);
  return absl::OkStatus();
}

std::optional<LegId> MediaSwitch::LegOfSsrc(size_t m, uint32_t ssrc) const {
  if (m >= meetings_.size()) return std::nullopt;
  auto s = meetings_[m].meeting->Find(ssrc);
  if (!s) return std::nullopt;
  return s->leg;
}

absl::Status MediaSwitch::Step(int64_t now_ms) {
  dataplane_.Service();
  // Every display a gate covered first, then each source's answer once: a display still
  // waiting for it after that is asked for anew (Meeting::OnRefreshAnswered).
  std::set<std::pair<size_t, uint32_t>> answered;
  for (const DisplaySwitch& sw : tables_.TakeSwitches()) {
    meetings_[sw.meeting].meeting->OnDisplaySwitched(sw.receiver, sw.display, sw.ssrc, now_ms);
    answered.insert({sw.meeting, sw.ssrc});
  }
  for (const auto& [m, ssrc] : answered) meetings_[m].meeting->OnRefreshAnswered(ssrc, now_ms);
  std::vector<Meeting*> ms;
  ms.reserve(meetings_.size());
  for (MeetingState& s : meetings_) ms.push_back(s.meeting.get());
  const std::vector<const dataplane::WorkerState*> workers = dataplane_.workers();
  sampler_.Sample(tables_, workers, ms, now_ms);
  for (size_t m = 0; m < meetings_.size(); ++m) {
    MeetingState& ms = meetings_[m];
    if (ms.retiring && now_ms >= ms.retire_at_ms) {
      used_spis_.erase(ms.retiring->spi);
      ms.retiring.reset();  // GroupParams wipes its KEK as it goes
      SetStreamSpis(m);
    }
    meetings_[m].meeting->Tick(now_ms);
    AbsorbEvents(m, now_ms);
    if (meetings_[m].meeting->version() != meetings_[m].published_version) dirty_ = true;
  }
  absl::Status s = dirty_ ? Publish() : absl::OkStatus();
  dataplane_.Reclaim();
  return s;
}

absl::Status MediaSwitch::Publish() {
  std::vector<const Meeting*> ms;
  ms.reserve(meetings_.size());
  for (const MeetingState& s : meetings_) ms.push_back(s.meeting.get());
  absl::StatusOr<std::vector<dataplane::StreamConfig>> streams =
      tables_.Streams(ms, media_, keys_);
  if (!streams.ok()) return streams.status();
  std::vector<ekt::GroupParams> groups;  // copies wipe their KEKs as they go (SecretBytes)
  groups.reserve(2 * meetings_.size());
  for (const MeetingState& s : meetings_) {
    groups.push_back(s.group);
    if (s.retiring) groups.push_back(*s.retiring);
  }
  // In use from the arenas and from mmap (large blocks); other threads' allocations meanwhile
  // add noise, which is why this is a figure for benchmarks, not an accounting.
  auto heap_in_use = [this]() -> size_t {
    if (!options_.measure_table_memory) return 0;
    const struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
  };
  const size_t before = heap_in_use();
  absl::StatusOr<dataplane::DataplaneTables> t = dataplane::DataplaneTables::Build(
      *streams, egress_, groups, ++generation_, tables_.gates());
  if (!t.ok()) return t.status();
  const size_t after = heap_in_use();
  last_tables_bytes_ = after > before ? after - before : 0;
  streams_ = streams->size();
  if (absl::Status s = dataplane_.Publish(std::move(*t)); !s.ok()) return s;
  ++publications_;
  for (MeetingState& s : meetings_) s.published_version = s.meeting->version();
  dirty_ = false;
  return absl::OkStatus();
}

void MediaSwitch::AbsorbEvents(size_t m, int64_t now_ms) {
  for (Event& e : meetings_[m].meeting->TakeEvents()) {
    const bool removed = e.kind == Event::Kind::kLegRemoved;
    const LegId leg = e.leg;
    events_.push_back({m, std::move(e), std::nullopt});
    // A leg the meeting removed on its own (media timeout) gives its ports back, and the
    // others get a new group (after the removal in the event order).
    if (removed) Release(m, leg, now_ms);
  }
}

std::vector<SwitchEvent> MediaSwitch::TakeEvents() { return std::exchange(events_, {}); }

}  // namespace mpswitch::control
