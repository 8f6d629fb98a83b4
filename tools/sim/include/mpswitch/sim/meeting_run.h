// A run of simulated rooms through a real switch on 127.0.0.1: the socket backend (its own worker
// threads), the control loop (`control::MediaSwitch`) and the rooms, which send and receive over
// UDP sockets like any endpoint. Used by the `mpswitch-sim` command (the README's first command),
// the load benchmark and the end-to-end tests.
//
// Signalling is in-process: rooms are admitted by calling MediaSwitch::Join directly (what the SIP
// trunk and TIP will do), the group parameters they get stand for TIP SPIMAP, and the switch's
// refresh requests and security notifications are handed to the rooms as TIP REFRESH and NOTIFY
// would deliver them. Media takes the real path: sockets, the backend's workers, the pipeline.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mpswitch/control/keylog.h"
#include "mpswitch/control/media_switch.h"
#include "mpswitch/control/socket_dataplane.h"
#include "mpswitch/dataplane/io/dpdk_backend.h"  // plain C++: no DPDK headers
#include "mpswitch/dataplane/io/socket_backend.h"
#include "mpswitch/oracle/udp_endpoint.h"
#include "mpswitch/sim/pcap.h"
#include "mpswitch/sim/room.h"

namespace mpswitch::sim {

enum class Backend : uint8_t {
  kSocket,  // kernel UDP sockets on 127.0.0.1 (the embedded default)
  // DPDK through a net_tap virtual device: the switch owns 10.77.0.2 on the DPDK port, the rooms
  // are kernel sockets on 10.77.0.1 on the tap interface the PMD creates (so every packet crosses
  // the kernel's tap driver, one syscall each way; a NIC would not). Needs root and /dev/net/tun;
  // EAL can be started once per process.
  kDpdkTap,
};

struct RunOptions {
  Backend backend = Backend::kSocket;
  std::string tap_interface = "mpsw0";
  int meetings = 1;
  std::vector<int> screens = {3, 3, 1, 1, 1};  // the rooms of every meeting
  bool presentation = true;   // the first room of each meeting presents
  int64_t duration_ms = 20000;
  int64_t join_spacing_ms = 250;  // room i of a meeting joins at i * spacing
  ekt::EktFormat ekt_format = ekt::EktFormat::kInTag;
  ekt::EktCipher ekt_cipher = ekt::EktCipher::kAes128Ecb;  // in-tag only
  control::SwitchingMode mode = control::SwitchingMode::kSegment;
  int64_t mode_flip_at_ms = -1;  // switch every meeting to the other mode then (-1: never)
  bool key_changes = true;       // every room changes its keys once, at a time of its own
  // The last room of every meeting with three or more rooms leaves then (-1: never): the switch
  // rotates the meeting's group and the others announce new keys under the new one.
  int64_t leave_at_ms = -1;
  bool seq_near_wrap = false;    // every stream starts just below the sequence number wrap
  int video_kbps = 4000;
  int verify_every = 1;          // receivers decrypt every Nth packet (see RoomReceiver)
  uint32_t workers = 1;
  std::vector<int> cpus;         // worker pinning
  bool busy_poll = false;
  uint16_t first_port = 16384;
  std::string keylog_path;       // PROTOCOLS.md §11, or MPSWITCH_KEYLOG
  std::string pcap_path;
  uint64_t seed = 1;
  bool measure_table_memory = false;  // MediaSwitchOptions::measure_table_memory
  int64_t tick_ms = 20;          // control loop period
  // Called about once a second from the run's thread.
  std::function<void(int64_t now_ms)> on_tick;
};

struct RunTotals {
  uint64_t sent = 0;          // by the rooms
  uint64_t switch_in = 0;     // datagrams the switch received
  uint64_t switch_out = 0;    // copies it sent
  uint64_t retags = 0;        // tags it computed
  uint64_t received = 0;      // by the rooms
  uint64_t verified = 0;
  uint64_t skipped = 0;
  uint64_t problems = 0;
  uint64_t keys_learned = 0;  // by receivers
  uint64_t switch_keys_learned = 0;
  uint64_t video_switches = 0;
  uint64_t refresh_requests = 0;
  uint64_t switch_timeouts = 0;  // switches made without a refresh frame (Meeting)
  uint64_t drops = 0;         // at the switch, all reasons
  // Of them, frames that were never the meeting's: other hosts' traffic on a DPDK port (IPv6
  // neighbour discovery, mDNS, ...) refused as not for the switch or not media.
  uint64_t foreign_drops = 0;
  std::map<std::string, uint64_t> drops_by_reason;
};

class MeetingRun {
 public:
  struct Room {
    RoomSpec spec;
    size_t meeting = 0;
    control::LegId leg = 0;
    bool joined = false;
    bool leaving = false;      // stopped sending; leaves once the switch took in all it sent
    bool left = false;         // no longer in the meeting (still reads what was sent to it)
    bool secure_icon = false;  // the last security notification
    uint16_t video_port = 0, audio_port = 0;  // the switch's
    std::unique_ptr<oracle::UdpEndpoint> video, audio;
    std::unique_ptr<RoomSender> sender;
    std::unique_ptr<RoomReceiver> receiver;
  };

