// Checks the implementation against tests/data/ekt_vectors.json (PROTOCOLS.md §12): a KEK-only
// receiver learns exactly the vector's master key from packet_in, the switch turns packet_in into
// packet_out for the given CSRC rewrite and byte strip, and libsrtp2 decrypts both with the key.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "../support/hex.h"
#include "../support/json_lite.h"
#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/dataplane/core/pipeline.h"
#include "mpswitch/ekt/endpoint.h"
#include "mpswitch/oracle/libsrtp_oracle.h"

namespace mpswitch::ekt {
namespace {

using testing::FromHex;
using testing::JsonObject;

std::vector<JsonObject> LoadVectors() {
  std::ifstream f(std::string(MPSWITCH_TEST_DATA_DIR) + "/ekt_vectors.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return testing::ParseJsonArray(ss.str());
}

EktCipher CipherOf(const std::string& n) {
  if (n == "AES_128_ECB") return EktCipher::kAes128Ecb;
  if (n == "AESKW_128") return EktCipher::kAesKw128;
  if (n == "AESKWP_128") return EktCipher::kAesKwp128;
  if (n == "AESKWP_256") return EktCipher::kAesKwp256;
  throw std::runtime_error("unknown ekt_cipher " + n);
}

TEST(EktVectorsTest, FileHasTheRequiredCoverage) {
  const auto v = LoadVectors();
  int in_tag = 0, rfc = 0;
  bool long80 = false, short80 = false, long32 = false, ecb = false, kw = false;
  for (const auto& o : v) {
    for (const char* k : {"format", "spi", "kek", "ekt_cipher", "master_salt", "profile", "master_key",
                          "ssrc", "roc", "packet_in", "csrc_out", "strip_trailing_byte", "packet_out"}) {
      ASSERT_TRUE(o.count(k)) << o.at("name") << " lacks " << k;
    }
    if (o.at("format") == "intag") {
      ++in_tag;
      ASSERT_TRUE(o.count("isn"));
      const auto in = FromHex(o.at("packet_in"));
      const bool is_long = in.back() & 1;
      const bool t80 = o.at("profile") == "AES_CM_128_HMAC_SHA1_80";
      long80 |= is_long && t80;
      short80 |= !is_long && t80;
      long32 |= is_long && !t80;
      ecb |= o.at("ekt_cipher") == "AES_128_ECB";
      kw |= o.at("ekt_cipher") == "AESKW_128";
    } else {
      ++rfc;
      ASSERT_TRUE(o.count("epoch"));
    }
  }
  EXPECT_GE(in_tag, 8);
  EXPECT_GE(rfc, 4);
  EXPECT_TRUE(long80 && short80 && long32 && ecb && kw);
}

TEST(EktVectorsTest, ImplementationMatchesEveryVector) {
  for (const auto& o : LoadVectors()) {
    SCOPED_TRACE(o.at("name"));
    GroupParams g;
    g.spi = static_cast<uint16_t>(std::stoi(o.at("spi")));
    g.format = o.at("format") == "intag" ? EktFormat::kInTag : EktFormat::kRfc8870;
    g.cipher = CipherOf(o.at("ekt_cipher"));
    g.tag_32 = o.at("profile") == "AES_CM_128_HMAC_SHA1_32";
    { const auto k = FromHex(o.at("kek")); g.kek.assign(k.begin(), k.end()); }
    auto salt = FromHex(o.at("master_salt"));
    std::copy(salt.begin(), salt.end(), g.salt.begin());
    const uint32_t ssrc = static_cast<uint32_t>(std::stoul(o.at("ssrc")));
    const bool strip = o.at("strip_trailing_byte") == "true";
    const auto prime = FromHex(o.at("prime_in"));
    const auto in = FromHex(o.at("packet_in"));
    const auto want_out = FromHex(o.at("packet_out"));
    dataplane::MasterKey master;
    auto mk = FromHex(o.at("master_key"));
    std::copy(mk.begin(), mk.end(), master.key.begin());
    master.salt = g.salt;
    const auto profile = g.tag_32 ? dataplane::SrtpProfile::kAesCm128HmacSha1_32
                                  : dataplane::SrtpProfile::kAesCm128HmacSha1_80;

    // A receiver with only the KEK learns the vector's key from the packets.
    GroupTable table;
    ASSERT_TRUE(table.Create(g).ok());
    EktReceiver rx(table, g.format, g.tag_32);
    ASSERT_TRUE(rx.Receive(prime).ok());
    auto got = rx.Receive(in);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->master.key, master.key);

    // The switch's output, byte for byte.
    dataplane::StreamConfig cfg;
    cfg.local_port = 16384;
    cfg.ssrc = ssrc;
    cfg.profile = profile;
    cfg.trailer = g.format == EktFormat::kInTag ? dataplane::TrailerFormat::kEktInTag
                                                : dataplane::TrailerFormat::kEktRfc8870;
    cfg.ekt_spi = g.spi;
    cfg.trailing = strip ? dataplane::TrailingByte::kAudioActivity : dataplane::TrailingByte::kNone;
    const uint32_t csrc_out = static_cast<uint32_t>(std::stoul(o.at("csrc_out")));
    cfg.routes = {{1, dataplane::CsrcRewrite{static_cast<uint8_t>(csrc_out & 0xf), std::nullopt}}};
    auto snap = dataplane::Snapshot::Build({&cfg, 1}, {&g, 1});
    ASSERT_TRUE(snap.ok()) << snap.status();
    dataplane::WorkerState w(1, dataplane::MakeBestMacKernel());
    std::vector<uint8_t> out, prime_out;
    for (const auto* p : {&prime, &in}) {
      std::vector<uint8_t> buf = *p;
      buf.resize(buf.size() + 4);
      dataplane::PacketRef ref{buf.data(), static_cast<uint16_t>(p->size()),
                               static_cast<uint16_t>(buf.size()), 16384};
      std::vector<uint8_t> store(2048);
      dataplane::OutPacket op{store.data(), 2048};
      auto r = dataplane::ProcessBurst(*snap, w, {&ref, 1}, {&op, 1});
      ASSERT_EQ(r.accepted, 1) << dataplane::DropName(ref.drop);
      out.assign(op.data, op.data + op.len);
      if (p == &prime) prime_out = out;
    }
    EXPECT_EQ(testing::ToHex(out), testing::ToHex(want_out));
    EXPECT_EQ(out.size(), in.size() - (strip ? 1 : 0));
    EXPECT_EQ(dataplane::LoadBe32(&out[12]), csrc_out);

    // libsrtp2 decrypts the switch's output with the vector's key.
    EktReceiver rx2(table, g.format, g.tag_32);
    auto primed = rx2.Receive(prime_out);
    ASSERT_TRUE(primed.ok()) << primed.status();
    auto plain = rx2.Receive(out);
    ASSERT_TRUE(plain.ok()) << plain.status();
    auto lib = oracle::LibsrtpSession::Receiver(primed->master, profile);
    std::vector<uint8_t> first = primed->srtp;  // places libsrtp2's ROC (the ROC-wrap vector)
    ASSERT_EQ(lib->Unprotect(first), srtp_err_status_ok);
    if (!(primed->master.key == master.key)) {
      ASSERT_EQ(lib->UpdateKey(master, profile, ssrc), srtp_err_status_ok);  // key-change vector
    }
    std::vector<uint8_t> srtp = plain->srtp;
    EXPECT_EQ(lib->Unprotect(srtp), srtp_err_status_ok);
  }
}

}  // namespace
}  // namespace mpswitch::ekt
