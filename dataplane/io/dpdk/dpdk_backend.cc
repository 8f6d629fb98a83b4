#include "mpswitch/dataplane/io/dpdk_backend.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "dpdk_compat.h"
#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/dataplane/io/publisher.h"

namespace mpswitch::dataplane::io {
namespace {

constexpr uint16_t kTxBufLen = 64;
// Unresolved next hops are asked for again after this long.
constexpr auto kReaskInterval = std::chrono::seconds(1);
// How long a check of a learned neighbour (another MAC was claimed for it) collects answers: the
// entry moves only if its current MAC stays silent that long. Also the least time between checks.
constexpr auto kCheckWindow = std::chrono::seconds(1);
// An answer counts as one to the switch's request only this long after the request.
constexpr auto kAskLifetime = std::chrono::seconds(3);

std::string DpdkError(int err) { return rte_strerror(err < 0 ? -err : err); }

bool HasArg(const std::vector<std::string>& args, std::string_view a) {
  for (const std::string& s : args) {
    if (s == a || s.rfind(std::string(a) + "=", 0) == 0) return true;
  }
  return false;
}

// Free hugepages on a mounted hugetlbfs: the only case in which EAL can use them.
bool HugepagesUsable() {
  std::ifstream mounts("/proc/mounts");
  std::string line;
  bool mounted = false;
  while (std::getline(mounts, line)) {
    if (line.find(" hugetlbfs ") != std::string::npos) mounted = true;
  }
  if (!mounted) return false;
  std::ifstream meminfo("/proc/meminfo");
  while (std::getline(meminfo, line)) {
    long free = 0;
    if (std::sscanf(line.c_str(), "HugePages_Free: %ld", &free) == 1) return free > 64;
  }
  return false;
}

HwCheck FromFlags(uint64_t flags, uint64_t mask, uint64_t good, uint64_t bad, uint64_t none) {
  const uint64_t v = flags & mask;
  if (v == good || v == none) return HwCheck::kGood;
  if (v == bad) return HwCheck::kBad;
  return HwCheck::kUnknown;
}

// The RCU QSBR variable, in the shape Publisher expects.
class RcuDomain {
 public:
  explicit RcuDomain(rte_rcu_qsbr* v) : v_(v) {}
  uint64_t Start() { return rte_rcu_qsbr_start(v_); }
  bool Check(uint64_t token) const { return rte_rcu_qsbr_check(v_, token, false) == 1; }

 private:
  rte_rcu_qsbr* v_;
};

// How one egress leaves the box: port, headers (with the next hop's MAC once known).
struct EgressRt {
  HeaderTemplate tmpl;
  uint16_t port_index = 0;
  bool resolved = false;
};

struct DpdkTables {
  std::shared_ptr<const DataplaneTables> base;  // shared by republished copies (control only)
  std::vector<EgressRt> egress;
};

struct PortRt {
  uint16_t id = 0;
  MacAddr mac{};
  bool hw_ip_csum = false;   // TX offloads
  bool hw_udp_csum = false;
  bool rx_csum = false;      // RX flags are meaningful
  uint16_t extra_rx_queue = 0;  // equal_queue_counts: the queue past the workers' (0 = none)
};

// TX buffering per worker and port: outputs wait until a full burst or the drain timer, and
// carry their burst's receive time so latency is measured when they really leave.
struct TxBuffer {
  rte_mbuf* pkts[kTxBufLen];
  uint64_t rx_tsc[kTxBufLen];
  uint16_t n = 0;
};

}  // namespace

struct DpdkBackend::Impl {
  struct Worker {
    Worker(const DpdkBackendConfig& c, std::unique_ptr<MacKernel> kernel)
        : state(c.stream_slots, std::move(kernel), c.burst, c.max_outputs),
          rx(c.burst), refs(c.burst), stash(c.max_outputs, nullptr), outs(c.max_outputs),
          tx(c.ports.size()), mid_sums(c.burst), out_sums(c.max_outputs) {}
    unsigned lcore = 0;
    uint16_t queue = 0;
    WorkerState state;
    IoCounters io;
    rte_ring* punt = nullptr;
    std::vector<rte_mbuf*> rx;
    std::vector<PacketRef> refs;
    std::vector<rte_mbuf*> stash;  // output buffers offered to the pipeline, refilled per burst
    uint32_t usable = 0;           // stash[0..usable) all hold an mbuf
    std::vector<OutPacket> outs;
    std::vector<TxBuffer> tx;
    uint64_t last_drain = 0;
    uint16_t ip_id = 0;
    // Per accepted input of the burst: the checksum sum of the bytes its copies share with it.
    struct MidSum {
      uint32_t len = UINT32_MAX;
      uint32_t sum = 0;
    };
    std::vector<MidSum> mid_sums;
    std::vector<uint32_t> out_sums;  // per output of the burst, for its copies
    Impl* impl = nullptr;
  };

  explicit Impl(DpdkBackendConfig c) : config(std::move(c)) {}
  ~Impl();

  absl::Status Init();
  absl::Status SetupPort(size_t i);
  int WorkerLoop(Worker& w);
  void RefillStash(Worker& w, uint32_t consumed);
  void Flush(Worker& w, size_t port, uint64_t now);
  static uint32_t PayloadSum(Worker& w, uint32_t j);
  absl::Status Compile(std::shared_ptr<const DataplaneTables> base);
  struct Route {
    size_t port;
    IpAddr next_hop;
    IpAddr src;
  };
  std::optional<Route> RouteFor(const IpAddr& dst) const;
  using Clock = std::chrono::steady_clock;
  Clock::time_point Now() const { return config.clock ? config.clock() : Clock::now(); }
  void Ask(size_t port, const IpAddr& next_hop);
  bool SendFrame(size_t port, const uint8_t* frame, size_t len);
  void HandlePunt(rte_mbuf* m, absl::FunctionRef<void(const PuntedDatagram&)> on_datagram);
  struct NeighborEntry {
    MacAddr mac{};
    bool is_static = false;         // AddNeighbor: never moved by ARP/ND, never reclaimed
    Clock::time_point learned{};    // reclaim order: oldest first
    // A check: started when another MAC was claimed, it asks the address and collects answers
    // for kCheckWindow. It ends in a move to `candidate` only if the current MAC did not answer
    // (`confirmed`) and no third MAC answered too (`conflict`).
    std::optional<Clock::time_point> check_since;
    std::optional<MacAddr> candidate;
    bool confirmed = false;
    bool conflict = false;
  };
  // `answer`: an ARP reply or solicited NA to the switch's address, which counts as solicited
  // only when the switch asked for `ip` on `port` (see PollControl's contract).
  void Learn(size_t port, const IpAddr& ip, const MacAddr& mac, bool answer);
  void StartCheck(size_t port, const IpAddr& ip, const std::string& key, NeighborEntry& e,
                  Clock::time_point now);
  void FinishCheck(const std::string& key, NeighborEntry& e, Clock::time_point now);
  bool Reclaim();
  void EgressNeighborChanged(Clock::time_point now);
  void RecompileForNeighbors(Clock::time_point now);
  void ServiceNeighbors(Clock::time_point now);

