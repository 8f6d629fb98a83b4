// mpswitch-load: the end-to-end load benchmark. M meetings of K simulated rooms send for T
// seconds through the switch on 127.0.0.1 (real sockets, the backend's workers, the control loop)
// and are measured per worker core: outputs/s, CPU per output packet, added latency, drops by
// reason, memory per stream. Then, side by side on the same machine, the same SRTP traffic
// (streams, packet sizes and rates) is relayed by rtpengine, in pass-through and in
// decrypt/re-encrypt mode, and its CPU per output packet is compared. Table on stdout, JSON with
// --json. See bench/load/README.md.
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/oracle/libsrtp_oracle.h"
#include "mpswitch/oracle/udp_endpoint.h"
#include "mpswitch/sim/meeting_run.h"
#include "mpswitch/sim/payload.h"
#include "rtpengine.h"

ABSL_FLAG(std::string, backend, "socket",
          "socket (kernel UDP on 127.0.0.1) or dpdk (the DPDK backend on a net_tap device, the "
          "rooms on its kernel side at 10.77.0.1; needs root)");
ABSL_FLAG(int, meetings, 2, "meetings");
ABSL_FLAG(int, rooms, 4, "rooms per meeting");
ABSL_FLAG(int, screens, 3, "screens per room (1 or 3)");
ABSL_FLAG(int, seconds, 10, "seconds of media per run");
ABSL_FLAG(int, workers, 1, "switch worker threads");
ABSL_FLAG(int, video_kbps, 4000, "bit rate per camera (1080p30-class: 4000)");
ABSL_FLAG(int, verify_every, 16, "receivers decrypt and check every Nth packet (1 = all)");
ABSL_FLAG(bool, pin, true, "pin the simulator to CPU 0 and the measured process to CPU 1");
ABSL_FLAG(std::string, rtpengine, "auto", "rtpengine comparison: auto (when installed), on, off");
ABSL_FLAG(std::string, json, "", "write the results as JSON to this file");

