// The immutable routing snapshot the dataplane switches by.
//
// Control compiles cold configuration (`StreamConfig`) into hot, precomputed records (derived
// session keys as HMAC states, grouped CSRC rewrites) and publishes the whole table at once.
// Workers only read a Snapshot; everything they mutate (replay windows, ROC, learned keys) lives in
// their own WorkerState, indexed by the stable `rt_slot` of each stream.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "mpswitch/dataplane/core/hmac_sha1.h"
#include "mpswitch/dataplane/core/srtp_keys.h"
#include "mpswitch/dataplane/tables/ip_addr.h"
#include "mpswitch/ekt/ekt.h"

namespace mpswitch::dataplane {

enum class StreamKind : uint8_t { kSrtp, kSrtcp };

// How the end of a protected packet is laid out. Plain is RFC 3711 (the tag ends the packet); the
// EKT formats add bytes that the switch carries through unchanged: in-tag (the base tag covers
// them, PROTOCOLS.md §4) and RFC 8870 (a field after the tag, not covered).
enum class TrailerFormat : uint8_t { kPlain, kEktInTag, kEktRfc8870 };

// The one unencrypted byte an endpoint appends after the payload (PROTOCOLS.md §2), negotiated per
// stream with TIP MEDIAOPTS. The switch reads it, reports it to control and strips it.
enum class TrailingByte : uint8_t {
  kNone,           // nothing appended: forwarded as is
  kAudioActivity,  // 0..100, louder is larger; 99 = presentation audio
  kVideoRefresh,   // 0 none, 1 first packet of an IDR, 2 of a GDR, 3..7 long-term reference
};

// A video switch takes effect on the new source's first refresh frame (PROTOCOLS §2), which only
// the worker that owns that source sees, and which must be the first packet of the new source a
// receiver gets. Control therefore publishes the switch ahead of time with both routes gated on
// one cell: the new source's routes forward from its first IDR/GDR-flagged packet on
// (kAfterOpen), the old source's routes to the same displays stop there (kUntilOpen). The new
// source's worker opens the gate (stores `serial`) when it accepts that packet, before building
// its copies; control sees the cell open and publishes the settled routes. Cells live in a
// `GateBank` owned by control; a cell is reused with a new serial, so an old snapshot's gate
// never reads as open for a new switch.
enum class GateMode : uint8_t { kNone, kAfterOpen, kUntilOpen };

struct GateRef {
  uint16_t index = 0;  // 0 = no gate
  uint32_t serial = 0;
  bool operator==(const GateRef&) const = default;
};

class GateBank {
 public:
  explicit GateBank(size_t cells) : size_(cells), cells_(std::make_unique<std::atomic<uint32_t>[]>(cells)) {}
  size_t size() const { return size_; }
  std::atomic<uint32_t>* cells() const { return cells_.get(); }
  bool IsOpen(GateRef g) const {
    return g.index != 0 && g.index < size_ &&
           cells_[g.index].load(std::memory_order_acquire) == g.serial;
  }

