// From meeting decisions to dataplane routes, and from dataplane samples back to the meeting.
//
// `MeetingTables` turns what every `Meeting` decided (which stream each display shows or waits
// for, which audio each receiver hears) into the dataplane's `StreamConfig`s: one route per
// receiver of a stream, the MUX-CSRC sink rewritten to the receiver's display (video) or speaker
// (audio) position, the activity/refresh byte stripped. A display waiting for a new source's
// refresh frame gets both routes, gated on one cell of the gate bank (see snapshot.h): the
// switch then happens in the dataplane on the IDR/GDR packet itself, not when control next looks.
//
// `StreamSampler` reads what workers report per stream (acceptance count, activity metric sum,
// refresh points; relaxed atomics written by the owning worker, no lock on the packet path) and
// feeds the deltas to the meetings as audio levels, refresh sightings and liveness.
//
// Threading: both belong to the control thread.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "mpswitch/control/meeting.h"
#include "mpswitch/dataplane/core/pipeline.h"
#include "mpswitch/dataplane/tables/snapshot.h"

namespace mpswitch::control {

// Where a leg's media meets the switch.
struct LegMedia {
  uint16_t video_port = 0;     // the switch's port receiving the leg's video (all its cameras)
  uint16_t audio_port = 0;     // ... and its audio
  uint32_t video_egress = 0;   // egress entries (DataplaneTables::egress) the leg receives on
  uint32_t audio_egress = 0;
};

// How the dataplane authenticates one sender stream.
struct StreamKeying {
  dataplane::TrailerFormat trailer = dataplane::TrailerFormat::kPlain;
  dataplane::SrtpProfile profile = dataplane::SrtpProfile::kAesCm128HmacSha1_80;
  dataplane::MasterKey master;  // plain SRTP only: EKT streams learn theirs from the packets
};

class MeetingTables {
 public:
  explicit MeetingTables(size_t gate_cells = 4096) : gates_(gate_cells) {}

  // The streams of every leg of `meetings`, routed as decided. `media` must name every leg (by
  // meeting index and leg id), `keys` every SSRC. rt_slots are stable per SSRC across calls, so
  // a republished stream keeps its replay window and ROC. Routes from a secure sender to a leg
  // that would need re-encryption (Meeting::NeedsReencryption) are left out and counted.
  absl::StatusOr<std::vector<dataplane::StreamConfig>> Streams(
      std::span<const Meeting* const> meetings,
      const std::map<std::pair<size_t, LegId>, LegMedia>& media,
      const std::map<uint32_t, StreamKeying>& keys);

  const dataplane::GateBank& gates() const { return gates_; }
  // Sources whose gate opened since the last call (their refresh frame reached a worker).
  std::vector<uint32_t> TakeOpenedGates();
  uint64_t routes_withheld() const { return withheld_; }
  // rt_slot of an SSRC, or ~0u when it has none.
  uint32_t SlotOf(uint32_t ssrc) const;

 private:
  dataplane::GateRef GateFor(uint32_t ssrc);
  uint32_t Slot(uint32_t ssrc);

  dataplane::GateBank gates_;
  std::map<uint32_t, dataplane::GateRef> gate_of_;  // pending sources
  uint16_t next_gate_ = 1;
  uint32_t next_serial_ = 1;
  std::map<uint32_t, uint32_t> slot_of_;
  std::vector<uint32_t> free_slots_;
  uint32_t slot_bound_ = 0;
  uint64_t withheld_ = 0;
};

// Per-stream reports of the workers turned into meeting inputs.
class StreamSampler {
 public:
  // Reads every stream `tables` placed (by rt_slot) in each of `workers` and reports what changed
  // since the last call to the meeting holding the SSRC: OnAudioLevel with the mean metric of the
  // packets since (audio), OnMedia (video). Refresh frames reach the meetings through
  // MeetingTables::TakeOpenedGates: call it, and OnVideoPacket(ssrc, 1) for each, before
  // rebuilding the streams.
  void Sample(const MeetingTables& tables, std::span<const dataplane::WorkerState* const> workers,
              std::span<Meeting* const> meetings, int64_t now);

 private:
  struct Last {
    uint64_t accepted = 0;
    uint64_t activity_sum = 0;
  };
  std::map<uint32_t, Last> last_;  // by SSRC
};

}  // namespace mpswitch::control