  DpdkBackendConfig config;
  std::vector<PortRt> ports;
  rte_mempool* pool = nullptr;
  rte_rcu_qsbr* qsv = nullptr;
  std::unique_ptr<RcuDomain> domain;
  std::unique_ptr<Publisher<DpdkTables, RcuDomain>> publisher;
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<bool> running{false};
  uint64_t tsc_hz = 1;
  uint64_t ns_per_cycle_q32 = 0;  // nanoseconds per TSC cycle, 32.32 fixed point: no division
  uint64_t drain_tsc = 0;
  uint64_t CyclesToNs(uint64_t c) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(c) * ns_per_cycle_q32) >> 32);
  }
  // Control state.
  IoCounters control;
  NeighborCounters neighbor_stats;
  absl::flat_hash_map<std::string, NeighborEntry> neighbors;  // key: NeighborKey
  // Next hops of the published egress (key: NeighborKey) and the port each leaves by.
  absl::flat_hash_map<std::string, size_t> in_use;
  // Requests the switch sent (ARP/NS) and not yet answered, at most max_neighbors.
  struct Asked {
    size_t port;
    Clock::time_point at;
  };
  absl::flat_hash_map<std::string, Asked> asked;
  std::vector<std::string> checks;  // keys of entries with a check running (may repeat)
  std::optional<Clock::time_point> last_learn_compile;  // the rate limit's last recompile
  bool recompile_pending = false;  // a learned change the published egress does not have yet
  struct Pending {
    size_t port;
    IpAddr ip;
  };
  std::vector<Pending> unresolved;
  Clock::time_point last_ask{};
  std::shared_ptr<const DataplaneTables> base;
  bool ports_started = false;
};

namespace {

std::string NeighborKey(const IpAddr& ip) {
  return std::string(reinterpret_cast<const char*>(ip.b.data()), 16) + static_cast<char>(ip.family);
}

bool InSubnet(const IpAddr& a, const IpAddr& net, uint8_t prefix) {
  if (a.family != net.family) return false;
  const uint8_t bits = a.family == 4 ? 32 : 128;
  prefix = std::min(prefix, bits);
  for (uint8_t i = 0; i < prefix; ++i) {
    const uint8_t mask = static_cast<uint8_t>(0x80 >> (i % 8));
    if ((a.b[i / 8] & mask) != (net.b[i / 8] & mask)) return false;
  }
  return true;
}

// Telemetry callbacks carry no user pointer: the live backend is registered here.
std::mutex g_telemetry_mu;
DpdkBackend::Impl* g_telemetry_impl = nullptr;
bool g_telemetry_registered = false;

// Set once InitEal succeeded: nothing of DPDK may be called before.
std::atomic<bool> g_eal_ready{false};

void AddCounters(rte_tel_data* d, const WorkerCounters& p, const IoCounters& io) {
  rte_tel_data_add_dict_u64(d, "rx_frames", io.rx_datagrams.Get());
  rte_tel_data_add_dict_u64(d, "rx_bursts", io.rx_bursts.Get());
  rte_tel_data_add_dict_u64(d, "media_packets", p.rx_packets.Get());
  rte_tel_data_add_dict_u64(d, "accepted", p.accepted.Get());
  rte_tel_data_add_dict_u64(d, "outputs", p.outputs.Get());
  rte_tel_data_add_dict_u64(d, "tags_computed", p.tags_computed.Get());
  rte_tel_data_add_dict_u64(d, "ekt_keys_learned", p.ekt_keys_learned.Get());
  rte_tel_data_add_dict_u64(d, "tx_frames", io.tx_datagrams.Get());
  rte_tel_data_add_dict_u64(d, "punted", io.punted.Get());
  rte_tel_data_add_dict_u64(d, "latency_p50_ns", io.latency.QuantileNs(0.5));
  rte_tel_data_add_dict_u64(d, "latency_p99_ns", io.latency.QuantileNs(0.99));
  for (size_t i = 1; i < kDropCount; ++i) {
    if (const uint64_t v = p.drops[i].Get(); v != 0) {
      rte_tel_data_add_dict_u64(d, std::string(kDropInfo[i].name).c_str(), v);
    }
  }
  for (size_t i = 1; i < kIoDropCount; ++i) {
    if (const uint64_t v = io.drops[i].Get(); v != 0) {
      rte_tel_data_add_dict_u64(d, std::string(kIoDropInfo[i].name).c_str(), v);
    }
  }
}

int TelemetryLcores(const char*, const char*, rte_tel_data* d) {
  std::lock_guard<std::mutex> l(g_telemetry_mu);
  rte_tel_data_start_array(d, RTE_TEL_INT_VAL);
  if (g_telemetry_impl == nullptr) return 0;
  for (const auto& w : g_telemetry_impl->workers) rte_tel_data_add_array_int(d, static_cast<int>(w->lcore));
  return 0;
}

int TelemetryLcore(const char*, const char* params, rte_tel_data* d) {
  std::lock_guard<std::mutex> l(g_telemetry_mu);
  if (g_telemetry_impl == nullptr || params == nullptr) return -EINVAL;
  char* end = nullptr;
  const long lcore = std::strtol(params, &end, 10);
  if (end == params) return -EINVAL;
  for (const auto& w : g_telemetry_impl->workers) {
    if (static_cast<long>(w->lcore) != lcore) continue;
    rte_tel_data_start_dict(d);
    AddCounters(d, w->state.counters(), w->io);
    return 0;
  }
  return -EINVAL;
}

int TelemetryStats(const char*, const char*, rte_tel_data* d) {
  std::lock_guard<std::mutex> l(g_telemetry_mu);
  rte_tel_data_start_dict(d);
  if (g_telemetry_impl == nullptr) return 0;
  uint64_t rx = 0, accepted = 0, outputs = 0, tx = 0, punted = 0, drops = 0;
  for (const auto& w : g_telemetry_impl->workers) {
    rx += w->io.rx_datagrams.Get();
    accepted += w->state.counters().accepted.Get();
    outputs += w->state.counters().outputs.Get();
    tx += w->io.tx_datagrams.Get();
    punted += w->io.punted.Get();
    for (size_t i = 1; i < kDropCount; ++i) drops += w->state.counters().drops[i].Get();
    for (size_t i = 1; i < kIoDropCount; ++i) drops += w->io.drops[i].Get();
  }
  rte_tel_data_add_dict_u64(d, "workers", g_telemetry_impl->workers.size());
  rte_tel_data_add_dict_u64(d, "rx_frames", rx);
  rte_tel_data_add_dict_u64(d, "accepted", accepted);
  rte_tel_data_add_dict_u64(d, "outputs", outputs);
  rte_tel_data_add_dict_u64(d, "tx_frames", tx);
  rte_tel_data_add_dict_u64(d, "punted", punted);
  rte_tel_data_add_dict_u64(d, "dropped", drops);
  const NeighborCounters& n = g_telemetry_impl->neighbor_stats;
  rte_tel_data_add_dict_u64(d, "neighbors", n.entries.Get());
  for (size_t i = 0; i < kNeighborEventCount; ++i) {
    rte_tel_data_add_dict_u64(d, std::string(kNeighborEventInfo[i].name).c_str(),
                              n.events[i].Get());
  }
  return 0;
}

int TelemetryDrops(const char*, const char*, rte_tel_data* d) {
  std::lock_guard<std::mutex> l(g_telemetry_mu);
  rte_tel_data_start_dict(d);
  if (g_telemetry_impl == nullptr) return 0;
  for (size_t i = 1; i < kDropCount; ++i) {
    uint64_t v = 0;
    for (const auto& w : g_telemetry_impl->workers) v += w->state.counters().drops[i].Get();
    rte_tel_data_add_dict_u64(d, std::string(kDropInfo[i].name).c_str(), v);
  }
  for (size_t i = 1; i < kIoDropCount; ++i) {
    uint64_t v = g_telemetry_impl->control.drops[i].Get();
    for (const auto& w : g_telemetry_impl->workers) v += w->io.drops[i].Get();
    rte_tel_data_add_dict_u64(d, std::string(kIoDropInfo[i].name).c_str(), v);
  }
  return 0;
}

}  // namespace

