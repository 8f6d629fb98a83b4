// The per-packet pipeline: verify, read and strip the trailing byte, rewrite the MUX-CSRC per
// receiver, re-tag. The payload is never decrypted.
//
// Contract (after DPDK's rte_ipsec_pkt_process): ProcessBurst takes a burst of received packets,
// returns how many were accepted, and reorders the burst so the accepted ones come first, in
// arrival order, and the failed ones after them, each with its `drop` reason set. The caller owns
// every buffer and frees the failed ones. Output copies are written into caller-provided buffers.
//
// Threading: one WorkerState per worker thread / lcore. A worker is the only writer of its state;
// control reads the counters and stream reports concurrently through relaxed atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "mpswitch/dataplane/core/drop.h"
#include "mpswitch/dataplane/core/hmac_sha1.h"
#include "mpswitch/dataplane/core/replay.h"
#include "mpswitch/dataplane/core/srtp_keys.h"
#include "mpswitch/ekt/keywrap.h"
#include "mpswitch/dataplane/tables/snapshot.h"

namespace mpswitch::dataplane {

// A received datagram (UDP payload). `capacity` is how many bytes from `data` may be written:
// the pipeline stages 4 bytes of ROC at the tag's place during verification and restores them.
struct PacketRef {
  uint8_t* data = nullptr;
  uint16_t len = 0;
  uint16_t capacity = 0;
  uint16_t local_port = 0;
  Drop drop = Drop::kNone;
  void* user = nullptr;  // the I/O layer's handle (an mbuf); never touched
  uint16_t from_port = 0;  // the sender's UDP port and address, for the stream's source check
  IpAddr from;
};

// An empty buffer offered for one output copy. The pipeline sets `len` and `egress` of the first
// `BurstResult::outputs` entries. `source` is the index, after reordering, of the accepted packet
// the copy came from.
//
// `copy_of` and `shared_end` let the I/O layer derive what it computes over each copy (a UDP
// checksum) instead of reading every byte again: output `copy_of` (an index into the outputs,
// possibly this one) holds the same bytes, and bytes [16, shared_end) of this output equal the
// source packet's bytes at the same offsets (only the first CSRC before them and the tag, EKT
// field after them differ).
struct OutPacket {
  uint8_t* data = nullptr;
  uint16_t capacity = 0;
  uint16_t len = 0;
  uint32_t egress = 0;
  uint16_t source = 0;
  void* user = nullptr;
  uint16_t copy_of = 0;
  uint16_t shared_end = 0;
};

struct BurstResult {
  uint16_t accepted = 0;
  uint16_t outputs = 0;
};

// A counter with one writer and any number of readers: the writer does a plain load and store
// (no locked instruction on the packet path), readers see whole values.
class Counter {
 public:
  void Add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t Get() const { return v_.load(std::memory_order_relaxed); }
  void Set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

struct WorkerCounters {
  Counter rx_packets;        // packets handed to ProcessBurst
  Counter accepted;          // verified and not a replay
  Counter outputs;           // output copies written
  Counter tags_computed;     // output MACs computed (copies sharing a tag are not counted)
  Counter verify_macs;       // input MACs computed
  Counter key_lifetime_warnings;  // accepted packets within the warning margin of the key limit
  Counter ekt_keys_learned;  // sender keys installed from EKT fields after verification
  Counter ekt_unwraps;       // EKT key decryptions attempted (new or unfamiliar EMKs)
  Counter drops[kDropCount];
};

// A key has this many packets left when the worker starts counting lifetime warnings, so control
// can re-key well before the hard limit: 2^32 of SRTP's 2^48, 2^27 of SRTCP's 2^31.
inline constexpr uint64_t kSrtpLifetimeWarnMargin = uint64_t{1} << 32;
inline constexpr uint64_t kSrtcpLifetimeWarnMargin = uint64_t{1} << 27;

// The fastest a sender may send on one stream, packets per second: a 4K camera at 50 Mbit/s
// sends about 4500. A ROC an EKT field announces may run ahead of the stream's highest index by
// no more than this rate allows for the time since its last accepted packet, so one verified field
// cannot throw a running stream's index far into the future (see Prepare in pipeline.cc).
inline constexpr uint64_t kMaxStreamPacketRate = 8192;
// Failed key announcements (an unwrap or the verification of its key failed) a stream may cost
// before unwrapping pauses, and how fast that budget refills: genuine senders need one unwrap per
// key, so only forgeries ever meet the limit.
inline constexpr uint8_t kUnwrapBudget = 8;
inline constexpr uint64_t kUnwrapRefillMs = 250;

// Mutable state of one input stream, owned by one worker.
struct alignas(64) StreamRt {
  ReplayWindow replay;
  HmacSha1Key key;           // the key in force (from the snapshot, or learned by EKT)
  uint64_t packets = 0;      // accepted under the current key (key lifetime)
  uint64_t lifetime_limit = 0;
  uint64_t lifetime_warn_at = 0;
  uint64_t key_id = 0;       // StreamEntry::key_id of the installed key
  uint32_t key_epoch = 0;    // 0 = never installed
  // Reported to control (relaxed; one writer). Control samples these to pick speakers and to time
  // video switches; it never needs a per-packet message.
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint8_t> last_activity{0};        // audio: last activity metric
  std::atomic<uint64_t> activity_sum{0};        // audio: sum of metrics, for averages over a period
  std::atomic<uint32_t> refresh_points{0};      // video: packets flagged IDR (1) or GDR (2)
  std::atomic<uint64_t> last_refresh_index{0};  // video: SRTP index of the latest of those

