// End to end per worker core: the switch on its I/O backends against the baselines the issue
// names, all in one binary so every ratio in bench/README.md compares numbers taken side by side.
//
//   BM_SocketSwitch/payload/fanout   socket backend, one worker thread pinned to CPU 1: one leg
//                                    sends over loopback, the switch forwards to N other legs
//   BM_SocketRelay/payload/fanout    a bare recvmmsg/sendmmsg relay (no crypto) with the same
//                                    sockets, batches and fan-out, pinned the same way
//   BM_DpdkSwitch/payload/fanout     DPDK backend, one worker lcore, net_ring port fed by the
//                                    benchmark thread (frames in, frames out)
//   BM_CorePipeline/payload/fanout   ProcessBurst alone on the same packets (no I/O), output
//                                    buffers reused (hot in cache)
//   BM_CorePipelineColdBuffers/...   the same writing each burst to buffers not touched lately,
//                                    as the DPDK backend's fresh mbufs are
//
// Counters: cpu_ns_per_output (socket: the worker thread's CPU clock; DPDK: the busy time of its
// polling lcore, which spins at 100% regardless), outputs_per_s (wall clock), lat_p50_us /
// lat_p99_us (from receive to hand-off to the kernel or NIC, log2 buckets: upper bucket edges).
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "mpswitch/oracle/udp_endpoint.h"
#include "mpswitch/dataplane/core/pipeline.h"
#include "mpswitch/dataplane/io/frame.h"
#include "mpswitch/dataplane/io/socket_backend.h"
#include "mpswitch/oracle/meeting_traffic.h"

#ifdef MPSWITCH_HAVE_DPDK
#include "dpdk_compat.h"
#include "mpswitch/dataplane/io/dpdk_backend.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_bus_vdev.h>
#include <rte_eth_ring.h>
#pragma GCC diagnostic pop
#endif