absl::Status InitEal(const std::vector<std::string>& args) {
  static std::mutex mu;
  static bool done = false;
  static std::vector<std::string> storage;
  static std::vector<char*> argv;
  std::lock_guard<std::mutex> l(mu);
  if (done) return absl::OkStatus();
  storage = {"mpswitch"};
  storage.insert(storage.end(), args.begin(), args.end());
  if (!HasArg(args, "--no-huge") && !HasArg(args, "-m") && !HasArg(args, "--socket-mem")) {
    if (HugepagesUsable()) {
      std::fprintf(stderr, "mpswitch: DPDK uses the mounted hugepages\n");
    } else {
      std::fprintf(stderr, "mpswitch: no free hugepages mounted: DPDK runs with --no-huge -m 512 "
                           "(slower mbuf handling; see README for hugepages)\n");
      storage.insert(storage.end(), {"--no-huge", "-m", "512"});
    }
  }
  argv.clear();
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  const int r = rte_eal_init(static_cast<int>(argv.size() - 1), argv.data());
  if (r < 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("DPDK EAL initialisation failed: %s", DpdkError(rte_errno)));
  }
  done = true;
  g_eal_ready.store(true, std::memory_order_release);
  return absl::OkStatus();
}

DpdkBackend::DpdkBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<DpdkBackend>> DpdkBackend::Create(DpdkBackendConfig config) {
  if (!g_eal_ready.load(std::memory_order_acquire)) {
    return absl::FailedPreconditionError("DPDK EAL is not initialised: call InitEal first");
  }
  auto impl = std::make_unique<Impl>(std::move(config));
  if (auto st = impl->Init(); !st.ok()) return st;
  return std::unique_ptr<DpdkBackend>(new DpdkBackend(std::move(impl)));
}

absl::Status DpdkBackend::Impl::Init() {
  if (config.ports.empty()) return absl::InvalidArgumentError("no DPDK port configured");
  if (config.burst == 0 || config.burst > 512 || config.max_outputs == 0) {
    return absl::InvalidArgumentError("burst must be 1..512 and max_outputs above 0");
  }
  if (config.port_count == 0 || uint32_t{config.first_port} + config.port_count > 65536) {
    return absl::InvalidArgumentError("media port range does not fit in 1..65535");
  }
  if (config.max_neighbors == 0) return absl::InvalidArgumentError("max_neighbors must be above 0");
  if (config.worker_lcores.empty()) {
    unsigned lc;
    RTE_LCORE_FOREACH_WORKER(lc) config.worker_lcores.push_back(lc);
  }
  if (config.worker_lcores.empty()) {
    return absl::InvalidArgumentError(
        "EAL has no worker lcore: give it at least two (-l 0-1), the first is the control thread");
  }
  for (unsigned lc : config.worker_lcores) {
    if (lc == rte_get_main_lcore() || !rte_lcore_is_enabled(lc)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("lcore %d is not a worker lcore of this EAL", lc));
    }
  }
  const uint32_t nw = static_cast<uint32_t>(config.worker_lcores.size());
  tsc_hz = rte_get_tsc_hz();
  ns_per_cycle_q32 = static_cast<uint64_t>((static_cast<unsigned __int128>(1'000'000'000) << 32) / tsc_hz);
  drain_tsc = tsc_hz / 1'000'000 * config.tx_drain_us;

  uint32_t mbufs = config.mbufs;
  if (mbufs == 0) {
    for (const DpdkPortConfig& p : config.ports) {
      mbufs += nw * (p.rx_desc + p.tx_desc) + p.tx_desc + (p.equal_queue_counts ? p.rx_desc : 0);
    }
    mbufs += nw * (config.max_outputs + config.burst + kTxBufLen * config.ports.size() +
                   config.punt_ring_slots);
    mbufs += 1024;
  }
  static std::atomic<int> pool_serial{0};
  const std::string pool_name = absl::StrFormat("mpswitch_mbufs_%d", pool_serial++);
  pool = rte_pktmbuf_pool_create(pool_name.c_str(), mbufs, config.mbuf_cache, 0,
                                 RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
  if (pool == nullptr) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "cannot create a pool of %d mbufs: %s (give EAL more memory with -m or hugepages, or "
        "lower mbufs)", mbufs, DpdkError(rte_errno)));
  }

  const size_t qsv_size = rte_rcu_qsbr_get_memsize(nw);
  qsv = static_cast<rte_rcu_qsbr*>(rte_zmalloc("mpswitch_rcu", qsv_size, RTE_CACHE_LINE_SIZE));
  if (qsv == nullptr || rte_rcu_qsbr_init(qsv, nw) != 0) {
    return absl::ResourceExhaustedError("cannot allocate the RCU QSBR variable");
  }
  domain = std::make_unique<RcuDomain>(qsv);
  publisher = std::make_unique<Publisher<DpdkTables, RcuDomain>>(*domain);

  for (uint32_t i = 0; i < nw; ++i) {
    auto kernel = config.mac_kernel ? config.mac_kernel() : MakeBestMacKernel();
    auto w = std::make_unique<Worker>(config, std::move(kernel));
    w->lcore = config.worker_lcores[i];
    w->queue = static_cast<uint16_t>(i);
    w->impl = this;
    static std::atomic<int> ring_serial{0};
    const std::string name = absl::StrFormat("mpswitch_punt_%d", ring_serial++);
    w->punt = rte_ring_create(name.c_str(), config.punt_ring_slots,
                              static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (w->punt == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("cannot create punt ring %s: %s", name, DpdkError(rte_errno)));
    }
    if (rte_rcu_qsbr_thread_register(qsv, i) != 0) {
      return absl::InternalError("cannot register a worker with RCU QSBR");
    }
    workers.push_back(std::move(w));
  }
  ports.resize(config.ports.size());
  for (size_t i = 0; i < config.ports.size(); ++i) {
    if (auto st = SetupPort(i); !st.ok()) return st;
  }
  ports_started = true;
  for (auto& w : workers) {
    w->usable = 0;
    RefillStash(*w, config.max_outputs);
    if (w->usable != config.max_outputs) {
      return absl::ResourceExhaustedError("mbuf pool too small for the output buffers");
    }
  }
  std::lock_guard<std::mutex> l(g_telemetry_mu);
  if (!g_telemetry_registered) {
    rte_telemetry_register_cmd("/mpswitch/stats", TelemetryStats,
                               "Totals over all mpswitch workers. Takes no parameters");
    rte_telemetry_register_cmd("/mpswitch/lcores", TelemetryLcores,
                               "Worker lcores of mpswitch. Takes no parameters");
    rte_telemetry_register_cmd("/mpswitch/lcore", TelemetryLcore,
                               "Counters and drops of one worker. Parameters: int lcore_id");
    rte_telemetry_register_cmd("/mpswitch/drops", TelemetryDrops,
                               "Drops by reason over all workers. Takes no parameters");
    g_telemetry_registered = true;
  }
  g_telemetry_impl = this;
  return absl::OkStatus();
}