namespace {

using mpswitch::sim::MeetingRun;

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void PinSelf(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

double Quantile(std::vector<uint32_t>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// One stream of the traffic, as the simulator's rooms send it.
struct StreamShape {
  size_t payload;        // bytes per packet (a video frame's packets are all this size here)
  double packets_per_s;
};

// The streams a room of the run sends, as the simulator sends them (RoomSender::LoadOf); a
// frame's packets are given its mean size.
std::vector<StreamShape> RoomShapes(int screens, int video_kbps) {
  mpswitch::sim::RoomSpec spec;
  spec.screens = screens;
  spec.video_kbps = video_kbps;
  std::vector<StreamShape> v;
  for (const auto& l : mpswitch::sim::RoomSender::LoadOf(spec)) {
    v.push_back({l.bytes_per_tick / l.packets_per_tick,
                 static_cast<double>(l.packets_per_tick) * l.ticks_per_s});
  }
  return v;
}

struct EngineResult {
  bool ran = false;
  std::string error;
  uint64_t sent = 0, received = 0, checked = 0, failed = 0;
  uint64_t cpu_ns = 0, user_ns = 0, system_ns = 0;
  double seconds = 0;
  double cpu_ns_per_output() const { return received ? static_cast<double>(cpu_ns) / received : 0; }
};

// The same SRTP traffic through rtpengine: one call per stream, side A sending SRTP protected by
// libsrtp2 (AES_CM_128_HMAC_SHA1_80, the trailing byte's place taken by one more payload byte),
// side B receiving; every 16th output is decrypted (pass-through: with A's key, the bytes
// untouched; re-encrypt: with the key rtpengine advertised to B).
EngineResult RunRtpengine(mpswitch::bench::RelayMode mode, const std::vector<StreamShape>& shapes,
                          int seconds, int cpu) {
  using mpswitch::bench::RelayKeys;
  EngineResult res;
  mpswitch::bench::RtpengineOptions ro;
  ro.cpu = cpu;
  ro.port_min = 40000;
  ro.port_max = static_cast<uint16_t>(std::min<size_t>(65000, 40000 + shapes.size() * 4 + 100));
  ro.log_file = "/tmp/mpswitch-load-rtpengine.log";
  absl::StatusOr<std::unique_ptr<mpswitch::bench::Rtpengine>> eng =
      mpswitch::bench::Rtpengine::Start(ro);
  if (!eng.ok()) {
    res.error = std::string(eng.status().message());
    return res;
  }
  std::mt19937_64 rng(11);
  struct Call {
    StreamShape shape;
    std::unique_ptr<mpswitch::oracle::UdpEndpoint> a, b;
    uint16_t to_port;
    mpswitch::dataplane::MasterKey key_a, key_b;
    std::unique_ptr<mpswitch::oracle::LibsrtpSession> tx, rx;
    uint32_t ssrc;
    uint16_t seq = 0;
    double next_s = 0;
  };
  std::vector<Call> calls;
  const mpswitch::dataplane::IpAddr lo = mpswitch::dataplane::IpAddr::FromV4(0x7f000001);
  for (size_t i = 0; i < shapes.size(); ++i) {
    Call c;
    c.shape = shapes[i];
    c.a = std::make_unique<mpswitch::oracle::UdpEndpoint>(lo);
    c.b = std::make_unique<mpswitch::oracle::UdpEndpoint>(lo);
    c.key_a = mpswitch::oracle::RandomMasterKey(rng);
    c.key_b = mpswitch::oracle::RandomMasterKey(rng);
    c.ssrc = 0x60000000u + static_cast<uint32_t>(i);
    RelayKeys ka{c.key_a.key, c.key_a.salt}, kb{c.key_b.key, c.key_b.salt};
    absl::StatusOr<mpswitch::bench::Relay> r = (*eng)->SetupCall(
        absl::StrFormat("load-%d", i), mode, c.a->port(), c.b->port(), ka, kb);
    if (!r.ok()) {
      res.error = std::string(r.status().message());
      return res;
    }
    c.to_port = r->engine_port_for_a;
    mpswitch::dataplane::MasterKey out_key;
    out_key.key = r->key_to_b.key;
    out_key.salt = r->key_to_b.salt;
    c.tx = mpswitch::oracle::LibsrtpSession::Sender(c.key_a, mpswitch::dataplane::SrtpProfile::kAesCm128HmacSha1_80, c.ssrc);
    c.rx = mpswitch::oracle::LibsrtpSession::Receiver(out_key, mpswitch::dataplane::SrtpProfile::kAesCm128HmacSha1_80);
    c.next_s = static_cast<double>(rng() % 20) / 1000.0;
    calls.push_back(std::move(c));
  }
  std::vector<uint8_t> buf(65536);
  auto drain = [&](Call& c) {
    for (;;) {
      const ssize_t n = recv(c.b->fd(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n <= 0) return;
      ++res.received;
      if (res.received % 16 == 0) {
        std::vector<uint8_t> p(buf.begin(), buf.begin() + n);
        if (c.rx->Unprotect(p) == srtp_err_status_ok) {
          ++res.checked;
        } else {
          ++res.failed;
        }
      }
    }
  };
  const uint64_t start = MonotonicNs();
  const mpswitch::bench::Rtpengine::CpuTimes cpu0 = (*eng)->Cpu();
  for (;;) {
    const double t = static_cast<double>(MonotonicNs() - start) / 1e9;
    if (t >= seconds) break;
    for (Call& c : calls) {
      while (c.next_s <= t) {
        mpswitch::oracle::RtpSpec r;
        r.payload_type = 96;
        r.seq = c.seq++;
        r.ssrc = c.ssrc;
        r.csrcs = {0x1011};
        r.payload.resize(c.shape.payload + 1);
        mpswitch::sim::WritePayload(r.payload, {}, c.ssrc, r.seq);
        std::vector<uint8_t> pkt = mpswitch::oracle::BuildRtp(r);
        c.tx->Protect(pkt);
        c.a->SendTo(c.to_port, pkt);
        ++res.sent;
        c.next_s += 1.0 / c.shape.packets_per_s;
      }
      drain(c);
    }
    timespec ts{0, 500000};
    nanosleep(&ts, nullptr);
  }
  timespec settle{0, 200000000};
  nanosleep(&settle, nullptr);
  for (Call& c : calls) drain(c);
  const mpswitch::bench::Rtpengine::CpuTimes cpu1 = (*eng)->Cpu();
  res.seconds = static_cast<double>(MonotonicNs() - start) / 1e9;
  res.user_ns = cpu1.user_ns - cpu0.user_ns;
  res.system_ns = cpu1.system_ns - cpu0.system_ns;
  res.cpu_ns = res.user_ns + res.system_ns;
  res.ran = true;
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("End-to-end load benchmark of the switch, with rtpengine beside it.");
  absl::ParseCommandLine(argc, argv);
  const int meetings = absl::GetFlag(FLAGS_meetings);
  const int rooms = absl::GetFlag(FLAGS_rooms);
  const int screens = absl::GetFlag(FLAGS_screens);
  const int seconds = absl::GetFlag(FLAGS_seconds);
  const int kbps = absl::GetFlag(FLAGS_video_kbps);
  const bool pin = absl::GetFlag(FLAGS_pin);
  if ((screens != 1 && screens != 3) || meetings < 1 || rooms < 2 || seconds < 1) {
    std::fprintf(stderr, "mpswitch-load: --screens is 1 or 3, and a run needs at least one "
                         "meeting of two rooms for a second\n");
    return 2;
  }
  if (pin) PinSelf(0);

  mpswitch::sim::RunOptions o;
  o.meetings = meetings;
  o.screens.assign(static_cast<size_t>(rooms), screens);
  o.presentation = false;
  o.duration_ms = int64_t{seconds} * 1000;
  o.join_spacing_ms = 20;
  o.video_kbps = kbps;
  o.verify_every = absl::GetFlag(FLAGS_verify_every);
  o.measure_table_memory = true;
  o.workers = static_cast<uint32_t>(absl::GetFlag(FLAGS_workers));
  if (pin) {
    for (uint32_t w = 0; w < o.workers; ++w) o.cpus.push_back(1);  // the measured core
  }
  const bool dpdk = absl::GetFlag(FLAGS_backend) == "dpdk";
  if (dpdk) o.backend = mpswitch::sim::Backend::kDpdkTap;
  const uint64_t sim_cpu0 = ThreadCpuNs();
  absl::StatusOr<std::unique_ptr<MeetingRun>> run = MeetingRun::Create(o);
  if (!run.ok()) {
    std::fprintf(stderr, "mpswitch-load: %s\n", std::string(run.status().message()).c_str());
    return 1;
  }
  const absl::Status st = (*run)->Run();
  if (!st.ok()) std::fprintf(stderr, "mpswitch-load: %s\n", std::string(st.message()).c_str());
  const uint64_t sim_cpu = ThreadCpuNs() - sim_cpu0;
  const MeetingRun& r = **run;
  const mpswitch::sim::RunTotals t = r.Totals();
  std::vector<std::string> why;
  const bool passed = st.ok() && r.Passed(&why);
  const double secs = r.elapsed_ms() / 1000.0;

  std::vector<uint32_t> e2e;
  for (const MeetingRun::Room& room : r.rooms()) {
    if (!room.joined) continue;
    const auto& l = room.receiver->latency_ns();
    e2e.insert(e2e.end(), l.begin(), l.end());
  }
  const double in_mbps = [&] {
    double bytes = 0;
    for (const auto& s : RoomShapes(screens, kbps)) bytes += static_cast<double>(s.payload) * s.packets_per_s;
    return bytes * 8 * rooms * meetings / 1e6;
  }();

  std::printf("mpswitch-load: %d meetings x %d rooms of %d screens, %d kbit/s per camera (%.0f "
              "Mbit/s of payload offered), %.1f s, %s backend, %u worker%s\n\n",
              meetings, rooms, screens, kbps, in_mbps, secs, dpdk ? "DPDK (net_tap)" : "socket",
              r.workers(), r.workers() == 1 ? "" : "s");
  std::printf("  %-7s %10s %12s %12s %14s %12s %12s %12s\n", "worker", "inputs", "outputs",
              "outputs/s", "CPU ns/output", "burst p50us", "burst p99us", "burst p999us");
  struct WorkerRow {
    uint64_t in, out, cpu;
    double p50, p99, p999;
  };
  std::vector<WorkerRow> rows;
  uint64_t out_total = 0, cpu_total = 0;
  for (uint32_t w = 0; w < r.workers(); ++w) {
    const auto& io = r.io_counters(w);
    WorkerRow row{io.rx_datagrams.Get(), io.tx_datagrams.Get(), r.worker_cpu_ns(w),
                  io.latency.QuantileNs(0.5) / 1e3, io.latency.QuantileNs(0.99) / 1e3,
                  io.latency.QuantileNs(0.999) / 1e3};
    rows.push_back(row);
    out_total += row.out;
    cpu_total += row.cpu;
    std::printf("  %-7u %10llu %12llu %12.0f %14.0f %12.0f %12.0f %12.0f\n", w,
                static_cast<unsigned long long>(row.in), static_cast<unsigned long long>(row.out),
                row.out / secs, row.out ? static_cast<double>(row.cpu) / row.out : 0.0, row.p50,
                row.p99, row.p999);
  }
  const double cpu_per_out = out_total ? static_cast<double>(cpu_total) / out_total : 0;
  const double e50 = Quantile(e2e, 0.5) / 1e3, e99 = Quantile(e2e, 0.99) / 1e3,
               e999 = Quantile(e2e, 0.999) / 1e3;
  std::printf("\n  end-to-end latency (send to receive, %zu samples): p50 %.0f us  p99 %.0f us  "
              "p999 %.0f us\n", e2e.size(), e50, e99, e999);
  std::vector<std::string> drops;
  for (const auto& [name, n] : t.drops_by_reason) drops.push_back(absl::StrFormat("%s %d", name, n));
  std::printf("  video switches seen by receivers %llu, refresh requests %llu, switches after a "
              "refresh timeout %llu\n", static_cast<unsigned long long>(t.video_switches),
              static_cast<unsigned long long>(t.refresh_requests),
              static_cast<unsigned long long>(t.switch_timeouts));
  for (const std::string& line : r.log()) {
    if (line.find("refresh timeout") != std::string::npos) std::printf("    %s\n", line.c_str());
  }
  std::printf("  drops: %s\n", drops.empty() ? "none" : absl::StrJoin(drops, ", ").c_str());
  const size_t streams = r.node().streams();
  const double table_bytes = streams ? static_cast<double>(r.node().last_tables_bytes()) / streams : 0;
  std::printf("  memory per stream: %.0f bytes of tables + %zu bytes of runtime state on its "
              "worker\n", table_bytes, sizeof(mpswitch::dataplane::StreamRt));
  std::printf("  simulator thread CPU: %.0f%% of one core (the offered load is real only while "
              "this stays below 100%%)\n", 100.0 * static_cast<double>(sim_cpu) / (secs * 1e9));
  std::printf("  receivers: %llu received, %llu decrypted and checked, %llu problems: %s\n",
              static_cast<unsigned long long>(t.received), static_cast<unsigned long long>(t.verified),
              static_cast<unsigned long long>(t.problems),
              passed ? "PASS" : absl::StrJoin(why, "; ").c_str());
  const double outs_per_room = out_total / secs / (rooms * meetings);
  const double rooms_per_core = cpu_per_out > 0 ? 1e9 / (cpu_per_out * outs_per_room) : 0;
  std::printf("  sizing: %.0f outputs/s per room at %.0f ns of worker CPU each -> one core "
              "carries %.0f rooms of %d screens (%.0f segments)\n",
              outs_per_room, cpu_per_out, rooms_per_core, screens, rooms_per_core * screens);

  // rtpengine beside it.
  const std::string want = absl::GetFlag(FLAGS_rtpengine);
  EngineResult pass, reenc;
  if (want != "off") {
    std::vector<StreamShape> shapes;
    for (int i = 0; i < rooms * meetings; ++i) {
      auto s = RoomShapes(screens, kbps);
      shapes.insert(shapes.end(), s.begin(), s.end());
    }
    pass = RunRtpengine(mpswitch::bench::RelayMode::kPassThrough, shapes, seconds, pin ? 1 : -1);
    if (pass.ran) reenc = RunRtpengine(mpswitch::bench::RelayMode::kReencrypt, shapes, seconds, pin ? 1 : -1);
    std::printf("\nrtpengine, the same streams relayed one call per stream (CPU of the whole daemon):\n");
    for (auto [name, e] : {std::pair<const char*, EngineResult*>{"pass-through", &pass},
                           {"re-encrypt", &reenc}}) {
      if (!e->ran) {
        std::printf("  %-13s not run: %s\n", name, e->error.empty() ? "skipped" : e->error.c_str());
        continue;
      }
      std::printf("  %-13s %llu sent, %llu relayed, %llu of them decrypted, %llu failed; %.0f ns "
                  "CPU per output (user %.0f, system %.0f); switch / rtpengine = %.2f\n",
                  name, static_cast<unsigned long long>(e->sent), static_cast<unsigned long long>(e->received),
                  static_cast<unsigned long long>(e->checked), static_cast<unsigned long long>(e->failed),
                  e->cpu_ns_per_output(), e->received ? static_cast<double>(e->user_ns) / e->received : 0.0,
                  e->received ? static_cast<double>(e->system_ns) / e->received : 0.0,
                  e->cpu_ns_per_output() > 0 ? cpu_per_out / e->cpu_ns_per_output() : 0.0);
    }
    if (want == "on" && (!pass.ran || !reenc.ran)) return 1;
  }

  const std::string json = absl::GetFlag(FLAGS_json);
  if (!json.empty()) {
    std::string j = "{\n";
    j += absl::StrFormat("  \"meetings\": %d, \"rooms\": %d, \"screens\": %d, \"seconds\": %.2f, "
                         "\"video_kbps\": %d, \"offered_mbps\": %.1f, \"backend\": \"%s\",\n",
                         meetings, rooms, screens, secs, kbps, in_mbps, dpdk ? "dpdk_tap" : "socket");
    j += "  \"workers\": [";
    for (size_t w = 0; w < rows.size(); ++w) {
      j += absl::StrFormat("%s{\"worker\": %d, \"inputs\": %d, \"outputs\": %d, \"outputs_per_s\": "
                           "%.0f, \"cpu_ns_per_output\": %.0f, \"burst_latency_us\": {\"p50\": %.0f, "
                           "\"p99\": %.0f, \"p999\": %.0f}}",
                           w ? ", " : "", w, rows[w].in, rows[w].out, rows[w].out / secs,
                           rows[w].out ? static_cast<double>(rows[w].cpu) / rows[w].out : 0.0,
                           rows[w].p50, rows[w].p99, rows[w].p999);
    }
    j += "],\n";
    j += absl::StrFormat("  \"cpu_ns_per_output\": %.0f,\n  \"end_to_end_latency_us\": {\"p50\": "
                         "%.0f, \"p99\": %.0f, \"p999\": %.0f},\n",
                         cpu_per_out, e50, e99, e999);
    j += "  \"drops\": {";
    bool first = true;
    for (const auto& [name, n] : t.drops_by_reason) {
      j += absl::StrFormat("%s\"%s\": %d", first ? "" : ", ", name, n);
      first = false;
    }
    j += "},\n";
    j += absl::StrFormat("  \"memory_per_stream_bytes\": {\"tables\": %.0f, \"runtime\": %d},\n",
                         table_bytes, sizeof(mpswitch::dataplane::StreamRt));
    j += absl::StrFormat("  \"simulator_cpu_share\": %.3f,\n  \"rooms_per_core\": %.1f,\n  "
                         "\"passed\": %s,\n",
                         static_cast<double>(sim_cpu) / (secs * 1e9), rooms_per_core,
                         passed ? "true" : "false");
    auto engine = [&](const EngineResult& e) {
      if (!e.ran) return std::string("null");
      return absl::StrFormat("{\"relayed\": %d, \"cpu_ns_per_output\": %.0f, \"user_ns\": %.0f, "
                             "\"system_ns\": %.0f, \"switch_ratio\": %.3f}",
                             e.received, e.cpu_ns_per_output(),
                             e.received ? static_cast<double>(e.user_ns) / e.received : 0.0,
                             e.received ? static_cast<double>(e.system_ns) / e.received : 0.0,
                             e.cpu_ns_per_output() > 0 ? cpu_per_out / e.cpu_ns_per_output() : 0.0);
    };
    j += absl::StrFormat("  \"rtpengine\": {\"pass_through\": %s, \"reencrypt\": %s}\n}\n",
                         engine(pass), engine(reenc));
    std::ofstream(json) << j;
  }
  return passed ? 0 : 1;
}
