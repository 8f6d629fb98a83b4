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

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
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
  // Where the leg's media comes from: its streams are accepted from nowhere else.
  dataplane::SourcePolicy source_policy = dataplane::SourcePolicy::kAny;
  dataplane::IpAddr source;
  uint16_t video_source_port = 0;
  uint16_t audio_source_port = 0;
};

// How the dataplane authenticates one sender stream.
struct StreamKeying {
  dataplane::TrailerFormat trailer = dataplane::TrailerFormat::kPlain;
  dataplane::SrtpProfile profile = dataplane::SrtpProfile::kAesCm128HmacSha1_80;
  dataplane::MasterKey master;  // plain SRTP only: EKT streams learn theirs from the packets
  // Which admission of the stream this is: a stream admitted again (the same SSRC rejoining,
  // even on the same port and state slot) gets a new value and so starts with clean state in the
  // dataplane (StreamConfig::key_epoch). Never 0.
  uint32_t instance = 1;
  // EKT streams: the meeting group's SPI, and during a KEK rotation the retiring group's (0: none).
  uint16_t ekt_spi = 0;
  uint16_t ekt_spi_retiring = 0;
};

// A display the dataplane switched on a refresh frame: report it with
// Meeting::OnDisplaySwitched.
struct DisplaySwitch {
  size_t meeting = 0;  // index into the meetings passed to Streams
  LegId receiver = 0;
  Position display = Position::kCenter;
  uint32_t ssrc = 0;
};

// The control loop, in this order: TakeSwitches (OnDisplaySwitched for each, then
// OnRefreshAnswered once per source), then the inputs (StreamSampler::Sample, Tick, ...), then Streams and publish. Switches are taken first
// so that nothing is decided on a state the dataplane has already left.
class MeetingTables {
 public:
  // `gate_cells` at most 65536 (gate indices are 16 bits; cell 0 means "none").
  explicit MeetingTables(size_t gate_cells = 4096)
      : gates_(std::make_shared<dataplane::GateBank>(std::min<size_t>(gate_cells, 65536))) {}

  // The streams of every leg of `meetings`, routed as decided. `media` must name every leg (by
  // meeting index and leg id), `keys` every SSRC of a meeting (by meeting index and SSRC).
  // rt_slots are stable per stream across calls, so a republished stream keeps its replay window
  // and ROC. A display whose pending source's gate has opened since the last TakeSwitches is
  // routed as the dataplane shows it (the new source), and a display that starts waiting for a
  // source whose gate is already open waits for the next call: an open gate never covers a
  // display it was not published for. Routes from a secure sender to a leg that would need
  // re-encryption (Meeting::NeedsReencryption) are left out (routes_withheld counts them).
  // Every result must be published: gates are tracked against the latest one.
  absl::StatusOr<std::vector<dataplane::StreamConfig>> Streams(
      std::span<const Meeting* const> meetings,
      const std::map<std::pair<size_t, LegId>, LegMedia>& media,
      const std::map<std::pair<size_t, uint32_t>, StreamKeying>& keys);

  // The bank every snapshot built from Streams must be given; shared, so that a snapshot still
  // in a worker's hands keeps it alive (DataplaneTables::Build takes it).
  const std::shared_ptr<dataplane::GateBank>& gates() const { return gates_; }
  // The displays switched since the last call: each published gate that opened, for every
  // display it covered.
  std::vector<DisplaySwitch> TakeSwitches();
  // Routes left out by the last Streams call.
  uint64_t routes_withheld() const { return withheld_; }
  // rt_slot of a meeting's SSRC, or ~0u when it has none.
  uint32_t SlotOf(size_t meeting, uint32_t ssrc) const;

 private:
  using StreamKey = std::pair<size_t, uint32_t>;                 // (meeting, SSRC)
  using DisplayKey = std::pair<size_t, std::pair<LegId, Position>>;  // (meeting, receiver, display)
  struct Gate {
    dataplane::GateRef ref;
    std::set<DisplayKey> covered;  // the displays the latest published routes gate on it
  };
  dataplane::GateRef NewGate();
  uint32_t Slot(StreamKey key);

  std::shared_ptr<dataplane::GateBank> gates_;
  std::map<StreamKey, Gate> gate_of_;  // sources some display waits for
  uint16_t next_gate_ = 1;
  uint32_t next_serial_ = 1;
  std::map<StreamKey, uint32_t> slot_of_;
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
  // MeetingTables::TakeSwitches and Meeting::OnDisplaySwitched, before this.
  // A stream seen for the first time, or on another slot than before, only sets its baseline:
  // a slot's counters are cumulative over every owner it had.
  void Sample(const MeetingTables& tables, std::span<const dataplane::WorkerState* const> workers,
              std::span<Meeting* const> meetings, int64_t now);

 private:
  struct Last {
    uint32_t slot = ~0u;
    uint64_t accepted = 0;
    uint64_t activity_sum = 0;
  };
  std::map<std::pair<size_t, uint32_t>, Last> last_;  // by (meeting, SSRC)
};

}  // namespace mpswitch::control
