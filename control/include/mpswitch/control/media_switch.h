// The switch's control plane on one dataplane: meetings, their EKT groups, the media ports and
// return addresses of every leg, and the control loop that keeps the dataplane's tables in step
// with what the meetings decide.
//
// Admission (`Join`) is what the SIP trunk and TIP negotiation will call once they exist: it
// takes the leg's description (cameras, microphones, security) and where the leg receives, and
// answers the switch ports the leg sends to and the group parameters the leg may be given (what
// TIP SPIMAP would carry). Until TIP exists, refresh requests and security notifications leave as
// events (`TakeEvents`) that the caller delivers; the endpoint simulator does so in-process.
//
// Threading: one control thread owns a MediaSwitch. The dataplane's workers run on their own.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mpswitch/control/keylog.h"
#include "mpswitch/control/meeting.h"
#include "mpswitch/control/meeting_tables.h"
#include "mpswitch/dataplane/tables/egress.h"
#include "mpswitch/ekt/ekt.h"

namespace mpswitch::control {

// What the control loop needs of a dataplane backend (the socket backend or the DPDK backend).
class Dataplane {
 public:
  virtual ~Dataplane() = default;
  // Publishes with one swap; the backend frees what no worker can hold any more.
  virtual absl::Status Publish(dataplane::DataplaneTables tables) = 0;
  // The workers' pipeline states, for the per-stream reports (StreamSampler).
  virtual std::vector<const dataplane::WorkerState*> workers() const = 0;
  // Frees retired tables that have become unreachable.
  virtual void Reclaim() = 0;
  // The backend's own control work, once per control-loop turn (DPDK: ARP and NDP).
  virtual void Service() {}
};

struct MediaSwitchOptions {
  // The media port range of the dataplane: every leg takes one video and one audio port of it.
  uint16_t first_port = 16384;
  uint16_t port_count = 64;
  // How meetings' EKT groups are made (PROTOCOLS.md §4-5).
  ekt::EktFormat ekt_format = ekt::EktFormat::kInTag;
  ekt::EktCipher ekt_cipher = ekt::EktCipher::kAes128Ecb;
  size_t gate_cells = 4096;
  Keylog* keylog = nullptr;  // the opt-in debug key log: every group KEK the switch creates
  // After a KEK rotation, how long the dataplane still accepts announcements under the group it
  // replaced: the time the remaining legs need to get the new group (TIP SPIMAP) and announce
  // their new keys under it. Whoever left holds the old KEK until then, but its media is refused
  // by source address all along.
  int64_t group_retire_after_ms = 2000;
  // Measure the heap each tables build takes (last_tables_bytes), for benchmarks: mallinfo2
  // walks and locks every arena, which the control loop need not pay otherwise.
  bool measure_table_memory = false;
};

// Where a leg receives the switch's media.
// Media is symmetric (RFC 4961): the leg sends from where it receives, and the switch accepts the
// leg's streams from there only. A leg behind NAT sends from an address it cannot know; with
// `behind_nat` the first packet of each stream that verifies pins its source instead.
struct LegAddress {
  dataplane::IpAddr addr;
  uint16_t video_port = 0;
  uint16_t audio_port = 0;
  bool behind_nat = false;
};

struct Admission {
  LegId leg = 0;
  uint16_t video_port = 0;  // the switch's ports the leg sends its video / audio to (and
  uint16_t audio_port = 0;  // receives from: the switch sends from the same port)
  // The meeting's EKT group, only when the leg may hold it (Meeting::MayReceiveGroupKey).
  std::optional<ekt::GroupParams> group;
};

// A meeting event, with the meeting it belongs to.
struct SwitchEvent {
  size_t meeting = 0;
  Event event;
  std::optional<ekt::GroupParams> group;  // Event::Kind::kGroupKey: the meeting's new group
};

class MediaSwitch {
 public:
  MediaSwitch(MediaSwitchOptions options, Dataplane& dataplane);

  // A meeting and its EKT group (a fresh random KEK and salt, an SPI no other meeting uses).
  // InvalidArgument for a config ValidateMeetingConfig refuses; Unimplemented for a non-secure
  // policy (its legs could not be carried); ResourceExhausted when SPIs run out.
  absl::StatusOr<size_t> CreateMeeting(const MeetingConfig& config);