  // EKT streams: the key in force came from a verified EKT field.
  HmacSha1Key prev_key;          // the key before the last change, for packets before its ISN
  uint64_t key_start_index = 0;  // first packet index protected by `key`
  uint64_t pending_burst = 0;    // serial of the burst in which a verified new key was seen
  uint16_t pending_pos = 0;      // that packet's position in the burst
  uint8_t unwrap_tokens = 0;     // failed announcements left before unwrapping pauses
  uint8_t emk_len = 0;           // 0 = no key learned yet
  uint8_t prev_emk_len = 0;
  bool has_prev = false;
  uint32_t emk_roc = 0;          // RFC 8870: the ROC sealed in `emk` (in-tag carries it in clear)
  uint32_t prev_emk_roc = 0;
  std::array<uint8_t, 40> emk{};  // the installed key's EMK / EKTCiphertext: unchanged = no work
  std::array<uint8_t, 40> prev_emk{};  // the previous key's, so its late packets need no work
  uint64_t last_accept_ms = 0;   // worker clock at the latest accepted packet
  uint64_t unwrap_refill_ms = 0; // worker clock when the budget last gained a token
  // SourcePolicy::kLatch: the address the first verified packet came from.
  IpAddr latched;
  uint16_t latched_port = 0;
  bool has_latched = false;

  // Installs the snapshot's key and forgets everything else: replay state, packet count, learned
  // EKT keys (wiped), the latched source, the unwrap budget (full again).
  void Install(const StreamEntry& e, uint64_t now_ms);
  // Whether this state belongs to `e`'s key. A slot reused by another stream, or re-keyed, has a
  // different key id or epoch, so it never inherits the previous key, window or ROC.
  bool Holds(const StreamEntry& e) const { return key_epoch == e.key_epoch && key_id == e.key_id; }
};
static_assert(sizeof(StreamRt) + sizeof(StreamEntry) <= 512, "hot state per input stream");
static_assert(sizeof(RouteGroup) + sizeof(Destination) <= 256, "hot state per output route");

class WorkerState {
 public:
  // `stream_slots`: how many streams (rt_slot values) this worker can own. `max_burst` and
  // `max_outputs` bound one ProcessBurst call; scratch space for them is allocated here, once.
  WorkerState(uint32_t stream_slots, std::unique_ptr<MacKernel> kernel, uint16_t max_burst = 256,
              uint16_t max_outputs = 4096);
  ~WorkerState();

  WorkerCounters& counters() { return counters_; }
  const WorkerCounters& counters() const { return counters_; }
  StreamRt& stream(uint32_t slot) { return streams_[slot]; }
  // For control: the reported fields are atomics it may read while the worker runs.
  const StreamRt& stream(uint32_t slot) const { return streams_[slot]; }
  uint32_t stream_slots() const { return slots_; }
  MacKernel& kernel() { return *kernel_; }
  // The worker's keyed wrapper for an EKT group; created on the group's first packet on this
  // worker (the only allocation EKT makes, once per group key), nullptr if OpenSSL refuses.
  const ekt::KeyWrapper* WrapperFor(const EktGroupEntry& g);
  bool has_deriver() const { return deriver_ != nullptr; }
  AuthKeyDeriver& deriver() { return *deriver_; }
  uint64_t burst_serial() const { return burst_serial_; }
  // The worker's clock in milliseconds, read once per burst: CLOCK_MONOTONIC_COARSE unless a test
  // sets its own. It bounds how far an EKT field may move a stream's index and refills unwrap
  // budgets; nothing else on the packet path reads time.
  using Clock = uint64_t (*)();
  void SetClock(Clock clock) { clock_ = clock; }
  uint64_t now_ms() const { return now_ms_; }
  uint16_t max_burst() const { return max_burst_; }
  uint16_t max_outputs() const { return max_outputs_; }

 private:
  friend BurstResult ProcessBurst(const Snapshot&, WorkerState&, std::span<PacketRef>,
                                  std::span<OutPacket>);
  struct Scratch;

  uint32_t slots_;
  std::unique_ptr<StreamRt[]> streams_;
  std::unique_ptr<MacKernel> kernel_;
  uint16_t max_burst_;
  uint16_t max_outputs_;
  std::unique_ptr<Scratch> scratch_;
  absl::flat_hash_map<uint64_t, ekt::KeyWrapper> wrappers_;
  std::unique_ptr<AuthKeyDeriver> deriver_;
  uint64_t burst_serial_ = 0;
  Clock clock_;
  uint64_t now_ms_ = 0;
  WorkerCounters counters_;
};

// Processes one burst of at most w.max_burst() packets (any excess is dropped as kBurstOverflow)
// into at most w.max_outputs() output buffers. Outputs beyond out.size() are dropped and counted
// as kNoOutputBuffer; a stream whose rt_slot is not below w.stream_slots() as kNoStreamState.
BurstResult ProcessBurst(const Snapshot& snap, WorkerState& w, std::span<PacketRef> pkts,
                         std::span<OutPacket> out);

}  // namespace mpswitch::dataplane
