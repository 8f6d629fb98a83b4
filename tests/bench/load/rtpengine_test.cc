// The load benchmark's rtpengine driver without the daemon: bencode both ways (ng is bencode over
// UDP, and what comes back is not trusted), and the SDP facts SetupCall relies on.
#include "rtpengine.h"

#include <gtest/gtest.h>

namespace mpswitch::bench {
namespace {

TEST(BencodeTest, RoundTripsNgMessages) {
  Bencode offer = Bencode::MakeDict({{"command", Bencode::Str("offer")},
                                     {"call-id", Bencode::Str("c1")},
                                     {"flags", Bencode::StrList({"a", "b"})},
                                     {"n", Bencode::Int(-42)}});
  const std::string wire = offer.Encode();
  absl::StatusOr<Bencode> back = BencodeDecode(wire);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->Encode(), wire);
  ASSERT_TRUE(back->FindString("command").has_value());
  EXPECT_EQ(*back->FindString("command"), "offer");
  const Bencode* n = back->Find("n");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->integer(), -42);
}

TEST(BencodeTest, RefusesMalformedInput) {
  for (const char* bad : {"", "d", "i12", "i1x2e", "5:abc", "l", "d3:abc", "di1ei2ee",
                          "99999999999999999999:x", "i-e", "d6:result2:oke trailing"}) {
    EXPECT_FALSE(BencodeDecode(bad).ok()) << '"' << bad << '"';
  }
  std::string deep(10000, 'l');
  EXPECT_FALSE(BencodeDecode(deep).ok());  // nesting without end, or too deep: an error, no crash
}

TEST(SdpTest, ReadsPortProtocolAndCryptoKeys) {
  RelayKeys k;
  for (size_t i = 0; i < k.key.size(); ++i) k.key[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < k.salt.size(); ++i) k.salt[i] = static_cast<uint8_t>(0xa0 + i);
  const std::string sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                          "m=video 30012 RTP/SAVP 96\r\na=rtpmap:96 VP8/90000\r\n"
                          "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" + SdesInlineKey(k) + "\r\n";
  absl::StatusOr<SdpSummary> s = ParseSdp(sdp);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->port, 30012);
  EXPECT_EQ(s->protocol, "RTP/SAVP");
  EXPECT_EQ(s->connection_address, "127.0.0.1");
  ASSERT_EQ(s->cryptos.size(), 1u);
  EXPECT_EQ(s->cryptos[0].tag, 2);
  EXPECT_EQ(s->cryptos[0].keys.key, k.key);
  EXPECT_EQ(s->cryptos[0].keys.salt, k.salt);
  EXPECT_FALSE(ParseSdp("v=0\r\nm=video notaport RTP/AVP 96\r\n").ok());
}

}  // namespace
}  // namespace mpswitch::bench
