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

GateRef MeetingTables::NewGate() {
  // Cells are handed out round robin over the whole bank, each time with a new non-zero serial:
  // a cell is reused only after every other one was, long after any snapshot naming its old
  // serial is gone.
  GateRef g{next_gate_, next_serial_};
  next_serial_ = next_serial_ + 1 == 0 ? 1 : next_serial_ + 1;
  next_gate_ = static_cast<uint16_t>(size_t{next_gate_} + 1 < gates_->size() ? next_gate_ + 1 : 1);
  return g;
}

uint32_t MeetingTables::Slot(StreamKey key) {
  auto it = slot_of_.find(key);
  if (it != slot_of_.end()) return it->second;
  uint32_t s;
  if (!free_slots_.empty()) {
    s = free_slots_.back();
    free_slots_.pop_back();
  } else {
    s = slot_bound_++;
  }
  slot_of_.emplace(key, s);
  return s;
}

uint32_t MeetingTables::SlotOf(size_t meeting, uint32_t ssrc) const {
  auto it = slot_of_.find({meeting, ssrc});
  return it == slot_of_.end() ? ~0u : it->second;
}

std::vector<DisplaySwitch> MeetingTables::TakeSwitches() {
  std::vector<DisplaySwitch> out;
  for (auto it = gate_of_.begin(); it != gate_of_.end();) {
    if (!gates_->IsOpen(it->second.ref)) {
      ++it;
      continue;
    }
    for (const DisplayKey& d : it->second.covered) {
      out.push_back({d.first, d.second.first, d.second.second, it->first.second});
    }
    it = gate_of_.erase(it);
  }
  return out;
}