absl::Status DpdkBackend::Impl::SetupPort(size_t i) {
  const DpdkPortConfig& pc = config.ports[i];
  PortRt& p = ports[i];
  if (rte_eth_dev_get_port_by_name(pc.device.c_str(), &p.id) != 0) {
    return absl::NotFoundError(absl::StrFormat(
        "DPDK port '%s' not found: bind the NIC to vfio-pci, or pass --vdev for a virtual one",
        pc.device));
  }
  rte_eth_dev_info info;
  if (int r = rte_eth_dev_info_get(p.id, &info); r != 0) {
    return absl::InternalError(absl::StrFormat("port %s: %s", pc.device, DpdkError(r)));
  }
  const uint16_t nw = static_cast<uint16_t>(workers.size());
  if (pc.equal_queue_counts && nw > 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "port %s: equal_queue_counts is for one worker (the port spreads flows over queues by "
        "its own hash, so a stream could reach a worker that does not own it); %d given",
        pc.device, nw));
  }
  const uint16_t nrx = pc.equal_queue_counts ? nw + 1 : nw;
  if (info.max_rx_queues < nrx || info.max_tx_queues < nw + 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "port %s has %d RX / %d TX queues; %d workers need %d and %d", pc.device,
        info.max_rx_queues, info.max_tx_queues, nw, nrx, nw + 1));
  }
  rte_eth_conf conf{};
  const uint64_t want_rss = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_IPV6 |
                            RTE_ETH_RSS_NONFRAG_IPV6_UDP;
  if (nw > 1 && (info.flow_type_rss_offloads & want_rss) != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & want_rss;
  } else if (nw > 1) {
    std::fprintf(stderr,
                 "mpswitch: port %s has no RSS; %d workers rely on the peer spreading flows over "
                 "queues\n", pc.device.c_str(), nw);
  }
  const uint64_t rx_csum = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
  if ((info.rx_offload_capa & rx_csum) == rx_csum) {
    conf.rxmode.offloads |= rx_csum;
    p.rx_csum = true;
  }
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    p.hw_ip_csum = true;
  }
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
    p.hw_udp_csum = true;
  }
  if (nrx > nw) p.extra_rx_queue = nw;
  if (int r = rte_eth_dev_configure(p.id, nrx, nw + 1, &conf); r != 0) {
    return absl::InternalError(absl::StrFormat("configuring port %s: %s", pc.device, DpdkError(r)));
  }
  uint16_t rxd = pc.rx_desc, txd = pc.tx_desc;
  rte_eth_dev_adjust_nb_rx_tx_desc(p.id, &rxd, &txd);
  const int socket = rte_eth_dev_socket_id(p.id) < 0 ? 0 : rte_eth_dev_socket_id(p.id);
  for (uint16_t q = 0; q < nrx; ++q) {
    rte_eth_rxconf rxc = info.default_rxconf;
    rxc.offloads = conf.rxmode.offloads;
    if (int r = rte_eth_rx_queue_setup(p.id, q, rxd, static_cast<unsigned>(socket), &rxc, pool);
        r != 0) {
      return absl::InternalError(
          absl::StrFormat("RX queue %d of port %s: %s", q, pc.device, DpdkError(r)));
    }
  }
  for (uint16_t q = 0; q <= nw; ++q) {
    rte_eth_txconf txc = info.default_txconf;
    txc.offloads = conf.txmode.offloads;
    if (int r = rte_eth_tx_queue_setup(p.id, q, txd, static_cast<unsigned>(socket), &txc); r != 0) {
      return absl::InternalError(
          absl::StrFormat("TX queue %d of port %s: %s", q, pc.device, DpdkError(r)));
    }
  }
  if (int r = rte_eth_dev_start(p.id); r != 0) {
    return absl::InternalError(absl::StrFormat("starting port %s: %s", pc.device, DpdkError(r)));
  }
  // NDP solicitations go to solicited-node multicast groups; not every PMD filters by list.
  rte_eth_allmulticast_enable(p.id);
  rte_ether_addr mac;
  rte_eth_macaddr_get(p.id, &mac);
  std::memcpy(p.mac.data(), mac.addr_bytes, 6);
  return absl::OkStatus();
}

