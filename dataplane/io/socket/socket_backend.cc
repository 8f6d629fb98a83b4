#include "mpswitch/dataplane/io/socket_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/dataplane/io/sockaddr.h"

namespace mpswitch::dataplane::io {
namespace {

uint64_t NowNs(clockid_t clock = CLOCK_MONOTONIC) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

absl::Status Errno(std::string_view what, const IpAddr& a, uint16_t port) {
  const int e = errno;
  return absl::FailedPreconditionError(absl::StrFormat(
      "%s for media port %s:%d failed: %s", what, a.ToString(), port, std::strerror(e)));
}

}  // namespace

struct SocketBackend::Worker {
  struct Sock {
    int fd;
    uint16_t port;
  };

  Worker(const SocketBackendConfig& c, uint32_t slots, std::unique_ptr<MacKernel> kernel)
      : state(slots, std::move(kernel), c.burst, c.max_outputs),
        punts(c.punt_ring_slots),
        cap(c.datagram_capacity),
        rx_buf(size_t{c.burst} * c.datagram_capacity),
        rx_msgs(c.burst),
        rx_iov(c.burst),
        rx_addr(c.burst),
        refs(c.burst),
        out_buf(size_t{c.max_outputs} * c.datagram_capacity),
        outs(c.max_outputs),
        tx_msgs(c.max_outputs),
        tx_iov(c.max_outputs),
        tx_addr(c.max_outputs),
        order(c.max_outputs) {
    for (size_t i = 0; i < rx_msgs.size(); ++i) {
      rx_iov[i] = {rx_buf.data() + i * cap, cap};
      rx_msgs[i].msg_hdr.msg_iov = &rx_iov[i];
      rx_msgs[i].msg_hdr.msg_iovlen = 1;
      rx_msgs[i].msg_hdr.msg_name = &rx_addr[i];
      rx_msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      outs[i].data = out_buf.data() + i * cap;
      outs[i].capacity = cap;
    }
  }
  ~Worker() {
    if (epoll_fd >= 0) close(epoll_fd);
  }

  uint32_t reader_id = 0;
  int epoll_fd = -1;
  std::vector<Sock> socks;
  WorkerState state;
  IoCounters io;
  SpscRing<PuntedDatagram> punts;
  uint16_t cap;
  // Receive side: one buffer per datagram of a burst; the pipeline may stage 4 bytes past the
  // datagram (in-tag EKT), so the capacity it is told is the whole buffer.
  std::vector<uint8_t> rx_buf;
  std::vector<mmsghdr> rx_msgs;
  std::vector<iovec> rx_iov;
  std::vector<sockaddr_storage> rx_addr;
  std::vector<PacketRef> refs;
  // Send side: output copies, grouped by sending socket into one sendmmsg each.
  std::vector<uint8_t> out_buf;
  std::vector<OutPacket> outs;
  std::vector<mmsghdr> tx_msgs;
  std::vector<iovec> tx_iov;
  std::vector<sockaddr_storage> tx_addr;
  std::vector<std::pair<int, uint32_t>> order;
  std::thread thread;
  clockid_t cpu_clock = CLOCK_THREAD_CPUTIME_ID;
};

SocketBackend::SocketBackend(SocketBackendConfig config)
    : config_(std::move(config)), domain_(std::max<uint32_t>(config_.workers, 1)),
      publisher_(domain_) {}

absl::StatusOr<std::unique_ptr<SocketBackend>> SocketBackend::Create(SocketBackendConfig config) {
  if (config.workers == 0 || config.workers > 256) {
    return absl::InvalidArgumentError(
        absl::StrFormat("workers must be 1..256, not %d", config.workers));
  }
  if (config.port_count == 0 || uint32_t{config.first_port} + config.port_count > 65536 ||
      config.first_port == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "media ports %d + %d do not fit in 1..65535", config.first_port, config.port_count));
  }
  if (config.burst == 0 || config.max_outputs == 0 || config.datagram_capacity < 64) {
    return absl::InvalidArgumentError("burst, max_outputs and datagram_capacity (>= 64) needed");
  }
  std::vector<IpAddr> addrs;
  bool have[7] = {};
  for (const std::string& s : config.addresses) {
    auto a = IpAddr::Parse(s);
    if (!a.ok()) return a.status();
    if (have[a->family]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "two IPv%d media addresses given (%s): bind one per family, 0.0.0.0 or :: for all",
          a->family, s));
    }
    have[a->family] = true;
    addrs.push_back(*a);
  }
  if (addrs.empty()) return absl::InvalidArgumentError("no media address to bind");

  std::unique_ptr<SocketBackend> b(new SocketBackend(std::move(config)));
  const SocketBackendConfig& c = b->config_;
  b->fds_.assign(size_t{c.port_count} * 2, -1);
  for (uint32_t w = 0; w < c.workers; ++w) {
    auto kernel = c.mac_kernel ? c.mac_kernel() : MakeBestMacKernel();
    b->workers_.push_back(std::make_unique<Worker>(c, c.stream_slots, std::move(kernel)));
    Worker& wk = *b->workers_.back();
    wk.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (wk.epoll_fd < 0) return absl::InternalError("epoll_create1 failed");
  }
  for (const IpAddr& a : addrs) {
    for (uint32_t i = 0; i < c.port_count; ++i) {
      const uint16_t port = static_cast<uint16_t>(c.first_port + i);
      const int fd = socket(a.family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return Errno("socket()", a, port);
      b->fds_[i * 2 + (a.family == 6)] = fd;
      int one = 1;
      if (a.family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) {
        return Errno("IPV6_V6ONLY", a, port);
      }
      // Root may exceed net.core.rmem_max; others get what the sysctl allows.
      int bytes = c.socket_buffer_bytes;
      if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
      }
      if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) != 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
      }
      sockaddr_storage ss;
      const socklen_t sl = ToSockaddr(a, port, ss);
      if (bind(fd, reinterpret_cast<sockaddr*>(&ss), sl) != 0) return Errno("bind()", a, port);
      Worker& wk = *b->workers_[i % c.workers];
      wk.socks.push_back({fd, port});
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = wk.socks.size() - 1;
      if (epoll_ctl(wk.epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) return Errno("epoll_ctl", a, port);
    }
  }
  return b;
}