absl::StatusOr<std::vector<StreamConfig>> MeetingTables::Streams(
    std::span<const Meeting* const> meetings,
    const std::map<std::pair<size_t, LegId>, LegMedia>& media,
    const std::map<std::pair<size_t, uint32_t>, StreamKeying>& keys) {
  std::vector<StreamConfig> out;
  std::map<StreamKey, size_t> index;  // (meeting, SSRC) -> position in `out`
  std::set<StreamKey> waited_for;
  withheld_ = 0;
  // What gates that opened since the last TakeSwitches did in the dataplane: those displays show
  // the new source already.
  std::map<DisplayKey, StreamKey> switched;
  for (auto& [src, g] : gate_of_) {
    if (!gates_->IsOpen(g.ref)) {
      g.covered.clear();  // rebuilt below from what this call publishes
      continue;
    }
    for (const DisplayKey& d : g.covered) switched[d] = src;
  }

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
        auto kit = keys.find({mi, ssrc});
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
        c.key_epoch = kit->second.instance;
        c.ekt_spi = kit->second.ekt_spi;
        c.ekt_spi_retiring = kit->second.ekt_spi_retiring;
        c.source_policy = mit->second.source_policy;
        c.source = mit->second.source;
        c.source_port = video ? mit->second.video_source_port : mit->second.audio_source_port;
        c.rt_slot = Slot({mi, ssrc});
        c.trailing = video ? TrailingByte::kVideoRefresh : TrailingByte::kAudioActivity;
        if (!index.emplace(StreamKey{mi, ssrc}, out.size()).second) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "SSRC 0x%08x is used by two legs of meeting %d", ssrc, mi));
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
      auto it = index.find({mi, src.ssrc});
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
        const DisplayKey dk{mi, {r, p}};
        const std::optional<StreamRef>& shown = d.shown;
        const std::optional<StreamRef>& pending = d.pending;
        if (auto sw = switched.find(dk); sw != switched.end()) {
          // The dataplane shows the gate's source here: keep routing it under its open gate.
          // Whatever the meeting chose since waits until the switch is taken (a route has one
          // gate, and this one must not close at another source's refresh).
          if (const auto found = m.Find(sw->second.second)) {
            route(*found, r, MakeRoute(rm.video_egress, p, GateMode::kAfterOpen,
                                       gate_of_.at(sw->second).ref));
          }
          continue;
        }
        if (pending) {
          const StreamKey src{mi, pending->ssrc};
          auto git = gate_of_.find(src);
          if (git == gate_of_.end()) git = gate_of_.emplace(src, Gate{NewGate(), {}}).first;
          if (gates_->IsOpen(git->second.ref)) {
            // Opened for other displays since the last TakeSwitches: this one waits for the
            // next refresh frame under a new gate, after those are taken.
            if (shown) route(*shown, r, MakeRoute(rm.video_egress, p));
            waited_for.insert(src);
            continue;
          }
          git->second.covered.insert(dk);
          waited_for.insert(src);
          route(*pending, r, MakeRoute(rm.video_egress, p, GateMode::kAfterOpen, git->second.ref));
          if (shown) {
            route(*shown, r, MakeRoute(rm.video_egress, p, GateMode::kUntilOpen, git->second.ref));
          }
        } else if (shown) {
          route(*shown, r, MakeRoute(rm.video_egress, p));
        }
      }
      for (const StreamRef& a : m.audio_for(r)) {
        route(a, r, MakeRoute(rm.audio_egress, SpeakerFor(*rc, a.position)));
      }
    }
  }
  // Gates nobody waits for any more go, unless they opened (TakeSwitches reports those); the
  // others are opened by their source.
  for (auto it = gate_of_.begin(); it != gate_of_.end();) {
    const bool keep = waited_for.count(it->first) || gates_->IsOpen(it->second.ref);
    it = keep ? std::next(it) : gate_of_.erase(it);
  }
  for (const auto& [src, g] : gate_of_) {
    if (auto it = index.find(src); it != index.end()) out[it->second].opens_gate = g.ref;
  }
  // Slots of streams that are gone go back to the pool. A new owner starts clean: its admission
  // instance (the key epoch) differs, see StreamRt::Holds.
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
  std::map<std::pair<size_t, uint32_t>, Last> seen;
  for (size_t mi = 0; mi < meetings.size(); ++mi) {
    Meeting* m = meetings[mi];
    for (LegId l : m->legs()) {
      const LegConfig* lc = m->leg(l);
      auto sample = [&](uint32_t ssrc, bool audio) {
        const uint32_t slot = tables.SlotOf(mi, ssrc);
        if (slot == ~0u) return;
        Last now_v;
        now_v.slot = slot;
        // A stream is written by the one worker owning its port; the others' slots stay zero.
        for (const dataplane::WorkerState* w : workers) {
          if (slot >= w->stream_slots()) continue;
          const dataplane::StreamRt& rt = w->stream(slot);
          now_v.accepted += rt.accepted.load(std::memory_order_relaxed);
          now_v.activity_sum += rt.activity_sum.load(std::memory_order_relaxed);
        }
        auto prev_it = last_.find({mi, ssrc});
        seen[{mi, ssrc}] = now_v;
        // First sight, or a new slot: the counters hold earlier owners' packets.
        if (prev_it == last_.end() || prev_it->second.slot != slot) return;
        const Last& prev = prev_it->second;
        if (now_v.accepted < prev.accepted) return;
        const uint64_t packets = now_v.accepted - prev.accepted;
        if (packets == 0) return;
        if (audio) {
          const uint64_t sum = now_v.activity_sum - prev.activity_sum;
          m->OnAudioLevel(ssrc, static_cast<uint8_t>(std::min<uint64_t>(sum / packets, 100)), now);
        } else {
          // Liveness only: refresh frames count as switch points only through the gates they
          // opened (MeetingTables::TakeSwitches), which by construction came after the decision;
          // a refresh sampled here may predate it.
          m->OnMedia(ssrc, now);
        }
      };
      for (const auto& [pos, ssrc] : lc->video) sample(ssrc, false);
      if (lc->presentation_video) sample(*lc->presentation_video, false);
      for (const auto& [pos, ssrc] : lc->audio) sample(ssrc, true);
      if (lc->presentation_audio) sample(*lc->presentation_audio, true);
    }
  }
  last_ = std::move(seen);  // streams that are gone are forgotten
}

}  // namespace mpswitch::control
