#include "mpswitch/dataplane/core/packet.h"

#include <gtest/gtest.h>

#include <vector>

#include "mpswitch/oracle/libsrtp_oracle.h"

namespace mpswitch::dataplane {
namespace {

TEST(DemultiplexTest, FollowsRfc7983Ranges) {
  auto cls = [](std::vector<uint8_t> d) { return Demultiplex(d); };
  EXPECT_EQ(cls({0x00, 0x01}), PacketClass::kStun);
  EXPECT_EQ(cls({0x03}), PacketClass::kStun);
  EXPECT_EQ(cls({16}), PacketClass::kZrtp);
  EXPECT_EQ(cls({22, 0xfe}), PacketClass::kDtls);  // DTLS handshake
  EXPECT_EQ(cls({63}), PacketClass::kDtls);
  EXPECT_EQ(cls({64}), PacketClass::kTurnChannel);
  EXPECT_EQ(cls({0x80, 96}), PacketClass::kRtp);
  EXPECT_EQ(cls({0x80, 96 | 0x80}), PacketClass::kRtp);  // marker set
  EXPECT_EQ(cls({0x80, 200}), PacketClass::kRtcp);       // SR
  EXPECT_EQ(cls({0x80, 204}), PacketClass::kRtcp);       // APP (TIP)
  EXPECT_EQ(cls({0x80, 223}), PacketClass::kRtcp);
  EXPECT_EQ(cls({0x80, 224}), PacketClass::kRtp);
  EXPECT_EQ(cls({0x80}), PacketClass::kUnknown);  // too short to tell RTP from RTCP
  EXPECT_EQ(cls({200}), PacketClass::kUnknown);
  EXPECT_EQ(cls({}), PacketClass::kUnknown);
}

TEST(ParseRtpTest, ReadsHeaderWithCsrcsAndExtension) {
  oracle::RtpSpec s;
  s.seq = 0xBEEF;
  s.timestamp = 0x01020304;
  s.ssrc = 0xCAFEBABE;
  s.marker = true;
  s.payload_type = 100;
  s.csrcs = {0x11, 0x22, 0x33};
  s.extension = std::vector<uint8_t>{0x10, 0xAA, 0, 0, 0x21, 0xBB, 0xCC};
  s.payload = std::vector<uint8_t>(50, 7);
  auto p = oracle::BuildRtp(s);
  RtpView v;
  ASSERT_EQ(ParseRtp(p, 0, v), Drop::kNone);
  EXPECT_EQ(v.seq, 0xBEEF);
  EXPECT_EQ(v.timestamp, 0x01020304u);
  EXPECT_EQ(v.ssrc, 0xCAFEBABEu);
  EXPECT_TRUE(v.marker);
  EXPECT_EQ(v.payload_type, 100);
  EXPECT_EQ(v.csrc_count, 3);
  EXPECT_TRUE(v.extension);
  EXPECT_EQ(v.header_len, oracle::RtpHeaderLen(s));
}

TEST(ParseRtpTest, EveryTruncationIsRejectedOrStaysInBounds) {
  oracle::RtpSpec s;
  s.csrcs = {1, 2};
  s.extension = std::vector<uint8_t>(8, 1);
  s.payload = std::vector<uint8_t>(3, 9);
  const auto p = oracle::BuildRtp(s);
  const size_t header = oracle::RtpHeaderLen(s);
  for (size_t len = 0; len < p.size(); ++len) {
    RtpView v;
    // A heap copy of exactly `len` bytes, so ASan catches any read past the end.
    std::vector<uint8_t> cut(p.begin(), p.begin() + len);
    const Drop d = ParseRtp(cut, 0, v);
    if (len < 12) {
      EXPECT_EQ(d, Drop::kTooShort) << len;
    } else if (len < 20) {
      EXPECT_EQ(d, Drop::kCsrcPastEnd) << len;
    } else if (len < header) {
      EXPECT_EQ(d, Drop::kExtensionPastEnd) << len;
    } else {
      EXPECT_EQ(d, Drop::kNone) << len;
      EXPECT_LE(v.header_len, len);
    }
  }
}

TEST(ParseRtpTest, TrailerIsExcludedFromTheHeaderBounds) {
  oracle::RtpSpec s;
  s.csrcs = {1};
  auto p = oracle::BuildRtp(s);  // 16 bytes, no payload
  RtpView v;
  EXPECT_EQ(ParseRtp(p, 0, v), Drop::kNone);
  EXPECT_EQ(ParseRtp(p, 4, v), Drop::kCsrcPastEnd);  // the CSRC would run into the tag
  EXPECT_EQ(ParseRtp(p, 5, v), Drop::kTooShort);     // not even a fixed header before the tag
  p.resize(22);
  EXPECT_EQ(ParseRtp(p, 10, v), Drop::kCsrcPastEnd);
}

TEST(ParseRtpTest, BadVersionAndOversize) {
  std::vector<uint8_t> p(40, 0);
  p[0] = 0x40;
  RtpView v;
  EXPECT_EQ(ParseRtp(p, 10, v), Drop::kBadVersion);
  std::vector<uint8_t> big(kMaxPacketSize + 1, 0);
  big[0] = 0x80;
  EXPECT_EQ(ParseRtp(big, 10, v), Drop::kOversize);
}

TEST(ParseRtpTest, MaximalCsrcCountAndExtensionLength) {
  std::vector<uint8_t> p(12 + 60 + 4, 0);
  p[0] = 0x9f;  // V=2, X=1, CC=15
  dataplane::StoreBe16(&p[72 + 2], 0xffff);
  RtpView v;
  EXPECT_EQ(ParseRtp(p, 0, v), Drop::kExtensionPastEnd);
  dataplane::StoreBe16(&p[72 + 2], 0);
  ASSERT_EQ(ParseRtp(p, 0, v), Drop::kNone);
  EXPECT_EQ(v.header_len, 76);
}

TEST(ParseRtcpTest, ChecksFirstPacketLength) {
  auto sr = oracle::BuildRtcpSenderReport(0x1234, 5, 1);
  RtcpView v;
  ASSERT_EQ(ParseRtcp(sr, 0, v), Drop::kNone);
  EXPECT_EQ(v.packet_type, 200);
  EXPECT_EQ(v.ssrc, 0x1234u);
  EXPECT_EQ(v.first_len, sr.size());
  EXPECT_EQ(ParseRtcp(sr, 4, v), Drop::kRtcpLengthPastEnd);
  for (size_t len = 0; len < 8; ++len) {
    std::vector<uint8_t> cut(sr.begin(), sr.begin() + len);
    EXPECT_EQ(ParseRtcp(cut, 0, v), Drop::kTooShort);
  }
  sr[0] = 0x00;
  EXPECT_EQ(ParseRtcp(sr, 0, v), Drop::kBadVersion);
}

}  // namespace
}  // namespace mpswitch::dataplane