DpdkBackend::Impl::~Impl() {
  {
    std::lock_guard<std::mutex> l(g_telemetry_mu);
    if (g_telemetry_impl == this) g_telemetry_impl = nullptr;
  }
  for (auto& w : workers) {
    for (rte_mbuf*& m : w->stash) {
      if (m != nullptr) rte_pktmbuf_free(m);
      m = nullptr;
    }
    for (TxBuffer& b : w->tx) {
      rte_pktmbuf_free_bulk(b.pkts, b.n);
      b.n = 0;
    }
    if (w->punt != nullptr) {
      void* m;
      while (rte_ring_dequeue(w->punt, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      rte_ring_free(w->punt);
    }
  }
  if (ports_started) {
    for (const PortRt& p : ports) {
      rte_eth_dev_stop(p.id);
      rte_eth_dev_close(p.id);
    }
  }
  publisher.reset();
  rte_free(qsv);
  // The pool is freed last: ports may still hold its mbufs until they are closed.
  rte_mempool_free(pool);
}

DpdkBackend::~DpdkBackend() { Stop(); }

void DpdkBackend::Impl::RefillStash(Worker& w, uint32_t consumed) {
  // A burst consumes slots from the front: only [0, consumed) can be empty, unless an earlier
  // refill ran out of mbufs (usable < size), in which case the whole stash is looked at.
  rte_mbuf* fresh[64];
  const uint32_t size = static_cast<uint32_t>(w.stash.size());
  const bool short_before = w.usable < size;
  const uint32_t n = short_before ? size : std::min(consumed, size);
  uint32_t i = 0;
  bool failed = false;
  while (i < n) {
    uint32_t want = 0;
    uint32_t idx[64];
    for (; i < n && want < 64; ++i) {
      if (w.stash[i] == nullptr) idx[want++] = i;
    }
    if (want == 0) break;
    if (rte_pktmbuf_alloc_bulk(pool, fresh, want) != 0) {
      w.io.Drop(IoDrop::kNoMbuf);
      failed = true;
      break;
    }
    for (uint32_t j = 0; j < want; ++j) {
      rte_mbuf* m = fresh[j];
      w.stash[idx[j]] = m;
      OutPacket& o = w.outs[idx[j]];
      o.data = rte_pktmbuf_mtod(m, uint8_t*);
      o.capacity = static_cast<uint16_t>(std::min<uint32_t>(rte_pktmbuf_tailroom(m), 0xffff));
      o.user = m;
    }
  }
  if (!failed && !short_before) {
    w.usable = size;
    return;
  }
  uint32_t u = 0;
  while (u < size && w.stash[u] != nullptr) ++u;
  w.usable = u;
}

// The UDP checksum of a copy without reading all of it. A copy that repeats an earlier output's
// bytes (receivers sharing a header) reuses that output's payload sum. Otherwise the copy shares
// bytes [16, shared_end) with its input: that middle is summed once per input and reused by all
// its copies, and each copy adds only its own head (where the CSRC was rewritten) and tail (tag
// and EKT field). The middle is kept of even length so no sum starts at an odd offset.
uint32_t DpdkBackend::Impl::PayloadSum(Worker& w, uint32_t j) {
  constexpr uint32_t kHead = 16;
  const OutPacket& o = w.outs[j];
  uint32_t& out_sum = w.out_sums[j];
  if (o.copy_of < j) {
    // The original may not have been sent (no neighbour) and so not summed yet.
    const uint32_t orig = w.out_sums[o.copy_of];
    return out_sum = orig != UINT32_MAX ? orig : PayloadSum(w, o.copy_of);
  }
  const PacketRef& in = w.refs[o.source];
  if (o.shared_end < kHead + 2 || o.shared_end > o.len || o.shared_end > in.len) {
    return out_sum = ChecksumPartial({o.data, o.len});
  }
  const uint32_t mid = (o.shared_end - kHead) & ~1u;
  Worker::MidSum& ms = w.mid_sums[o.source];
  if (ms.len != mid) {
    ms.len = mid;
    ms.sum = ChecksumPartial({in.data + kHead, mid});
  }
  return out_sum = ms.sum + ChecksumPartial({o.data, kHead}) +
                   ChecksumPartial({o.data + kHead + mid, o.len - kHead - mid});
}

void DpdkBackend::Impl::Flush(Worker& w, size_t port, uint64_t now) {
  TxBuffer& b = w.tx[port];
  if (b.n == 0) return;
  uint16_t sent = rte_eth_tx_burst(ports[port].id, w.queue, b.pkts, b.n);
  // A NIC queue that is briefly full gets one more chance before the copies are dropped.
  if (sent < b.n) sent += rte_eth_tx_burst(ports[port].id, w.queue, b.pkts + sent, b.n - sent);
  for (uint16_t i = 0; i < sent; ++i) w.io.latency.Add(CyclesToNs(now - b.rx_tsc[i]), 1);
  if (sent < b.n) {
    w.io.Drop(IoDrop::kTxFailed, b.n - sent);
    rte_pktmbuf_free_bulk(b.pkts + sent, b.n - sent);
  }
  w.io.tx_datagrams.Add(sent);
  b.n = 0;
}

int DpdkBackend::Impl::WorkerLoop(Worker& w) {
  const uint32_t rcu_id = w.queue;
  rte_rcu_qsbr_thread_online(qsv, rcu_id);
  const size_t np = ports.size();
  const uint16_t first = config.first_port;
  const uint32_t count = config.port_count;
  while (running.load(std::memory_order_relaxed)) {
    rte_rcu_qsbr_quiescent(qsv, rcu_id);
    w.io.polls.Add();
    const uint64_t t_poll = rte_rdtsc();
    bool any = false;
    bool saturated = false;  // some queue had a full burst waiting: more is coming
    for (size_t pi = 0; pi < np; ++pi) {
      const PortRt& port = ports[pi];
      const DpdkPortConfig& pc = config.ports[pi];
      // A port with an extra RX queue (equal_queue_counts) has it polled by worker 0 as well.
      const uint16_t nq = (port.extra_rx_queue != 0 && w.queue == 0) ? 2 : 1;
      for (uint16_t qi = 0; qi < nq; ++qi) {
      const uint16_t n =
          rte_eth_rx_burst(port.id, qi == 0 ? w.queue : port.extra_rx_queue, w.rx.data(), config.burst);
      if (n == 0) continue;
      // The tables are read after the burst arrived, never before: whatever control published
      // before a sender sent (a leg's streams, at admission) is in force for its packets.
      const DpdkTables* t = publisher->Current();
      any = true;
      saturated |= n == config.burst;
      const uint64_t t_rx = rte_rdtsc();
      w.io.rx_bursts.Add();
      w.io.rx_datagrams.Add(n);
      uint16_t media = 0;
      for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = w.rx[i];
        if (m->nb_segs != 1) {
          w.io.Drop(IoDrop::kMultiSegment);
          rte_pktmbuf_free(m);
          continue;
        }
        uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
        RxOffload hw;
        if (port.rx_csum) {
          hw.ip = FromFlags(m->ol_flags, RTE_MBUF_F_RX_IP_CKSUM_MASK, RTE_MBUF_F_RX_IP_CKSUM_GOOD,
                            RTE_MBUF_F_RX_IP_CKSUM_BAD, RTE_MBUF_F_RX_IP_CKSUM_NONE);
          hw.l4 = FromFlags(m->ol_flags, RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_GOOD,
                            RTE_MBUF_F_RX_L4_CKSUM_BAD, RTE_MBUF_F_RX_L4_CKSUM_NONE);
        }
        FrameInfo fi;
        const IoDrop d = ParseFrame({frame, m->data_len}, hw, fi);
        if (d != IoDrop::kNone) {
          w.io.Drop(d);
          rte_pktmbuf_free(m);
          continue;
        }
        if (pc.vlan && (!fi.has_vlan || (fi.vlan_tci & 0x0fff) != *pc.vlan)) {
          w.io.Drop(IoDrop::kVlanMismatch);
          rte_pktmbuf_free(m);
          continue;
        }
        bool punt = fi.kind != FrameKind::kUdp;
        if (!punt) {
          if (!(fi.dst == (fi.dst.family == 4 ? pc.ipv4 : pc.ipv6))) {
            w.io.Drop(IoDrop::kIpNotForUs);
            rte_pktmbuf_free(m);
            continue;
          }
          if (fi.dst_port < first || uint32_t{fi.dst_port} - first >= count) {
            w.io.Drop(IoDrop::kNotMediaPort);
            rte_pktmbuf_free(m);
            continue;
          }
          uint8_t* payload = frame + fi.payload_offset;
          const PacketClass cls = Demultiplex({payload, fi.payload_len});
          if (cls == PacketClass::kRtp || cls == PacketClass::kRtcp) {
            PacketRef& r = w.refs[media++];
            r = PacketRef{};
            r.data = payload;
            r.len = fi.payload_len;
            // Everything up to the end of the buffer may be used to stage the ROC.
            const uint8_t* end = static_cast<uint8_t*>(m->buf_addr) + m->buf_len;
            r.capacity = static_cast<uint16_t>(std::min<ptrdiff_t>(end - payload, 0xffff));
            r.local_port = fi.dst_port;
            r.from = fi.src;
            r.from_port = fi.src_port;
            r.user = m;
            continue;
          }
          punt = true;
        }
        m->port = port.id;  // not every PMD sets it (net_ring does not); control needs it
        if (rte_ring_sp_enqueue(w.punt, m) != 0) {
          w.io.Drop(IoDrop::kPuntRingFull);
          rte_pktmbuf_free(m);
        } else {
          w.io.punted.Add();
        }
      }
      if (media == 0) continue;
      if (t == nullptr) {
        w.state.counters().drops[static_cast<size_t>(Drop::kUnknownStream)].Add(media);
        for (uint16_t i = 0; i < media; ++i) rte_pktmbuf_free(static_cast<rte_mbuf*>(w.refs[i].user));
        continue;
      }
      const BurstResult res =
          ProcessBurst(t->base->media, w.state, {w.refs.data(), media}, {w.outs.data(), w.usable});
      for (uint16_t i = 0; i < res.accepted; ++i) w.mid_sums[i].len = UINT32_MAX;
      std::fill_n(w.out_sums.begin(), res.outputs, UINT32_MAX);
      for (uint32_t j = 0; j < res.outputs; ++j) {
        OutPacket& o = w.outs[j];
        rte_mbuf* m = static_cast<rte_mbuf*>(o.user);
        if (o.egress >= t->egress.size() || !t->egress[o.egress].resolved) {
          w.io.Drop(IoDrop::kNoNeighbor);
          continue;  // the mbuf stays in its stash slot for the next burst
        }
        const EgressRt& e = t->egress[o.egress];
        const PortRt& out_port = ports[e.port_index];
        m->data_len = o.len;
        m->pkt_len = o.len;
        uint8_t* hdr = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, e.tmpl.len));
        if (hdr == nullptr) {
          // No room in front of the payload for the headers (prepend changed nothing): like a
          // copy without a neighbour, the mbuf stays in its stash slot, reset for reuse below.
          w.io.Drop(IoDrop::kNoHeadroom);
          continue;
        }
        if (out_port.hw_udp_csum) {
          WriteUdpHeaders(e.tmpl, hdr, o.len, w.ip_id++, out_port.hw_ip_csum, true);
        } else {
          WriteUdpHeadersWithPayloadSum(e.tmpl, hdr, o.len, w.ip_id++, out_port.hw_ip_csum,
                                        PayloadSum(w, j));
        }
        if (out_port.hw_ip_csum || out_port.hw_udp_csum) {
          m->l2_len = e.tmpl.l3_offset;
          m->l3_len = e.tmpl.family == 4 ? kIpv4HeaderLen : kIpv6HeaderLen;
          m->ol_flags = (e.tmpl.family == 4 ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6) |
                        (e.tmpl.family == 4 && out_port.hw_ip_csum ? RTE_MBUF_F_TX_IP_CKSUM : 0) |
                        (out_port.hw_udp_csum ? RTE_MBUF_F_TX_UDP_CKSUM : 0);
        }
        w.stash[j] = nullptr;
        TxBuffer& b = w.tx[e.port_index];
        b.pkts[b.n] = m;
        b.rx_tsc[b.n] = t_rx;
        if (++b.n == kTxBufLen) Flush(w, e.port_index, rte_rdtsc());
      }
      // The inputs go only now: the copies' checksums were summed from them.
      for (uint16_t i = 0; i < media; ++i) w.rx[i] = static_cast<rte_mbuf*>(w.refs[i].user);
      rte_pktmbuf_free_bulk(w.rx.data(), media);
      // Copies kept back (no neighbour, no headroom) are reset for reuse; consumed slots are
      // refilled.
      for (uint32_t j = 0; j < res.outputs; ++j) {
        if (w.stash[j] != nullptr) {
          rte_pktmbuf_reset(w.stash[j]);
          w.outs[j].data = rte_pktmbuf_mtod(w.stash[j], uint8_t*);
        }
      }
      if (res.outputs > 0) RefillStash(w, res.outputs);
      }
    }
    // Buffer while the queues are busy (fewer, fuller TX bursts); once they are drained nothing
    // is gained by holding copies back, so they leave now. The timer bounds the wait under load.
    const uint64_t now = rte_rdtsc();
    if ((any && !saturated) || now - w.last_drain >= drain_tsc) {
      for (size_t pi = 0; pi < np; ++pi) Flush(w, pi, now);
      w.last_drain = now;
    }
    // Rounds that received something count as busy, receive and drain included.
    if (any) w.io.busy_ns.Add(CyclesToNs(rte_rdtsc() - t_poll));
    if (!any && config.idle_sleep_us != 0) {
      rte_rcu_qsbr_thread_offline(qsv, rcu_id);
      for (size_t pi = 0; pi < np; ++pi) Flush(w, pi, rte_rdtsc());
      rte_delay_us_sleep(config.idle_sleep_us);
      rte_rcu_qsbr_thread_online(qsv, rcu_id);
    }
  }
  for (size_t pi = 0; pi < np; ++pi) Flush(w, pi, rte_rdtsc());
  rte_rcu_qsbr_thread_offline(qsv, rcu_id);
  return 0;
}