namespace {

using namespace mpswitch;
using namespace mpswitch::dataplane;
using namespace mpswitch::dataplane::io;
using oracle::UdpEndpoint;

constexpr int kBatch = 32;      // packets the sender hands over at once (one receive burst)
constexpr int kPool = 4096;     // distinct packets; then the stream is re-keyed (epoch + 1)
constexpr uint16_t kSwitchPort = 22000;

uint64_t ClockNs(clockid_t c) {
  timespec ts;
  clock_gettime(c, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

void Pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int WorkerCpu() { return std::thread::hardware_concurrency() > 1 ? 1 : 0; }

// One meeting of 1 + fanout legs where only leg 0 talks: every input makes `fanout` outputs.
struct Workload {
  Workload(size_t payload, int fanout) : traffic(1, fanout + 1, kSwitchPort, payload * 7 + fanout) {
    for (int i = 0; i < kPool; ++i) packets.push_back(traffic.Next(0, payload));
    streams = traffic.Streams();
  }
  // Tables with every stream's key epoch at `epoch`: a new epoch resets replay state, so the
  // pool's sequence numbers can be sent again.
  DataplaneTables Tables(const std::vector<Egress>& egress, uint32_t epoch) {
    for (auto& s : streams) s.key_epoch = epoch;
    return *DataplaneTables::Build(streams, egress);
  }
  oracle::MeetingTraffic traffic;
  std::vector<std::vector<uint8_t>> packets;
  std::vector<StreamConfig> streams;
};

// Latency quantiles over what a histogram gained since `before`.
struct LatencySnap {
  uint64_t b[LatencyHistogram::kBuckets];
  void Take(const LatencyHistogram& h) {
    for (int i = 0; i < LatencyHistogram::kBuckets; ++i) b[i] = h.buckets[static_cast<size_t>(i)].Get();
  }
  static double QuantileUs(const LatencySnap& before, const LatencySnap& after, double q) {
    uint64_t total = 0;
    for (int i = 0; i < LatencyHistogram::kBuckets; ++i) total += after.b[i] - before.b[i];
    if (total == 0) return 0;
    uint64_t seen = 0;
    for (int i = 0; i < LatencyHistogram::kBuckets; ++i) {
      seen += after.b[i] - before.b[i];
      if (static_cast<double>(seen) >= q * static_cast<double>(total)) return (2u << i) / 1000.0;
    }
    return 0;
  }
};

// Drains receiving sockets on its own thread so that outputs are really delivered, not dropped
// at full buffers (which would make sending cheaper than in production).
class Drainer {
 public:
  explicit Drainer(const std::vector<std::unique_ptr<UdpEndpoint>>& eps) {
    ep_ = epoll_create1(0);
    for (const auto& e : eps) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = e->fd();
      epoll_ctl(ep_, EPOLL_CTL_ADD, e->fd(), &ev);
    }
    thread_ = std::thread([this] { Run(); });
  }
  ~Drainer() {
    stop_ = true;
    thread_.join();
    close(ep_);
  }
  uint64_t received() const { return received_.load(std::memory_order_relaxed); }

 private:
  void Run() {
    Pin(0);
    std::vector<uint8_t> buf(64 * 2048);
    mmsghdr msgs[64];
    iovec iov[64];
    for (int i = 0; i < 64; ++i) {
      iov[i] = {buf.data() + i * 2048, 2048};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    epoll_event evs[64];
    while (!stop_) {
      const int n = epoll_wait(ep_, evs, 64, 10);
      for (int i = 0; i < n; ++i) {
        int got;
        while ((got = recvmmsg(evs[i].data.fd, msgs, 64, MSG_DONTWAIT, nullptr)) > 0) {
          received_.fetch_add(static_cast<uint64_t>(got), std::memory_order_relaxed);
        }
      }
    }
  }
  int ep_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> received_{0};
  std::thread thread_;
};

// Sends packets [first, first + kBatch) of the pool from `from` with one sendmmsg.
void SendBatch(const UdpEndpoint& from, uint16_t to_port, const Workload& w, size_t first) {
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  sockaddr_storage ss;
  const socklen_t sl = UdpEndpoint::Fill(IpAddr::FromV4(0x7f000001), to_port, ss);
  for (int i = 0; i < kBatch; ++i) {
    const auto& p = w.packets[(first + static_cast<size_t>(i)) % kPool];
    iov[i] = {const_cast<uint8_t*>(p.data()), p.size()};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &ss;
    msgs[i].msg_hdr.msg_namelen = sl;
  }
  int off = 0;
  while (off < kBatch) {
    const int r = sendmmsg(from.fd(), msgs + off, static_cast<unsigned>(kBatch - off), 0);
    if (r > 0) off += r;
  }
}

// Waits until `count()` reaches `want`; false after a second without progress (a loss).
template <typename F>
bool WaitCount(F count, uint64_t want) {
  uint64_t last = count();
  auto since = std::chrono::steady_clock::now();
  while (last < want) {
    std::this_thread::yield();
    const uint64_t now = count();
    if (now != last) {
      last = now;
      since = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - since > std::chrono::seconds(1)) {
      return false;
    }
  }
  return true;
}

void ReportCounters(benchmark::State& state, uint64_t outputs, uint64_t cpu_ns, double wall_s,
                    const LatencySnap& l0, const LatencySnap& l1) {
  state.SetItemsProcessed(static_cast<int64_t>(outputs));
  state.counters["cpu_ns_per_output"] = outputs ? static_cast<double>(cpu_ns) / outputs : 0;
  state.counters["outputs_per_s"] = wall_s > 0 ? static_cast<double>(outputs) / wall_s : 0;
  state.counters["lat_p50_us"] = LatencySnap::QuantileUs(l0, l1, 0.5);
  state.counters["lat_p99_us"] = LatencySnap::QuantileUs(l0, l1, 0.99);
}

uint64_t Dropped(const WorkerCounters& pc) {
  uint64_t n = 0;
  for (size_t d = 1; d < kDropCount; ++d) n += pc.drops[d].Get();
  return n;
}

// Any drop in a benchmark run is a fault of the harness or the switch: show it by name.
void ReportDrops(benchmark::State& state, const WorkerCounters& pc, const IoCounters& io) {
  for (size_t d = 1; d < kDropCount; ++d) {
    if (pc.drops[d].Get() != 0) {
      state.counters["drop_" + std::string(kDropInfo[d].name)] = static_cast<double>(pc.drops[d].Get());
    }
  }
  for (size_t d = 1; d < kIoDropCount; ++d) {
    if (io.drops[d].Get() != 0) {
      state.counters["drop_" + std::string(kIoDropInfo[d].name)] = static_cast<double>(io.drops[d].Get());
    }
  }
}

void BM_SocketSwitch(benchmark::State& state) {
  Pin(0);
  const size_t payload = static_cast<size_t>(state.range(0));
  const int fanout = static_cast<int>(state.range(1));
  Workload w(payload, fanout);
  const IpAddr lo = IpAddr::FromV4(0x7f000001);
  std::vector<std::unique_ptr<UdpEndpoint>> eps;
  std::vector<Egress> egress;
  for (size_t i = 0; i < w.traffic.legs(); ++i) {
    eps.push_back(std::make_unique<UdpEndpoint>(lo));
    egress.push_back({w.traffic.switch_port(i), lo, eps.back()->port()});
  }
  SocketBackendConfig c;
  c.first_port = kSwitchPort;
  c.port_count = static_cast<uint16_t>(w.traffic.legs());
  c.cpus = {WorkerCpu()};
  c.burst = kBatch;
  auto b = SocketBackend::Create(c);
  if (!b.ok()) {
    state.SkipWithError(std::string(b.status().message()).c_str());
    return;
  }
  SocketBackend& sb = **b;
  uint32_t epoch = 1;
  (void)sb.Publish(w.Tables(egress, epoch));
  (void)sb.Start();
  Drainer drainer(eps);
  const auto& pc = sb.pipeline_counters(0);
  const auto& io = sb.io_counters(0);
  size_t next = 0;
  LatencySnap l0, l1;
  l0.Take(io.latency);
  const uint64_t out0 = io.tx_datagrams.Get();
  const uint64_t acc0 = pc.accepted.Get();
  const uint64_t cpu0 = ClockNs(sb.worker_cpu_clock(0));
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (next + kBatch > kPool) {
      // Re-key so the pool may be sent again; the worker has finished the previous batch.
      (void)sb.Publish(w.Tables(egress, ++epoch));
      next = 0;
    }
    const uint64_t want = pc.rx_packets.Get() + kBatch;
    SendBatch(*eps[0], w.traffic.switch_port(0), w, next);
    next += kBatch;
    if (!WaitCount([&] { return pc.rx_packets.Get(); }, want)) {
      state.SkipWithError("the kernel dropped input datagrams");
      break;
    }
  }
  WaitCount([&] { return pc.accepted.Get() + Dropped(pc); }, pc.rx_packets.Get());
  WaitCount([&] { return io.tx_datagrams.Get(); },
            out0 + (pc.accepted.Get() - acc0) * static_cast<uint64_t>(fanout));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t cpu = ClockNs(sb.worker_cpu_clock(0)) - cpu0;
  l1.Take(io.latency);
  const uint64_t outputs = io.tx_datagrams.Get() - out0;
  ReportCounters(state, outputs, cpu, wall, l0, l1);
  state.counters["accepted_pct"] =
      100.0 * static_cast<double>(pc.accepted.Get()) / std::max<uint64_t>(1, pc.rx_packets.Get());
  ReportDrops(state, pc, io);
  sb.Stop();
}

// The same traffic through a relay that does nothing but receive and send N copies, one
// sendmmsg per receiving leg's socket as the switch does.
class BareRelay {
 public:
  BareRelay(int in_fd, std::vector<int> out_fds, std::vector<sockaddr_storage> dests,
            socklen_t sl)
      : in_(in_fd), out_(std::move(out_fds)), dests_(std::move(dests)), sl_(sl) {
    thread_ = std::thread([this] { Run(); });
    pthread_getcpuclockid(thread_.native_handle(), &clock_);
  }
  ~BareRelay() {
    stop_ = true;
    thread_.join();
  }
  clockid_t clock() const { return clock_; }
  std::atomic<uint64_t> received{0}, sent{0};
  LatencyHistogram latency;

 private:
  void Run() {
    Pin(WorkerCpu());
    std::vector<uint8_t> buf(kBatch * 2048);
    mmsghdr rx[kBatch], tx[kBatch];
    iovec iov[kBatch];
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {buf.data() + i * 2048, 2048};
      rx[i] = {};
      rx[i].msg_hdr.msg_iov = &iov[i];
      rx[i].msg_hdr.msg_iovlen = 1;
    }
    const int ep = epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    epoll_ctl(ep, EPOLL_CTL_ADD, in_, &ev);
    while (!stop_) {
      epoll_event out;
      if (epoll_wait(ep, &out, 1, 10) <= 0) continue;
      const int n = recvmmsg(in_, rx, kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) continue;
      const uint64_t t_rx = ClockNs(CLOCK_MONOTONIC);
      received.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      uint64_t copies = 0;
      for (size_t d = 0; d < out_.size(); ++d) {
        for (int i = 0; i < n; ++i) {
          iovec* v = &iov[i];
          v->iov_len = rx[i].msg_len;
          tx[i] = {};
          tx[i].msg_hdr.msg_iov = v;
          tx[i].msg_hdr.msg_iovlen = 1;
          tx[i].msg_hdr.msg_name = &dests_[d];
          tx[i].msg_hdr.msg_namelen = sl_;
        }
        int off = 0;
        while (off < n) {
          const int r = sendmmsg(out_[d], tx + off, static_cast<unsigned>(n - off), 0);
          if (r <= 0) break;
          off += r;
        }
        copies += static_cast<uint64_t>(off);
      }
      for (int i = 0; i < n; ++i) iov[i].iov_len = 2048;
      latency.Add(ClockNs(CLOCK_MONOTONIC) - t_rx, copies);
      sent.fetch_add(copies, std::memory_order_relaxed);
    }
    close(ep);
  }
  int in_;
  std::vector<int> out_;
  std::vector<sockaddr_storage> dests_;
  socklen_t sl_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  clockid_t clock_{};
};

void BM_SocketRelay(benchmark::State& state) {
  Pin(0);
  const size_t payload = static_cast<size_t>(state.range(0));
  const int fanout = static_cast<int>(state.range(1));
  Workload w(payload, fanout);
  const IpAddr lo = IpAddr::FromV4(0x7f000001);
  // The relay's own sockets (its "media ports") and the legs' sockets.
  UdpEndpoint relay_in(lo);
  std::vector<std::unique_ptr<UdpEndpoint>> relay_out, legs;
  std::vector<int> out_fds;
  std::vector<sockaddr_storage> dests;
  socklen_t sl = 0;
  for (int i = 0; i <= fanout; ++i) legs.push_back(std::make_unique<UdpEndpoint>(lo));
  for (int d = 1; d <= fanout; ++d) {
    relay_out.push_back(std::make_unique<UdpEndpoint>(lo));
    out_fds.push_back(relay_out.back()->fd());
    sockaddr_storage ss;
    sl = UdpEndpoint::Fill(lo, legs[static_cast<size_t>(d)]->port(), ss);
    dests.push_back(ss);
  }
  Drainer drainer(legs);
  BareRelay relay(relay_in.fd(), out_fds, dests, sl);
  size_t next = 0;
  LatencySnap l0, l1;
  l0.Take(relay.latency);
  const uint64_t out0 = relay.sent.load();
  const uint64_t cpu0 = ClockNs(relay.clock());
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const uint64_t want = relay.received.load() + kBatch;
    SendBatch(*legs[0], relay_in.port(), w, next % kPool);
    next += kBatch;
    if (!WaitCount([&] { return relay.received.load(); }, want)) {
      state.SkipWithError("the kernel dropped input datagrams");
      break;
    }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t cpu = ClockNs(relay.clock()) - cpu0;
  l1.Take(relay.latency);
  ReportCounters(state, relay.sent.load() - out0, cpu, wall, l0, l1);
}

// ProcessBurst alone, same packets and routes, output buffers reused: the figure the DPDK
// backend's I/O overhead is measured against.
void CorePipeline(benchmark::State& state, size_t buffer_sets) {
  const size_t payload = static_cast<size_t>(state.range(0));
  const int fanout = static_cast<int>(state.range(1));
  Workload w(payload, fanout);
  std::vector<Egress> egress;
  for (size_t i = 0; i < w.traffic.legs(); ++i) {
    egress.push_back({w.traffic.switch_port(i), IpAddr::FromV4(0x0a000010 + i), 5000});
  }
  uint32_t epoch = 1;
  auto tables = std::make_unique<DataplaneTables>(w.Tables(egress, epoch));
  WorkerState ws(64, MakeBestMacKernel(), kBatch, 1024);
  std::vector<std::vector<uint8_t>> in(kBatch, std::vector<uint8_t>(2048));
  std::vector<PacketRef> refs(kBatch);
  // `buffer_sets` sets of 1024 output buffers used in turn: 1 keeps them hot in cache, 8 makes
  // every burst write to memory it has not touched lately, as copies into fresh mbufs do.
  std::vector<uint8_t> out_store(buffer_sets * 1024 * 2048);
  std::vector<std::vector<OutPacket>> out_sets(buffer_sets, std::vector<OutPacket>(1024));
  for (size_t k = 0; k < buffer_sets; ++k) {
    for (size_t i = 0; i < 1024; ++i) {
      out_sets[k][i] = OutPacket{out_store.data() + (k * 1024 + i) * 2048, 2048};
    }
  }
  size_t set = 0;
  size_t next = 0;
  uint64_t outputs = 0;
  for (auto _ : state) {
    if (next + kBatch > kPool) {
      state.PauseTiming();
      tables = std::make_unique<DataplaneTables>(w.Tables(egress, ++epoch));
      next = 0;
      state.ResumeTiming();
    }
    // Copying the datagrams in stands for the receive the I/O layer would do.
    for (int i = 0; i < kBatch; ++i) {
      const auto& p = w.packets[next + static_cast<size_t>(i)];
      std::memcpy(in[static_cast<size_t>(i)].data(), p.data(), p.size());
      refs[static_cast<size_t>(i)] = PacketRef{in[static_cast<size_t>(i)].data(),
                                               static_cast<uint16_t>(p.size()), 2048, kSwitchPort};
    }
    next += kBatch;
    std::vector<OutPacket>& outs = out_sets[set];
    set = (set + 1) % buffer_sets;
    const BurstResult r = ProcessBurst(tables->media, ws, refs, outs);
    outputs += r.outputs;
    benchmark::DoNotOptimize(outs[0].data[0]);
  }
  state.SetItemsProcessed(static_cast<int64_t>(outputs));
  state.counters["cpu_ns_per_output"] = benchmark::Counter(
      static_cast<double>(outputs) * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["outputs_per_s"] =
      benchmark::Counter(static_cast<double>(outputs), benchmark::Counter::kIsRate);
}

void BM_CorePipeline(benchmark::State& state) { CorePipeline(state, 1); }
void BM_CorePipelineColdBuffers(benchmark::State& state) { CorePipeline(state, 8); }

#ifdef MPSWITCH_HAVE_DPDK
// The DPDK backend with one worker lcore on a port made of rte_rings: the benchmark thread puts
// frames on the wire and takes them off (both outside the worker's busy time).
void BM_DpdkSwitch(benchmark::State& state) {
  static bool eal_ok = [] {
    // The worker lcore on CPU 1, the benchmark thread (main lcore) on CPU 0.
    // net_null (no RX) takes the switch's output and frees it on the worker lcore, as a NIC's
    // TX completion does; a ring port would leave that to the benchmark thread and bill the
    // worker for mbufs crossing cores, which a NIC never makes it do.
    return InitEal({"--no-pci", "-l", WorkerCpu() == 1 ? "0-1" : "0,1@0", "--file-prefix",
                    "mpswitch_bench_" + std::to_string(getpid()), "--log-level", "lib.eal:error"})
        .ok();
  }();
  if (!eal_ok) {
    state.SkipWithError("DPDK EAL did not start");
    return;
  }
  const size_t payload = static_cast<size_t>(state.range(0));
  const int fanout = static_cast<int>(state.range(1));
  Workload w(payload, fanout);
  static int serial = 0;
  ++serial;
  const std::string name = "net_ring_bench" + std::to_string(serial);
  rte_ring* rx = rte_ring_create((name + "_rx").c_str(), 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* tx[2] = {
      rte_ring_create((name + "_tx0").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ),
      rte_ring_create((name + "_tx1").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ)};
  const int port_id = rte_eth_from_rings(name.c_str(), &rx, 1, tx, 2, 0);
  char dev[RTE_ETH_NAME_MAX_LEN];
  if (port_id < 0 || rte_eth_dev_get_name_by_port(static_cast<uint16_t>(port_id), dev) != 0) {
    state.SkipWithError("cannot create the ring port");
    return;
  }
  rte_mempool* gen = rte_pktmbuf_pool_create((name + "_gen").c_str(), 8191, 256, 0,
                                             RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  DpdkBackendConfig c;
  DpdkPortConfig p;  // receives leg 0's frames from the benchmark thread
  p.device = dev;
  p.ipv4 = IpAddr::FromV4(0x0a000101);
  p.ipv4_prefix = 32;
  const std::string null_name = "net_null" + std::to_string(serial);
  if (rte_vdev_init(null_name.c_str(), "no-rx=1") != 0) {
    state.SkipWithError("cannot create the net_null port");
    return;
  }
  DpdkPortConfig out;  // where the legs are: every copy leaves here
  out.device = null_name;
  out.ipv4 = IpAddr::FromV4(0x0a000001);
  out.ipv4_prefix = 24;
  c.ports = {p, out};
  c.first_port = kSwitchPort;
  c.port_count = 64;
  c.burst = kBatch;
  auto b = DpdkBackend::Create(c);
  if (!b.ok()) {
    state.SkipWithError(std::string(b.status().message()).c_str());
    return;
  }
  DpdkBackend& db = **b;
  std::vector<Egress> egress;
  for (size_t i = 0; i < w.traffic.legs(); ++i) {
    const IpAddr ip = IpAddr::FromV4(0x0a000010 + static_cast<uint32_t>(i));
    egress.push_back({w.traffic.switch_port(i), ip, 5000});
    (void)db.AddNeighbor(ip, {2, 0, 0, 0, 1, static_cast<uint8_t>(i)});
  }
  uint32_t epoch = 1;
  (void)db.Publish(w.Tables(egress, epoch));
  // Frames of leg 0 as it puts them on the wire.
  std::vector<std::vector<uint8_t>> frames;
  UdpFlow f;
  f.src_mac = {2, 0, 0, 0, 1, 0};
  f.dst_mac = db.port_mac(0);
  f.src = IpAddr::FromV4(0x0a000010);
  f.dst = p.ipv4;
  f.src_port = 5000;
  f.dst_port = w.traffic.switch_port(0);
  const HeaderTemplate t = *MakeUdpTemplate(f);
  for (const auto& pkt : w.packets) {
    std::vector<uint8_t> fr(t.len + pkt.size());
    std::memcpy(fr.data() + t.len, pkt.data(), pkt.size());
    WriteUdpHeaders(t, fr.data(), static_cast<uint16_t>(pkt.size()), 0, false, false);
    frames.push_back(std::move(fr));
  }
  (void)db.Start();
  const auto s = db.stats(0);
  auto drain = [&] {
    void* objs[256];
    unsigned n;
    while ((n = rte_ring_sc_dequeue_burst(tx[0], objs, 256, nullptr)) > 0) {
      rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(objs), n);
    }
  };
  size_t next = 0;
  LatencySnap l0, l1;
  l0.Take(s.io->latency);
  const uint64_t out0 = s.io->tx_datagrams.Get();
  const uint64_t busy0 = s.io->busy_ns.Get();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (next + kBatch > kPool) {
      (void)db.Publish(w.Tables(egress, ++epoch));
      next = 0;
    }
    rte_mbuf* m[kBatch];
    if (rte_pktmbuf_alloc_bulk(gen, m, kBatch) != 0) {
      state.SkipWithError("generator pool empty");
      break;
    }
    for (int i = 0; i < kBatch; ++i) {
      const auto& fr = frames[next + static_cast<size_t>(i)];
      std::memcpy(rte_pktmbuf_append(m[i], static_cast<uint16_t>(fr.size())), fr.data(), fr.size());
    }
    next += kBatch;
    const uint64_t want = s.pipeline->rx_packets.Get() + kBatch;
    unsigned off = 0;
    while (off < kBatch) off += rte_ring_sp_enqueue_burst(rx, reinterpret_cast<void**>(m + off), kBatch - off, nullptr);
    while (s.pipeline->rx_packets.Get() < want) drain();
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Let the drain timer send the last partial TX buffer before reading the totals.
  const uint64_t expect = s.pipeline->accepted.Get() * static_cast<uint64_t>(fanout);
  WaitCount([&] { drain(); return s.io->tx_datagrams.Get(); }, expect);
  l1.Take(s.io->latency);
  ReportCounters(state, s.io->tx_datagrams.Get() - out0, s.io->busy_ns.Get() - busy0, wall, l0, l1);
  ReportDrops(state, *s.pipeline, *s.io);
  db.Stop();
  drain();  // before the backend frees the pool these mbufs belong to
  b->reset();
  rte_mempool_free(gen);
}
#endif

void Args(benchmark::internal::Benchmark* b) {
  for (int payload : {200, 1200}) {
    for (int fanout : {1, 4, 10}) b->Args({payload, fanout});
  }
  b->ArgNames({"payload", "fanout"});
}

BENCHMARK(BM_SocketSwitch)->Apply(Args)->UseRealTime();
BENCHMARK(BM_SocketRelay)->Apply(Args)->UseRealTime();
BENCHMARK(BM_CorePipeline)->Apply(Args);
BENCHMARK(BM_CorePipelineColdBuffers)->Apply(Args);
#ifdef MPSWITCH_HAVE_DPDK
BENCHMARK(BM_DpdkSwitch)->Apply(Args)->UseRealTime();
#endif

}  // namespace

BENCHMARK_MAIN();
