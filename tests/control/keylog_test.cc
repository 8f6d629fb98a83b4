#include "mpswitch/control/keylog.h"

#include <gtest/gtest.h>
#include <unistd.h>

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

namespace mpswitch::control {
namespace {

// The key log holds keys in clear: it is created readable by its owner only, and a file that was
// already there with wider permissions is narrowed before anything is written to it.
TEST(KeylogTest, FileIsOwnerOnly) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("mpswitch_keylog_mode_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path fresh = dir / "new.keys";
  const fs::path wide = dir / "existing.keys";
  { std::ofstream(wide) << ""; }
  fs::permissions(wide, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                            fs::perms::others_read);
  ::testing::internal::CaptureStderr();
  auto a = Keylog::Open(fresh.string());
  auto b = Keylog::Open(wide.string());
  const std::string warning = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(a.ok() && *a);
  ASSERT_TRUE(b.ok() && *b);
  EXPECT_NE(warning.find("0600"), std::string::npos) << "the warning says who can read the file";
  const fs::perms owner_only = fs::perms::owner_read | fs::perms::owner_write;
  EXPECT_EQ(fs::status(fresh).permissions() & fs::perms::all, owner_only);
  EXPECT_EQ(fs::status(wide).permissions() & fs::perms::all, owner_only);
  a->reset();
  b->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mpswitch::control