SocketBackend::~SocketBackend() {
  Stop();
  for (int fd : fds_) {
    if (fd >= 0) close(fd);
  }
}

absl::Status SocketBackend::Start() {
  if (running_.exchange(true)) return absl::FailedPreconditionError("backend already started");
  for (size_t i = 0; i < workers_.size(); ++i) {
    Worker& w = *workers_[i];
    auto id = domain_.Register();
    if (!id.ok()) return id.status();
    w.reader_id = *id;
    w.thread = std::thread([this, &w] { Run(w); });
    pthread_getcpuclockid(w.thread.native_handle(), &w.cpu_clock);
    if (i < config_.cpus.size()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(config_.cpus[i], &set);
      if (pthread_setaffinity_np(w.thread.native_handle(), sizeof(set), &set) != 0) {
        return absl::InvalidArgumentError(
            absl::StrFormat("cannot pin worker %d to CPU %d", i, config_.cpus[i]));
      }
    }
  }
  return absl::OkStatus();
}

void SocketBackend::Stop() {
  if (!running_.exchange(false)) return;
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
    domain_.Unregister(w->reader_id);
  }
  publisher_.Reclaim();
}

absl::Status SocketBackend::Publish(DataplaneTables tables) {
  if (tables.media.slot_bound() > config_.stream_slots) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tables use stream slot %d but workers have %d: raise stream_slots",
        tables.media.slot_bound() - 1, config_.stream_slots));
  }
  publisher_.Publish(std::make_unique<const DataplaneTables>(std::move(tables)));
  return absl::OkStatus();
}

int SocketBackend::FdFor(uint16_t local_port, uint8_t family) const {
  const uint32_t i = uint32_t{local_port} - config_.first_port;
  if (local_port < config_.first_port || i >= config_.port_count) return -1;
  return fds_[i * 2 + (family == 6)];
}

size_t SocketBackend::DrainPunts(absl::FunctionRef<void(const PuntedDatagram&)> fn) {
  size_t n = 0;
  for (auto& w : workers_) {
    while (const PuntedDatagram* d = w->punts.Front()) {
      fn(*d);
      w->punts.Pop();
      ++n;
    }
  }
  return n;
}

absl::Status SocketBackend::SendFrom(uint16_t local_port, const IpAddr& to, uint16_t to_port,
                                     std::span<const uint8_t> bytes) {
  const int fd = FdFor(local_port, to.family);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "no IPv%d media socket on port %d to send to %s from", to.family, local_port,
        to.ToString()));
  }
  sockaddr_storage ss;
  const socklen_t sl = ToSockaddr(to, to_port, ss);
  if (sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), sl) < 0) {
    return Errno("sendto()", to, to_port);
  }
  return absl::OkStatus();
}

const WorkerCounters& SocketBackend::pipeline_counters(uint32_t w) const {
  return workers_[w]->state.counters();
}
const WorkerState& SocketBackend::worker_state(uint32_t w) const { return workers_[w]->state; }
const IoCounters& SocketBackend::io_counters(uint32_t w) const { return workers_[w]->io; }
clockid_t SocketBackend::worker_cpu_clock(uint32_t w) const { return workers_[w]->cpu_clock; }

