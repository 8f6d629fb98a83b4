#include "mpswitch/control/keylog.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mpswitch::control {
namespace {

std::string Slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(KeylogTest, OffUnlessAsked) {
  unsetenv("MPSWITCH_KEYLOG");
  auto k = Keylog::Open("");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(*k, nullptr);
}

TEST(KeylogTest, WritesTheDocumentedLines) {
  const std::string path = (std::filesystem::temp_directory_path() / "mpswitch_keylog_test.txt").string();
  std::filesystem::remove(path);
  setenv("MPSWITCH_KEYLOG", path.c_str(), 1);
  ::testing::internal::CaptureStderr();
  auto k = Keylog::Open("");
  const std::string warning = ::testing::internal::GetCapturedStderr();
  unsetenv("MPSWITCH_KEYLOG");
  ASSERT_TRUE(k.ok() && *k);
  EXPECT_NE(warning.find("KEY LOG ENABLED"), std::string::npos);
  dataplane::MasterKey m;
  for (size_t i = 0; i < m.key.size(); ++i) m.key[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < m.salt.size(); ++i) m.salt[i] = static_cast<uint8_t>(0xA0 + i);
  (*k)->Srtp(0xCAFE, m, dataplane::SrtpProfile::kAesCm128HmacSha1_80);
  (*k)->Srtcp(0x1, m, dataplane::SrtpProfile::kAesCm128HmacSha1_32);
  ekt::GroupParams g;
  g.spi = 42;
  g.kek.assign(16, 0xff);
  g.salt = m.salt;
  g.cipher = ekt::EktCipher::kAesKw128;
  (*k)->Ekt(g);
  k->reset();
  EXPECT_EQ(Slurp(path),
            "SRTP 0000cafe 000102030405060708090a0b0c0d0e0f a0a1a2a3a4a5a6a7a8a9aaabacad AES_CM_128_HMAC_SHA1_80\n"
            "SRTCP 00000001 000102030405060708090a0b0c0d0e0f a0a1a2a3a4a5a6a7a8a9aaabacad AES_CM_128_HMAC_SHA1_32\n"
            "EKT 42 ffffffffffffffffffffffffffffffff a0a1a2a3a4a5a6a7a8a9aaabacad AESKW_128 intag\n");
  std::filesystem::remove(path);
  auto bad = Keylog::Open("/nonexistent-dir/keylog");
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace mpswitch::control