 private:
  size_t size_;
  std::unique_ptr<std::atomic<uint32_t>[]> cells_;
};

// Receivers whose copies of a stream's packets are byte-identical share one tag computation.
// Hot: read once per accepted packet.
struct RouteGroup {
  uint32_t csrc_and = ~uint32_t{0};  // applied to the first CSRC: (csrc & csrc_and) | csrc_or
  uint32_t csrc_or = 0;
  uint32_t first_dest = 0;           // into Snapshot::destinations()
  uint32_t gate_serial = 0;
  uint16_t dest_count = 0;
  uint16_t gate = 0;
  GateMode gate_mode = GateMode::kNone;
  bool rewrite_csrc = false;
};
static_assert(sizeof(RouteGroup) <= 24);

// Which source address a stream's packets are accepted from. Media of a leg comes from the
// address and port its signalling named (symmetric RTP), so a packet from anywhere else is not the
// leg's, whatever it carries: refused before any cryptography. A leg behind NAT sends from an
// address signalling cannot know; there the first packet that verifies pins the source for the
// life of the stream. kAny is for tests and benchmarks that have no addresses.
enum class SourcePolicy : uint8_t { kAny, kSignalled, kLatch };

// No EKT group: index value of StreamEntry::ekt_group / ekt_group_alt.
inline constexpr uint16_t kNoEktGroup = 0xffff;

// Where one output copy goes; the meaning of `egress` belongs to the I/O backend (an index into
// its peer address table).
struct Destination {
  uint32_t egress = 0;
};

// Hot, read-only record of one input stream.
struct alignas(64) StreamEntry {
  HmacSha1Key mac_key;       // session auth key of the sender, as HMAC states
  uint64_t key_id = 0;       // fingerprint of (port, SSRC, kind, key): tells a reused slot apart
  uint32_t rt_slot = 0;      // index of this stream's mutable state in WorkerState
  uint32_t key_epoch = 0;    // new value = new key: the worker resets replay state and ROC
  uint32_t initial_roc = 0;  // sender's ROC when the key was installed (signalled or learned)
  uint32_t first_group = 0;  // into Snapshot::groups()
  uint16_t group_count = 0;
  uint16_t local_port = 0;
  uint32_t ssrc = 0;
  StreamKind kind = StreamKind::kSrtp;
  TrailerFormat trailer = TrailerFormat::kPlain;
  uint8_t tag_len = 10;
  TrailingByte trailing = TrailingByte::kNone;
  bool needs_csrc = false;           // some group rewrites the MUX-CSRC
  uint16_t gate = 0;                 // opened by this stream's first refresh-flagged packet
  uint32_t gate_serial = 0;
  // EKT streams: the stream's own meeting group (into Snapshot::ekt_groups()), and while that
  // group's KEK is being rotated the group it replaces; kNoEktGroup when none. An announcement
  // under any other group is refused: holding one meeting's KEK gives no say over another's.
  uint16_t ekt_group = kNoEktGroup;
  uint16_t ekt_group_alt = kNoEktGroup;
  uint16_t source_port = 0;
  SourcePolicy source_policy = SourcePolicy::kAny;
  IpAddr source;                     // kSignalled: the only address the stream is accepted from
};
static_assert(sizeof(StreamEntry) <= 128, "one input stream's snapshot record fits two cache lines");

// Rewrite of the MUX-CSRC (PROTOCOLS.md §3) for one receiver: the sink nibble, and the output
// nibble when dynamic output positions were negotiated.
struct CsrcRewrite {
  uint8_t sink = 1;
  std::optional<uint8_t> output;
};

struct RouteConfig {
  uint32_t egress = 0;
  std::optional<CsrcRewrite> csrc;  // none: the CSRC is forwarded as sent
  GateMode gate_mode = GateMode::kNone;
  GateRef gate;  // kAfterOpen: must be the stream's own `opens_gate`
};

// Hot, read-only record of one EKT group parameter set, as workers need it to learn keys.
struct EktGroupEntry {
  uint64_t id = 0;  // fingerprint of (SPI, KEK): workers cache their keyed wrapper under it
  uint16_t spi = 0;
  ekt::EktCipher cipher = ekt::EktCipher::kAes128Ecb;
  ekt::EktFormat format = ekt::EktFormat::kInTag;
  uint8_t kek_len = 16;
  std::array<uint8_t, 32> kek{};
  std::array<uint8_t, kMasterSaltLen> salt{};
};

// Cold configuration of one input stream, as control knows it.
struct StreamConfig {
  uint16_t local_port = 0;
  uint32_t ssrc = 0;
  StreamKind kind = StreamKind::kSrtp;
  SrtpProfile profile = SrtpProfile::kAesCm128HmacSha1_80;
  MasterKey master;  // unused for EKT streams: their keys are learned from the packets
  TrailerFormat trailer = TrailerFormat::kPlain;
  uint32_t rt_slot = 0;
  uint32_t key_epoch = 1;
  uint32_t initial_roc = 0;
  TrailingByte trailing = TrailingByte::kNone;
  std::vector<RouteConfig> routes;
  GateRef opens_gate;  // a video source being switched to (needs kVideoRefresh)
  // EKT streams: the SPI of the meeting's group (must be in the snapshot's groups, of the
  // stream's format), and during a KEK rotation the SPI of the group being retired (0: none).
  uint16_t ekt_spi = 0;
  uint16_t ekt_spi_retiring = 0;
  SourcePolicy source_policy = SourcePolicy::kAny;
  IpAddr source;             // kSignalled: the leg's media address and port
  uint16_t source_port = 0;
};

class Snapshot {
 public:
  Snapshot() = default;
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;
  Snapshot(Snapshot&&) noexcept = default;  // leaves the source's key vectors empty
  Snapshot& operator=(Snapshot&& o) noexcept;
  // Wipes the session auth keys and KEKs it holds before their memory goes back to the heap.
  ~Snapshot();