void SocketBackend::Run(Worker& w) {
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  int timeout = 0;
  while (running_.load(std::memory_order_relaxed)) {
    w.io.polls.Add();
    int n;
    if (timeout != 0) {
      // Holding no table while blocked: control never waits for an idle worker.
      domain_.Offline(w.reader_id);
      w.io.idle_waits.Add();
      n = epoll_wait(w.epoll_fd, events, kMaxEvents, timeout);
      domain_.Online(w.reader_id);
    } else {
      n = epoll_wait(w.epoll_fd, events, kMaxEvents, 0);
    }
    if (n <= 0) {
      timeout = config_.busy_poll ? 0 : config_.idle_wait_ms;
      domain_.Quiescent(w.reader_id);
      continue;
    }
    timeout = 0;
    for (int e = 0; e < n; ++e) {
      const Worker::Sock& sock = w.socks[events[e].data.u64];
      const int got = recvmmsg(sock.fd, w.rx_msgs.data(), static_cast<unsigned>(w.rx_msgs.size()),
                               MSG_DONTWAIT, nullptr);
      if (got <= 0) continue;
      const uint64_t t_rx = NowNs();
      w.io.rx_bursts.Add();
      w.io.rx_datagrams.Add(static_cast<uint64_t>(got));
      const DataplaneTables* t = publisher_.Current();
      uint16_t np = 0;
      for (int i = 0; i < got; ++i) {
        mmsghdr& m = w.rx_msgs[static_cast<size_t>(i)];
        uint8_t* data = w.rx_buf.data() + size_t{static_cast<size_t>(i)} * w.cap;
        const uint32_t len = m.msg_len;
        const bool truncated = (m.msg_hdr.msg_flags & MSG_TRUNC) != 0;
        // Reset what recvmmsg overwrote, for the next call.
        m.msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        m.msg_hdr.msg_flags = 0;
        if (truncated) {
          w.state.counters().drops[static_cast<size_t>(Drop::kOversize)].Add();
          continue;
        }
        const PacketClass cls = Demultiplex({data, len});
        if (cls == PacketClass::kRtp || cls == PacketClass::kRtcp) {
          PacketRef& r = w.refs[np++];
          r = PacketRef{};
          r.data = data;
          r.len = static_cast<uint16_t>(len);
          r.capacity = w.cap;
          r.local_port = sock.port;
          FromSockaddr(w.rx_addr[static_cast<size_t>(i)], r.from, r.from_port);
          continue;
        }
        if (len > PuntedDatagram::kMaxLen) {
          w.io.Drop(IoDrop::kPuntOversize);
          continue;
        }
        PuntedDatagram* d = w.punts.Reserve();
        if (d == nullptr) {
          w.io.Drop(IoDrop::kPuntRingFull);
          continue;
        }
        d->local_port = sock.port;
        FromSockaddr(w.rx_addr[static_cast<size_t>(i)], d->from, d->from_port);
        d->len = static_cast<uint16_t>(len);
        std::memcpy(d->data, data, len);
        w.punts.Push();
        w.io.punted.Add();
      }
      if (np == 0) continue;
      if (t == nullptr) {
        w.state.counters().drops[static_cast<size_t>(Drop::kUnknownStream)].Add(np);
        continue;
      }
      const BurstResult res = ProcessBurst(t->media, w.state, {w.refs.data(), np}, w.outs);
      if (res.outputs == 0) continue;

      // Address every output, then send each socket's share with one sendmmsg.
      uint32_t k = 0;
      for (uint32_t j = 0; j < res.outputs; ++j) {
        const OutPacket& o = w.outs[j];
        const int fd =
            o.egress < t->egress.size()
                ? FdFor(t->egress[o.egress].local_port, t->egress[o.egress].addr.family)
                : -1;
        if (fd < 0) {
          w.io.Drop(IoDrop::kSendFailed);
          continue;
        }
        const Egress& eg = t->egress[o.egress];
        mmsghdr& m = w.tx_msgs[k];
        w.tx_iov[k] = {o.data, o.len};
        m.msg_hdr = msghdr{};
        m.msg_hdr.msg_iov = &w.tx_iov[k];
        m.msg_hdr.msg_iovlen = 1;
        m.msg_hdr.msg_name = &w.tx_addr[k];
        m.msg_hdr.msg_namelen = ToSockaddr(eg.addr, eg.port, w.tx_addr[k]);
        w.order[k] = {fd, k};
        ++k;
      }
      // Sort messages by socket so each socket's run is contiguous; the index keeps per-socket
      // order as produced. Only the small pair array moves, the messages are gathered below.
      std::sort(w.order.begin(), w.order.begin() + k);
      uint32_t sent = 0;
      for (uint32_t a = 0; a < k;) {
        uint32_t b = a;
        while (b < k && w.order[b].first == w.order[a].first) ++b;
        // Gather this socket's messages into a contiguous run of a scratch view.
        mmsghdr run[64];
        for (uint32_t s = a; s < b;) {
          uint32_t cnt = 0;
          for (; s < b && cnt < 64; ++s) run[cnt++] = w.tx_msgs[w.order[s].second];
          uint32_t off = 0;
          while (off < cnt) {
            const int r = sendmmsg(w.order[a].first, run + off, cnt - off, 0);
            if (r > 0) {
              off += static_cast<uint32_t>(r);
              sent += static_cast<uint32_t>(r);
            } else {
              if (errno == EINTR) continue;
              w.io.Drop(IoDrop::kSendFailed);  // skip the datagram the kernel refused
              ++off;
            }
          }
        }
        a = b;
      }
      w.io.tx_datagrams.Add(sent);
      const uint64_t done = NowNs();
      w.io.latency.Add(done - t_rx, sent);
      w.io.busy_ns.Add(done - t_rx);
    }
    domain_.Quiescent(w.reader_id);
  }
  domain_.Offline(w.reader_id);
}

}  // namespace mpswitch::dataplane::io
