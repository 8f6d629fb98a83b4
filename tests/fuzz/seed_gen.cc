// Writes the seed corpora of the fuzz targets: real packets protected by libsrtp2 with the fuzz
// streams' keys (so seeds reach verification and beyond), unsigned packets for the signing mode,
// and the non-media first bytes a shared port sees. Usage: fuzz_seed_gen CORPUS_DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "fuzz_keys.h"
#include "mpswitch/ekt/endpoint.h"
#include "mpswitch/oracle/libsrtp_oracle.h"

namespace fs = std::filesystem;
using namespace mpswitch;

namespace {

void Write(const fs::path& dir, const std::string& name, const std::vector<uint8_t>& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The pipeline target's framing: flags, then [len16 bytes]...
std::vector<uint8_t> Frame(uint8_t flags, const std::vector<std::vector<uint8_t>>& pkts) {
  std::vector<uint8_t> out{flags};
  for (const auto& p : pkts) {
    out.push_back(static_cast<uint8_t>(p.size() >> 8));
    out.push_back(static_cast<uint8_t>(p.size()));
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  std::mt19937_64 rng(2026);
  using dataplane::SrtpProfile;
  struct S {
    uint32_t ssrc;
    SrtpProfile profile;
    bool trailing;
  } streams[] = {{1, SrtpProfile::kAesCm128HmacSha1_80, true},
                 {2, SrtpProfile::kAesCm128HmacSha1_32, true},
                 {3, SrtpProfile::kAesCm128HmacSha1_80, false}};
  std::vector<std::vector<uint8_t>> all;
  for (const S& s : streams) {
    auto tx = oracle::LibsrtpSession::Sender(fuzz::KeyFor(s.ssrc), s.profile, s.ssrc, true);
    std::vector<std::vector<uint8_t>> pkts;
    for (int i = 0; i < 6; ++i) {
      oracle::RtpSpec r;
      r.ssrc = s.ssrc;
      r.seq = static_cast<uint16_t>(65533 + i);  // crosses a ROC wrap
      r.csrcs = {(0x12345u << 12) | 0x21};
      if (i % 2) r.extension = std::vector<uint8_t>{0x10, 0xff};
      r.payload = oracle::RandomBytes(rng, 20 + 60 * i);
      auto plain = oracle::BuildRtp(r);
      auto p = s.trailing ? oracle::ProtectWithTrailingByte(*tx, plain, static_cast<uint8_t>(i))
                          : (tx->Protect(plain), plain);
      pkts.push_back(p);
      all.push_back(p);
    }
    Write(root / "pipeline_fuzz", "srtp_ssrc" + std::to_string(s.ssrc), Frame(0, pkts));
    // Unsigned copies for the signing mode (the harness fixes the tag).
    Write(root / "pipeline_fuzz", "signed_ssrc" + std::to_string(s.ssrc), Frame(1, pkts));
    Write(root / "packet_fuzz", "rtp_ssrc" + std::to_string(s.ssrc), pkts.back());
  }
  auto tx = oracle::LibsrtpSession::Sender(fuzz::KeyFor(1), SrtpProfile::kAesCm128HmacSha1_80, 1);
  std::vector<std::vector<uint8_t>> rtcp;
  for (int i = 0; i < 3; ++i) {
    auto sr = oracle::BuildRtcpSenderReport(1, 100 + i, i);
    tx->ProtectRtcp(sr);
    rtcp.push_back(sr);
  }
  Write(root / "pipeline_fuzz", "srtcp_sr", Frame(0, rtcp));
  Write(root / "packet_fuzz", "rtcp_sr", rtcp[0]);
  // What else arrives on a media port: DTLS ClientHello start, STUN binding request, a replay.
  const std::vector<uint8_t> dtls = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 1};
  const std::vector<uint8_t> stun = {0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                     10, 11, 12};
  Write(root / "pipeline_fuzz", "mixed", Frame(0, {dtls, all[0], stun, all[0], all[7], {}, {0x80}}));
  Write(root / "packet_fuzz", "dtls", dtls);
  Write(root / "packet_fuzz", "stun", stun);
  // EKT streams (SSRC 4: in-tag ECB, 5: in-tag key wrap with 32-bit tags, 6: RFC 8870), with a key
  // change, as the pipeline target's EKT groups expect. Flag bit 1 gives packets tailroom.
  const auto groups = fuzz::FuzzGroups();
  for (uint32_t ssrc = 4; ssrc <= 6; ++ssrc) {
    auto sender = std::move(*ekt::EktSender::Create(groups[ssrc - 4], ssrc, ssrc == 6));
    std::vector<std::vector<uint8_t>> pkts;
    for (int i = 0; i < 8; ++i) {
      if (i == 5) (void)sender->ChangeKey();
      oracle::RtpSpec r;
      r.ssrc = ssrc;
      r.seq = static_cast<uint16_t>(100 + i);
      r.csrcs = {0x11};
      r.payload = oracle::RandomBytes(rng, 30 + 10 * i);
      const bool byte = ssrc != 5;
      pkts.push_back(sender->Protect(oracle::BuildRtp(r), byte ? std::optional<uint8_t>(i) : std::nullopt, i % 3 == 0));
    }
    Write(root / "pipeline_fuzz", "ekt_ssrc" + std::to_string(ssrc), Frame(2, pkts));
    Write(root / "ekt_fuzz", "ekt_ssrc" + std::to_string(ssrc) + "_long", pkts[0]);
    Write(root / "ekt_fuzz", "ekt_ssrc" + std::to_string(ssrc) + "_short", pkts[4]);
  }
  std::printf("seeds written under %s\n", root.c_str());
  return 0;
}