  // nullptr when unknown. One hash probe; no allocation.
  const StreamEntry* Find(uint16_t local_port, uint32_t ssrc, StreamKind kind) const {
    auto it = index_.find(Key(local_port, ssrc, kind));
    return it == index_.end() ? nullptr : &streams_[it->second];
  }
  std::span<const RouteGroup> Groups(const StreamEntry& s) const {
    return {groups_.data() + s.first_group, s.group_count};
  }
  std::span<const Destination> Dests(const RouteGroup& g) const {
    return {dests_.data() + g.first_dest, g.dest_count};
  }
  std::span<const StreamEntry> streams() const { return streams_; }
  // nullptr when the SPI names no group of this snapshot.
  const EktGroupEntry* FindGroup(uint16_t spi) const {
    auto it = group_index_.find(spi);
    return it == group_index_.end() ? nullptr : &groups_ekt_[it->second];
  }
  // A group by index (StreamEntry::ekt_group); nullptr for kNoEktGroup.
  const EktGroupEntry* Group(uint16_t index) const {
    return index < groups_ekt_.size() ? &groups_ekt_[index] : nullptr;
  }
  // One more than the largest rt_slot in use: a worker's state table must be at least this big.
  uint32_t slot_bound() const { return slot_bound_; }
  // The gate cells routes refer to; nullptr when no route is gated.
  std::atomic<uint32_t>* gate_cells() const { return gate_cells_; }

  // Compiles configuration into a snapshot: derives keys, groups routes with identical rewrites.
  // Fails with InvalidArgument on duplicate (port, SSRC, kind), duplicate or out-of-range rt_slot.
  // EKT streams learn their keys from packets under `ekt_groups` (validated here); each must name
  // its group (ekt_spi) among them, in its own format.
  // Gated routes need `gates` (the bank must outlive the snapshot); InvalidArgument when a gate
  // index is outside it or a kAfterOpen route names a gate its stream does not open.
  static absl::StatusOr<Snapshot> Build(std::span<const StreamConfig> streams,
                                        std::span<const ekt::GroupParams> ekt_groups = {},
                                        const GateBank* gates = nullptr);

 private:
  void Wipe();
  static uint64_t Key(uint16_t port, uint32_t ssrc, StreamKind kind) {
    return (uint64_t{port} << 33) | (uint64_t{ssrc} << 1) | static_cast<uint64_t>(kind);
  }

  absl::flat_hash_map<uint64_t, uint32_t> index_;
  std::vector<StreamEntry> streams_;
  std::vector<RouteGroup> groups_;
  std::vector<Destination> dests_;
  absl::flat_hash_map<uint16_t, uint32_t> group_index_;
  std::vector<EktGroupEntry> groups_ekt_;
  uint32_t slot_bound_ = 0;
  std::atomic<uint32_t>* gate_cells_ = nullptr;
};

}  // namespace mpswitch::dataplane