absl::Status DpdkBackend::Start() {
  Impl& im = *impl_;
  if (im.running.exchange(true)) return absl::FailedPreconditionError("backend already started");
  for (auto& w : im.workers) {
    const int r = rte_eal_remote_launch(
        [](void* arg) -> int {
          auto* wk = static_cast<Impl::Worker*>(arg);
          return wk->impl->WorkerLoop(*wk);
        },
        w.get(), w->lcore);
    if (r != 0) {
      Stop();
      return absl::FailedPreconditionError(
          absl::StrFormat("cannot launch a worker on lcore %d: %s", w->lcore, DpdkError(r)));
    }
  }
  return absl::OkStatus();
}

void DpdkBackend::Stop() {
  Impl& im = *impl_;
  if (!im.running.exchange(false)) return;
  for (auto& w : im.workers) rte_eal_wait_lcore(w->lcore);
  im.publisher->Reclaim();
}

std::optional<DpdkBackend::Impl::Route> DpdkBackend::Impl::RouteFor(const IpAddr& dst) const {
  for (size_t i = 0; i < config.ports.size(); ++i) {
    const DpdkPortConfig& p = config.ports[i];
    if (dst.family == 4 && p.ipv4.family == 4 && InSubnet(dst, p.ipv4, p.ipv4_prefix)) {
      return Route{i, dst, p.ipv4};
    }
    if (dst.family == 6 && p.ipv6.family == 6 && InSubnet(dst, p.ipv6, p.ipv6_prefix)) {
      return Route{i, dst, p.ipv6};
    }
  }
  for (size_t i = 0; i < config.ports.size(); ++i) {
    const DpdkPortConfig& p = config.ports[i];
    if (dst.family == 4 && p.gateway4 && p.ipv4.family == 4) return Route{i, *p.gateway4, p.ipv4};
    if (dst.family == 6 && p.gateway6 && p.ipv6.family == 6) return Route{i, *p.gateway6, p.ipv6};
  }
  return std::nullopt;
}

absl::Status DpdkBackend::Impl::Compile(std::shared_ptr<const DataplaneTables> tables) {
  auto next = std::make_unique<DpdkTables>();
  next->base = tables;
  next->egress.resize(tables->egress.size());
  std::vector<Pending> missing;
  absl::flat_hash_map<std::string, size_t> next_in_use;
  for (size_t i = 0; i < tables->egress.size(); ++i) {
    const Egress& e = tables->egress[i];
    const auto route = RouteFor(e.addr);
    if (!route) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "egress %d (%s) has no route: no port's subnet holds it and no gateway is configured",
          i, e.addr.ToString()));
    }
    UdpFlow f;
    f.src_mac = ports[route->port].mac;
    std::string key = NeighborKey(route->next_hop);
    auto it = neighbors.find(key);
    if (it != neighbors.end()) f.dst_mac = it->second.mac;
    next_in_use.try_emplace(std::move(key), route->port);
    if (config.ports[route->port].vlan) {
      f.vlan = VlanTag{kEtherTypeVlan, *config.ports[route->port].vlan};
    }
    f.src = route->src;
    f.dst = e.addr;
    f.src_port = e.local_port;
    f.dst_port = e.port;
    f.ttl_or_hop_limit = config.ttl;
    f.dscp = config.dscp;
    auto tmpl = MakeUdpTemplate(f);
    if (!tmpl.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("egress %d (%s): %s", i, e.addr.ToString(), tmpl.status().message()));
    }
    EgressRt& rt = next->egress[i];
    rt.tmpl = *tmpl;
    rt.port_index = static_cast<uint16_t>(route->port);
    rt.resolved = it != neighbors.end();
    if (!rt.resolved) {
      bool known = false;
      for (const Pending& p : missing) known |= p.ip == route->next_hop;
      if (!known) missing.push_back({route->port, route->next_hop});
    }
  }
  base = std::move(tables);
  in_use = std::move(next_in_use);
  recompile_pending = false;  // every neighbour known now is in what is published
  publisher->Publish(std::move(next));
  const bool ask_now = missing.size() != unresolved.size();
  unresolved = std::move(missing);
  if (ask_now) {
    for (const Pending& p : unresolved) Ask(p.port, p.ip);
    last_ask = Now();
  }
  return absl::OkStatus();
}

absl::Status DpdkBackend::Publish(DataplaneTables tables) {
  Impl& im = *impl_;
  if (tables.media.slot_bound() > im.config.stream_slots) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tables use stream slot %d but workers have %d: raise stream_slots",
        tables.media.slot_bound() - 1, im.config.stream_slots));
  }
  return im.Compile(std::make_shared<const DataplaneTables>(std::move(tables)));
}

absl::Status DpdkBackend::AddNeighbor(const IpAddr& ip, const MacAddr& mac) {
  if (ip.family != 4 && ip.family != 6) return absl::InvalidArgumentError("neighbor without address");
  if (IsGroupMac(mac)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("neighbor %s: %s is a group address", ip.ToString(), MacToString(mac)));
  }
  Impl& im = *impl_;
  std::string key = NeighborKey(ip);
  auto it = im.neighbors.find(key);
  bool changed = true;
  if (it == im.neighbors.end()) {
    // Operator configuration skips the learning rules, not the cap.
    if (im.neighbors.size() >= im.config.max_neighbors && !im.Reclaim()) {
      im.control.Drop(IoDrop::kNeighborTableFull);
      return absl::ResourceExhaustedError(absl::StrFormat(
          "neighbor %s: the table holds max_neighbors (%d) entries none of which can be reclaimed",
          ip.ToString(), im.config.max_neighbors));
    }
    it = im.neighbors.try_emplace(std::move(key)).first;
    it->second.learned = im.Now();
    im.neighbor_stats.entries.Set(im.neighbors.size());
  } else {
    changed = it->second.mac != mac;
  }
  it->second.mac = mac;
  it->second.is_static = true;
  // The operator's change is applied at once (the rate limit is for what the network triggers).
  if (changed && im.base != nullptr) return im.Compile(im.base);
  return absl::OkStatus();
}

