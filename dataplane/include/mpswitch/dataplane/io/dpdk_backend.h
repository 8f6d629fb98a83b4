// The DPDK poll-mode dataplane backend, for multipoint server hardware.
//
// One worker per worker lcore, each polling its own RX queue of every port and transmitting on its
// own TX queue, so no queue has two users. With more than one worker the ports spread flows over
// the queues by RSS on addresses and UDP ports, which keeps every stream on one worker (the only
// writer of its replay window, ROC and learned key). Frames are parsed and validated (Ethernet,
// one VLAN tag, IPv4/IPv6, UDP, checksums by the NIC when it can); media for the switch's ports
// goes through the burst pipeline and out with precomputed Ethernet/IP/UDP headers; everything
// else (ARP, NDP, DTLS, STUN, ICMP) is punted to the control thread through one rte_ring per
// worker. Next-hop MAC addresses come from ARP/ND handled by the control thread, never on the
// fast path: an unresolved next hop drops the copy (`no_neighbor`) and asks again.
//
// The neighbour table is not the network's to fill (see `PollControl` for the rules): it learns
// only next hops the switch asked for or its egress uses, holds at most `max_neighbors` entries,
// moves a learned neighbour to another MAC only after checking that its current MAC is gone, and
// recompiles egress headers for learned changes at most once per `neighbor_recompile_ms`.
//
// The published tables are reclaimed with DPDK's RCU QSBR: a worker reports a quiescent state
// after every poll round. Per-lcore counters are served through DPDK telemetry under /mpswitch/.
//
// Only dataplane/io/dpdk includes DPDK headers; this interface does not.
//
// Threading: everything here belongs to one control thread, except the counters (any thread).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mpswitch/dataplane/core/pipeline.h"
#include "mpswitch/dataplane/io/frame.h"
#include "mpswitch/dataplane/io/io_counters.h"
#include "mpswitch/dataplane/io/socket_backend.h"  // PuntedDatagram
#include "mpswitch/dataplane/tables/egress.h"

namespace mpswitch::dataplane::io {

// Initialises DPDK's EAL once per process with `args` (argv[0] excluded). When the arguments say
// nothing about memory, adds `--no-huge -m 512` if no free hugepages are mounted, so the switch
// runs anywhere; logs which. A second call is a no-op returning OK. FailedPrecondition with
// rte_strerror's text when EAL refuses.
absl::Status InitEal(const std::vector<std::string>& args);

struct DpdkPortConfig {
  std::string device;  // ethdev name: PCI address "0000:3b:00.0" or a vdev "net_pcap0"
  IpAddr ipv4;         // the switch's addresses on this port (either may be unset)
  uint8_t ipv4_prefix = 24;
  IpAddr ipv6;
  uint8_t ipv6_prefix = 64;
  std::optional<IpAddr> gateway4;  // next hop for IPv4 destinations off the subnet
  std::optional<IpAddr> gateway6;
  std::optional<uint16_t> vlan;    // VLAN id tagged on transmit and expected on receive
  uint16_t rx_desc = 1024;
  uint16_t tx_desc = 1024;
  // Set up as many RX queues as TX queues (one more than the workers): net_tap refuses other
  // counts. Its kernel side spreads flows over all queues by hash, so worker 0 polls the extra
  // queue too; such a port suits one worker (with more, a stream could reach a worker that does
  // not own it).
  bool equal_queue_counts = false;
};

struct DpdkBackendConfig {
  std::vector<DpdkPortConfig> ports;
  std::vector<unsigned> worker_lcores;  // empty: every worker lcore EAL was given
  uint16_t first_port = 16384;          // UDP media ports [first_port, first_port + port_count)
  uint16_t port_count = 16384;
  uint32_t mbufs = 0;                   // 0: sized from queues, bursts and rings
  uint16_t mbuf_cache = 256;
  uint16_t burst = 32;
  uint16_t max_outputs = 1024;          // output copies per burst
  uint32_t stream_slots = 4096;
  uint32_t punt_ring_slots = 1024;      // per worker
  uint32_t tx_drain_us = 100;           // a partly filled TX buffer waits at most this long
  uint32_t idle_sleep_us = 0;           // sleep after an empty poll (0: busy poll, production)
  uint8_t dscp = 46;
  uint8_t ttl = 64;
  std::function<std::unique_ptr<MacKernel>()> mac_kernel;  // MakeBestMacKernel when empty
  // Neighbour table cap (static and learned entries together); above 0.
  uint32_t max_neighbors = 1024;
  // Egress recompiles that learned neighbours trigger: at most one per this interval, later
  // changes coalesced into one recompile on the first PollControl after it (0: no limit).
  uint32_t neighbor_recompile_ms = 50;
  // The control thread's clock (re-asking, the recompile limit, outstanding requests);
  // steady_clock::now when empty. Tests give a manual one. Read on the control thread only.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

// What the control thread did with its neighbour table. What it refused is counted as IoDrops
// in `control_counters()` (neighbor_unsolicited, neighbor_move_refused, neighbor_table_full).
enum class NeighborEvent : uint8_t {
  kLearned = 0,
  kMoved,
  kChecks,
  kReclaimed,
  kRecompiles,
  kRecompilesDeferred,
  kCount,
};

inline constexpr size_t kNeighborEventCount = static_cast<size_t>(NeighborEvent::kCount);

struct NeighborEventInfo {
  std::string_view name;
  std::string_view help;
};

inline constexpr std::array<NeighborEventInfo, kNeighborEventCount> kNeighborEventInfo = {{
    {"neighbor_learned", "new neighbour learned from an ARP/NDP answer or an egress next hop"},
    {"neighbor_moved",
     "learned neighbour moved to the MAC that answered a check its old MAC stayed silent in"},
    {"neighbor_checks",
     "checks started (the switch asked for a learned neighbour another MAC was claimed for)"},
    {"neighbor_reclaimed", "learned entries no egress used, removed to make room at the cap"},
    {"neighbor_recompiles", "egress header recompiles triggered by learned neighbours"},
    {"neighbor_recompiles_deferred",
     "learned changes held back by the recompile rate limit (coalesced into a later recompile)"},
}};

constexpr bool AllNeighborEventsNamed() {
  for (const NeighborEventInfo& i : kNeighborEventInfo) {
    if (i.name.empty() || i.help.empty()) return false;
  }
  return true;
}
static_assert(AllNeighborEventsNamed(), "kNeighborEventInfo must name every NeighborEvent");

// One writer (the control thread), any number of readers (telemetry, tests).
struct NeighborCounters {
  Counter entries;  // entries in the table now (a gauge)
  Counter events[kNeighborEventCount];

