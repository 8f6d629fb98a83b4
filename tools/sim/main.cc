// mpswitch-sim: a secure meeting switched on 127.0.0.1 (the README's first command).
//
// The switch (socket backend, embedded defaults) and simulated rooms, three-screen and one-screen,
// run for --seconds with a live view: the meeting's security state, the active speaker, what each
// room shows on each screen and hears, packets in/out, re-tags/s and drops by reason. The summary
// says plainly whether every receiver decrypted everything it should have; the exit status is 1
// if not.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "mpswitch/sim/meeting_run.h"

ABSL_FLAG(std::string, backend, "socket",
          "socket (kernel UDP on 127.0.0.1) or dpdk (the DPDK backend on a net_tap device, the "
          "rooms on its kernel side at 10.77.0.1; needs root)");
ABSL_FLAG(int, seconds, 20, "how long the rooms send");
ABSL_FLAG(std::string, rooms, "3,3,1,1,1", "screens of each room of a meeting (1 or 3)");
ABSL_FLAG(int, meetings, 1, "meetings, each with the rooms of --rooms");
ABSL_FLAG(std::string, ekt, "intag", "EKT format: intag (the seed guide's) or rfc8870");
ABSL_FLAG(std::string, ekt_cipher, "ecb", "in-tag EKT cipher: ecb (AES-128-ECB) or kw (RFC 3394)");
ABSL_FLAG(std::string, mode, "segment", "switching mode: segment or site");
ABSL_FLAG(bool, flip_mode, true, "change the switching mode half way through");
ABSL_FLAG(bool, leave, true,
          "the last room of each meeting leaves at three quarters of the call (the switch "
          "rotates the meeting's key encrypting key; the others announce new keys under it)");
ABSL_FLAG(bool, presentation, true, "the first room of each meeting shares a presentation");
ABSL_FLAG(int, video_kbps, 4000, "bit rate of every camera");
ABSL_FLAG(int, workers, 1, "switch worker threads");
ABSL_FLAG(uint16_t, first_port, 16384, "the switch's first media port");
ABSL_FLAG(std::string, keylog, "",
          "DEBUG ONLY: append every key to this file (PROTOCOLS.md §11); anyone who can read it "
          "can decrypt the meeting");
ABSL_FLAG(std::string, pcap, "", "write every datagram the rooms send and receive to this pcap");
ABSL_FLAG(uint64_t, seed, 1, "talk script and key seed");
ABSL_FLAG(std::string, live, "auto", "live view: auto (when stdout is a terminal), on, off");

