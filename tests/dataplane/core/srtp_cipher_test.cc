#include "mpswitch/dataplane/core/srtp_cipher.h"

#include <gtest/gtest.h>

#include <random>

#include "mpswitch/oracle/libsrtp_oracle.h"

namespace mpswitch::dataplane {
namespace {

// The conventional path (and benchmark baseline) must interoperate with libsrtp2 both ways.
TEST(SrtpCryptoContextTest, InteroperatesWithLibsrtp) {
  std::mt19937_64 rng(3);
  for (SrtpProfile profile : {SrtpProfile::kAesCm128HmacSha1_80, SrtpProfile::kAesCm128HmacSha1_32}) {
    const MasterKey key = oracle::RandomMasterKey(rng);
    auto ours = SrtpCryptoContext::Create(key, profile);
    ASSERT_TRUE(ours.ok()) << ours.status();
    auto lib_tx = oracle::LibsrtpSession::Sender(key, profile, 0x5eed);
    auto lib_rx = oracle::LibsrtpSession::Receiver(key, profile);
    for (int i = 0; i < 200; ++i) {
      oracle::RtpSpec s;
      s.ssrc = 0x5eed;
      s.seq = static_cast<uint16_t>(65400 + i);  // crosses a ROC wrap
      const uint32_t roc = (65400 + i) >> 16;
      s.csrcs = {0x10 + static_cast<uint32_t>(i)};
      s.payload = oracle::RandomBytes(rng, 1 + rng() % 1300);
      const auto plain = oracle::BuildRtp(s);

      // ours -> libsrtp2
      std::vector<uint8_t> a = plain;
      a.resize(plain.size() + 16);
      const size_t n = ours->Protect(a.data(), plain.size(), a.size(), roc);
      ASSERT_EQ(n, plain.size() + ours->tag_len());
      a.resize(n);
      ASSERT_EQ(lib_rx->Unprotect(a), srtp_err_status_ok) << i;
      EXPECT_EQ(a, plain);

      // libsrtp2 -> ours
      std::vector<uint8_t> b = plain;
      ASSERT_EQ(lib_tx->Protect(b), srtp_err_status_ok);
      ASSERT_EQ(ours->Unprotect(b.data(), b.size(), roc), plain.size());
      b.resize(plain.size());
      EXPECT_EQ(b, plain);
    }
  }
}

TEST(SrtpCryptoContextTest, RejectsForgeryWithoutDecrypting) {
  std::mt19937_64 rng(4);
  const MasterKey key = oracle::RandomMasterKey(rng);
  auto ours = SrtpCryptoContext::Create(key, SrtpProfile::kAesCm128HmacSha1_80);
  ASSERT_TRUE(ours.ok());
  auto tx = oracle::LibsrtpSession::Sender(key, SrtpProfile::kAesCm128HmacSha1_80, 9);
  oracle::RtpSpec s;
  s.ssrc = 9;
  s.payload = oracle::RandomBytes(rng, 100);
  auto p = oracle::BuildRtp(s);
  ASSERT_EQ(tx->Protect(p), srtp_err_status_ok);
  p[20] ^= 1;
  const auto before = p;
  EXPECT_EQ(ours->Unprotect(p.data(), p.size(), 0), 0u);
  EXPECT_EQ(p, before);
  EXPECT_EQ(ours->Unprotect(p.data(), 11, 0), 0u);  // shorter than header + tag
}

}  // namespace
}  // namespace mpswitch::dataplane
