// The kernel-socket dataplane backend: the embedded default on any Linux host.
//
// Media ports are UDP sockets on every configured local address (IPv4 and IPv6). Each port is
// owned by one worker thread, which alone receives on it and so alone writes the state of the
// streams arriving there (replay windows, ROC, learned keys). A worker receives in batches with
// recvmmsg, runs the burst pipeline against the current published tables and sends the outputs in
// batches with sendmmsg (one call per sending socket per burst). RTP and RTCP stay on the worker;
// DTLS, STUN and anything else is handed to the control thread through a per-worker
// single-producer ring, with the sender's address.
//
// Threading: Create/Start/Stop/Publish/DrainPunts/SendFrom belong to one control thread. Counters
// may be read from any thread at any time.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mpswitch/dataplane/core/pipeline.h"
#include "mpswitch/dataplane/io/io_counters.h"
#include "mpswitch/dataplane/io/publisher.h"
#include "mpswitch/dataplane/io/quiescent.h"
#include "mpswitch/dataplane/io/spsc_ring.h"
#include "mpswitch/dataplane/tables/egress.h"

namespace mpswitch::dataplane::io {

struct SocketBackendConfig {
  std::vector<std::string> addresses = {"127.0.0.1"};  // every media port is bound on each
  uint16_t first_port = 16384;  // media ports [first_port, first_port + port_count)
  uint16_t port_count = 16;
  uint32_t workers = 1;         // threads; port p belongs to worker (p - first_port) % workers
  uint16_t burst = 32;          // datagrams per recvmmsg
  uint16_t max_outputs = 1024;  // output copies per burst (fan-out x burst beyond it is dropped)
  uint16_t datagram_capacity = 2048;  // receive/output buffer size; larger datagrams: oversize
  uint32_t stream_slots = 4096;       // rt_slot bound of the tables this backend accepts
  uint32_t punt_ring_slots = 1024;    // per worker
  int socket_buffer_bytes = 4 << 20;  // SO_RCVBUF / SO_SNDBUF asked for (the kernel may cap it)
  int idle_wait_ms = 20;              // epoll timeout when idle
  bool busy_poll = false;             // never block: spin on non-blocking receives
  std::vector<int> cpus;              // pin worker i to cpus[i] when given
  // Creates each worker's MAC kernel; MakeBestMacKernel when empty.
  std::function<std::unique_ptr<MacKernel>()> mac_kernel;
};

// A non-media datagram handed to control.
struct PuntedDatagram {
  static constexpr size_t kMaxLen = 2048;
  uint16_t local_port = 0;
  IpAddr from;
  uint16_t from_port = 0;
  uint16_t len = 0;
  uint8_t data[kMaxLen];
};

class SocketBackend {
 public:
  using TablePublisher = Publisher<DataplaneTables, EpochDomain>;

  // Binds every media port on every address. FailedPrecondition/Internal name the port and errno.
  static absl::StatusOr<std::unique_ptr<SocketBackend>> Create(SocketBackendConfig config);
  ~SocketBackend();

  // Starts the workers. Until tables are published every media packet is an unknown stream.
  absl::Status Start();
  // Stops and joins the workers; idempotent.
  void Stop();

  // Publishes new tables (one atomic swap) and frees old ones no worker can hold any more.
  // InvalidArgument when the tables need more stream slots than the workers have.
  absl::Status Publish(DataplaneTables tables);
  // Frees retired tables that have become unreachable; returns how many still wait.
  size_t Reclaim() { return publisher_.Reclaim(); }
  const DataplaneTables* current() const { return publisher_.Current(); }

  // Delivers punted datagrams to `fn` in arrival order per worker; returns how many.
  size_t DrainPunts(absl::FunctionRef<void(const PuntedDatagram&)> fn);
  // Sends one datagram from a media port (DTLS, STUN answers). Thread-safe with the workers.
  absl::Status SendFrom(uint16_t local_port, const IpAddr& to, uint16_t to_port,
                        std::span<const uint8_t> bytes);

  uint32_t workers() const { return static_cast<uint32_t>(workers_.size()); }
  const WorkerCounters& pipeline_counters(uint32_t w) const;
  // Worker w's pipeline state: control samples its per-stream reports (StreamSampler).
  const WorkerState& worker_state(uint32_t w) const;
  const IoCounters& io_counters(uint32_t w) const;
  // The CPU-time clock of worker w's thread (clock_gettime), valid while the backend runs.
  clockid_t worker_cpu_clock(uint32_t w) const;
  const SocketBackendConfig& config() const { return config_; }

 private:
  struct Worker;
  explicit SocketBackend(SocketBackendConfig config);
  void Run(Worker& w);
  int FdFor(uint16_t local_port, uint8_t family) const;

  SocketBackendConfig config_;
  EpochDomain domain_;
  TablePublisher publisher_;
  std::vector<int> fds_;  // [(port - first_port) * 2 + (family == 6)], -1 when not bound
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> running_{false};
};

}  // namespace mpswitch::dataplane::io