namespace {

using mpswitch::control::Position;
using mpswitch::sim::MeetingRun;

std::string Source(const MeetingRun& run, uint32_t ssrc) {
  if (ssrc == 0) return "-";
  const MeetingRun::Room* r = run.RoomOf(ssrc);
  if (!r) return absl::StrFormat("%08x", ssrc);
  auto s = r->sender->StreamOf(ssrc);
  return absl::StrFormat("%s/%s", r->spec.name, s ? mpswitch::control::PositionName(s->first) : "?");
}

struct Rates {
  mpswitch::sim::RunTotals last;
  int64_t last_ms = 0;
};

void Render(const MeetingRun& run, int64_t now_ms, Rates& rates, bool tty) {
  const mpswitch::sim::RunTotals t = run.Totals();
  const double dt = std::max<int64_t>(1, now_ms - rates.last_ms) / 1000.0;
  const double in_s = static_cast<double>(t.switch_in - rates.last.switch_in) / dt;
  const double out_s = static_cast<double>(t.switch_out - rates.last.switch_out) / dt;
  const double tag_s = static_cast<double>(t.retags - rates.last.retags) / dt;
  rates.last = t;
  rates.last_ms = now_ms;
  if (!tty) {
    if (now_ms / 1000 % 5 != 0) return;
    std::printf("t=%5.1fs  in %.0f pkt/s  out %.0f pkt/s  re-tags %.0f/s  received %llu  "
                "verified %llu  problems %llu  drops %llu\n",
                now_ms / 1000.0, in_s, out_s, tag_s, static_cast<unsigned long long>(t.received),
                static_cast<unsigned long long>(t.verified),
                static_cast<unsigned long long>(t.problems), static_cast<unsigned long long>(t.drops));
    std::fflush(stdout);
    return;
  }
  std::string o = "\x1b[H\x1b[2J";
  const bool dpdk = run.options().backend == mpswitch::sim::Backend::kDpdkTap;
  o += absl::StrFormat("mpswitch: secure meeting on %s   t = %.1f s of %d s   (%s backend, "
                       "%d worker%s, EKT %s)\n\n",
                       dpdk ? "10.77.0.2 (net_tap)" : "127.0.0.1", now_ms / 1000.0,
                       run.options().duration_ms / 1000, dpdk ? "DPDK" : "socket", run.workers(),
                       run.workers() == 1 ? "" : "s",
                       run.options().ekt_format == mpswitch::ekt::EktFormat::kInTag ? "in-tag" : "RFC 8870");
  for (size_t m = 0; m < run.node().meetings(); ++m) {
    const mpswitch::control::Meeting& mt = run.node().meeting(m);
    std::string speaker = "-", presenter = "-";
    for (const MeetingRun::Room& r : run.rooms()) {
      if (r.meeting != m || !r.joined) continue;
      if (mt.active_speaker() == r.leg) speaker = r.spec.name;
      if (mt.presenter() == r.leg) presenter = r.spec.name;
    }
    o += absl::StrFormat("conference %s   %s   mode %s   speaker %s   presenting %s\n",
                         mt.config().conference_id, mt.secure() ? "SECURE" : "NOT SECURE",
                         mpswitch::control::SwitchingModeName(mt.mode()), speaker, presenter);
    o += absl::StrFormat("  %-14s %-4s %-18s %-18s %-18s %-18s %s\n", "room", "lock", "left",
                         "center", "right", "presentation", "hears");
    for (const MeetingRun::Room& r : run.rooms()) {
      if (r.meeting != m) continue;
      if (!r.joined) {
        o += absl::StrFormat("  %-12s (joining)\n", r.spec.name);
        continue;
      }
      const auto& rx = *r.receiver;
      std::vector<std::string> hears;
      for (uint32_t s : rx.Hearing(now_ms)) hears.push_back(Source(run, s));
      o += absl::StrFormat("  %-14s %-4s %-18s %-18s %-18s %-18s %s\n",
                           absl::StrFormat("%s (%d)", r.spec.name, r.spec.screens),
                           r.secure_icon ? "yes" : "NO",
                           r.spec.screens == 3 ? Source(run, rx.Showing(Position::kLeft)) : "",
                           Source(run, rx.Showing(Position::kCenter)),
                           r.spec.screens == 3 ? Source(run, rx.Showing(Position::kRight)) : "",
                           Source(run, rx.Showing(Position::kAux)), absl::StrJoin(hears, " "));
    }
    o += "\n";
  }
  o += absl::StrFormat("switch    in %7.0f pkt/s   out %7.0f pkt/s   re-tags %7.0f/s   keys learned "
                       "%llu   tables published %llu\n",
                       in_s, out_s, tag_s, static_cast<unsigned long long>(t.switch_keys_learned),
                       static_cast<unsigned long long>(run.node().publications()));
  std::vector<std::string> drops;
  for (const auto& [name, n] : t.drops_by_reason) drops.push_back(absl::StrFormat("%s %d", name, n));
  o += absl::StrFormat("drops     %s\n", drops.empty() ? "none" : absl::StrJoin(drops, ", "));
  o += absl::StrFormat("rooms     sent %llu   received %llu   decrypted and checked %llu   "
                       "problems %llu   video switches %llu\n",
                       static_cast<unsigned long long>(t.sent), static_cast<unsigned long long>(t.received),
                       static_cast<unsigned long long>(t.verified),
                       static_cast<unsigned long long>(t.problems),
                       static_cast<unsigned long long>(t.video_switches));
  const auto& log = run.log();
  if (!log.empty()) {
    o += "\nlog\n";
    for (size_t i = log.size() > 4 ? log.size() - 4 : 0; i < log.size(); ++i) o += "  " + log[i] + "\n";
  }
  std::fputs(o.c_str(), stdout);
  std::fflush(stdout);
}

uint32_t Quantile(std::vector<uint32_t> v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("A secure meeting switched on 127.0.0.1 with simulated rooms.");
  absl::ParseCommandLine(argc, argv);
  mpswitch::sim::RunOptions o;
  o.duration_ms = int64_t{absl::GetFlag(FLAGS_seconds)} * 1000;
  o.meetings = absl::GetFlag(FLAGS_meetings);
  o.screens.clear();
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_rooms), ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(s, &n) || (n != 1 && n != 3)) {
      std::fprintf(stderr, "--rooms: \"%s\" is not 1 or 3 screens\n", std::string(s).c_str());
      return 2;
    }
    o.screens.push_back(n);
  }
  const std::string ekt = absl::GetFlag(FLAGS_ekt);
  if (ekt == "rfc8870") {
    o.ekt_format = mpswitch::ekt::EktFormat::kRfc8870;
  } else if (ekt != "intag") {
    std::fprintf(stderr, "--ekt: intag or rfc8870, not \"%s\"\n", ekt.c_str());
    return 2;
  }
  const std::string cipher = absl::GetFlag(FLAGS_ekt_cipher);
  if (cipher == "kw") {
    o.ekt_cipher = mpswitch::ekt::EktCipher::kAesKw128;
  } else if (cipher != "ecb") {
    std::fprintf(stderr, "--ekt_cipher: ecb or kw, not \"%s\"\n", cipher.c_str());
    return 2;
  }
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "site") {
    o.mode = mpswitch::control::SwitchingMode::kSite;
  } else if (mode != "segment") {
    std::fprintf(stderr, "--mode: segment or site, not \"%s\"\n", mode.c_str());
    return 2;
  }
  if (absl::GetFlag(FLAGS_flip_mode)) o.mode_flip_at_ms = o.duration_ms / 2;
  if (absl::GetFlag(FLAGS_leave)) o.leave_at_ms = o.duration_ms * 3 / 4;
  o.presentation = absl::GetFlag(FLAGS_presentation);
  o.video_kbps = absl::GetFlag(FLAGS_video_kbps);
  o.workers = static_cast<uint32_t>(std::max(1, absl::GetFlag(FLAGS_workers)));
  o.first_port = absl::GetFlag(FLAGS_first_port);
  o.keylog_path = absl::GetFlag(FLAGS_keylog);
  o.pcap_path = absl::GetFlag(FLAGS_pcap);
  o.seed = absl::GetFlag(FLAGS_seed);
  const std::string backend = absl::GetFlag(FLAGS_backend);
  if (backend == "dpdk") {
    o.backend = mpswitch::sim::Backend::kDpdkTap;
  } else if (backend != "socket") {
    std::fprintf(stderr, "--backend: socket or dpdk, not \"%s\"\n", backend.c_str());
    return 2;
  }
  const std::string live = absl::GetFlag(FLAGS_live);
  const bool tty = live == "on" || (live == "auto" && isatty(STDOUT_FILENO));

  Rates rates;
  MeetingRun* run_ptr = nullptr;
  o.on_tick = [&](int64_t now_ms) {
    if (run_ptr) Render(*run_ptr, now_ms, rates, tty);
  };
  absl::StatusOr<std::unique_ptr<MeetingRun>> run = MeetingRun::Create(o);
  if (!run.ok()) {
    std::fprintf(stderr, "mpswitch-sim: %s\n", std::string(run.status().message()).c_str());
    return 1;
  }
  run_ptr = run->get();
  const absl::Status st = (*run)->Run();
  if (!st.ok()) std::fprintf(stderr, "mpswitch-sim: %s\n", std::string(st.message()).c_str());

  // The summary.
  const MeetingRun& r = **run;
  const mpswitch::sim::RunTotals t = r.Totals();
  std::printf("\nsummary after %.1f s\n", r.elapsed_ms() / 1000.0);
  std::printf("  %-14s %9s %9s %9s %9s %8s %6s %8s %8s\n", "room", "received", "decrypted",
              "await-key", "problems", "switches", "keys", "p50 us", "p99 us");
  std::vector<uint32_t> all_latency;
  for (const MeetingRun::Room& room : r.rooms()) {
    if (!room.joined) continue;
    const auto& s = room.receiver->stats();
    const auto& lat = room.receiver->latency_ns();
    all_latency.insert(all_latency.end(), lat.begin(), lat.end());
    std::printf("  %-14s %9llu %9llu %9llu %9llu %8llu %6llu %8.0f %8.0f\n", room.spec.name.c_str(),
                static_cast<unsigned long long>(s.received), static_cast<unsigned long long>(s.verified),
                static_cast<unsigned long long>(s.awaiting_key),
                static_cast<unsigned long long>(s.Problems()),
                static_cast<unsigned long long>(s.video_switches),
                static_cast<unsigned long long>(s.keys_learned), Quantile(lat, 0.5) / 1000.0,
                Quantile(lat, 0.99) / 1000.0);
  }
  // What each screen showed over time, as its room saw it (the first changes of each).
  std::printf("\n  what each screen showed (time in s: source)\n");
  for (const MeetingRun::Room& room : r.rooms()) {
    if (!room.joined) continue;
    std::map<Position, std::vector<std::string>> by_display;
    for (const mpswitch::sim::ShownChange& c : room.receiver->history()) {
      auto& v = by_display[c.display];
      if (v.size() < 6) v.push_back(absl::StrFormat("%.1f %s", c.t_ms / 1000.0, Source(r, c.ssrc)));
      else if (v.size() == 6) v.push_back("...");
    }
    for (const auto& [display, changes] : by_display) {
      std::printf("  %-14s %-7s %s\n", room.spec.name.c_str(),
                  mpswitch::control::PositionName(display), absl::StrJoin(changes, ", ").c_str());
    }
  }
  uint64_t cpu = 0;
  for (uint32_t w = 0; w < r.workers(); ++w) cpu += r.worker_cpu_ns(w);
  std::printf("  switch: %llu in, %llu out, %llu re-tags, %llu sender keys learned from EKT, %llu "
              "drops; %.2f us of worker CPU per output\n",
              static_cast<unsigned long long>(t.switch_in), static_cast<unsigned long long>(t.switch_out),
              static_cast<unsigned long long>(t.retags),
              static_cast<unsigned long long>(t.switch_keys_learned),
              static_cast<unsigned long long>(t.drops),
              t.switch_out ? cpu / 1000.0 / static_cast<double>(t.switch_out) : 0.0);
  std::printf("  rooms: %llu sent, %llu received, %llu refresh requests answered, end-to-end latency "
              "p50 %.0f us p99 %.0f us\n",
              static_cast<unsigned long long>(t.sent), static_cast<unsigned long long>(t.received),
              static_cast<unsigned long long>(t.refresh_requests), Quantile(all_latency, 0.5) / 1000.0,
              Quantile(all_latency, 0.99) / 1000.0);
  std::printf("  key encrypting key rotations (a room left): %llu\n",
              static_cast<unsigned long long>(r.node().rotations()));
  if (!o.keylog_path.empty()) std::printf("  keys logged to %s\n", o.keylog_path.c_str());
  if (!o.pcap_path.empty()) std::printf("  capture written to %s\n", o.pcap_path.c_str());
  std::vector<std::string> why;
  const bool passed = st.ok() && r.Passed(&why);
  if (passed) {
    uint64_t awaiting = 0;
    for (const MeetingRun::Room& room : r.rooms()) {
      if (room.joined) awaiting += room.receiver->stats().awaiting_key;
    }
    std::printf("\nPASS: every room decrypted everything the switch sent it: %llu packets, each "
                "decrypted by libsrtp2 with the key learned from EKT and compared with what its "
                "sender wrote (%llu short-form packets of a stream a room had just started to "
                "hear arrived before the key's next announcement, never more than two in a row, "
                "as the seed guide's schedule allows). No room got its own media, and every video "
                "switch started on the first packet of a refresh frame.\n",
                static_cast<unsigned long long>(t.verified), static_cast<unsigned long long>(awaiting));
    return 0;
  }
  std::printf("\nFAIL:\n");
  for (const std::string& w : why) std::printf("  %s\n", w.c_str());
  return 1;
}
