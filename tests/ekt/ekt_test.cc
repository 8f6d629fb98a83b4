#include "mpswitch/ekt/ekt.h"

#include <gtest/gtest.h>

#include <vector>

namespace mpswitch::ekt {
namespace {

GroupParams InTag(uint16_t spi) {
  GroupParams g;
  g.spi = spi;
  g.kek.assign(16, 1);
  return g;
}

TEST(GroupTableTest, CreateRotateRetire) {
  GroupTable t;
  ASSERT_TRUE(t.Create(InTag(3)).ok());
  EXPECT_EQ(t.Create(InTag(3)).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_NE(t.Find(3), nullptr);
  ASSERT_TRUE(t.Rotate(3, ekt::SecretBytes(16, 9)).ok());
  EXPECT_EQ(t.Find(3)->kek[0], 9);
  EXPECT_FALSE(t.Rotate(3, ekt::SecretBytes(7, 9)).ok());  // wrong KEK size keeps the old one
  EXPECT_EQ(t.Find(3)->kek.size(), 16u);
  EXPECT_EQ(t.Rotate(4, ekt::SecretBytes(16, 9)).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(t.Retire(3).ok());
  EXPECT_EQ(t.Find(3), nullptr);
  EXPECT_EQ(t.Retire(3).code(), absl::StatusCode::kNotFound);
}

TEST(GroupTableTest, ValidateGivesActionableErrors) {
  GroupParams g = InTag(1);
  g.cipher = EktCipher::kAesKwp128;  // an RFC 8870 cipher in the in-tag format
  auto s = Validate(g);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot be used with the intag format"), std::string::npos) << s;
  g = InTag(0x8000);
  EXPECT_NE(Validate(g).message().find("15 bits"), std::string::npos);
  g.spi = 1;
  g.format = EktFormat::kRfc8870;
  g.cipher = EktCipher::kAesKwp256;
  EXPECT_NE(Validate(g).message().find("32-byte"), std::string::npos);
  g.kek.assign(32, 0);
  EXPECT_TRUE(Validate(g).ok());
}

// Builds an in-tag long trailer for SPI 5 (ECB, 16-byte EMK) after `auth` bytes.
std::vector<uint8_t> InTagLong(size_t auth, size_t tag_len) {
  std::vector<uint8_t> p(auth + tag_len, 0xaa);
  for (int i = 0; i < 16; ++i) p.push_back(static_cast<uint8_t>(i));        // EMK
  for (uint8_t b : {0, 0, 0, 7, 0x12, 0x34, 0x00, 0x0b}) p.push_back(b);   // ROC 7, ISN, SPI 5|1
  return p;
}

TEST(InTagViewTest, ParsesLongAndShortAndRejectsEveryTruncation) {
  auto emk_len = [](uint16_t spi) -> size_t { return spi == 5 ? 16 : 0; };
  for (size_t tag_len : {4u, 10u}) {
    auto p = InTagLong(20, tag_len);
    InTagView v;
    ASSERT_EQ(ParseInTag(p, tag_len, 12, emk_len, v), ParseError::kNone);
    EXPECT_TRUE(v.long_form);
    EXPECT_EQ(v.spi, 5);
    EXPECT_EQ(v.roc, 7u);
    EXPECT_EQ(v.isn, 0x1234);
    EXPECT_EQ(v.trailer_len, InTagLongLen(tag_len, EktCipher::kAes128Ecb));
    EXPECT_EQ(v.emk[0], 0);
    EXPECT_EQ(v.emk.size(), 16u);
    for (size_t len = 0; len < p.size(); ++len) {
      // Cut from the front: the trailer is read from the end, so a short packet must be refused.
      std::vector<uint8_t> cut(p.end() - len, p.end());
      const ParseError e = ParseInTag(cut, tag_len, 12, emk_len, v);
      if (e == ParseError::kNone) EXPECT_LE(v.trailer_len + 12u, len) << len;
    }
    std::vector<uint8_t> s(30, 1);
    s.back() = 0x00;
    ASSERT_EQ(ParseInTag(s, tag_len, 12, emk_len, v), ParseError::kNone);
    EXPECT_FALSE(v.long_form);
    EXPECT_EQ(v.trailer_len, tag_len + 1);
    s.back() = 0x04;
    EXPECT_EQ(ParseInTag(s, tag_len, 12, emk_len, v), ParseError::kMalformed);
    auto unknown = InTagLong(20, tag_len);
    unknown[unknown.size() - 2] = 0x01;  // SPI 0x80 + 5
    EXPECT_EQ(ParseInTag(unknown, tag_len, 12, emk_len, v), ParseError::kUnknownSpi);
  }
}

TEST(Rfc8870ViewTest, FullShortAndExtension) {
  std::vector<uint8_t> p(30, 0xbb);
  std::vector<uint8_t> ct(40, 0xcc);
  p.insert(p.end(), ct.begin(), ct.end());
  for (uint8_t b : {0x00, 0x09, 0x00, 0x03, 0x00, 47, 0x02}) p.push_back(b);
  Rfc8870View v;
  ASSERT_EQ(ParseRfc8870(p, 22, v), ParseError::kNone);
  EXPECT_EQ(v.type, kRfc8870TypeFull);
  EXPECT_EQ(v.spi, 9);
  EXPECT_EQ(v.epoch, 3);
  EXPECT_EQ(v.field_len, kRfc8870FullLen);
  EXPECT_EQ(v.ciphertext.size(), 40u);
  for (size_t len = 0; len < p.size(); ++len) {
    std::vector<uint8_t> cut(p.end() - len, p.end());
    if (ParseRfc8870(cut, 22, v) == ParseError::kNone) EXPECT_LE(v.field_len + 22u, len) << len;
  }
  auto bad = p;
  bad[bad.size() - 2] = 200;  // length past the packet
  EXPECT_EQ(ParseRfc8870(bad, 22, v), ParseError::kMalformed);
  bad[bad.size() - 2] = 2;  // length shorter than its own framing
  EXPECT_EQ(ParseRfc8870(bad, 22, v), ParseError::kMalformed);
  std::vector<uint8_t> ext(30, 0);
  for (uint8_t b : {1, 2, 0, 5, 0x44}) ext.push_back(b);
  ASSERT_EQ(ParseRfc8870(ext, 22, v), ParseError::kNone);
  EXPECT_EQ(v.type, 0x44);
  EXPECT_EQ(v.field_len, 5);
  std::vector<uint8_t> shrt(30, 0);
  ASSERT_EQ(ParseRfc8870(shrt, 22, v), ParseError::kNone);
  EXPECT_EQ(v.field_len, 1);
}

}  // namespace
}  // namespace mpswitch::ekt