  // Admits a leg: the meeting's policy decides (its refusals come back as FailedPrecondition with
  // the operator text, and as events), then the leg gets two media ports and its streams enter
  // the next tables. Only secure legs (EKT) are carried today: a non-secure leg the policy would
  // admit is refused with Unimplemented, because plain RTP forwarding and per-leg re-encryption
  // are not built. ResourceExhausted when the port range is full; FailedPrecondition when it is
  // unusable (fewer than 2 ports, or past 65535).
  absl::StatusOr<Admission> Join(size_t meeting, const LegConfig& leg, const LegAddress& address,
                                 int64_t now_ms);
  // Removes a leg, frees its ports and rotates the meeting's group (RotateGroup).
  absl::Status Leave(size_t meeting, LegId leg, int64_t now_ms);
  // A new EKT group for the meeting (fresh SPI, KEK and salt), handed to every remaining leg that
  // may hold it (Event::Kind::kGroupKey, TIP SPIMAP once TIP exists). Done whenever a leg leaves
  // or is removed, so that a former member's KEK stops being accepted. The dataplane accepts
  // announcements under the replaced group for group_retire_after_ms more; a rotation within
  // that time retires the older group at once.
  absl::Status RotateGroup(size_t meeting, int64_t now_ms);
  absl::Status SetMode(size_t meeting, SwitchingMode mode, int64_t now_ms);

  // One turn of the control loop (meeting_tables.h gives the order): switches the dataplane made
  // on refresh frames, the workers' samples, timers, then new tables when a decision changed.
  // An error means the tables could not be built or published: the old ones stay in force.
  absl::Status Step(int64_t now_ms);

  // Events of every meeting since the last call, in order.
  std::vector<SwitchEvent> TakeEvents();

  size_t meetings() const { return meetings_.size(); }
  const Meeting& meeting(size_t m) const { return *meetings_[m].meeting; }
  const ekt::GroupParams& group(size_t m) const { return meetings_[m].group; }
  // The group a rotation replaced, while the dataplane still accepts it.
  const std::optional<ekt::GroupParams>& retiring_group(size_t m) const {
    return meetings_[m].retiring;
  }
  uint64_t rotations() const { return rotations_; }
  // The leg of a meeting an SSRC belongs to, if any.
  std::optional<LegId> LegOfSsrc(size_t meeting, uint32_t ssrc) const;
  uint64_t publications() const { return publications_; }
  uint64_t routes_withheld() const { return tables_.routes_withheld(); }
  // Streams in the current tables.
  size_t streams() const { return streams_; }
  // Heap bytes the last tables took to build (mallinfo2 delta), for memory-per-stream figures;
  // 0 unless options.measure_table_memory.
  size_t last_tables_bytes() const { return last_tables_bytes_; }

 private:
  struct MeetingState {
    std::unique_ptr<Meeting> meeting;
    ekt::GroupParams group;
    std::optional<ekt::GroupParams> retiring;
    int64_t retire_at_ms = 0;
    uint64_t published_version = ~uint64_t{0};
  };
  struct LegPorts {
    uint16_t video_port, audio_port;
    uint32_t video_egress, audio_egress;
  };

  absl::Status Publish();
  // A fresh group: unused SPI, random KEK and salt, in the format the options name.
  absl::StatusOr<ekt::GroupParams> NewGroup();
  void SetStreamSpis(size_t meeting);
  void Release(size_t meeting, LegId leg, int64_t now_ms);
  // Moves a meeting's events to events_, giving back the ports of legs it removed.
  void AbsorbEvents(size_t meeting, int64_t now_ms);

  MediaSwitchOptions options_;
  Dataplane& dataplane_;
  std::vector<MeetingState> meetings_;
  std::set<uint16_t> used_spis_;
  MeetingTables tables_;
  StreamSampler sampler_;
  std::map<std::pair<size_t, LegId>, LegMedia> media_;
  std::map<std::pair<size_t, uint32_t>, StreamKeying> keys_;
  std::map<std::pair<size_t, LegId>, LegPorts> ports_;
  std::vector<bool> port_used_;       // by (port - first_port)
  std::vector<dataplane::Egress> egress_;
  std::vector<uint32_t> free_egress_;
  std::vector<SwitchEvent> events_;
  bool dirty_ = true;
  uint64_t generation_ = 0;
  uint64_t publications_ = 0;
  uint64_t rotations_ = 0;
  uint32_t next_instance_ = 1;
  size_t streams_ = 0;
  size_t last_tables_bytes_ = 0;
};

}  // namespace mpswitch::control
