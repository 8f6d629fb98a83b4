#include "mpswitch/control/meeting_tables.h"

#include <algorithm>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace mpswitch::control {
namespace {

using dataplane::GateMode;
using dataplane::GateRef;
using dataplane::RouteConfig;
using dataplane::StreamConfig;
using dataplane::TrailingByte;

constexpr Position kVideoPositions3[] = {Position::kCenter, Position::kLeft, Position::kRight};
constexpr Position kVideoPositions1[] = {Position::kCenter};

RouteConfig MakeRoute(uint32_t egress, Position sink, GateMode mode = GateMode::kNone,
                      GateRef gate = {}) {
  RouteConfig r;
  r.egress = egress;
  r.csrc = dataplane::CsrcRewrite{};
  r.csrc->sink = static_cast<uint8_t>(sink);
  r.gate_mode = mode;
  r.gate = mode == GateMode::kNone ? GateRef{} : gate;
  return r;
}

// Which speaker of the receiver plays an audio stream: its own position on a three-screen room
// (the voice comes from the screen the talker is on), the center speaker of a one-screen room,
// aux for presentation audio.
Position SpeakerFor(const LegConfig& receiver, Position source) {
  if (source == Position::kAux) return Position::kAux;
  return receiver.screens == 3 ? source : Position::kCenter;
}

}  // namespace

GateRef MeetingTables::GateFor(uint32_t ssrc) {
  auto it = gate_of_.find(ssrc);
  if (it != gate_of_.end()) return it->second;
  // Cells are handed out round robin over the whole bank, each time with a new serial: a cell is
  // reused only after every other one was, long after any snapshot naming its old serial is gone.
  GateRef g{next_gate_, next_serial_++};
  next_gate_ = static_cast<uint16_t>(size_t{next_gate_} + 1 < gates_.size() ? next_gate_ + 1 : 1);
  gate_of_.emplace(ssrc, g);
  return g;
}

uint32_t MeetingTables::Slot(uint32_t ssrc) {
  auto it = slot_of_.find(ssrc);
  if (it != slot_of_.end()) return it->second;
  uint32_t s;
  if (!free_slots_.empty()) {
    s = free_slots_.back();
    free_slots_.pop_back();
  } else {
    s = slot_bound_++;
  }
  slot_of_.emplace(ssrc, s);
  return s;
}

uint32_t MeetingTables::SlotOf(uint32_t ssrc) const {
  auto it = slot_of_.find(ssrc);
  return it == slot_of_.end() ? ~0u : it->second;
}

std::vector<uint32_t> MeetingTables::TakeOpenedGates() {
  std::vector<uint32_t> opened;
  for (auto it = gate_of_.begin(); it != gate_of_.end();) {
    if (gates_.IsOpen(it->second)) {
      opened.push_back(it->first);
      it = gate_of_.erase(it);
    } else {
      ++it;
    }
  }
  return opened;
}

