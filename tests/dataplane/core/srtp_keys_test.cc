#include "mpswitch/dataplane/core/srtp_keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "../../support/hex.h"

namespace mpswitch::dataplane {
namespace {

using testing::FromHex;
using testing::ToHex;

MasterKey Master(std::string_view key, std::string_view salt) {
  MasterKey m;
  auto k = FromHex(key), s = FromHex(salt);
  std::copy(k.begin(), k.end(), m.key.begin());
  std::copy(s.begin(), s.end(), m.salt.begin());
  return m;
}

// RFC 3711 appendix B.3: key derivation.
TEST(SrtpKdfTest, Rfc3711AppendixB3) {
  const MasterKey m = Master("E1F97A0D3E018BE0D64FA32C06DE4139", "0EC675AD498AFEEBB6960B3AABE6");
  auto keys = DeriveSessionKeys(m, KeyUse::kSrtp);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(ToHex(keys->cipher), "c61e7a93744f39ee10734afe3ff7a087");
  EXPECT_EQ(ToHex(keys->salt), "30cbbc08863d8c85d49db34a9ae1");
  EXPECT_EQ(ToHex(keys->auth), "cebe321f6ff7716b6fd4ab49af256a156d38baa4");
}

// RFC 3711 appendix B.2: the AES-CM keystream. With label 0 the PRF's IV is exactly the salt
// followed by a zero 16-bit counter, so the PRF is the B.2 generator keyed with the session key.
TEST(SrtpKdfTest, Rfc3711AppendixB2Keystream) {
  const MasterKey m = Master("2B7E151628AED2A6ABF7158809CF4F3C", "F0F1F2F3F4F5F6F7F8F9FAFBFCFD");
  std::vector<uint8_t> ks(0x10000 * 16);
  ASSERT_TRUE(AesCmPrf(m, 0, ks).ok());
  auto block = [&](size_t i) { return ToHex(std::vector<uint8_t>(ks.begin() + 16 * i, ks.begin() + 16 * i + 16)); };
  EXPECT_EQ(block(0), "e03ead0935c95e80e166b16dd92b4eb4");
  EXPECT_EQ(block(1), "d23513162b02d0f72a43a2fe4a5f97ab");
  EXPECT_EQ(block(2), "41e95b3bb0a2e8dd477901e4fca894c0");
  EXPECT_EQ(block(0xfeff), "ec8cdf7398607cb0f2d21675ea9ea1e4");
  EXPECT_EQ(block(0xff00), "362b7c3c6773516318a077d7fc5073ae");
  EXPECT_EQ(block(0xff01), "6a2cc3787889374fbeb4c81b17ba6c44");
}

TEST(SrtpKdfTest, SrtcpLabelsDiffer) {
  const MasterKey m = Master("E1F97A0D3E018BE0D64FA32C06DE4139", "0EC675AD498AFEEBB6960B3AABE6");
  auto rtp = DeriveSessionKeys(m, KeyUse::kSrtp);
  auto rtcp = DeriveSessionKeys(m, KeyUse::kSrtcp);
  ASSERT_TRUE(rtp.ok() && rtcp.ok());
  EXPECT_NE(rtp->auth, rtcp->auth);
  EXPECT_NE(rtp->cipher, rtcp->cipher);
}

TEST(SrtpKdfTest, TagLengths) {
  EXPECT_EQ(SrtpTagLen(SrtpProfile::kAesCm128HmacSha1_80), 10u);
  EXPECT_EQ(SrtpTagLen(SrtpProfile::kAesCm128HmacSha1_32), 4u);
  EXPECT_EQ(ProfileName(SrtpProfile::kAesCm128HmacSha1_32), "AES_CM_128_HMAC_SHA1_32");
}

}  // namespace
}  // namespace mpswitch::dataplane

namespace mpswitch::dataplane {
namespace {

TEST(AuthKeyDeriverTest, MatchesDeriveSessionKeys) {
  auto d = AuthKeyDeriver::Create();
  ASSERT_TRUE(d.ok());
  MasterKey m;
  for (int round = 0; round < 20; ++round) {
    for (auto& b : m.key) b = static_cast<uint8_t>(b * 31 + round + 1);
    for (auto& b : m.salt) b = static_cast<uint8_t>(b * 17 + round);
    for (KeyUse use : {KeyUse::kSrtp, KeyUse::kSrtcp}) {
      std::array<uint8_t, kSessionAuthKeyLen> auth;
      ASSERT_TRUE(d->Derive(m, use, auth));
      EXPECT_EQ(auth, DeriveSessionKeys(m, use)->auth);
    }
  }
}

}  // namespace
}  // namespace mpswitch::dataplane