std::optional<MacAddr> DpdkBackend::Neighbor(const IpAddr& ip) const {
  auto it = impl_->neighbors.find(NeighborKey(ip));
  if (it == impl_->neighbors.end()) return std::nullopt;
  return it->second.mac;
}

void DpdkBackend::Impl::Learn(size_t port, const IpAddr& ip, const MacAddr& mac, bool answer) {
  if (IsGroupMac(mac) || ip.IsUnspecified() || ip.IsMulticastOrBroadcast()) return;
  const Clock::time_point now = Now();
  const std::string key = NeighborKey(ip);
  // An answer is solicited only if the switch asked for this address on this port lately; the
  // request is used up, so a second answer (a racing host's) is unsolicited.
  bool solicited = false;
  if (answer) {
    auto a = asked.find(key);
    if (a != asked.end() && a->second.port == port && now - a->second.at <= kAskLifetime) {
      solicited = true;
      asked.erase(a);
    }
  }
  // The port the egress reaches this address by, if it does (a value: recompiling replaces
  // in_use).
  std::optional<size_t> egress_port;
  if (auto u = in_use.find(key); u != in_use.end()) egress_port = u->second;
  auto it = neighbors.find(key);
  if (it != neighbors.end()) {
    NeighborEntry& e = it->second;
    if (e.check_since && now - *e.check_since >= kCheckWindow) FinishCheck(key, e, now);
    if (e.mac == mac) {
      if (e.check_since) e.confirmed = true;  // the current MAC still answers: it stays
      return;
    }
    if (e.is_static) {
      control.Drop(IoDrop::kNeighborMoveRefused);
      return;
    }
    if (e.check_since) {
      // Every answer while the check runs is one to it (the first used its request up) and a
      // candidate, decided when the check ends; anything else is refused now. Two different
      // candidates cancel each other, so a poisoner answering first does not win either.
      if (!answer) {
        control.Drop(IoDrop::kNeighborMoveRefused);
      } else if (!e.candidate) {
        e.candidate = mac;
      } else if (*e.candidate != mac) {
        e.conflict = true;
      }
      return;
    }
    // Another MAC claimed on the claimant's word (even as an answer: the entry is resolved, so
    // any request it answers is stale): not taken. The switch checks the address itself.
    control.Drop(IoDrop::kNeighborMoveRefused);
    StartCheck(egress_port.value_or(port), ip, key, e, now);
    return;
  }
  if (!solicited && egress_port != port) {
    control.Drop(IoDrop::kNeighborUnsolicited);
    return;
  }
  if (neighbors.size() >= config.max_neighbors && !Reclaim()) {
    control.Drop(IoDrop::kNeighborTableFull);
    return;
  }
  NeighborEntry& e = neighbors[key];
  e.mac = mac;
  e.learned = now;
  neighbor_stats.entries.Set(neighbors.size());
  neighbor_stats.Add(NeighborEvent::kLearned);
  if (egress_port) EgressNeighborChanged(now);
}

void DpdkBackend::Impl::StartCheck(size_t port, const IpAddr& ip, const std::string& key,
                                   NeighborEntry& e, Clock::time_point now) {
  e.check_since = now;
  e.candidate.reset();
  e.confirmed = false;
  e.conflict = false;
  checks.push_back(key);
  neighbor_stats.Add(NeighborEvent::kChecks);
  Ask(port, ip);
}

// A neighbour that really moved answers the check from its new MAC while the old one is silent;
// a poisoner answering it too is outvoted by the real neighbour's answer (confirmed) or by
// another answer (conflict). Only a silent current MAC lets an answer take the entry over.
void DpdkBackend::Impl::FinishCheck(const std::string& key, NeighborEntry& e,
                                    Clock::time_point now) {
  if (e.candidate && !e.confirmed && !e.conflict && !e.is_static) {
    e.mac = *e.candidate;
    neighbor_stats.Add(NeighborEvent::kMoved);
    if (in_use.contains(key)) EgressNeighborChanged(now);
  } else if (e.candidate) {
    control.Drop(IoDrop::kNeighborMoveRefused);
  }
  e.check_since.reset();
  e.candidate.reset();
  e.confirmed = false;
  e.conflict = false;
}

// Frees a slot at the cap: the oldest learned entry no egress uses (a DTLS peer SendFrom asked
// for, a next hop of tables since replaced). Static entries and egress next hops are kept.
bool DpdkBackend::Impl::Reclaim() {
  auto victim = neighbors.end();
  for (auto it = neighbors.begin(); it != neighbors.end(); ++it) {
    if (it->second.is_static || in_use.contains(it->first)) continue;
    if (victim == neighbors.end() || it->second.learned < victim->second.learned) victim = it;
  }
  if (victim == neighbors.end()) return false;
  neighbors.erase(victim);
  neighbor_stats.Add(NeighborEvent::kReclaimed);
  neighbor_stats.entries.Set(neighbors.size());
  return true;
}

// A next hop the egress uses was learned or moved. Recompiling rewrites every egress entry, so
// a burst of answers costs one recompile per interval; the rest wait for ServiceNeighbors.
void DpdkBackend::Impl::EgressNeighborChanged(Clock::time_point now) {
  if (base == nullptr) return;  // nothing published: Publish compiles with the table as it is
  const auto interval = std::chrono::milliseconds(config.neighbor_recompile_ms);
  if (!last_learn_compile || now - *last_learn_compile >= interval) {
    RecompileForNeighbors(now);
    return;
  }
  recompile_pending = true;
  neighbor_stats.Add(NeighborEvent::kRecompilesDeferred);
}

void DpdkBackend::Impl::RecompileForNeighbors(Clock::time_point now) {
  last_learn_compile = now;
  neighbor_stats.Add(NeighborEvent::kRecompiles);
  // The published tables compiled before: only MACs differ now, which cannot fail.
  Compile(base).IgnoreError();
}

void DpdkBackend::Impl::ServiceNeighbors(Clock::time_point now) {
  for (size_t i = 0; i < checks.size();) {
    auto it = neighbors.find(checks[i]);
    if (it != neighbors.end() && it->second.check_since &&
        now - *it->second.check_since < kCheckWindow) {
      ++i;  // still collecting answers
      continue;
    }
    if (it != neighbors.end() && it->second.check_since) FinishCheck(it->first, it->second, now);
    if (i + 1 != checks.size()) checks[i] = std::move(checks.back());
    checks.pop_back();
  }
  if (recompile_pending && base != nullptr &&
      (!last_learn_compile ||
       now - *last_learn_compile >= std::chrono::milliseconds(config.neighbor_recompile_ms))) {
    RecompileForNeighbors(now);
  }
  if (!unresolved.empty() && now - last_ask > kReaskInterval) {
    for (const Pending& p : unresolved) {
      // Learned since the last compile, waiting for the rate limit: no need to ask.
      if (!neighbors.contains(NeighborKey(p.ip))) Ask(p.port, p.ip);
    }
    last_ask = now;
  }
}

bool DpdkBackend::Impl::SendFrame(size_t port, const uint8_t* frame, size_t len) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (m == nullptr) {
    control.Drop(IoDrop::kNoMbuf);
    return false;
  }
  char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(len));
  if (p == nullptr) {
    rte_pktmbuf_free(m);
    control.Drop(IoDrop::kNoMbuf);
    return false;
  }
  std::memcpy(p, frame, len);
  const uint16_t q = static_cast<uint16_t>(workers.size());
  if (rte_eth_tx_burst(ports[port].id, q, &m, 1) != 1) {
    rte_pktmbuf_free(m);
    control.Drop(IoDrop::kTxFailed);
    return false;
  }
  control.tx_datagrams.Add();
  return true;
}

