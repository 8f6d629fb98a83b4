// mpswitch-core-demo: one secure meeting through the dataplane core, checked end to end.
//
// Four rooms (two three-screen, two one-screen) send SRTP audio with the activity byte and video
// with the refresh byte, each stream under its sender's own master key, announced end to end with
// EKT (the seed guide's in-tag format by default, RFC 8870 with --ekt=rfc8870) under the meeting's
// key encrypting key; every sender changes its key once mid-meeting. The switch core learns each
// sender's key from the packets (verify before install), strips the byte, rewrites the MUX-CSRC
// sink for each receiving room (a three-screen sender's left camera lands on a one-screen room's
// center display) and re-tags, without decrypting. Every packet it emits goes to a receiving room
// that holds only the KEK: it learns the senders' keys from EKT, and libsrtp2 decrypts the packet
// with the learned key; the result is compared with what was sent. Forged, replayed, truncated,
// unknown and forged-key packets are mixed in and must be dropped with their named counters.
//
// It prints what it measured: packets, re-tags, drops by reason, and the cost per output packet of
// the switch against decrypt + re-encrypt per receiver, timed side by side over the same packets.
// Exit status 0 only if every receiver decrypted everything it should have and no attack passed.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <optional>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/dataplane/core/pipeline.h"
#include "mpswitch/control/keylog.h"
#include "mpswitch/dataplane/core/srtp_cipher.h"
#include "mpswitch/ekt/endpoint.h"
#include "mpswitch/oracle/libsrtp_oracle.h"

ABSL_FLAG(int, seconds, 10, "seconds of meeting media to switch");
ABSL_FLAG(int, burst, 32, "packets per burst handed to the pipeline");
ABSL_FLAG(uint64_t, seed, 1, "random seed (payloads, talk pattern; keys come from OpenSSL)");
ABSL_FLAG(std::string, ekt, "intag", "EKT format: intag (seed guide, AES-128-ECB) or rfc8870 (AESKWP)");
ABSL_FLAG(std::string, keylog, "",
          "append every key to this file (debug only: PROTOCOLS.md §11; also MPSWITCH_KEYLOG)");