absl::StatusOr<std::vector<StreamConfig>> MeetingTables::Streams(
    std::span<const Meeting* const> meetings,
    const std::map<std::pair<size_t, LegId>, LegMedia>& media,
    const std::map<uint32_t, StreamKeying>& keys) {
  std::vector<StreamConfig> out;
  std::map<uint32_t, size_t> index;  // SSRC -> position in `out`
  std::set<uint32_t> pending_sources;

  for (size_t mi = 0; mi < meetings.size(); ++mi) {
    const Meeting& m = *meetings[mi];
    // Every stream of every leg, with no routes yet.
    for (LegId l : m.legs()) {
      const LegConfig* lc = m.leg(l);
      auto mit = media.find({mi, l});
      if (mit == media.end()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "meeting %d leg %d (call %s) has no media ports and egress", mi, l, lc->call_id));
      }
      auto add = [&](uint32_t ssrc, bool video) -> absl::Status {
        auto kit = keys.find(ssrc);
        if (kit == keys.end()) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "SSRC 0x%08x of call %s has no keying", ssrc, lc->call_id));
        }
        StreamConfig c;
        c.local_port = video ? mit->second.video_port : mit->second.audio_port;
        c.ssrc = ssrc;
        c.profile = kit->second.profile;
        c.master = kit->second.master;
        c.trailer = kit->second.trailer;
        c.rt_slot = Slot(ssrc);
        c.trailing = video ? TrailingByte::kVideoRefresh : TrailingByte::kAudioActivity;
        if (!index.emplace(ssrc, out.size()).second) {
          return absl::InvalidArgumentError(
              absl::StrFormat("SSRC 0x%08x is used by two legs", ssrc));
        }
        out.push_back(std::move(c));
        return absl::OkStatus();
      };
      for (const auto& [pos, ssrc] : lc->video) {
        if (auto st = add(ssrc, true); !st.ok()) return st;
      }
      if (lc->presentation_video) {
        if (auto st = add(*lc->presentation_video, true); !st.ok()) return st;
      }
      for (const auto& [pos, ssrc] : lc->audio) {
        if (auto st = add(ssrc, false); !st.ok()) return st;
      }
      if (lc->presentation_audio) {
        if (auto st = add(*lc->presentation_audio, false); !st.ok()) return st;
      }
    }
    auto route = [&](const StreamRef& src, LegId receiver, RouteConfig r) {
      if (m.NeedsReencryption(src.leg, receiver)) {
        ++withheld_;
        return;
      }
      auto it = index.find(src.ssrc);
      if (it != index.end()) out[it->second].routes.push_back(r);
    };
    // What each receiver sees and hears.
    for (LegId r : m.legs()) {
      const LegConfig* rc = m.leg(r);
      const LegMedia& rm = media.at({mi, r});
      std::vector<Position> displays(rc->screens == 3 ? std::begin(kVideoPositions3)
                                                      : std::begin(kVideoPositions1),
                                     rc->screens == 3 ? std::end(kVideoPositions3)
                                                      : std::end(kVideoPositions1));
      displays.push_back(Position::kAux);
      for (Position p : displays) {
        const Display& d = m.display(r, p);
        if (d.pending) {
          const GateRef g = GateFor(d.pending->ssrc);
          pending_sources.insert(d.pending->ssrc);
          route(*d.pending, r, MakeRoute(rm.video_egress, p, GateMode::kAfterOpen, g));
          if (d.shown) route(*d.shown, r, MakeRoute(rm.video_egress, p, GateMode::kUntilOpen, g));
        } else if (d.shown) {
          route(*d.shown, r, MakeRoute(rm.video_egress, p));
        }
      }
      for (const StreamRef& a : m.audio_for(r)) {
        route(a, r, MakeRoute(rm.audio_egress, SpeakerFor(*rc, a.position)));
      }
    }
  }
  // Sources no longer pending give their gate up; pending ones open theirs.
  for (auto it = gate_of_.begin(); it != gate_of_.end();) {
    it = pending_sources.count(it->first) ? std::next(it) : gate_of_.erase(it);
  }
  for (uint32_t ssrc : pending_sources) out[index.at(ssrc)].opens_gate = gate_of_.at(ssrc);
  // Slots of streams that are gone go back to the pool (a new owner starts clean: its key id
  // differs, see StreamRt::Holds).
  for (auto it = slot_of_.begin(); it != slot_of_.end();) {
    if (index.count(it->first)) {
      ++it;
    } else {
      free_slots_.push_back(it->second);
      it = slot_of_.erase(it);
    }
  }
  return out;
}

void StreamSampler::Sample(const MeetingTables& tables,
                           std::span<const dataplane::WorkerState* const> workers,
                           std::span<Meeting* const> meetings, int64_t now) {
  for (Meeting* m : meetings) {
    for (LegId l : m->legs()) {
      const LegConfig* lc = m->leg(l);
      auto sample = [&](uint32_t ssrc, bool audio) {
        const uint32_t slot = tables.SlotOf(ssrc);
        if (slot == ~0u) return;
        Last now_v;
        // A stream is written by the one worker owning its port; the others' slots stay zero.
        for (const dataplane::WorkerState* w : workers) {
          if (slot >= w->stream_slots()) continue;
          const dataplane::StreamRt& rt = w->stream(slot);
          now_v.accepted += rt.accepted.load(std::memory_order_relaxed);
          now_v.activity_sum += rt.activity_sum.load(std::memory_order_relaxed);
        }
        Last& prev = last_[ssrc];
        // Counters restart when a slot changes hands or is re-keyed: treat that as a new start.
        if (now_v.accepted < prev.accepted) prev = Last{};
        const uint64_t packets = now_v.accepted - prev.accepted;
        if (packets != 0) {
          if (audio) {
            const uint64_t sum = now_v.activity_sum - prev.activity_sum;
            m->OnAudioLevel(ssrc, static_cast<uint8_t>(std::min<uint64_t>(sum / packets, 100)),
                            now);
          } else {
            // Liveness only: a refresh counts as a switch point only through the gate it opened
            // (MeetingTables::TakeOpenedGates), which by construction came after the decision; a
            // refresh sampled here may predate it.
            m->OnMedia(ssrc, now);
          }
        }
        prev = now_v;
      };
      for (const auto& [pos, ssrc] : lc->video) sample(ssrc, false);
      if (lc->presentation_video) sample(*lc->presentation_video, false);
      for (const auto& [pos, ssrc] : lc->audio) sample(ssrc, true);
      if (lc->presentation_audio) sample(*lc->presentation_audio, true);
    }
  }
}

}  // namespace mpswitch::control