void DpdkBackend::Impl::Ask(size_t port, const IpAddr& next_hop) {
  const DpdkPortConfig& pc = config.ports[port];
  std::optional<VlanTag> vlan;
  if (pc.vlan) vlan = VlanTag{kEtherTypeVlan, *pc.vlan};
  uint8_t frame[128];
  size_t len = 0;
  if (next_hop.family == 4 && pc.ipv4.family == 4) {
    len = BuildArpRequest(ports[port].mac, pc.ipv4, next_hop, vlan, frame);
  } else if (next_hop.family == 6 && pc.ipv6.family == 6) {
    len = BuildNeighborSolicitation(ports[port].mac, pc.ipv6, next_hop, vlan, frame);
  }
  if (len == 0 || !SendFrame(port, frame, len)) return;
  // Remembered so that the answer is known as one; bounded like the table (expired requests make
  // room first, and a request beyond the bound is sent but its answer is not solicited).
  const Clock::time_point now = Now();
  std::string key = NeighborKey(next_hop);
  if (asked.size() >= config.max_neighbors && !asked.contains(key)) {
    absl::erase_if(asked, [&](const auto& kv) { return now - kv.second.at > kAskLifetime; });
  }
  if (asked.size() < config.max_neighbors || asked.contains(key)) {
    asked.insert_or_assign(std::move(key), Asked{port, now});
  }
}

void DpdkBackend::Impl::HandlePunt(rte_mbuf* m,
                                   absl::FunctionRef<void(const PuntedDatagram&)> on_datagram) {
  size_t pi = 0;
  while (pi < ports.size() && ports[pi].id != m->port) ++pi;
  const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
  const std::span<const uint8_t> bytes{frame, m->data_len};
  FrameInfo fi;
  if (pi == ports.size() || ParseFrame(bytes, RxOffload{}, fi) != IoDrop::kNone) {
    control.Drop(IoDrop::kPuntUnhandled);
    return;
  }
  const DpdkPortConfig& pc = config.ports[pi];
  uint8_t reply[128];
  if (fi.kind == FrameKind::kArp) {
    ArpMessage a;
    if (ParseArp(bytes, fi, a) != IoDrop::kNone || pc.ipv4.family != 4) {
      control.Drop(IoDrop::kPuntUnhandled);
      return;
    }
    // Packets to the switch's address and gratuitous ARP (a host announcing itself, as after a
    // failover) are looked at; Learn decides what, if anything, they may change.
    const bool to_us = a.target_ip == pc.ipv4;
    const bool gratuitous = a.sender_ip == a.target_ip;
    if (!to_us && !gratuitous) {
      control.Drop(IoDrop::kPuntUnhandled);
      return;
    }
    if (!a.sender_ip.IsUnspecified()) {
      Learn(pi, a.sender_ip, a.sender_mac, /*answer=*/to_us && a.op == ArpOp::kReply);
    }
    if (to_us && a.op == ArpOp::kRequest) {
      if (size_t n = BuildArpReply(fi, a, ports[pi].mac, reply); n != 0) SendFrame(pi, reply, n);
    }
    control.punted.Add();
    return;
  }
  if (fi.kind == FrameKind::kIcmpv6) {
    NdMessage nd;
    if (ParseNdp(bytes, fi, nd) != IoDrop::kNone || nd.type == NdType::kOther ||
        pc.ipv6.family != 6) {
      control.Drop(IoDrop::kPuntUnhandled);
      return;
    }
    if (nd.type == NdType::kNeighborSolicitation && nd.target == pc.ipv6) {
      if (nd.source_ll && !fi.src.IsUnspecified()) {
        Learn(pi, fi.src, *nd.source_ll, /*answer=*/false);
      }
      if (size_t n = BuildNeighborAdvertisement(fi, nd, ports[pi].mac, reply); n != 0) {
        SendFrame(pi, reply, n);
      }
    } else if (nd.type == NdType::kNeighborAdvertisement) {
      // An answer to the switch's NS comes to its own address with the solicited flag.
      Learn(pi, nd.target, nd.target_ll ? *nd.target_ll : fi.src_mac,
            /*answer=*/nd.solicited && fi.dst == pc.ipv6);
    }
    control.punted.Add();
    return;
  }
  if (fi.kind == FrameKind::kUdp && fi.payload_len <= PuntedDatagram::kMaxLen) {
    PuntedDatagram d;
    d.local_port = fi.dst_port;
    d.from = fi.src;
    d.from_port = fi.src_port;
    d.len = fi.payload_len;
    std::memcpy(d.data, frame + fi.payload_offset, fi.payload_len);
    control.punted.Add();
    on_datagram(d);
    return;
  }
  control.Drop(IoDrop::kPuntUnhandled);
}

size_t DpdkBackend::PollControl(absl::FunctionRef<void(const PuntedDatagram&)> on_datagram) {
  Impl& im = *impl_;
  size_t handled = 0;
  for (auto& w : im.workers) {
    void* objs[32];
    unsigned n;
    while ((n = rte_ring_sc_dequeue_burst(w->punt, objs, 32, nullptr)) > 0) {
      for (unsigned i = 0; i < n; ++i) {
        auto* m = static_cast<rte_mbuf*>(objs[i]);
        im.HandlePunt(m, on_datagram);
        rte_pktmbuf_free(m);
      }
      handled += n;
    }
  }
  im.ServiceNeighbors(im.Now());
  im.publisher->Reclaim();
  return handled;
}

absl::Status DpdkBackend::SendFrom(uint16_t local_port, const IpAddr& to, uint16_t to_port,
                                   std::span<const uint8_t> bytes) {
  Impl& im = *impl_;
  const auto route = im.RouteFor(to);
  if (!route) {
    return absl::InvalidArgumentError(absl::StrFormat("no route to %s", to.ToString()));
  }
  auto it = im.neighbors.find(NeighborKey(route->next_hop));
  if (it == im.neighbors.end()) {
    im.Ask(route->port, route->next_hop);
    return absl::UnavailableError(absl::StrFormat(
        "next hop %s of %s not resolved yet: asked again", route->next_hop.ToString(),
        to.ToString()));
  }
  UdpFlow f;
  f.src_mac = im.ports[route->port].mac;
  f.dst_mac = it->second.mac;
  if (im.config.ports[route->port].vlan) {
    f.vlan = VlanTag{kEtherTypeVlan, *im.config.ports[route->port].vlan};
  }
  f.src = route->src;
  f.dst = to;
  f.src_port = local_port;
  f.dst_port = to_port;
  f.ttl_or_hop_limit = im.config.ttl;
  f.dscp = im.config.dscp;
  auto tmpl = MakeUdpTemplate(f);
  if (!tmpl.ok()) return tmpl.status();
  if (bytes.size() + tmpl->len > 2048) return absl::InvalidArgumentError("datagram too large");
  uint8_t frame[2048 + kMaxUdpHeaderLen];
  std::memcpy(frame + tmpl->len, bytes.data(), bytes.size());
  WriteUdpHeaders(*tmpl, frame, static_cast<uint16_t>(bytes.size()), 0, false, false);
  if (!im.SendFrame(route->port, frame, tmpl->len + bytes.size())) {
    return absl::ResourceExhaustedError("control TX queue or mbuf pool full");
  }
  return absl::OkStatus();
}

uint32_t DpdkBackend::workers() const { return static_cast<uint32_t>(impl_->workers.size()); }

DpdkWorkerStats DpdkBackend::stats(uint32_t w) const {
  const auto& wk = *impl_->workers[w];
  return {wk.lcore, &wk.state.counters(), &wk.io, &wk.state};
}

const IoCounters& DpdkBackend::control_counters() const { return impl_->control; }
const NeighborCounters& DpdkBackend::neighbor_counters() const { return impl_->neighbor_stats; }
uint16_t DpdkBackend::port_id(size_t i) const { return impl_->ports[i].id; }
MacAddr DpdkBackend::port_mac(size_t i) const { return impl_->ports[i].mac; }
const DpdkBackendConfig& DpdkBackend::config() const { return impl_->config; }

}  // namespace mpswitch::dataplane::io
