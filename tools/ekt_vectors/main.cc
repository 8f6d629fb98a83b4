// Writes tests/data/ekt_vectors.json (PROTOCOLS.md §12): EKT packets as a sender emits them and
// what the switch must emit for a given CSRC rewrite and byte strip. Every key is fixed, so the
// file is reproducible: mpswitch-ekt-vectors > tests/data/ekt_vectors.json
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/dataplane/core/pipeline.h"
#include "mpswitch/ekt/endpoint.h"
#include "mpswitch/oracle/libsrtp_oracle.h"

using namespace mpswitch;

namespace {

std::string Hex(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += absl::StrFormat("%02x", p[i]);
  return s;
}
template <typename C>
std::string Hex(const C& c) {
  return Hex(c.data(), c.size());
}

struct Case {
  std::string name;
  ekt::EktFormat format;
  ekt::EktCipher cipher;
  bool tag_32;
  uint16_t first_seq;    // the priming packet's SEQ (the vector packet follows)
  bool short_form;       // the vector packet is short (a long priming packet precedes it)
  bool key_change;       // the vector packet announces a second key
  uint8_t sink;          // CSRC rewrite
  bool strip;
};

}  // namespace

int main() {
  const std::vector<Case> cases = {
      {"intag-ecb-80-long", ekt::EktFormat::kInTag, ekt::EktCipher::kAes128Ecb, false, 1000, false, false, 2, true},
      {"intag-ecb-80-short", ekt::EktFormat::kInTag, ekt::EktCipher::kAes128Ecb, false, 1000, true, false, 3, true},
      {"intag-ecb-32-long", ekt::EktFormat::kInTag, ekt::EktCipher::kAes128Ecb, true, 2000, false, false, 1, true},
      {"intag-ecb-32-short", ekt::EktFormat::kInTag, ekt::EktCipher::kAes128Ecb, true, 2000, true, false, 1, false},
      {"intag-kw-80-long", ekt::EktFormat::kInTag, ekt::EktCipher::kAesKw128, false, 3000, false, false, 2, true},
      {"intag-kw-80-short", ekt::EktFormat::kInTag, ekt::EktCipher::kAesKw128, false, 3000, true, false, 2, false},
      {"intag-kw-32-long", ekt::EktFormat::kInTag, ekt::EktCipher::kAesKw128, true, 4000, false, false, 3, true},
      {"intag-ecb-80-roc-wrap", ekt::EktFormat::kInTag, ekt::EktCipher::kAes128Ecb, false, 65535, false, false, 1, true},
      {"intag-kw-80-key-change", ekt::EktFormat::kInTag, ekt::EktCipher::kAesKw128, false, 5000, false, true, 2, true},
      {"rfc8870-kwp128-80-full", ekt::EktFormat::kRfc8870, ekt::EktCipher::kAesKwp128, false, 6000, false, false, 2, true},
      {"rfc8870-kwp128-80-short", ekt::EktFormat::kRfc8870, ekt::EktCipher::kAesKwp128, false, 6000, true, false, 3, true},
      {"rfc8870-kwp256-80-full", ekt::EktFormat::kRfc8870, ekt::EktCipher::kAesKwp256, false, 7000, false, false, 1, false},
      {"rfc8870-kwp128-32-key-change", ekt::EktFormat::kRfc8870, ekt::EktCipher::kAesKwp128, true, 65534, false, true, 2, true},
  };
  std::printf("[\n");
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    ekt::GroupParams g;
    g.spi = static_cast<uint16_t>(0x100 + ci);
    g.format = c.format;
    g.cipher = c.cipher;
    g.tag_32 = c.tag_32;
    g.kek.resize(c.cipher == ekt::EktCipher::kAesKwp256 ? 32 : 16);
    for (size_t i = 0; i < g.kek.size(); ++i) g.kek[i] = static_cast<uint8_t>(0x40 + i + ci);
    for (size_t i = 0; i < g.salt.size(); ++i) g.salt[i] = static_cast<uint8_t>(0xa0 + i + ci);
    dataplane::MasterKey k1, k2;
    for (size_t i = 0; i < 16; ++i) {
      k1.key[i] = static_cast<uint8_t>(0x10 * (ci % 7) + i);
      k2.key[i] = static_cast<uint8_t>(0xf0 - i - ci);
    }
    const uint32_t ssrc = 0xCAFE0000u + static_cast<uint32_t>(ci);
    auto sender = std::move(*ekt::EktSender::Create(g, ssrc, /*video=*/false, k1));
    auto make = [&](uint16_t seq, uint8_t byte) {
      oracle::RtpSpec r;
      r.ssrc = ssrc;
      r.seq = seq;
      r.timestamp = 160u * seq;
      r.csrcs = {(0x2468Au << 12) | 0x11};
      r.payload.resize(24);
      for (size_t i = 0; i < r.payload.size(); ++i) r.payload[i] = static_cast<uint8_t>(i * 3 + seq);
      return oracle::BuildRtp(r);
    };
    // Priming packet (always long: the first three packets of a sender are), then the vector's.
    const uint16_t seq0 = c.first_seq;
    const std::optional<uint8_t> byte = c.strip ? std::optional<uint8_t>{40} : std::nullopt;
    auto prime = sender->Protect(make(seq0, 40), byte, false);
    if (c.short_form) {
      // Packets 2 and 3 are long as well; the fifth is the first short one for audio.
      for (int i = 1; i < 4; ++i) sender->Protect(make(static_cast<uint16_t>(seq0 + i), 40), byte, false);
    }
    if (c.key_change) (void)sender->ChangeKey(k2);
    const uint16_t seq = static_cast<uint16_t>(seq0 + (c.short_form ? 4 : 1));
    auto in = sender->Protect(make(seq, 55), c.strip ? std::optional<uint8_t>{55} : std::nullopt, false);

    // What the switch emits: a fresh switch learns the key from the priming packet.
    dataplane::StreamConfig cfg;
    cfg.local_port = 16384;
    cfg.ssrc = ssrc;
    cfg.profile = c.tag_32 ? dataplane::SrtpProfile::kAesCm128HmacSha1_32 : dataplane::SrtpProfile::kAesCm128HmacSha1_80;
    cfg.trailer = c.format == ekt::EktFormat::kInTag ? dataplane::TrailerFormat::kEktInTag : dataplane::TrailerFormat::kEktRfc8870;
    cfg.trailing = c.strip ? dataplane::TrailingByte::kAudioActivity : dataplane::TrailingByte::kNone;
    cfg.ekt_spi = g.spi;
    cfg.routes = {{1, dataplane::CsrcRewrite{c.sink, std::nullopt}}};
    auto snap = std::move(*dataplane::Snapshot::Build({&cfg, 1}, {&g, 1}));
    dataplane::WorkerState w(1, dataplane::MakeScalarMacKernel());
    std::vector<uint8_t> out_packet;
    for (auto* pkt : {&prime, &in}) {
      std::vector<uint8_t> buf = *pkt;
      buf.resize(buf.size() + 4);
      dataplane::PacketRef ref{buf.data(), static_cast<uint16_t>(pkt->size()), static_cast<uint16_t>(buf.size()), 16384};
      std::vector<uint8_t> store(2048);
      dataplane::OutPacket o{store.data(), 2048};
      auto r = dataplane::ProcessBurst(snap, w, {&ref, 1}, {&o, 1});
      if (r.accepted != 1) {
        std::fprintf(stderr, "%s: switch dropped a packet: %s\n", c.name.c_str(), std::string(dataplane::DropName(ref.drop)).c_str());
        return 1;
      }
      out_packet.assign(o.data, o.data + o.len);
    }
    const auto& key = c.key_change ? k2 : k1;
    const uint32_t roc = sender->roc();
    std::printf("  {\"name\": \"%s\", \"format\": \"%s\", \"spi\": %d, \"kek\": \"%s\", \"ekt_cipher\": \"%s\",\n",
                c.name.c_str(), std::string(ekt::EktFormatName(c.format)).c_str(), g.spi, Hex(g.kek).c_str(),
                std::string(ekt::EktCipherName(c.cipher)).c_str());
    std::printf("   \"master_salt\": \"%s\", \"profile\": \"%s\", \"master_key\": \"%s\", \"ssrc\": %u, \"roc\": %u,\n",
                Hex(g.salt).c_str(), std::string(dataplane::ProfileName(cfg.profile)).c_str(), Hex(key.key).c_str(), ssrc, roc);
    if (c.format == ekt::EktFormat::kInTag) {
      std::printf("   \"isn\": %d,\n", c.key_change ? seq : seq0);
    } else {
      std::printf("   \"epoch\": %d,\n", sender->epoch());
    }
    std::printf("   \"prime_in\": \"%s\",\n", Hex(prime).c_str());
    std::printf("   \"packet_in\": \"%s\",\n", Hex(in).c_str());
    const uint32_t csrc_out = ((0x2468Au << 12) | 0x11) & ~0xfu | c.sink;
    std::printf("   \"csrc_out\": %u, \"strip_trailing_byte\": %s,\n", csrc_out, c.strip ? "true" : "false");
    std::printf("   \"packet_out\": \"%s\"}%s\n", Hex(out_packet).c_str(), ci + 1 < cases.size() ? "," : "");
  }
  std::printf("]\n");
  return 0;
}