  uint64_t Get(NeighborEvent e) const { return events[static_cast<size_t>(e)].Get(); }
  void Add(NeighborEvent e, uint64_t n = 1) { events[static_cast<size_t>(e)].Add(n); }
};

// Per-lcore statistics as telemetry reports them.
struct DpdkWorkerStats {
  unsigned lcore = 0;
  const WorkerCounters* pipeline = nullptr;
  const IoCounters* io = nullptr;
  const WorkerState* state = nullptr;  // per-stream reports for control (StreamSampler)
};

class DpdkBackend {
 public:
  // Needs InitEal first. Configures and starts every port (queues, RSS, offloads, mempool),
  // creates the punt rings, the RCU QSBR variable and the telemetry commands. Errors name the
  // port and what DPDK said.
  static absl::StatusOr<std::unique_ptr<DpdkBackend>> Create(DpdkBackendConfig config);
  ~DpdkBackend();  // stops workers, stops and closes the ports (flushes pcap output)

  absl::Status Start();  // launches the worker lcores
  void Stop();           // signals and waits for them; idempotent

  // Compiles header templates for every egress (with the neighbours known now) and publishes them
  // with the tables. Unknown next hops are asked for by ARP/NS; the tables are republished when
  // they answer. InvalidArgument when an egress has no port to leave by or slots do not fit.
  absl::Status Publish(DataplaneTables tables);
  // Link-layer address of a neighbour known without ARP/ND (static configuration, tests). Static
  // entries skip the learning rules (the operator set them) and are never moved by ARP/ND nor
  // reclaimed, but count against `max_neighbors`: ResourceExhausted (and neighbor_table_full)
  // when the table is full of entries that cannot be reclaimed. Egress is recompiled at once.
  absl::Status AddNeighbor(const IpAddr& ip, const MacAddr& mac);
  // The table's entry; a learned change may reach the published egress headers only up to
  // `neighbor_recompile_ms` later.
  std::optional<MacAddr> Neighbor(const IpAddr& ip) const;

  // The control thread's turn: answers ARP and NDP for the switch's addresses, learns neighbours,
  // re-asks unresolved ones about once a second, runs a recompile the rate limit held back once
  // its interval is over, and hands every punted UDP datagram on a media port (DTLS, STUN) to
  // `on_datagram`. Returns packets handled.
  //
  // Learning (ARP to the switch's address and gratuitous ARP; NS to the switch's address; NA):
  //  - A new entry only from an answer (ARP reply, or NA with the solicited flag, to the switch's
  //    address) to a request the switch sent for that address on that port in the last 3 s (the
  //    answer uses the request up), or for a next hop the published egress reaches by that port
  //    (which may also introduce itself by a request or NS). Anything else: neighbor_unsolicited.
  //  - A new entry when the table holds `max_neighbors` reclaims the oldest learned entry no
  //    egress uses; with none to reclaim: neighbor_table_full.
  //  - Another MAC for a learned entry is never taken on the claimant's word (gratuitous ARP,
  //    unsolicited NA, a request, a late answer): neighbor_move_refused, and the switch starts a
  //    check, at most one per entry per second: it asks for the address and collects answers for
  //    1 s. The entry then moves to the answering MAC only if the current MAC did not show up
  //    (any ARP/ND from it confirms it) and no second MAC answered; otherwise the candidate is
  //    refused too. A neighbour that really moved (its old MAC gone) is followed about a second
  //    later; a poisoner is outvoted by the live neighbour or by any other answer. Static entries
  //    never change by ARP/ND (neighbor_move_refused).
  //  - A change to a next hop the egress uses recompiles the egress headers, at most once per
  //    `neighbor_recompile_ms`; changes within the interval are coalesced (counted as
  //    neighbor_recompiles_deferred) and compiled by the first PollControl after it, or by
  //    Publish/AddNeighbor if sooner. No change is lost.
  // What ARP/ND cannot prevent: a host on the link answering first for an address nobody else
  // answers for (an unresolved next hop, or one whose owner is gone).
  size_t PollControl(absl::FunctionRef<void(const PuntedDatagram&)> on_datagram);
  // Sends one UDP datagram from a media port on the control thread's own TX queue.
  absl::Status SendFrom(uint16_t local_port, const IpAddr& to, uint16_t to_port,
                        std::span<const uint8_t> bytes);

  uint32_t workers() const;
  DpdkWorkerStats stats(uint32_t w) const;
  // Counters of the control thread (punts it could not use, ARP/ND answered, neighbours refused).
  const IoCounters& control_counters() const;
  const NeighborCounters& neighbor_counters() const;
  uint16_t port_id(size_t i) const;
  MacAddr port_mac(size_t i) const;
  const DpdkBackendConfig& config() const;

  struct Impl;

 private:
  explicit DpdkBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mpswitch::dataplane::io