  static absl::StatusOr<std::unique_ptr<MeetingRun>> Create(RunOptions options);
  ~MeetingRun();

  // Runs for the configured duration, then stops the rooms and lets the last packets arrive.
  absl::Status Run();

  const RunOptions& options() const { return options_; }
  const std::vector<Room>& rooms() const { return rooms_; }
  const control::MediaSwitch& node() const { return *node_; }
  uint32_t workers() const;
  const dataplane::io::IoCounters& io_counters(uint32_t w) const;
  const dataplane::WorkerCounters& pipeline_counters(uint32_t w) const;
  const TalkScript& script(size_t meeting) const { return scripts_[meeting]; }
  // The room sending an SSRC, or nullptr.
  const Room* RoomOf(uint32_t ssrc) const;
  const std::vector<std::string>& log() const { return log_; }
  RunTotals Totals() const;
  // Whole-run verdict: every receiver decrypted everything the switch sent it, nothing was wrong
  // with it, every display showed somebody. `why` lists what failed.
  bool Passed(std::vector<std::string>* why) const;
  // CPU the switch's workers spent on packets, ns: socket backend, the worker thread's clock
  // (receive and send syscalls included); DPDK, the busy time of the polling lcore (it spins
  // between bursts, so its thread clock would always read 100%).
  uint64_t worker_cpu_ns(uint32_t w) const;
  int64_t elapsed_ms() const { return elapsed_ms_; }
  // The last time the rooms sent (the verdict checks what each room still got by then).
  int64_t sending_end_ms() const { return sending_end_ms_; }

 private:
  explicit MeetingRun(RunOptions o) : options_(std::move(o)) {}
  absl::Status Setup();
  absl::Status JoinRoom(Room& r, int64_t now_ms);
  void HandleEvents();
  void Send(Room& r, std::vector<Outgoing>& out);
  // Rooms that stopped sending leave once the switch's workers have taken every datagram the
  // rooms sent (none of theirs can then reach tables without their streams); at `force` anyway.
  absl::Status LeaveRooms(int64_t now_ms, bool force);
  size_t ReceiveAll(int64_t now_ms, uint64_t now_ns);

  RunOptions options_;
  std::unique_ptr<control::Keylog> keylog_;
  std::unique_ptr<PcapWriter> pcap_;
  absl::Status SetupDpdk(uint16_t first_port, uint16_t port_count, uint32_t stream_slots);
  uint64_t WorkerClockNs(uint32_t w) const;
  void StopBackend();
  // Datagrams sent by the rooms, taken in by the switch, received by the rooms; and sent by it.
  std::array<uint64_t, 3> InFlight() const;
  uint64_t switch_tx() const;

  dataplane::IpAddr rooms_addr_;   // where the rooms' sockets live
  dataplane::IpAddr switch_addr_;  // where they send
  std::unique_ptr<dataplane::io::SocketBackend> backend_;
  std::unique_ptr<dataplane::io::DpdkBackend> dpdk_;
  std::unique_ptr<control::Dataplane> dataplane_;
  std::unique_ptr<control::MediaSwitch> node_;
  std::vector<TalkScript> scripts_;
  std::vector<Room> rooms_;
  std::map<uint32_t, size_t> room_of_ssrc_;
  std::map<std::pair<size_t, control::LegId>, size_t> room_of_leg_;
  std::vector<std::string> log_;
  std::vector<uint64_t> cpu_start_ns_;
  std::vector<uint64_t> cpu_end_ns_;
  uint64_t refresh_requests_ = 0;
  int64_t elapsed_ms_ = 0;
  std::array<uint64_t, 3> drain_seen_{};
  int64_t drain_since_ = 0;
  int64_t leave_started_ms_ = -1;
  int64_t sending_end_ms_ = 0;
  std::vector<uint8_t> rx_;
};

}  // namespace mpswitch::sim
