#include "mpswitch/sim/meeting_run.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <random>

#include "absl/strings/str_format.h"
#include "mpswitch/dataplane/core/drop.h"
#include "mpswitch/dataplane/io/dpdk_backend.h"
#include "mpswitch/dataplane/io/io_drop.h"

namespace mpswitch::sim {
namespace {

constexpr uint32_t kLoopback = 0x7f000001;
// After the rooms stop, the run goes on until everything in flight has arrived: the switch has
// taken in every datagram the rooms sent and the rooms every copy it sent, with no change for
// kSettledMs. A busy machine only makes this take longer; kMaxDrainMs bounds a run that lost
// something (the verdict then says what).
constexpr int64_t kDrainMs = 300;
constexpr int64_t kSettledMs = 100;
constexpr int64_t kMaxDrainMs = 20000;

const char* const kRoomNames[] = {"amsterdam", "bangalore", "chicago", "dublin",   "lagos",
                                  "lima",      "oslo",      "osaka",   "quito",    "seoul",
                                  "sydney",    "tallinn",   "toronto", "valencia", "warsaw",
                                  "zurich"};

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

#ifdef MPSWITCH_HAVE_DPDK
// The DPDK backend as the control loop's Dataplane.
class DpdkDataplane final : public control::Dataplane {
 public:
  explicit DpdkDataplane(dataplane::io::DpdkBackend& b) : b_(b) {}
  absl::Status Publish(dataplane::DataplaneTables t) override { return b_.Publish(std::move(t)); }
  std::vector<const dataplane::WorkerState*> workers() const override {
    std::vector<const dataplane::WorkerState*> w;
    for (uint32_t i = 0; i < b_.workers(); ++i) w.push_back(b_.stats(i).state);
    return w;
  }
  void Reclaim() override {}  // Publish reclaims through RCU QSBR
  // ARP and NDP (the rooms' kernel asks for the switch's address), and DTLS/STUN, which the
  // simulator does not send.
  void Service() override {
    b_.PollControl([](const dataplane::io::PuntedDatagram&) {});
  }