namespace {

using namespace mpswitch;
using namespace mpswitch::dataplane;
using Clock = std::chrono::steady_clock;

struct Room {
  std::string name;
  int screens;  // 1 or 3
};

// One media stream of a room: a camera or a microphone at a position.
struct Stream {
  int room;
  bool video;
  uint8_t position;  // 1 center, 2 left, 3 right (PROTOCOLS.md §3)
  uint32_t ssrc;
  uint16_t seq;
  std::unique_ptr<ekt::EktSender> tx;
  std::unique_ptr<SrtpCryptoContext> conventional;  // the same traffic for the comparison
};

constexpr uint16_t kPort = 16384;
constexpr size_t kOutCap = 1600;

uint32_t MuxCsrc(uint8_t source, uint8_t sink) { return (0x00ABCu << 12) | (source << 4) | sink; }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Switches one secure meeting through the dataplane core and checks it");
  absl::ParseCommandLine(argc, argv);
  const int seconds = absl::GetFlag(FLAGS_seconds);
  const int burst = std::clamp(absl::GetFlag(FLAGS_burst), 1, 256);
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));

  const bool rfc8870 = absl::GetFlag(FLAGS_ekt) == "rfc8870";
  if (!rfc8870 && absl::GetFlag(FLAGS_ekt) != "intag") {
    std::fprintf(stderr, "--ekt must be intag or rfc8870\n");
    return 2;
  }
  auto keylog = control::Keylog::Open(absl::GetFlag(FLAGS_keylog));
  if (!keylog.ok()) {
    std::fprintf(stderr, "%s\n", std::string(keylog.status().message()).c_str());
    return 2;
  }

  // The meeting's EKT group: the switch creates the KEK (and would hand it to each leg in SPIMAP).
  ekt::GroupParams group;
  group.spi = 1;
  group.format = rfc8870 ? ekt::EktFormat::kRfc8870 : ekt::EktFormat::kInTag;
  group.cipher = rfc8870 ? ekt::EktCipher::kAesKwp128 : ekt::EktCipher::kAes128Ecb;
  { const auto k = oracle::RandomBytes(rng, 16); group.kek.assign(k.begin(), k.end()); }
  for (auto& b : group.salt) b = static_cast<uint8_t>(rng());
  if (*keylog) (*keylog)->Ekt(group);
  ekt::GroupTable groups;
  if (auto st = groups.Create(group); !st.ok()) {
    std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
    return 1;
  }

  const std::vector<Room> rooms = {{"room-A (3 screens)", 3}, {"room-B (3 screens)", 3},
                                   {"room-C (1 screen)", 1}, {"room-D (1 screen)", 1}};
  std::vector<Stream> streams;
  std::vector<StreamConfig> cfgs;
  for (int r = 0; r < static_cast<int>(rooms.size()); ++r) {
    for (int kind = 0; kind < 2; ++kind) {
      for (uint8_t pos = 1; pos <= rooms[r].screens; ++pos) {
        Stream s{r, kind == 1, pos, 0x10000u * (r + 1) + 0x100u * kind + pos,
                 static_cast<uint16_t>(rng()), nullptr, nullptr};
        auto tx = ekt::EktSender::Create(group, s.ssrc, s.video);
        if (!tx.ok()) {
          std::fprintf(stderr, "%s\n", std::string(tx.status().message()).c_str());
          return 1;
        }
        s.tx = std::move(*tx);
        if (*keylog) (*keylog)->Srtp(s.ssrc, s.tx->master(), SrtpProfile::kAesCm128HmacSha1_80);
        s.conventional = std::make_unique<SrtpCryptoContext>(
            *SrtpCryptoContext::Create(oracle::RandomMasterKey(rng), SrtpProfile::kAesCm128HmacSha1_80));
        StreamConfig c;
        c.local_port = kPort;
        c.ssrc = s.ssrc;
        c.trailer = rfc8870 ? TrailerFormat::kEktRfc8870 : TrailerFormat::kEktInTag;
        c.ekt_spi = group.spi;
        c.rt_slot = static_cast<uint32_t>(cfgs.size());
        c.trailing = s.video ? TrailingByte::kVideoRefresh : TrailingByte::kAudioActivity;
        for (int to = 0; to < static_cast<int>(rooms.size()); ++to) {
          if (to == r) continue;  // a room never gets its own media back
          // Same position on a three-screen room, the center on a one-screen room.
          const uint8_t sink = rooms[to].screens == 3 ? pos : 1;
          c.routes.push_back({static_cast<uint32_t>(to), CsrcRewrite{sink, std::nullopt}});
        }
        cfgs.push_back(c);
        streams.push_back(std::move(s));
      }
    }
  }
  auto snap = Snapshot::Build(cfgs, {&group, 1});
  if (!snap.ok()) {
    std::fprintf(stderr, "cannot build the meeting: %s\n", std::string(snap.status().message()).c_str());
    return 1;
  }
  WorkerState worker(static_cast<uint32_t>(cfgs.size()), MakeBestMacKernel());

  // Receivers: each room knows only the KEK; per sender it learns the key from EKT and keeps one
  // libsrtp2 context, re-keyed (ROC kept) when the sender changes its key.
  std::vector<std::unique_ptr<ekt::EktReceiver>> room_rx;
  for (size_t r = 0; r < rooms.size(); ++r) {
    room_rx.push_back(std::make_unique<ekt::EktReceiver>(groups, group.format));
  }
  std::map<std::pair<uint32_t, uint32_t>, std::unique_ptr<oracle::LibsrtpSession>> rx;
  std::map<std::pair<uint32_t, uint32_t>, MasterKey> rx_key;
  std::map<std::pair<uint32_t, uint16_t>, std::vector<uint8_t>> sent;  // (ssrc, seq) -> plaintext

  // Generate the meeting's traffic: audio 50 packets/s per microphone, video 30 frames/s of
  // 10 packets per camera (~1080p30 at ~3.5 Mbit/s), one IDR per second per camera.
  std::vector<std::vector<uint8_t>> traffic;
  std::vector<std::vector<uint8_t>> conventional;  // the same media as plain SRTP (comparison)
  std::vector<bool> is_attack;
  std::vector<std::vector<uint8_t>> recent;
  size_t attacks = 0, key_changes = 0;
  const int ticks = seconds * 150;  // 150 ticks per second
  for (int tick = 0; tick < ticks; ++tick) {
    for (size_t si = 0; si < streams.size(); ++si) {
      Stream& s = streams[si];
      // Every sender changes its key once, at a time of its own in the middle of the meeting.
      if (tick == ticks / 3 + static_cast<int>(si) * ticks / (3 * static_cast<int>(streams.size()))) {
        if (s.tx->ChangeKey().ok()) {
          ++key_changes;
          if (*keylog) (*keylog)->Srtp(s.ssrc, s.tx->master(), SrtpProfile::kAesCm128HmacSha1_80);
        }
      }
      const int per_tick = s.video ? 2 : (tick % 3 == 0 ? 1 : 0);
      for (int k = 0; k < per_tick; ++k) {
        oracle::RtpSpec spec;
        spec.ssrc = s.ssrc;
        spec.seq = s.seq++;
        spec.timestamp = tick * (s.video ? 600 : 320);
        spec.payload_type = s.video ? 112 : 102;
        spec.csrcs = {MuxCsrc(s.position, s.position)};
        spec.payload = oracle::RandomBytes(rng, s.video ? 1100 + rng() % 100 : 160);
        auto plain = oracle::BuildRtp(spec);
        sent[{s.ssrc, spec.seq}] = plain;
        // Activity: room A talks for the first third, then C, then B; others murmur.
        const int talker = tick * 3 / ticks;
        const int loud_room = talker == 0 ? 0 : talker == 1 ? 2 : 1;
        const bool frame_start = s.video && (tick % 5 == 0) && k == 0;
        const uint8_t byte = s.video ? ((tick % 150 == 0 && k == 0) ? 1 : 0)
                                     : static_cast<uint8_t>(s.room == loud_room ? 70 + rng() % 20 : rng() % 15);
        traffic.push_back(s.tx->Protect(plain, byte, frame_start || !s.video));
        is_attack.push_back(false);
        std::vector<uint8_t> conv = plain;
        conv.resize(plain.size() + 16);
        conv.resize(s.conventional->Protect(conv.data(), plain.size(), conv.size(), s.tx->roc()));
        conventional.push_back(std::move(conv));
        recent.push_back(traffic.back());
        if (recent.size() > 8) recent.erase(recent.begin());  // the attacker replays fresh packets
      }
    }
    if (tick % 10 == 5 && !recent.empty()) {  // an attacker on the path
      std::vector<uint8_t> a = recent[rng() % recent.size()];
      switch (attacks % 5) {
        case 0: a[20 + rng() % (a.size() - 40)] ^= 0x01; break;  // forged payload
        case 1: break;                                              // replay
        case 2: a.resize(a.size() - 1 - rng() % 12); break;         // truncated
        case 3: StoreBe32(&a[8], 0xBAD0000u + attacks); break;      // unknown SSRC
        case 4: a[a.size() - 12] ^= 0x5a; break;                    // tampered EKT field / tag
      }
      traffic.push_back(a);
      conventional.emplace_back();
      is_attack.push_back(true);
      ++attacks;
    }
  }

  // Switch it, burst by burst, timing only ProcessBurst.
  std::vector<std::vector<uint8_t>> out_store(burst * 3, std::vector<uint8_t>(kOutCap));
  std::vector<OutPacket> outs(out_store.size());
  std::vector<PacketRef> refs(burst);
  std::vector<std::vector<uint8_t>> emitted;
  std::vector<uint32_t> emitted_to;
  Clock::duration switch_time{};
  size_t attacks_passed = 0;
  for (size_t at = 0; at < traffic.size(); at += burst) {
    const size_t n = std::min<size_t>(burst, traffic.size() - at);
    for (size_t i = 0; i < n; ++i) {
      auto& p = traffic[at + i];
      const size_t len = p.size();
      p.resize(len + 4);  // receive buffers keep tailroom (in-tag EKT stages its ROC there)
      refs[i] = PacketRef{p.data(), static_cast<uint16_t>(len), static_cast<uint16_t>(len + 4),
                          kPort, Drop::kNone, reinterpret_cast<void*>(at + i)};
    }
    for (size_t i = 0; i < outs.size(); ++i) outs[i] = OutPacket{out_store[i].data(), kOutCap};
    const auto t0 = Clock::now();
    const BurstResult r = ProcessBurst(*snap, worker, {refs.data(), n}, outs);
    switch_time += Clock::now() - t0;
    for (uint16_t i = 0; i < r.accepted; ++i) {
      if (is_attack[reinterpret_cast<size_t>(refs[i].user)]) ++attacks_passed;
    }
    for (uint16_t i = 0; i < r.outputs; ++i) {
      emitted.emplace_back(outs[i].data, outs[i].data + outs[i].len);
      emitted_to.push_back(outs[i].egress);
    }
  }

  // Every receiving room learns keys from EKT with the KEK only, libsrtp2 decrypts with the
  // learned key, and the result is compared with what was sent.
  size_t decrypted = 0, mismatched = 0;
  std::map<uint32_t, size_t> per_room;
  for (size_t i = 0; i < emitted.size(); ++i) {
    const uint32_t room = emitted_to[i];
    auto got = room_rx[room]->Receive(emitted[i]);
    if (!got.ok()) {
      if (mismatched < 5) std::fprintf(stderr, "room %u: %s\n", room, std::string(got.status().message()).c_str());
      ++mismatched;
      continue;
    }
    const uint32_t ssrc = got->ssrc;
    const Stream* s = nullptr;
    for (const Stream& c : streams) if (c.ssrc == ssrc) s = &c;
    const std::pair<uint32_t, uint32_t> k{room, ssrc};
    auto& r = rx[k];
    if (!r) {
      r = oracle::LibsrtpSession::Receiver(got->master, SrtpProfile::kAesCm128HmacSha1_80);
    } else if (rx_key[k].key != got->master.key) {
      r->UpdateKey(got->master, SrtpProfile::kAesCm128HmacSha1_80, ssrc);
    }
    rx_key[k] = got->master;
    std::vector<uint8_t> pkt = got->srtp;
    if (s == nullptr || r->Unprotect(pkt) != srtp_err_status_ok) {
      if (mismatched < 5) std::fprintf(stderr, "room %u ssrc %x seq %u: libsrtp refuses (learned_now %d)\n", room, ssrc, LoadBe16(&pkt[2]), got->learned_now);
      ++mismatched;
      continue;
    }
    auto want = sent.at({ssrc, LoadBe16(&pkt[2])});
    const uint8_t sink = rooms[room].screens == 3 ? s->position : 1;
    StoreBe32(&want[12], MuxCsrc(s->position, sink));
    if (pkt != want) {
      ++mismatched;
      continue;
    }
    ++decrypted;
    ++per_room[room];
  }
  size_t expected = 0;
  for (size_t i = 0; i < traffic.size(); ++i) {
    if (!is_attack[i]) expected += rooms.size() - 1;
  }

  // The conventional alternative over the same media: verify + decrypt the sender's SRTP, then
  // re-encrypt for every receiving room with its own key (OpenSSL AES-CM + HMAC-SHA1).
  std::vector<std::unique_ptr<SrtpCryptoContext>> enc;
  for (size_t r = 0; r < rooms.size(); ++r) {
    enc.push_back(std::make_unique<SrtpCryptoContext>(*SrtpCryptoContext::Create(oracle::RandomMasterKey(rng), SrtpProfile::kAesCm128HmacSha1_80)));
  }
  std::vector<uint8_t> buf(kOutCap), obuf(kOutCap);
  std::vector<ReplayWindow> windows(streams.size());
  size_t conv_outputs = 0, conv_failures = 0;
  const auto c0 = Clock::now();
  for (size_t i = 0; i < traffic.size(); ++i) {
    if (is_attack[i]) continue;
    const auto& p = conventional[i];
    const uint32_t ssrc = LoadBe32(&p[8]);
    size_t si = 0;
    while (streams[si].ssrc != ssrc) ++si;
    std::memcpy(buf.data(), p.data(), p.size());
    const uint64_t index = windows[si].EstimateSrtpIndex(LoadBe16(&p[2]));
    const uint32_t roc = static_cast<uint32_t>(index >> 16);
    const size_t n = streams[si].conventional->Unprotect(buf.data(), p.size(), roc);
    if (n == 0) {
      ++conv_failures;
      continue;
    }
    windows[si].Update(index);
    for (size_t r = 0; r < rooms.size(); ++r) {
      if (static_cast<int>(r) == streams[si].room) continue;
      std::memcpy(obuf.data(), buf.data(), n);
      conv_outputs += enc[r]->Protect(obuf.data(), n, kOutCap, roc) != 0;
    }
  }
  const auto conv_time = Clock::now() - c0;

  const WorkerCounters& c = worker.counters();
  auto ns = [](Clock::duration d) { return std::chrono::duration<double, std::nano>(d).count(); };
  const double switch_ns = ns(switch_time) / std::max<uint64_t>(1, c.outputs.Get());
  const double conv_ns = ns(conv_time) / std::max<size_t>(1, conv_outputs);

  std::printf("mpswitch core demonstration: one secure meeting, %d s of media, bursts of %d\n", seconds, burst);
  std::printf("  rooms: ");
  for (const Room& r : rooms) std::printf("%s  ", r.name.c_str());
  std::printf("\n  streams: %zu, AES_CM_128_HMAC_SHA1_80, every sender its own master key, announced with\n"
              "           EKT %s (%s) under the meeting KEK; %zu key changes mid-meeting\n",
              streams.size(), std::string(ekt::EktFormatName(group.format)).c_str(),
              std::string(ekt::EktCipherName(group.cipher)).c_str(), key_changes);
  if (*keylog) std::printf("  key log: %s (debug only)\n", (*keylog)->path().c_str());
  std::printf("  MAC kernel: %s\n\n", std::string(worker.kernel().Name()).c_str());
  std::printf("  packets in          %10llu  (of which %zu injected attacks)\n", (unsigned long long)c.rx_packets.Get(), attacks);
  std::printf("  accepted            %10llu\n", (unsigned long long)c.accepted.Get());
  std::printf("  outputs             %10llu\n", (unsigned long long)c.outputs.Get());
  std::printf("  re-tags computed    %10llu  (+%llu verifications)\n", (unsigned long long)c.tags_computed.Get(), (unsigned long long)c.verify_macs.Get());
  std::printf("  keys learned (EKT)  %10llu  by the switch, after verifying; %llu unwrap attempts\n", (unsigned long long)c.ekt_keys_learned.Get(), (unsigned long long)c.ekt_unwraps.Get());
  std::printf("  drops by reason:\n");
  for (size_t d = 1; d < kDropCount; ++d) {
    if (c.drops[d].Get() == 0) continue;
    std::printf("    %-20s %8llu  %s\n", std::string(kDropInfo[d].name).c_str(), (unsigned long long)c.drops[d].Get(), std::string(kDropInfo[d].help).c_str());
  }
  std::printf("\n  per room, packets decrypted by libsrtp2 with keys the room learned from EKT:\n");
  for (size_t r = 0; r < rooms.size(); ++r) std::printf("    %-20s %8zu\n", rooms[r].name.c_str(), per_room[r]);
  std::printf("\n  cost per output packet, measured side by side in this run:\n");
  std::printf("    switch (verify once, strip, rewrite CSRC, re-tag)   %8.0f ns\n", switch_ns);
  std::printf("    decrypt + re-encrypt per receiver (OpenSSL AES-CM)  %8.0f ns\n", conv_ns);
  std::printf("    ratio switch / re-encrypt                           %8.2f\n\n", switch_ns / conv_ns);

  const bool ok = decrypted == expected && mismatched == 0 && attacks_passed == 0 &&
                  conv_failures == 0 && conv_outputs == expected &&
                  c.ekt_keys_learned.Get() == streams.size() + key_changes;
  if (ok) {
    std::printf("RESULT: PASS - every receiver decrypted all %zu packets it should have; all %zu attacks dropped\n", decrypted, attacks);
  } else {
    std::printf("RESULT: FAIL - decrypted %zu of %zu expected, %zu mismatched, %zu attacks accepted\n", decrypted, expected, mismatched, attacks_passed);
  }
  return ok ? 0 : 1;
}
