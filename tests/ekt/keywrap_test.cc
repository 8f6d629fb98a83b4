#include "mpswitch/ekt/keywrap.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>
#include <vector>

#include "../support/hex.h"

namespace mpswitch::ekt {
namespace {

using testing::FromHex;
using testing::ToHex;

KeyWrapper Wrapper(std::string_view kek_hex) {
  auto w = KeyWrapper::Create(FromHex(kek_hex));
  EXPECT_TRUE(w.ok()) << w.status();
  return std::move(*w);
}

// RFC 3394 §4.1 and §4.6.
TEST(KeyWrapTest, Rfc3394Vectors) {
  auto w = Wrapper("000102030405060708090A0B0C0D0E0F");
  auto key = FromHex("00112233445566778899AABBCCDDEEFF");
  std::vector<uint8_t> out(24);
  ASSERT_TRUE(w.Wrap(key, out));
  EXPECT_EQ(ToHex(out), "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5");
  std::vector<uint8_t> back(16);
  ASSERT_TRUE(w.Unwrap(out, back));
  EXPECT_EQ(back, key);

  auto w256 = Wrapper("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
  auto key256 = FromHex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
  std::vector<uint8_t> out256(40);
  ASSERT_TRUE(w256.Wrap(key256, out256));
  EXPECT_EQ(ToHex(out256),
            "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21");
}

// RFC 5649 §6 (both with the 192-bit KEK).
TEST(KeyWrapTest, Rfc5649Vectors) {
  auto w = Wrapper("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
  std::vector<uint8_t> out(64), back(64);
  auto p20 = FromHex("c37b7e6492584340bed12207808941155068f738");
  ASSERT_EQ(w.WrapPad(p20, out), 32u);
  EXPECT_EQ(ToHex(std::vector<uint8_t>(out.begin(), out.begin() + 32)),
            "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a");
  ASSERT_EQ(w.UnwrapPad({out.data(), 32}, back), 20u);
  EXPECT_EQ(std::vector<uint8_t>(back.begin(), back.begin() + 20), p20);

  auto p7 = FromHex("466f7250617369");
  ASSERT_EQ(w.WrapPad(p7, out), 16u);
  EXPECT_EQ(ToHex(std::vector<uint8_t>(out.begin(), out.begin() + 16)), "afbeb0f07dfbf5419200f2ccb50bb24f");
  ASSERT_EQ(w.UnwrapPad({out.data(), 16}, back), 7u);
}

TEST(KeyWrapTest, TamperingIsDetected) {
  auto w = Wrapper("000102030405060708090A0B0C0D0E0F");
  auto key = FromHex("00112233445566778899AABBCCDDEEFF");
  std::vector<uint8_t> out(24), back(16);
  ASSERT_TRUE(w.Wrap(key, out));
  for (size_t i = 0; i < out.size(); ++i) {
    auto bad = out;
    bad[i] ^= 0x10;
    EXPECT_FALSE(w.Unwrap(bad, back)) << i;
    EXPECT_EQ(back, std::vector<uint8_t>(16, 0)) << "a failed unwrap leaves no key material";
  }
  std::vector<uint8_t> padded(64), pb(64);
  const size_t n = w.WrapPad(key, padded);
  for (size_t i = 0; i < n; ++i) {
    auto bad = std::vector<uint8_t>(padded.begin(), padded.begin() + n);
    bad[i] ^= 1;
    EXPECT_EQ(w.UnwrapPad(bad, pb), 0u) << i;
  }
  EXPECT_FALSE(w.Unwrap({out.data(), 23}, back));
  EXPECT_EQ(w.UnwrapPad({out.data(), 8}, pb), 0u);
  EXPECT_FALSE(KeyWrapper::Create(std::vector<uint8_t>(15)).ok());
}

// Against OpenSSL's own wrap ciphers (an implementation we did not write), random keys and sizes.
TEST(KeyWrapTest, MatchesOpenSslWrapCiphers) {
  std::mt19937_64 rng(11);
  EVP_CIPHER* kw = EVP_CIPHER_fetch(nullptr, "AES-128-WRAP", nullptr);
  EVP_CIPHER* kwp = EVP_CIPHER_fetch(nullptr, "AES-128-WRAP-PAD", nullptr);
  ASSERT_NE(kw, nullptr);
  ASSERT_NE(kwp, nullptr);
  for (int round = 0; round < 200; ++round) {
    std::vector<uint8_t> kek(16), plain(1 + rng() % 40);
    for (auto& b : kek) b = static_cast<uint8_t>(rng());
    for (auto& b : plain) b = static_cast<uint8_t>(rng());
    auto w = KeyWrapper::Create(kek);
    ASSERT_TRUE(w.ok());
    auto ossl = [&](EVP_CIPHER* c, const std::vector<uint8_t>& in) {
      EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
      std::vector<uint8_t> out(in.size() + 16);
      int n = 0, f = 0;
      EXPECT_EQ(EVP_EncryptInit_ex2(ctx, c, kek.data(), nullptr, nullptr), 1);
      EXPECT_EQ(EVP_EncryptUpdate(ctx, out.data(), &n, in.data(), static_cast<int>(in.size())), 1);
      EXPECT_EQ(EVP_EncryptFinal_ex(ctx, out.data() + n, &f), 1);
      EVP_CIPHER_CTX_free(ctx);
      out.resize(n + f);
      return out;
    };
    std::vector<uint8_t> mine(64);
    const size_t n = w->WrapPad(plain, mine);
    mine.resize(n);
    EXPECT_EQ(mine, ossl(kwp, plain)) << "KWP, " << plain.size() << " bytes";
    if (plain.size() >= 16 && plain.size() % 8 == 0) {
      std::vector<uint8_t> m2(plain.size() + 8);
      ASSERT_TRUE(w->Wrap(plain, m2));
      EXPECT_EQ(m2, ossl(kw, plain)) << "KW, " << plain.size() << " bytes";
    }
  }
  EVP_CIPHER_free(kw);
  EVP_CIPHER_free(kwp);
}

}  // namespace
}  // namespace mpswitch::ekt