 private:
  dataplane::io::DpdkBackend& b_;
};
#endif

uint64_t ThreadClockNs(clockid_t c) {
  timespec ts{};
  clock_gettime(c, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MeetingRun>> MeetingRun::Create(RunOptions options) {
  if (options.meetings < 1 || options.screens.empty()) {
    return absl::InvalidArgumentError("a run needs at least one meeting of at least one room");
  }
  if (options.workers < 1) return absl::InvalidArgumentError("a run needs at least one worker");
  std::unique_ptr<MeetingRun> run(new MeetingRun(std::move(options)));
  if (absl::Status s = run->Setup(); !s.ok()) return s;
  return run;
}

MeetingRun::~MeetingRun() { StopBackend(); }

void MeetingRun::StopBackend() {
  if (backend_) backend_->Stop();
#ifdef MPSWITCH_HAVE_DPDK
  if (dpdk_) dpdk_->Stop();
#endif
}

uint32_t MeetingRun::workers() const {
#ifdef MPSWITCH_HAVE_DPDK
  if (dpdk_) return dpdk_->workers();
#endif
  return backend_->workers();
}

const dataplane::io::IoCounters& MeetingRun::io_counters(uint32_t w) const {
#ifdef MPSWITCH_HAVE_DPDK
  if (dpdk_) return *dpdk_->stats(w).io;
#endif
  return backend_->io_counters(w);
}

const dataplane::WorkerCounters& MeetingRun::pipeline_counters(uint32_t w) const {
#ifdef MPSWITCH_HAVE_DPDK
  if (dpdk_) return *dpdk_->stats(w).pipeline;
#endif
  return backend_->pipeline_counters(w);
}

uint64_t MeetingRun::WorkerClockNs(uint32_t w) const {
  if (dpdk_) return io_counters(w).busy_ns.Get();
  return ThreadClockNs(backend_->worker_cpu_clock(w));
}

absl::Status MeetingRun::SetupDpdk(uint16_t first_port, uint16_t port_count, uint32_t slots) {
#ifdef MPSWITCH_HAVE_DPDK
  // Lcore 0 is this thread (control and the rooms), lcore 1 the worker, each on its own CPU.
  const std::string vdev = absl::StrFormat("net_tap0,iface=%s", options_.tap_interface);
  if (absl::Status s = dataplane::io::InitEal({"--no-pci", "--lcores", "0@0,1@1", "--vdev", vdev,
                                               "--file-prefix", "mpswitch-sim", "--log-level",
                                               "lib.eal:warning"});
      !s.ok()) {
    return s;
  }
  dataplane::io::DpdkBackendConfig c;
  dataplane::io::DpdkPortConfig port;
  port.device = "net_tap0";
  port.ipv4 = switch_addr_;
  port.ipv4_prefix = 24;
  port.equal_queue_counts = true;
  c.ports = {port};
  c.first_port = first_port;
  c.port_count = port_count;
  c.stream_slots = slots;
  absl::StatusOr<std::unique_ptr<dataplane::io::DpdkBackend>> b = dataplane::io::DpdkBackend::Create(c);
  if (!b.ok()) return b.status();
  dpdk_ = std::move(*b);
  // The kernel's side of the tap: the rooms' address.
  const std::string cmd = absl::StrFormat(
      "(echo 1 > /proc/sys/net/ipv6/conf/%s/disable_ipv6) 2>/dev/null; "
      "ip addr replace %s/24 dev %s && ip link set %s up",
      options_.tap_interface, rooms_addr_.ToString(), options_.tap_interface,
      options_.tap_interface);
  if (std::system(cmd.c_str()) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "could not give the tap interface %s the address %s (\"%s\" failed; needs root)",
        options_.tap_interface, rooms_addr_.ToString(), cmd));
  }
  // Neighbours on both sides known from the start, as on a configured point-to-point link: the
  // rooms' first packets are not held (or dropped) by ARP, nor the switch's first copies.
  std::string mac_text;
  if (FILE* f = std::fopen(absl::StrFormat("/sys/class/net/%s/address", options_.tap_interface).c_str(), "r")) {
    char buf[32] = {};
    if (std::fgets(buf, sizeof(buf), f)) mac_text = buf;
    std::fclose(f);
  }
  dataplane::io::MacAddr kernel_mac{};
  unsigned m[6];
  if (std::sscanf(mac_text.c_str(), "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6) {
    for (int i = 0; i < 6; ++i) kernel_mac[i] = static_cast<uint8_t>(m[i]);
    (void)dpdk_->AddNeighbor(rooms_addr_, kernel_mac);
  }
  const dataplane::io::MacAddr sw = dpdk_->port_mac(0);
  const std::string neigh = absl::StrFormat(
      "ip neigh replace %s lladdr %02x:%02x:%02x:%02x:%02x:%02x dev %s nud permanent",
      switch_addr_.ToString(), sw[0], sw[1], sw[2], sw[3], sw[4], sw[5], options_.tap_interface);
  (void)std::system(neigh.c_str());
  dataplane_ = std::make_unique<DpdkDataplane>(*dpdk_);
  return absl::OkStatus();
#else
  (void)first_port;
  (void)port_count;
  (void)slots;
  return absl::UnimplementedError(
      "this build has no DPDK backend: install libdpdk-dev (scripts/setup.sh does) and rebuild");
#endif
}

absl::Status MeetingRun::Setup() {
  oracle::InitLibsrtp();
  const bool dpdk = options_.backend == Backend::kDpdkTap;
  rooms_addr_ = dataplane::IpAddr::FromV4(dpdk ? 0x0a4d0001 : kLoopback);   // 10.77.0.1
  switch_addr_ = dataplane::IpAddr::FromV4(dpdk ? 0x0a4d0002 : kLoopback);  // 10.77.0.2
  absl::StatusOr<std::unique_ptr<control::Keylog>> kl = control::Keylog::Open(options_.keylog_path);
  if (!kl.ok()) return kl.status();
  keylog_ = std::move(*kl);
  if (!options_.pcap_path.empty()) {
    absl::StatusOr<std::unique_ptr<PcapWriter>> p = PcapWriter::Open(options_.pcap_path);
    if (!p.ok()) return p.status();
    pcap_ = std::move(*p);
  }

  const size_t per_meeting = options_.screens.size();
  const size_t total_rooms = per_meeting * static_cast<size_t>(options_.meetings);
  std::mt19937_64 rng(options_.seed);
  for (int m = 0; m < options_.meetings; ++m) {
    TalkScript script = TalkScript::Conversation(options_.screens, options_.duration_ms,
                                                 options_.seed * 7919 + static_cast<uint64_t>(m));
    for (TalkSpurt& s : script.spurts) s.room = static_cast<uint16_t>(m * per_meeting + s.room + 1);
    scripts_.push_back(std::move(script));
    for (size_t i = 0; i < per_meeting; ++i) {
      Room r;
      r.meeting = static_cast<size_t>(m);
      RoomSpec& sp = r.spec;
      sp.id = static_cast<uint16_t>(m * per_meeting + i + 1);
      const std::string city = kRoomNames[i % std::size(kRoomNames)];
      sp.name = options_.meetings == 1 ? city : absl::StrFormat("m%d-%s", m + 1, city);
      sp.screens = options_.screens[i];
      sp.presentation = options_.presentation && i == 0;
      sp.ssrc_base = 0x50000000u | (uint32_t{sp.id} << 8);
      sp.video_kbps = options_.video_kbps;
      sp.seq_near_wrap = options_.seq_near_wrap;
      if (options_.key_changes) {
        // Somewhere in the middle half of the call, different for every room.
        sp.key_change_at_ms = options_.duration_ms / 4 +
                              static_cast<int64_t>(rng() % static_cast<uint64_t>(
                                                            std::max<int64_t>(1, options_.duration_ms / 2)));
      }
      rooms_.push_back(std::move(r));
    }
  }

  // One video and one audio port per room; the halves are a multiple of the workers so that a
  // room's two ports belong to the same worker and rooms spread over workers.
  const size_t half = (total_rooms + options_.workers - 1) / options_.workers * options_.workers;
  if (options_.first_port + 2 * half > 65535) {
    return absl::InvalidArgumentError("the media port range does not fit below 65536");
  }
  const uint16_t port_count = static_cast<uint16_t>(2 * half);
  const uint32_t slots = static_cast<uint32_t>(std::max<size_t>(64, total_rooms * 8));
  if (dpdk) {
    if (absl::Status s = SetupDpdk(options_.first_port, port_count, slots); !s.ok()) return s;
  } else {
    dataplane::io::SocketBackendConfig bc;
    bc.addresses = {"127.0.0.1"};
    bc.first_port = options_.first_port;
    bc.port_count = port_count;
    bc.workers = options_.workers;
    bc.cpus = options_.cpus;
    bc.busy_poll = options_.busy_poll;
    bc.stream_slots = slots;
    absl::StatusOr<std::unique_ptr<dataplane::io::SocketBackend>> b =
        dataplane::io::SocketBackend::Create(bc);
    if (!b.ok()) return b.status();
    backend_ = std::move(*b);
    dataplane_ = std::make_unique<control::SocketDataplane>(*backend_);
  }
  for (Room& r : rooms_) {
    r.video = std::make_unique<oracle::UdpEndpoint>(rooms_addr_);
    r.audio = std::make_unique<oracle::UdpEndpoint>(rooms_addr_);
    if (!r.video->ok() || !r.audio->ok()) {
      return absl::UnavailableError(absl::StrFormat(
          "cannot bind the simulated rooms' UDP sockets on %s", rooms_addr_.ToString()));
    }
  }

  control::MediaSwitchOptions mo;
  mo.first_port = options_.first_port;
  mo.port_count = port_count;
  mo.ekt_format = options_.ekt_format;
  mo.ekt_cipher = options_.ekt_cipher;
  mo.keylog = keylog_.get();
  mo.measure_table_memory = options_.measure_table_memory;
  node_ = std::make_unique<control::MediaSwitch>(mo, *dataplane_);
  for (int m = 0; m < options_.meetings; ++m) {
    control::MeetingConfig mc;
    mc.conference_id = absl::StrFormat("%d", 8001 + m);
    mc.policy = control::SecurityPolicy::kSecure;
    mc.mode = options_.mode;
    absl::StatusOr<size_t> id = node_->CreateMeeting(mc);
    if (!id.ok()) return id.status();
  }
#ifdef MPSWITCH_HAVE_DPDK
  if (dpdk_) return dpdk_->Start();
#endif
  return backend_->Start();
}

absl::Status MeetingRun::JoinRoom(Room& r, int64_t now_ms) {
  const control::LegConfig leg = RoomSender::LegFor(r.spec);
  absl::StatusOr<control::Admission> a =
      node_->Join(r.meeting, leg, {rooms_addr_, r.video->port(), r.audio->port()},
                  now_ms);
  if (!a.ok()) return a.status();
  if (!a->group) {
    return absl::FailedPreconditionError(
        absl::StrFormat("room %s was admitted without the meeting's group key", r.spec.name));
  }
  absl::StatusOr<std::unique_ptr<RoomSender>> s = RoomSender::Create(
      r.spec, *a->group, &scripts_[r.meeting], keylog_.get(), options_.seed + r.spec.id);
  if (!s.ok()) return s.status();
  r.sender = std::move(*s);
  r.receiver = std::make_unique<RoomReceiver>(r.spec, *a->group, options_.verify_every);
  r.leg = a->leg;
  r.video_port = a->video_port;
  r.audio_port = a->audio_port;
  const size_t self = static_cast<size_t>(&r - rooms_.data());
  room_of_leg_[{r.meeting, r.leg}] = self;
  auto streams_of = [](const control::LegConfig& l, auto fn) {
    for (const auto& [p, ssrc] : l.video) fn(ssrc, p, true);
    for (const auto& [p, ssrc] : l.audio) fn(ssrc, p, false);
    if (l.presentation_video) fn(*l.presentation_video, control::Position::kAux, true);
  };
  streams_of(leg, [&](uint32_t ssrc, control::Position, bool) { room_of_ssrc_[ssrc] = self; });
  for (Room& o : rooms_) {
    if (&o == &r || !o.joined || o.meeting != r.meeting) continue;
    streams_of(leg, [&](uint32_t ssrc, control::Position p, bool v) {
      o.receiver->AddSender(ssrc, r.spec.id, p, v);
    });
    streams_of(RoomSender::LegFor(o.spec), [&](uint32_t ssrc, control::Position p, bool v) {
      r.receiver->AddSender(ssrc, o.spec.id, p, v);
    });
  }
  r.joined = true;
  // Publish at once: the room's first packets must find their streams.
  absl::Status st = node_->Step(now_ms);
  HandleEvents();
  return st;
}

const MeetingRun::Room* MeetingRun::RoomOf(uint32_t ssrc) const {
  auto it = room_of_ssrc_.find(ssrc);
  return it == room_of_ssrc_.end() ? nullptr : &rooms_[it->second];
}

void MeetingRun::HandleEvents() {
  for (control::SwitchEvent& se : node_->TakeEvents()) {
    const control::Event& e = se.event;
    switch (e.kind) {
      case control::Event::Kind::kRefreshRequest: {
        // TIP REFRESH, delivered in-process.
        auto it = room_of_ssrc_.find(e.ssrc);
        if (it != room_of_ssrc_.end() && rooms_[it->second].sender) {
          rooms_[it->second].sender->RequestRefresh(e.ssrc);
          ++refresh_requests_;
        }
        break;
      }
      case control::Event::Kind::kSecurityNotify: {
        // TIP NOTIFY security icon, delivered in-process.
        auto it = room_of_leg_.find({se.meeting, e.leg});
        if (it != room_of_leg_.end()) rooms_[it->second].secure_icon = e.secure;
        break;
      }
      case control::Event::Kind::kSwitchTimedOut: {
        // The simulated cameras always answer, so this names a refresh that went astray.
        const Room* src = RoomOf(e.ssrc);
        auto rx = room_of_leg_.find({se.meeting, e.leg});
        log_.push_back(absl::StrFormat(
            "conference %s: %s's %s display switched to %08x without a refresh frame after the "
            "refresh timeout (the camera's last refresh frame: %d ms)",
            node_->meeting(se.meeting).config().conference_id,
            rx == room_of_leg_.end() ? "?" : rooms_[rx->second].spec.name,
            control::PositionName(e.position), e.ssrc,
            src && src->sender ? src->sender->last_refresh_ms(e.ssrc) : -1));
        break;
      }
      case control::Event::Kind::kGroupKey: {
        // TIP SPIMAP with the meeting's new group, delivered in-process: the room learns keys
        // under it and announces its own new keys under it.
        auto it = room_of_leg_.find({se.meeting, e.leg});
        if (it == room_of_leg_.end() || !se.group) break;
        Room& r = rooms_[it->second];
        if (absl::Status st = r.receiver->AddGroup(*se.group); !st.ok()) {
          log_.push_back(absl::StrFormat("%s: the new group was refused: %s", r.spec.name,
                                         st.message()));
        } else if (absl::Status st2 = r.sender->ChangeGroup(*se.group); !st2.ok()) {
          log_.push_back(absl::StrFormat("%s: cannot announce under the new group: %s",
                                         r.spec.name, st2.message()));
        }
        break;
      }
      case control::Event::Kind::kLog:
      case control::Event::Kind::kLegRefused:
      case control::Event::Kind::kLegRemoved:
        log_.push_back(e.text);
        break;
      default:
        break;
    }
  }
}

void MeetingRun::Send(Room& r, std::vector<Outgoing>& out) {
  for (const Outgoing& o : out) {
    oracle::UdpEndpoint& ep = o.video ? *r.video : *r.audio;
    const uint16_t to = o.video ? r.video_port : r.audio_port;
    ep.SendTo(switch_addr_, to, o.bytes);
    if (pcap_) pcap_->Udp(rooms_addr_.V4(), ep.port(), switch_addr_.V4(), to, o.bytes.data(), o.bytes.size());
  }
  out.clear();
}

size_t MeetingRun::ReceiveAll(int64_t now_ms, uint64_t now_ns) {
  if (rx_.empty()) rx_.resize(65536);
  size_t n = 0;
  for (Room& r : rooms_) {
    if (!r.joined) continue;
    for (int v = 0; v < 2; ++v) {
      const oracle::UdpEndpoint& ep = v ? *r.video : *r.audio;
      for (int k = 0; k < 256; ++k) {
        sockaddr_in from{};
        socklen_t fl = sizeof(from);
        const ssize_t len = recvfrom(ep.fd(), rx_.data(), rx_.size(), MSG_DONTWAIT,
                                     reinterpret_cast<sockaddr*>(&from), &fl);
        if (len < 0) break;
        r.receiver->Receive(rx_.data(), static_cast<size_t>(len), v == 1, now_ms, now_ns);
        if (pcap_) {
          pcap_->Udp(ntohl(from.sin_addr.s_addr), ntohs(from.sin_port), rooms_addr_.V4(), ep.port(),
                     rx_.data(), static_cast<size_t>(len));
        }
        ++n;
      }
    }
  }
  return n;
}

absl::Status MeetingRun::Run() {
  const uint64_t start_ns = MonotonicNs();
  for (uint32_t w = 0; w < workers(); ++w) cpu_start_ns_.push_back(WorkerClockNs(w));
  std::vector<pollfd> fds;
  for (const Room& r : rooms_) {
    fds.push_back({r.video->fd(), POLLIN, 0});
    fds.push_back({r.audio->fd(), POLLIN, 0});
  }
  std::vector<Outgoing> out;
  const size_t per_meeting = options_.screens.size();
  int64_t next_tick = 0, next_view = 1000;
  bool flipped = false;
  absl::Status status;
  for (;;) {
    const uint64_t now_ns = MonotonicNs();
    const int64_t now_ms = static_cast<int64_t>((now_ns - start_ns) / 1000000);
    const bool sending = now_ms < options_.duration_ms;
    if (!sending && now_ms >= options_.duration_ms + kDrainMs) {
      const std::array<uint64_t, 3> flow = InFlight();
      // The switch may take in more than the rooms sent (foreign frames on a DPDK port).
      const bool balanced = flow[1] >= flow[0] && flow[2] == switch_tx();
      if (!balanced || flow != drain_seen_) {
        drain_seen_ = flow;
        drain_since_ = now_ms;
      } else if (now_ms - drain_since_ >= kSettledMs) {
        break;
      }
      if (now_ms >= options_.duration_ms + kMaxDrainMs) break;
    }
    if (sending) {
      for (size_t i = 0; i < rooms_.size(); ++i) {
        Room& r = rooms_[i];
        const int64_t join_at = static_cast<int64_t>(i % per_meeting) * options_.join_spacing_ms;
        if (!r.joined && now_ms >= join_at) {
          if (absl::Status s = JoinRoom(r, now_ms); !s.ok()) return s;
        }
      }
      if (!flipped && options_.mode_flip_at_ms >= 0 && now_ms >= options_.mode_flip_at_ms) {
        flipped = true;
        for (size_t m = 0; m < node_->meetings(); ++m) {
          const control::SwitchingMode to = node_->meeting(m).mode() == control::SwitchingMode::kSegment
                                                ? control::SwitchingMode::kSite
                                                : control::SwitchingMode::kSegment;
          (void)node_->SetMode(m, to, now_ms);  // the meeting logs the change itself
        }
      }
      if (options_.leave_at_ms >= 0 && now_ms >= options_.leave_at_ms && leave_started_ms_ < 0) {
        leave_started_ms_ = now_ms;
        for (size_t i = 0; i < rooms_.size(); ++i) {
          // The last room of each meeting, where at least two others stay.
          if (per_meeting >= 3 && i % per_meeting == per_meeting - 1 && rooms_[i].joined) {
            rooms_[i].leaving = true;
          }
        }
      }
      if (leave_started_ms_ >= 0) {
        if (absl::Status s = LeaveRooms(now_ms, now_ms - leave_started_ms_ > 2000); !s.ok()) return s;
      }
      for (Room& r : rooms_) {
        if (!r.joined || r.leaving || r.left) continue;
        r.sender->Poll(now_ms, now_ns, out);
        Send(r, out);
      }
      sending_end_ms_ = now_ms;
    }
    ReceiveAll(now_ms, MonotonicNs());
    if (now_ms >= next_tick) {
      if (absl::Status s = node_->Step(now_ms); !s.ok() && status.ok()) status = s;
      HandleEvents();
      next_tick = now_ms + options_.tick_ms;
    }
    elapsed_ms_ = now_ms;
    if (now_ms >= next_view && options_.on_tick) {
      options_.on_tick(now_ms);
      next_view += 1000;
    }
    // Sleep until a socket is readable or the next packet is due (a millisecond at most).
    poll(fds.data(), fds.size(), 1);
  }
  for (uint32_t w = 0; w < workers(); ++w) cpu_end_ns_.push_back(WorkerClockNs(w));
  StopBackend();
  // Whatever the workers sent last may still be on its way through the kernel.
  const uint64_t deadline = MonotonicNs() + 2'000'000'000ull;
  while (InFlight()[2] < switch_tx() && MonotonicNs() < deadline) {
    if (ReceiveAll(elapsed_ms_, MonotonicNs()) == 0) {
      std::vector<pollfd> wait;
      for (const Room& r : rooms_) {
        if (!r.joined) continue;
        wait.push_back({r.video->fd(), POLLIN, 0});
        wait.push_back({r.audio->fd(), POLLIN, 0});
      }
      poll(wait.data(), wait.size(), 10);
    }
  }
  ReceiveAll(elapsed_ms_, MonotonicNs());
  return status;
}

absl::Status MeetingRun::LeaveRooms(int64_t now_ms, bool force) {
  bool any = false;
  for (const Room& r : rooms_) any |= r.leaving;
  if (!any) return absl::OkStatus();
  uint64_t sent = 0, taken = 0;
  for (const Room& r : rooms_) {
    if (r.joined) sent += r.sender->packets_sent();
  }
  for (uint32_t w = 0; w < workers(); ++w) taken += pipeline_counters(w).rx_packets.Get();
  if (taken < sent && !force) return absl::OkStatus();
  for (Room& r : rooms_) {
    if (!r.leaving) continue;
    if (absl::Status s = node_->Leave(r.meeting, r.leg, now_ms); !s.ok()) return s;
    r.leaving = false;
    r.left = true;
    log_.push_back(absl::StrFormat("%s left the meeting", r.spec.name));
  }
  // The others get the new group (and announce new keys under it) before anything more is sent,
  // and the tables that accept it are published before then too.
  HandleEvents();
  absl::Status s = node_->Step(now_ms);
  HandleEvents();
  return s;
}

std::array<uint64_t, 3> MeetingRun::InFlight() const {
  std::array<uint64_t, 3> f{};  // sent by the rooms, taken in by the switch, received by rooms
  for (const Room& r : rooms_) {
    if (!r.joined) continue;
    f[0] += r.sender->packets_sent();
    f[2] += r.receiver->stats().received;
  }
  for (uint32_t w = 0; w < workers(); ++w) f[1] += io_counters(w).rx_datagrams.Get();
  return f;
}

uint64_t MeetingRun::switch_tx() const {
  uint64_t n = 0;
  for (uint32_t w = 0; w < workers(); ++w) n += io_counters(w).tx_datagrams.Get();
  return n;
}

uint64_t MeetingRun::worker_cpu_ns(uint32_t w) const {
  if (w >= cpu_start_ns_.size()) return 0;
  const uint64_t end = w < cpu_end_ns_.size() ? cpu_end_ns_[w] : WorkerClockNs(w);
  return end - cpu_start_ns_[w];
}

RunTotals MeetingRun::Totals() const {
  RunTotals t;
  for (const Room& r : rooms_) {
    if (!r.joined) continue;
    t.sent += r.sender->packets_sent();
    const ReceiverStats& s = r.receiver->stats();
    t.received += s.received;
    t.verified += s.verified;
    t.skipped += s.skipped;
    t.problems += s.Problems();
    t.keys_learned += s.keys_learned;
    t.video_switches += s.video_switches;
  }
  t.refresh_requests = refresh_requests_;
  for (size_t m = 0; m < node_->meetings(); ++m) t.switch_timeouts += node_->meeting(m).switch_timeouts();
  for (uint32_t w = 0; w < workers(); ++w) {
    const dataplane::io::IoCounters& io = io_counters(w);
    const dataplane::WorkerCounters& pc = pipeline_counters(w);
    t.switch_in += io.rx_datagrams.Get();
    t.switch_out += io.tx_datagrams.Get();
    t.retags += pc.tags_computed.Get();
    t.switch_keys_learned += pc.ekt_keys_learned.Get();
    for (size_t d = 0; d < dataplane::kDropCount; ++d) {
      if (const uint64_t n = pc.drops[d].Get()) {
        t.drops_by_reason[std::string(dataplane::DropName(static_cast<dataplane::Drop>(d)))] += n;
        t.drops += n;
      }
    }
    for (size_t d = 0; d < dataplane::io::kIoDropCount; ++d) {
      if (const uint64_t n = io.drops[d].Get()) {
        const auto why = static_cast<dataplane::io::IoDrop>(d);
        t.drops_by_reason[std::string(dataplane::io::IoDropName(why))] += n;
        t.drops += n;
        // Frames no room sent: the kernel's own traffic on a tap interface (IPv6 router and
        // multicast listener messages, with their hop-by-hop header).
        if (why == dataplane::io::IoDrop::kIpNotForUs ||
            why == dataplane::io::IoDrop::kIpExtensionHeader ||
            why == dataplane::io::IoDrop::kUnsupportedEtherType ||
            why == dataplane::io::IoDrop::kNotMediaPort ||
            why == dataplane::io::IoDrop::kPuntUnhandled) {
          t.foreign_drops += n;
        }
      }
    }
  }
  return t;
}

bool MeetingRun::Passed(std::vector<std::string>* why) const {
  std::vector<std::string> w;
  const RunTotals t = Totals();
  for (const Room& r : rooms_) {
    if (!r.joined) {
      w.push_back(absl::StrFormat("%s never joined", r.spec.name));
      continue;
    }
    const ReceiverStats& s = r.receiver->stats();
    bool someone_left = false;
    for (const Room& o : rooms_) someone_left |= o.left && o.meeting == r.meeting;
    if (someone_left && !r.left && r.sender->group_changes() == 0) {
      w.push_back(absl::StrFormat("%s never got the meeting's new group after a room left",
                                  r.spec.name));
    }
    if (s.Problems() != 0) {
      w.push_back(absl::StrFormat("%s: %d problems, first: %s", r.spec.name, s.Problems(),
                                  r.receiver->first_problem()));
    }
    if (s.verified == 0) w.push_back(absl::StrFormat("%s decrypted nothing", r.spec.name));
    if (options_.verify_every == 1 && s.verified + s.awaiting_key != s.received) {
      w.push_back(absl::StrFormat("%s received %d packets but decrypted only %d", r.spec.name,
                                  s.received, s.verified));
    }
    const control::Position displays[] = {control::Position::kCenter, control::Position::kLeft,
                                          control::Position::kRight};
    // A side screen can only show another three-screen room's side camera.
    bool others = false, others_three = false;
    if (r.left) continue;  // what it got after leaving is checked above, screens no more
    for (const Room& o : rooms_) {
      if (&o == &r || !o.joined || o.left || o.meeting != r.meeting) continue;
      others = true;
      others_three |= o.spec.screens == 3;
    }
    // Still receiving when the rooms stopped: a screen or the speakers that went quiet mid-run
    // (routes lost) fail the run, not only one that never showed anybody.
    for (int d = 0; d < r.spec.screens; ++d) {
      if (!(d == 0 ? others : others_three)) continue;
      if (r.receiver->Showing(displays[d]) == 0) {
        w.push_back(absl::StrFormat("%s: the %s screen showed nobody at the end", r.spec.name,
                                    control::PositionName(displays[d])));
      } else if (sending_end_ms_ - r.receiver->DisplayHeardMs(displays[d]) > 500) {
        w.push_back(absl::StrFormat("%s: the %s screen got nothing in the last %d ms of the run",
                                    r.spec.name, control::PositionName(displays[d]),
                                    sending_end_ms_ - r.receiver->DisplayHeardMs(displays[d])));
      }
    }
    if (others && r.receiver->Hearing(sending_end_ms_, 500).empty()) {
      w.push_back(absl::StrFormat("%s heard nobody in the last 500 ms of the run", r.spec.name));
    }
    if (!r.secure_icon) w.push_back(absl::StrFormat("%s was not told the meeting is secure", r.spec.name));
  }
  if (t.received != t.switch_out) {
    w.push_back(absl::StrFormat("the switch sent %d copies, the rooms received %d", t.switch_out,
                                t.received));
  }
  if (t.drops != t.foreign_drops) {
    std::string reasons;
    for (const auto& [name, n] : t.drops_by_reason) {
      reasons += absl::StrFormat("%s%s %d", reasons.empty() ? "" : ", ", name, n);
    }
    w.push_back(absl::StrFormat("the switch dropped %d packets: %s", t.drops, reasons));
  }
  const bool ok = w.empty();
  if (why) *why = std::move(w);
  return ok;
}

}  // namespace mpswitch::sim
