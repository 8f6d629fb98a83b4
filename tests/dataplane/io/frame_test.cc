#include "mpswitch/dataplane/io/frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace mpswitch::dataplane::io {
namespace {

using Bytes = std::vector<uint8_t>;

// ---------------------------------------------------------------------------------------------
// Independent reference: the textbook RFC 1071 loop, one big-endian word at a time, and explicit
// pseudo-header bytes. Nothing here shares code with frame.cc.

uint16_t RefSum(const Bytes& d) {
  uint32_t s = 0;
  for (size_t i = 0; i < d.size(); i += 2) {
    s += uint32_t{d[i]} << 8;
    if (i + 1 < d.size()) s += d[i + 1];
    while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
  }
  return static_cast<uint16_t>(s);
}
uint16_t RefChecksum(const Bytes& d) { return static_cast<uint16_t>(~RefSum(d)); }

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
void PutBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The pseudo-header of the IP datagram at `l3`, for its transport segment of `l4_len` bytes.
Bytes RefPseudoHeader(const Bytes& f, size_t l3, uint8_t proto, size_t l4_len) {
  const bool v4 = (f[l3] >> 4) == 4;
  const size_t addr_at = l3 + (v4 ? 12 : 8);
  const size_t addr_len = v4 ? 8 : 32;  // source and destination
  Bytes ph(addr_len + (v4 ? 4 : 8), 0);
  for (size_t i = 0; i < addr_len; ++i) ph[i] = f[addr_at + i];
  if (v4) {
    ph[addr_len + 1] = proto;
    ph[addr_len + 2] = static_cast<uint8_t>(l4_len >> 8);
    ph[addr_len + 3] = static_cast<uint8_t>(l4_len);
  } else {
    for (size_t i = 0; i < 4; ++i) ph[addr_len + i] = static_cast<uint8_t>(l4_len >> (24 - 8 * i));
    ph[addr_len + 7] = proto;
  }
  return ph;
}

// The transport checksum of the segment [l4, end) of `f` with its checksum field (at l4 +
// csum_at) taken as zero.
uint16_t RefL4Checksum(const Bytes& f, size_t l3, size_t l4, size_t end, uint8_t proto,
                       size_t csum_at) {
  Bytes all = RefPseudoHeader(f, l3, proto, end - l4);
  const size_t base = all.size();
  all.insert(all.end(), f.begin() + l4, f.begin() + end);
  all[base + csum_at] = 0;
  all[base + csum_at + 1] = 0;
  return RefChecksum(all);
}

size_t L3Of(const Bytes& f) {
  const uint16_t t = Be16(&f[12]);
  return (t == kEtherTypeVlan || t == kEtherTypeQinq) ? 18 : 14;
}
size_t L4Of(const Bytes& f) {
  const size_t l3 = L3Of(f);
  return l3 + ((f[l3] >> 4) == 4 ? 4 * (f[l3] & 0x0F) : 40);
}
size_t IpEndOf(const Bytes& f) {
  const size_t l3 = L3Of(f);
  return (f[l3] >> 4) == 4 ? l3 + Be16(&f[l3 + 2]) : l3 + 40 + Be16(&f[l3 + 4]);
}

void FixIpv4Checksum(Bytes& f) {
  const size_t l3 = L3Of(f);
  const size_t hl = 4 * (f[l3] & 0x0F);
  PutBe16(&f[l3 + 10], 0);
  PutBe16(&f[l3 + 10], RefChecksum(Bytes(f.begin() + l3, f.begin() + l3 + hl)));
}
void FixIcmpv6Checksum(Bytes& f) {
  const size_t l3 = L3Of(f), l4 = l3 + 40;
  PutBe16(&f[l4 + 2], RefL4Checksum(f, l3, l4, IpEndOf(f), kIpProtoIcmpv6, 2));
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

constexpr MacAddr kMacA = {0x02, 0, 0, 0, 0, 0x01};  // the switch
constexpr MacAddr kMacB = {0x02, 0, 0, 0, 0, 0x02};  // an endpoint

IpAddr V6(const char* text) { return *IpAddr::Parse(text); }
IpAddr V4(const char* text) { return *IpAddr::Parse(text); }

UdpFlow Flow(int family, std::optional<VlanTag> vlan = std::nullopt) {
  UdpFlow f;
  f.src_mac = kMacB;
  f.dst_mac = kMacA;
  f.vlan = vlan;
  f.src = family == 4 ? V4("10.0.0.2") : V6("2001:db8::2");
  f.dst = family == 4 ? V4("10.0.0.1") : V6("2001:db8::1");
  f.src_port = family == 4 ? 50000 : 50002;
  f.dst_port = family == 4 ? 20000 : 20002;
  f.flow_label = family == 6 ? 0x12345 : 0;
  return f;
}

Bytes Payload(size_t n, uint8_t seed = 1) {
  Bytes p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(i * 37 + seed);
  return p;
}

Bytes Build(const UdpFlow& flow, const Bytes& payload, uint16_t ip_id = 0x1c46, bool hw_ip = false,
            bool hw_udp = false) {
  auto t = MakeUdpTemplate(flow);
  EXPECT_TRUE(t.ok()) << t.status();
  Bytes f(t->len + payload.size());
  std::copy(payload.begin(), payload.end(), f.begin() + t->len);
  WriteUdpHeaders(*t, f.data(), static_cast<uint16_t>(payload.size()), ip_id, hw_ip, hw_udp);
  return f;
}

IoDrop Parse(const Bytes& f, RxOffload hw = {}) {
  FrameInfo info;
  // A heap copy of exactly the frame, so ASan sees any read past its end.
  const Bytes copy(f);
  return ParseFrame(copy, hw, info);
}

Bytes Seed(const std::string& name) {
  std::ifstream in(std::string(MPSWITCH_TEST_DATA_DIR) + "/../fuzz/corpus/frame_fuzz/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The RTP packet of the media seeds (tests/fuzz/corpus/frame_fuzz, written by an independent
// builder): header, a patterned body and a ten-byte tag.
Bytes SeedRtp(uint16_t seq, size_t body_len) {
  Bytes r = {0x80, 96 | 0x80, 0, 0, 0x12, 0x34, 0x56, 0x78, 0xCA, 0xFE, 0xBA, 0xBE};
  PutBe16(&r[2], seq);
  for (size_t i = 0; i < body_len; ++i) r.push_back(static_cast<uint8_t>((i * 37 + 11) & 0xFF));
  for (uint8_t b : {0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, 0x29, 0x3a}) r.push_back(b);
  return r;
}

}  // namespace

// Readable failure messages (found by ADL, hence outside the unnamed namespace).
void PrintTo(const IpAddr& a, std::ostream* os) { *os << a.ToString(); }

namespace {

// ---------------------------------------------------------------------------------------------

TEST(IoDropTest, EveryValueHasAUniqueName) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kIoDropCount; ++i) {
    EXPECT_FALSE(kIoDropInfo[i].name.empty()) << i;
    EXPECT_FALSE(kIoDropInfo[i].help.empty()) << i;
    names.insert(kIoDropInfo[i].name);
  }
  EXPECT_EQ(names.size(), kIoDropCount);
  EXPECT_EQ(IoDropName(IoDrop::kArpMalformed), "arp_malformed");
  EXPECT_EQ(IoDropName(IoDrop::kNdMalformed), "nd_malformed");
}

TEST(ChecksumTest, Rfc1071Example) {
  // RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2, the checksum its complement.
  const Bytes d = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(ChecksumFold(ChecksumPartial(d)), 0xddf2);
  EXPECT_EQ(InternetChecksum(d), 0x220d);
}

TEST(ChecksumTest, CapturedIpv4Header) {
  Bytes h = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
             0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(InternetChecksum(h), 0);  // a header with its checksum verifies to zero
  EXPECT_EQ(ChecksumFold(ChecksumPartial(h)), 0xFFFF);
  h[10] = h[11] = 0;
  EXPECT_EQ(InternetChecksum(h), 0xb861);
}

TEST(ChecksumTest, OddLengthPadsWithZeroAndChainsAfterEvenChunks) {
  EXPECT_EQ(ChecksumPartial(Bytes{0xab}), 0xab00u);
  EXPECT_EQ(ChecksumPartial(Bytes{}), 0u);
  EXPECT_EQ(ChecksumPartial(Bytes{}, 0x1234), 0x1234u);
  EXPECT_EQ(ChecksumFold(0x1FFFF), 0x0001);
  EXPECT_EQ(ChecksumFold(0xFFFFFFFF), 0xFFFF);
  const Bytes a = Payload(10), b = Payload(7, 3);
  Bytes ab = a;
  ab.insert(ab.end(), b.begin(), b.end());
  EXPECT_EQ(ChecksumFold(ChecksumPartial(b, ChecksumPartial(a))), RefSum(ab));
}

TEST(ChecksumTest, MatchesTheByteWiseLoopAtEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  Bytes buf(1600 + 8);
  for (auto& x : buf) x = static_cast<uint8_t>(rng());
  for (size_t align = 0; align < 8; ++align) {
    for (size_t len = 0; len <= 1600; len += (len < 300 ? 1 : 97)) {
      const Bytes d(buf.begin() + align, buf.begin() + align + len);
      ASSERT_EQ(ChecksumFold(ChecksumPartial(std::span(buf).subspan(align, len))), RefSum(d))
          << align << " " << len;
    }
  }
  // All-ones data drives the 64-bit accumulator's end-around carry on every word.
  const Bytes ones(4096, 0xFF);
  EXPECT_EQ(ChecksumFold(ChecksumPartial(ones)), RefSum(ones));
  EXPECT_EQ(ChecksumFold(ChecksumPartial(ones, 0xFFFFFFFF)), 0xFFFF);
}

TEST(ChecksumTest, PseudoHeaderSumsMatchExplicitBytes) {
  for (int family : {4, 6}) {
    const Bytes f = Build(Flow(family), Payload(33));
    const size_t l3 = L3Of(f);
    const UdpFlow fl = Flow(family);
    EXPECT_EQ(ChecksumFold(PseudoHeaderSum(fl.src, fl.dst, kIpProtoUdp, 41)),
              RefSum(RefPseudoHeader(f, l3, kIpProtoUdp, 41)));
    if (family == 6) {
      // IPv6 lengths are 32 bits wide (RFC 8200 §8.1).
      EXPECT_EQ(ChecksumFold(PseudoHeaderSum(fl.src, fl.dst, 58, 0x12345)),
                RefSum(RefPseudoHeader(f, l3, 58, 0x12345)));
    }
  }
}

TEST(IpAddrTest, FactoriesTextAndEquality) {
  const IpAddr a = IpAddr::FromV4(0xC0A80001);
  EXPECT_EQ(a.family, 4);
  EXPECT_EQ(a.V4(), 0xC0A80001u);
  EXPECT_EQ(a.ToString(), "192.168.0.1");
  EXPECT_EQ(*IpAddr::Parse("192.168.0.1"), a);
  const uint8_t raw[4] = {192, 168, 0, 1};
  EXPECT_EQ(IpAddr::FromV4Bytes(raw), a);
  EXPECT_NE(IpAddr::FromV4(0xC0A80002), a);
  EXPECT_NE(IpAddr{}, IpAddr::FromV4(0));  // "none" is not 0.0.0.0
  EXPECT_TRUE(IpAddr::FromV4(0).IsUnspecified());
  EXPECT_FALSE(IpAddr{}.IsUnspecified());
  EXPECT_TRUE(V4("224.0.0.5").IsMulticastOrBroadcast());
  EXPECT_TRUE(V4("255.255.255.255").IsMulticastOrBroadcast());
  EXPECT_FALSE(V4("223.255.255.255").IsMulticastOrBroadcast());
  EXPECT_TRUE(V6("ff02::1").IsMulticastOrBroadcast());
  EXPECT_TRUE(V6("::").IsUnspecified());
  EXPECT_FALSE(IpAddr::Parse("10.0.0.256").ok());
  EXPECT_FALSE(IpAddr::Parse("2001:db8:::1").ok());
  EXPECT_EQ(IpAddr{}.ToString(), "none");

  // RFC 5952 §4 and §5.
  for (const char* text :
       {"2001:db8::1", "2001:db8:0:1:1:1:1:1", "2001:0:0:1::1", "2001:db8::1:0:0:1", "::", "::1",
        "1::", "fe80::1:2", "::ffff:192.0.2.1", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"}) {
    const auto ip = IpAddr::Parse(text);
    ASSERT_TRUE(ip.ok()) << text;
    EXPECT_EQ(ip->family, 6);
    EXPECT_EQ(ip->ToString(), text);
  }
  EXPECT_EQ(V6("2001:DB8:0:0:0:0:0:1").ToString(), "2001:db8::1");
  // §4.2.2: a single zero group is not shortened.
  EXPECT_EQ(V6("::2:3:4:5:6:7:8").ToString(), "0:2:3:4:5:6:7:8");
  EXPECT_EQ(V6("1:2:3:4:5:6:7::").ToString(), "1:2:3:4:5:6:7:0");
  EXPECT_EQ(V6("2001:db8:0:0:1:0:0:1").ToString(), "2001:db8::1:0:0:1");  // first run on a tie
  EXPECT_EQ(V6("::c000:201").ToString(), "::c000:201");  // IPv4-compatible: not dotted
  EXPECT_EQ(MacToString(kMacA), "02:00:00:00:00:01");
}

// ---------------------------------------------------------------------------------------------
// Build -> parse.

struct RoundTripCase {
  int family;
  std::optional<VlanTag> vlan;
};

class RoundTripTest : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RoundTripTest, ParsesWhatWasBuiltWithSoftwareChecksums) {
  const auto& c = GetParam();
  const UdpFlow flow = Flow(c.family, c.vlan);
  for (size_t n : {0, 1, 7, 160, 1200, 8000}) {
    const Bytes payload = Payload(n, static_cast<uint8_t>(n));
    const Bytes f = Build(flow, payload, 0xBEEF);
    FrameInfo info;
    ASSERT_EQ(ParseFrame(f, RxOffload{}, info), IoDrop::kNone) << n;
    EXPECT_EQ(info.kind, FrameKind::kUdp);
    EXPECT_EQ(info.vlan(), c.vlan);
    EXPECT_EQ(info.ether_type, c.family == 4 ? kEtherTypeIpv4 : kEtherTypeIpv6);
    EXPECT_EQ(info.src_mac, kMacB);
    EXPECT_EQ(info.dst_mac, kMacA);
    EXPECT_EQ(info.src, flow.src);
    EXPECT_EQ(info.dst, flow.dst);
    EXPECT_EQ(info.src_port, flow.src_port);
    EXPECT_EQ(info.dst_port, flow.dst_port);
    EXPECT_EQ(info.ip_proto, kIpProtoUdp);
    EXPECT_EQ(info.hop_limit, 64);
    EXPECT_EQ(info.traffic_class, 46 << 2);
    EXPECT_EQ(info.flow_label, flow.flow_label);
    EXPECT_EQ(info.l3_offset, c.vlan ? 18 : 14);
    EXPECT_EQ(info.payload_offset + info.payload_len, f.size());
    EXPECT_EQ(info.payload_len, n);
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), f.begin() + info.payload_offset));

    // The checksums agree with the independent byte-wise computation.
    const size_t l3 = info.l3_offset, l4 = info.l4_offset;
    uint16_t ref = RefL4Checksum(f, l3, l4, f.size(), kIpProtoUdp, 6);
    if (ref == 0) ref = 0xFFFF;
    EXPECT_EQ(Be16(&f[l4 + 6]), ref);
    EXPECT_EQ(info.udp_checksum, ref);
    if (c.family == 4) {
      EXPECT_EQ(Be16(&f[l3 + 4]), 0xBEEF);
      EXPECT_EQ(Be16(&f[l3 + 6]), 0x4000);  // DF
      EXPECT_EQ(RefChecksum(Bytes(f.begin() + l3, f.begin() + l3 + 20)), 0);
    }
    EXPECT_EQ(Parse(f, RxOffload{HwCheck::kGood, HwCheck::kGood}), IoDrop::kNone);
  }
}

TEST_P(RoundTripTest, OffloadLeavesTheFieldsANicExpects) {
  const auto& c = GetParam();
  const UdpFlow flow = Flow(c.family, c.vlan);
  const Bytes payload = Payload(300);
  const Bytes f = Build(flow, payload, 7, /*hw_ip=*/true, /*hw_udp=*/true);
  const size_t l3 = L3Of(f), l4 = L4Of(f);
  if (c.family == 4) {
    EXPECT_EQ(Be16(&f[l3 + 10]), 0);  // DPDK wants the IP checksum zero
  }
  // The non-inverted pseudo-header sum (rte_ipv4_phdr_cksum / rte_ipv6_phdr_cksum).
  EXPECT_EQ(Be16(&f[l4 + 6]), RefSum(RefPseudoHeader(f, l3, kIpProtoUdp, 308)));
  EXPECT_EQ(Parse(f, RxOffload{HwCheck::kGood, HwCheck::kGood}), IoDrop::kNone);
  // What the NIC sends: the complement of the sum over the segment with that value in place.
  Bytes sent = f;
  PutBe16(&sent[l4 + 6], RefChecksum(Bytes(sent.begin() + l4, sent.end())));
  if (c.family == 4) FixIpv4Checksum(sent);
  EXPECT_EQ(sent, Build(flow, payload, 7));
  // Only the IP checksum offloaded: the UDP checksum is complete in software.
  const Bytes ip_only = Build(flow, payload, 7, /*hw_ip=*/true, /*hw_udp=*/false);
  EXPECT_EQ(Parse(ip_only, RxOffload{HwCheck::kGood, HwCheck::kUnknown}), IoDrop::kNone);
}

INSTANTIATE_TEST_SUITE_P(
    Families, RoundTripTest,
    ::testing::Values(RoundTripCase{4, std::nullopt}, RoundTripCase{6, std::nullopt},
                      RoundTripCase{4, VlanTag{kEtherTypeVlan, (5 << 13) | 100}},
                      RoundTripCase{6, VlanTag{kEtherTypeVlan, 4094}},
                      RoundTripCase{4, VlanTag{kEtherTypeQinq, 0}},
                      RoundTripCase{6, VlanTag{kEtherTypeQinq, 200}}));

TEST(WriteUdpHeadersTest, ComputedZeroChecksumIsSentAsAllOnes) {
  for (int family : {4, 6}) {
    const UdpFlow flow = Flow(family);
    // With a two-byte payload equal to the checksum of a zero payload, the sum becomes 0xFFFF
    // and the computed checksum zero.
    const Bytes zero = Build(flow, Bytes{0, 0});
    const uint16_t c = Be16(&zero[L4Of(zero) + 6]);
    const Bytes f = Build(flow, Bytes{static_cast<uint8_t>(c >> 8), static_cast<uint8_t>(c)});
    EXPECT_EQ(Be16(&f[L4Of(f) + 6]), 0xFFFF) << family;
    EXPECT_EQ(Parse(f), IoDrop::kNone) << family;
  }
}

TEST(WriteUdpHeadersTest, ReproducesIndependentlyBuiltSeedsByteForByte) {
  EXPECT_EQ(Build(Flow(4), SeedRtp(1000, 160), 0x1c46), Seed("ipv4_udp_rtp"));
  EXPECT_EQ(Build(Flow(4, VlanTag{kEtherTypeVlan, (5 << 13) | 100}), SeedRtp(1000, 160), 0x1c46),
            Seed("vlan_ipv4_udp_rtp"));
  EXPECT_EQ(Build(Flow(6), SeedRtp(7, 1100)), Seed("ipv6_udp_rtp"));
  EXPECT_EQ(Build(Flow(6, VlanTag{kEtherTypeQinq, 200}), SeedRtp(8, 200)),
            Seed("stag_ipv6_udp_rtp"));
}

TEST(MakeUdpTemplateTest, RefusesFlowsTheSwitchNeverSends) {
  auto bad = [](auto mutate) {
    UdpFlow f = Flow(4);
    mutate(f);
    return MakeUdpTemplate(f).status().code();
  };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(bad([](UdpFlow& f) { f.dst = V6("2001:db8::1"); }), kInvalid);
  EXPECT_EQ(bad([](UdpFlow& f) { f.src = IpAddr{}; }), kInvalid);
  EXPECT_EQ(bad([](UdpFlow& f) { f.src = f.dst = IpAddr{}; }), kInvalid);
  EXPECT_EQ(bad([](UdpFlow& f) { f.dst = V4("0.0.0.0"); }), kInvalid);
  EXPECT_EQ(bad([](UdpFlow& f) { f.src = V4("239.1.1.1"); }), kInvalid);
  EXPECT_EQ(bad([](UdpFlow& f) { f.src_mac = kBroadcastMac; }), kInvalid);
  EXPECT_EQ(bad([](UdpFlow& f) { f.src_port = 0; }), kInvalid);
  EXPECT_EQ(bad([](UdpFlow& f) { f.dst_port = 0; }), kInvalid);
  EXPECT_EQ(bad([](UdpFlow& f) { f.ttl_or_hop_limit = 0; }), kInvalid);
  EXPECT_EQ(bad([](UdpFlow& f) { f.dscp = 64; }), kInvalid);
  EXPECT_EQ(bad([](UdpFlow& f) { f.flow_label = 0x100000; }), kInvalid);
  EXPECT_EQ(bad([](UdpFlow& f) { f.vlan = VlanTag{0x9100, 1}; }), kInvalid);
  EXPECT_EQ(bad([](UdpFlow& f) { f.vlan = VlanTag{kEtherTypeVlan, 0x0FFF}; }), kInvalid);
  EXPECT_EQ(bad([](UdpFlow& f) { f.dscp = 0; }), absl::StatusCode::kOk);
  // A multicast destination (e.g. a multicast media group) is allowed.
  EXPECT_EQ(bad([](UdpFlow& f) { f.dst = V4("239.1.1.1"); }), absl::StatusCode::kOk);

  UdpFlow f6 = Flow(6, VlanTag{});
  const auto t = MakeUdpTemplate(f6);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->len, kMaxUdpHeaderLen);
  EXPECT_EQ(t->l3_offset, 18);
  EXPECT_EQ(t->family, 6);
}

// ---------------------------------------------------------------------------------------------
// Truncation: every prefix of a valid frame gets its exact drop, from a heap copy of exactly
// that many bytes (ASan in the asan preset catches any read past it).

void ExpectEveryTruncationRefused(const Bytes& f) {
  const size_t l3 = L3Of(f);
  const bool v4 = (f[l3] >> 4) == 4;
  const size_t ip_end = IpEndOf(f);
  for (size_t len = 0; len < f.size(); ++len) {
    const Bytes cut(f.begin(), f.begin() + len);
    IoDrop want;
    if (len < 14) {
      want = IoDrop::kEthTruncated;
    } else if (len < l3) {
      want = IoDrop::kVlanTruncated;
    } else if (len < l3 + (v4 ? 20 : 40)) {
      want = IoDrop::kIpTruncated;
    } else if (len < ip_end) {
      want = IoDrop::kIpBadTotalLength;
    } else {
      want = IoDrop::kNone;  // only padding was cut
    }
    FrameInfo info;
    ASSERT_EQ(ParseFrame(cut, RxOffload{}, info), want) << len;
    if (want == IoDrop::kNone) {
      EXPECT_LE(info.payload_offset + info.payload_len, len);
    }
  }
}

TEST(ParseFrameTest, EveryTruncationOfAValidFrameIsDropped) {
  ExpectEveryTruncationRefused(Build(Flow(4), Payload(50)));
  ExpectEveryTruncationRefused(Build(Flow(6), Payload(50)));
  ExpectEveryTruncationRefused(Build(Flow(4, VlanTag{}), Payload(50)));
  ExpectEveryTruncationRefused(Build(Flow(6, VlanTag{kEtherTypeQinq, 9}), Payload(3)));
  ExpectEveryTruncationRefused(Seed("ipv4_udp_zero_checksum_padded"));
  ExpectEveryTruncationRefused(Seed("ndp_ns"));
  ExpectEveryTruncationRefused(Seed("ipv4_icmp_echo"));
}

TEST(ParseFrameTest, TruncatedArpIsMalformedForTheControlThread) {
  const Bytes f = Seed("vlan_arp_request");
  for (size_t len = 0; len < f.size(); ++len) {
    const Bytes cut(f.begin(), f.begin() + len);
    FrameInfo info;
    const IoDrop d = ParseFrame(cut, RxOffload{}, info);
    if (len < 14) {
      EXPECT_EQ(d, IoDrop::kEthTruncated);
      continue;
    }
    if (len < 18) {
      EXPECT_EQ(d, IoDrop::kVlanTruncated);
      continue;
    }
    ASSERT_EQ(d, IoDrop::kNone);
    ASSERT_EQ(info.kind, FrameKind::kArp);
    ArpMessage m;
    EXPECT_EQ(ParseArp(cut, info, m), len < 18 + 28 ? IoDrop::kArpMalformed : IoDrop::kNone) << len;
  }
}

// ---------------------------------------------------------------------------------------------
// Each malformed frame yields exactly its drop. Mutations re-seal the checksums (with the
// reference code) so that only the intended defect remains.

TEST(ParseFrameTest, Ethernet) {
  Bytes f = Build(Flow(4), Payload(20));
  f[12] = 0x88;
  f[13] = 0xcc;  // LLDP
  EXPECT_EQ(Parse(f), IoDrop::kUnsupportedEtherType);
  f[12] = 0x00;
  f[13] = 0x2e;  // 802.3 length field
  EXPECT_EQ(Parse(f), IoDrop::kUnsupportedEtherType);
  EXPECT_EQ(Parse(Seed("double_tag_ipv4")), IoDrop::kUnsupportedEtherType);
  Bytes tagged = Build(Flow(4, VlanTag{}), Payload(20));
  tagged[16] = 0x81;
  tagged[17] = 0x00;  // a second C-tag
  EXPECT_EQ(Parse(tagged), IoDrop::kUnsupportedEtherType);
}

TEST(ParseFrameTest, Ipv4Header) {
  const Bytes good = Build(Flow(4), Payload(100));
  const size_t l3 = 14;
  {
    Bytes f = good;
    f[l3 + 10] ^= 0x01;
    EXPECT_EQ(Parse(f), IoDrop::kIpBadChecksum);
    // The NIC's verdict replaces the software check; the UDP checksum does not cover it.
    EXPECT_EQ(Parse(f, RxOffload{HwCheck::kGood, HwCheck::kUnknown}), IoDrop::kNone);
  }
  EXPECT_EQ(Parse(good, RxOffload{HwCheck::kBad, HwCheck::kGood}), IoDrop::kIpBadChecksum);
  {
    Bytes f = good;
    f[l3] = 0x65;  // version 6 under EtherType IPv4
    FixIpv4Checksum(f);
    EXPECT_EQ(Parse(f), IoDrop::kIpBadVersion);
  }
  {
    Bytes f = good;
    f[l3] = 0x44;
    EXPECT_EQ(Parse(f), IoDrop::kIpBadHeaderLength);
  }
  {
    // A real header with a Router Alert option (RFC 2113), re-sealed.
    Bytes f = good;
    f.insert(f.begin() + l3 + 20, {0x94, 0x04, 0x00, 0x00});
    f[l3] = 0x46;
    PutBe16(&f[l3 + 2], static_cast<uint16_t>(Be16(&f[l3 + 2]) + 4));
    FixIpv4Checksum(f);
    EXPECT_EQ(Parse(f), IoDrop::kIpOptions);
  }
  EXPECT_EQ(Parse(Seed("ipv4_options")), IoDrop::kIpOptions);
  for (uint16_t frag : {0x2000, 0x0001, 0x1FFF, 0x6000, 0x4001}) {
    Bytes f = good;
    PutBe16(&f[l3 + 6], frag);
    FixIpv4Checksum(f);
    EXPECT_EQ(Parse(f), IoDrop::kIpFragment) << frag;
  }
  {
    Bytes f = good;
    PutBe16(&f[l3 + 6], 0);  // DF clear, not a fragment
    FixIpv4Checksum(f);
    EXPECT_EQ(Parse(f), IoDrop::kNone);
  }
  for (int delta : {+1, -1}) {
    Bytes f = good;
    PutBe16(&f[l3 + 2], static_cast<uint16_t>(Be16(&f[l3 + 2]) + delta));
    FixIpv4Checksum(f);
    EXPECT_EQ(Parse(f), IoDrop::kIpBadTotalLength) << delta;
  }
  {
    Bytes f = good;
    PutBe16(&f[l3 + 2], 19);
    FixIpv4Checksum(f);
    EXPECT_EQ(Parse(f), IoDrop::kIpBadTotalLength);
  }
}

TEST(ParseFrameTest, Ipv4OtherProtocolsArePunted) {
  FrameInfo info;
  const Bytes echo = Seed("ipv4_icmp_echo");
  ASSERT_EQ(ParseFrame(echo, RxOffload{}, info), IoDrop::kNone);
  EXPECT_EQ(info.kind, FrameKind::kOtherIp);
  EXPECT_EQ(info.ip_proto, kIpProtoIcmp);
  EXPECT_EQ(info.payload_offset, 34);
  EXPECT_EQ(info.payload_len, 20);  // ICMP header + "ping-payload"; padding excluded
}

TEST(ParseFrameTest, Ipv6Header) {
  const Bytes good = Build(Flow(6), Payload(100));
  const size_t l3 = 14;
  {
    Bytes f = good;
    f[l3] = 0x45;
    EXPECT_EQ(Parse(f), IoDrop::kIpBadVersion);
  }
  EXPECT_EQ(Parse(good, RxOffload{HwCheck::kBad, HwCheck::kUnknown}), IoDrop::kNone)
      << "IPv6 has no header checksum: the IP flag is meaningless";
  for (int delta : {+1, -1}) {
    Bytes f = good;
    PutBe16(&f[l3 + 4], static_cast<uint16_t>(Be16(&f[l3 + 4]) + delta));
    EXPECT_EQ(Parse(f), IoDrop::kIpBadTotalLength) << delta;
  }
  EXPECT_EQ(Parse(Seed("ipv6_fragment")), IoDrop::kIpFragment);
  for (uint8_t nh : {0, 43, 60, 50, 51, 135, 139, 140, 253, 254}) {
    Bytes f = good;
    f[l3 + 6] = nh;
    EXPECT_EQ(Parse(f), IoDrop::kIpExtensionHeader) << int{nh};
  }
  EXPECT_EQ(Parse(Seed("ipv6_hop_by_hop")), IoDrop::kIpExtensionHeader);
  {
    Bytes f = good;
    f[l3 + 6] = 6;  // TCP
    FrameInfo info;
    ASSERT_EQ(ParseFrame(f, RxOffload{}, info), IoDrop::kNone);
    EXPECT_EQ(info.kind, FrameKind::kOtherIp);
    EXPECT_EQ(info.payload_len, 108);
  }
}

TEST(ParseFrameTest, UdpLengthsAndChecksums) {
  for (int family : {4, 6}) {
    SCOPED_TRACE(family);
    const Bytes good = Build(Flow(family), Payload(100));
    const size_t l4 = L4Of(good);
    {
      Bytes f = good;
      f[l4 + 20] ^= 0x40;  // payload corrupted in flight
      EXPECT_EQ(Parse(f), IoDrop::kUdpBadChecksum);
      EXPECT_EQ(Parse(f, RxOffload{HwCheck::kGood, HwCheck::kGood}), IoDrop::kNone);
    }
    EXPECT_EQ(Parse(good, RxOffload{HwCheck::kGood, HwCheck::kBad}), IoDrop::kUdpBadChecksum);
    // The length is checked before the checksum, so the checksum need not be re-sealed.
    for (int delta : {+1, -1, -101}) {
      Bytes f = good;
      PutBe16(&f[l4 + 4], static_cast<uint16_t>(Be16(&f[l4 + 4]) + delta));
      EXPECT_EQ(Parse(f), IoDrop::kUdpBadLength) << delta;
    }
    {
      // An IP payload too short for a UDP header.
      Bytes f(good.begin(), good.begin() + l4 + 6);
      const size_t l3 = 14;
      if (family == 4) {
        PutBe16(&f[l3 + 2], 26);
        FixIpv4Checksum(f);
      } else {
        PutBe16(&f[l3 + 4], 6);
      }
      EXPECT_EQ(Parse(f), IoDrop::kUdpTruncated);
    }
    {
      Bytes f = good;
      PutBe16(&f[l4 + 6], 0);
      EXPECT_EQ(Parse(f), family == 4 ? IoDrop::kNone : IoDrop::kUdpZeroChecksumV6);
      // A NIC calling a zero IPv4 checksum bad (82599 erratum) does not drop it; a NIC calling
      // an IPv6 one good does not make it acceptable.
      EXPECT_EQ(Parse(f, RxOffload{HwCheck::kGood, HwCheck::kBad}),
                family == 4 ? IoDrop::kNone : IoDrop::kUdpZeroChecksumV6);
      EXPECT_EQ(Parse(f, RxOffload{HwCheck::kGood, HwCheck::kGood}),
                family == 4 ? IoDrop::kNone : IoDrop::kUdpZeroChecksumV6);
    }
  }
}

TEST(ParseFrameTest, EthernetPaddingIsAcceptedUpToTheMinimumFrame) {
  const Bytes padded = Seed("ipv4_udp_zero_checksum_padded");
  ASSERT_EQ(padded.size(), 60u);
  FrameInfo info;
  ASSERT_EQ(ParseFrame(padded, RxOffload{}, info), IoDrop::kNone);
  EXPECT_EQ(info.payload_len, 4);
  EXPECT_EQ(info.payload_offset, 42);

  // Built (checksummed) frames with 0..17 byte payloads, padded like a NIC would.
  for (int family : {4, 6}) {
    for (bool tagged : {false, true}) {
      for (size_t n = 0; n < 18; ++n) {
        Bytes f = Build(Flow(family, tagged ? std::optional<VlanTag>(VlanTag{}) : std::nullopt),
                        Payload(n));
        const size_t min = tagged ? 64 : 60;
        if (f.size() < min) f.resize(min, 0);
        ASSERT_EQ(ParseFrame(f, RxOffload{}, info), IoDrop::kNone) << family << tagged << n;
        EXPECT_EQ(info.payload_len, n);
      }
    }
  }
  // Tagged by a bridge after padding: 64 bytes with a tag.
  ASSERT_EQ(ParseFrame(Seed("vlan_arp_request"), RxOffload{}, info), IoDrop::kNone);

  // Bytes after the datagram in a frame longer than the minimum are a lying length.
  for (int family : {4, 6}) {
    Bytes f = Build(Flow(family), Payload(100));
    f.push_back(0);
    EXPECT_EQ(Parse(f), IoDrop::kIpBadTotalLength) << family;
    Bytes small = Build(Flow(family), Payload(2));  // 44 (v4) / 64 (v6) bytes
    small.resize(65, 0);
    EXPECT_EQ(Parse(small), IoDrop::kIpBadTotalLength) << family;
  }
}

TEST(ParseFrameTest, SeedCorpusVerdicts) {
  struct Case {
    const char* name;
    IoDrop drop;
    FrameKind kind;
  };
  const Case cases[] = {
      {"ipv4_udp_rtp", IoDrop::kNone, FrameKind::kUdp},
      {"ipv6_udp_rtp", IoDrop::kNone, FrameKind::kUdp},
      {"vlan_ipv4_udp_rtp", IoDrop::kNone, FrameKind::kUdp},
      {"stag_ipv6_udp_rtp", IoDrop::kNone, FrameKind::kUdp},
      {"double_tag_ipv4", IoDrop::kUnsupportedEtherType, {}},
      {"arp_request", IoDrop::kNone, FrameKind::kArp},
      {"arp_reply", IoDrop::kNone, FrameKind::kArp},
      {"vlan_arp_request", IoDrop::kNone, FrameKind::kArp},
      {"ndp_ns", IoDrop::kNone, FrameKind::kIcmpv6},
      {"ndp_ns_dad", IoDrop::kNone, FrameKind::kIcmpv6},
      {"ndp_na", IoDrop::kNone, FrameKind::kIcmpv6},
      {"ipv4_fragment_mf", IoDrop::kIpFragment, {}},
      {"ipv4_fragment_offset", IoDrop::kIpFragment, {}},
      {"ipv6_fragment", IoDrop::kIpFragment, {}},
      {"ipv6_hop_by_hop", IoDrop::kIpExtensionHeader, {}},
      {"ipv4_options", IoDrop::kIpOptions, {}},
      {"ipv4_bad_ip_checksum", IoDrop::kIpBadChecksum, {}},
      {"ipv4_bad_udp_checksum", IoDrop::kUdpBadChecksum, {}},
      {"ipv4_udp_zero_checksum_padded", IoDrop::kNone, FrameKind::kUdp},
      {"ipv6_udp_zero_checksum", IoDrop::kUdpZeroChecksumV6, {}},
      {"ipv4_icmp_echo", IoDrop::kNone, FrameKind::kOtherIp},
      {"ipv6_icmp_echo", IoDrop::kNone, FrameKind::kIcmpv6},
  };
  for (const auto& c : cases) {
    const Bytes f = Seed(c.name);
    ASSERT_FALSE(f.empty()) << c.name;
    FrameInfo info;
    EXPECT_EQ(ParseFrame(f, RxOffload{}, info), c.drop) << c.name;
    if (c.drop == IoDrop::kNone) {
      EXPECT_EQ(info.kind, c.kind) << c.name;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ARP.

FrameInfo ParsedOrDie(const Bytes& f) {
  FrameInfo info;
  EXPECT_EQ(ParseFrame(f, RxOffload{}, info), IoDrop::kNone);
  return info;
}

TEST(ArpTest, RequestGetsAReplyThatParses) {
  for (const char* seed : {"arp_request", "vlan_arp_request"}) {
    SCOPED_TRACE(seed);
    const Bytes req = Seed(seed);
    const FrameInfo ri = ParsedOrDie(req);
    ArpMessage m;
    ASSERT_EQ(ParseArp(req, ri, m), IoDrop::kNone);
    EXPECT_EQ(m.op, ArpOp::kRequest);
    EXPECT_EQ(m.sender_mac, kMacB);
    EXPECT_EQ(m.sender_ip, V4("10.0.0.2"));
    EXPECT_EQ(m.target_ip, V4("10.0.0.1"));
    EXPECT_EQ(m.target_mac, MacAddr{});

    uint8_t out[128];
    const size_t n = BuildArpReply(ri, m, kMacA, out);
    ASSERT_EQ(n, ri.has_vlan ? 64u : 60u);
    const Bytes rep(out, out + n);
    const FrameInfo pi = ParsedOrDie(rep);
    EXPECT_EQ(pi.kind, FrameKind::kArp);
    EXPECT_EQ(pi.vlan(), ri.vlan());
    EXPECT_EQ(pi.dst_mac, kMacB);
    EXPECT_EQ(pi.src_mac, kMacA);
    ArpMessage r;
    ASSERT_EQ(ParseArp(rep, pi, r), IoDrop::kNone);
    EXPECT_EQ(r.op, ArpOp::kReply);
    EXPECT_EQ(r.sender_mac, kMacA);
    EXPECT_EQ(r.sender_ip, V4("10.0.0.1"));
    EXPECT_EQ(r.target_mac, kMacB);
    EXPECT_EQ(r.target_ip, V4("10.0.0.2"));
    if (!ri.has_vlan) {
      EXPECT_EQ(rep, Seed("arp_reply"));  // byte for byte, padding included
    }

    EXPECT_EQ(BuildArpReply(ri, m, kMacA, std::span<uint8_t>(out, n - 1)), 0u);
    EXPECT_EQ(BuildArpReply(pi, r, kMacA, out), 0u) << "a reply is not answered";
  }
}

TEST(ArpTest, RequestBuilder) {
  uint8_t out[64];
  const size_t n =
      BuildArpRequest(kMacA, V4("10.0.0.1"), V4("10.0.0.2"), VlanTag{kEtherTypeVlan, 7}, out);
  ASSERT_EQ(n, 64u);
  const Bytes f(out, out + n);
  const FrameInfo info = ParsedOrDie(f);
  EXPECT_EQ(info.dst_mac, kBroadcastMac);
  EXPECT_EQ(info.vlan_tci, 7);
  ArpMessage m;
  ASSERT_EQ(ParseArp(f, info, m), IoDrop::kNone);
  EXPECT_EQ(m.op, ArpOp::kRequest);
  EXPECT_EQ(m.sender_mac, kMacA);
  EXPECT_EQ(m.sender_ip, V4("10.0.0.1"));
  EXPECT_EQ(m.target_mac, MacAddr{});
  EXPECT_EQ(m.target_ip, V4("10.0.0.2"));
  EXPECT_EQ(BuildArpRequest(kMacA, V4("10.0.0.1"), V4("10.0.0.2"), std::nullopt,
                            std::span<uint8_t>(out, 59)),
            0u);
  EXPECT_EQ(BuildArpRequest(kMacA, V6("::1"), V4("10.0.0.2"), std::nullopt, out), 0u);
}

TEST(ArpTest, MalformedPacketsAreRefused) {
  const Bytes good = Seed("arp_request");
  const size_t a = 14;
  auto verdict = [](const Bytes& f) {
    FrameInfo info;
    if (ParseFrame(f, RxOffload{}, info) != IoDrop::kNone) return IoDrop::kCount;
    ArpMessage m;
    return ParseArp(f, info, m);
  };
  auto mutated = [&](size_t at, const Bytes& bytes) {
    Bytes f = good;
    std::copy(bytes.begin(), bytes.end(), f.begin() + at);
    return f;
  };
  EXPECT_EQ(verdict(good), IoDrop::kNone);
  EXPECT_EQ(verdict(mutated(a + 0, {0x00, 0x06})), IoDrop::kArpMalformed);  // IEEE 802 hw type
  EXPECT_EQ(verdict(mutated(a + 2, {0x86, 0xdd})), IoDrop::kArpMalformed);
  EXPECT_EQ(verdict(mutated(a + 4, {8})), IoDrop::kArpMalformed);
  EXPECT_EQ(verdict(mutated(a + 5, {16})), IoDrop::kArpMalformed);
  EXPECT_EQ(verdict(mutated(a + 6, {0, 3})), IoDrop::kArpMalformed);  // RARP request
  EXPECT_EQ(verdict(mutated(a + 8, {0x01})), IoDrop::kArpMalformed);  // group sender MAC
  EXPECT_EQ(verdict(mutated(a + 14, {255, 255, 255, 255})), IoDrop::kArpMalformed);
  EXPECT_EQ(verdict(mutated(a + 14, {224, 0, 0, 1})), IoDrop::kArpMalformed);
  EXPECT_EQ(verdict(mutated(a + 24, {239, 1, 2, 3})), IoDrop::kArpMalformed);
  EXPECT_EQ(verdict(mutated(a + 14, {0, 0, 0, 0})), IoDrop::kNone);  // RFC 5227 probe

  // An info that does not describe an ARP frame is refused rather than trusted.
  FrameInfo ipinfo = ParsedOrDie(Build(Flow(4), Payload(10)));
  ArpMessage m;
  EXPECT_EQ(ParseArp(good, ipinfo, m), IoDrop::kArpMalformed);
  FrameInfo far = ParsedOrDie(good);
  far.l3_offset = 60;
  EXPECT_EQ(ParseArp(good, far, m), IoDrop::kArpMalformed);
}

// ---------------------------------------------------------------------------------------------
// Neighbor Discovery.

IoDrop NdVerdict(const Bytes& f, NdMessage* out = nullptr) {
  FrameInfo info;
  const IoDrop d = ParseFrame(f, RxOffload{}, info);
  if (d != IoDrop::kNone) return d;
  NdMessage m;
  const Bytes copy(f);
  const IoDrop r = ParseNdp(copy, info, m);
  if (out) *out = m;
  return r;
}

TEST(NdpTest, AddressesOfASolicitation) {
  const IpAddr a = V6("2001:db8::1234:5678");
  EXPECT_EQ(SolicitedNodeAddress(a), V6("ff02::1:ff34:5678"));
  EXPECT_EQ(Ipv6MulticastMac(SolicitedNodeAddress(a)),
            (MacAddr{0x33, 0x33, 0xff, 0x34, 0x56, 0x78}));
  EXPECT_EQ(Ipv6MulticastMac(V6("ff02::1")), (MacAddr{0x33, 0x33, 0, 0, 0, 1}));
}

TEST(NdpTest, SolicitationGetsAnAdvertisementThatVerifies) {
  const Bytes ns = Seed("ndp_ns");
  const FrameInfo ni = ParsedOrDie(ns);
  NdMessage m;
  ASSERT_EQ(ParseNdp(ns, ni, m), IoDrop::kNone);
  EXPECT_EQ(m.type, NdType::kNeighborSolicitation);
  EXPECT_EQ(m.target, V6("fe80::1"));
  EXPECT_EQ(m.source_ll, kMacB);
  EXPECT_FALSE(m.target_ll.has_value());

  uint8_t out[128];
  const size_t n = BuildNeighborAdvertisement(ni, m, kMacA, out);
  ASSERT_EQ(n, 14u + 40 + 32);
  const Bytes na(out, out + n);
  const FrameInfo ai = ParsedOrDie(na);
  EXPECT_EQ(ai.kind, FrameKind::kIcmpv6);
  EXPECT_EQ(ai.dst_mac, kMacB);
  EXPECT_EQ(ai.src_mac, kMacA);
  EXPECT_EQ(ai.src, V6("fe80::1"));
  EXPECT_EQ(ai.dst, V6("fe80::2"));
  EXPECT_EQ(ai.hop_limit, 255);
  // The checksum, checked by the parser and by the reference.
  EXPECT_EQ(Be16(&na[54 + 2]), RefL4Checksum(na, 14, 54, na.size(), kIpProtoIcmpv6, 2));
  NdMessage a;
  ASSERT_EQ(ParseNdp(na, ai, a), IoDrop::kNone);
  EXPECT_EQ(a.type, NdType::kNeighborAdvertisement);
  EXPECT_EQ(a.target, V6("fe80::1"));
  EXPECT_TRUE(a.solicited);
  EXPECT_TRUE(a.override_flag);
  EXPECT_FALSE(a.router);
  EXPECT_EQ(a.target_ll, kMacA);
  EXPECT_EQ(na, Seed("ndp_na")) << "byte for byte as the independent builder";

  EXPECT_EQ(BuildNeighborAdvertisement(ni, m, kMacA, std::span<uint8_t>(out, n - 1)), 0u);
  EXPECT_EQ(BuildNeighborAdvertisement(ai, a, kMacA, out), 0u) << "an NA is not answered";
}

TEST(NdpTest, AnswersWithoutSourceOptionAndToDuplicateAddressDetection) {
  {
    // No source link-layer option: answer the frame's source MAC.
    Bytes ns = Seed("ndp_ns");
    ns.resize(ns.size() - 8);
    PutBe16(&ns[14 + 4], 24);
    FixIcmpv6Checksum(ns);
    const FrameInfo ni = ParsedOrDie(ns);
    NdMessage m;
    ASSERT_EQ(ParseNdp(ns, ni, m), IoDrop::kNone);
    EXPECT_FALSE(m.source_ll.has_value());
    ns[6 + 5] = 0x77;  // frame source MAC 02:00:00:00:00:77
    uint8_t out[128];
    const size_t n = BuildNeighborAdvertisement(ParsedOrDie(ns), m, kMacA, out);
    ASSERT_NE(n, 0u);
    EXPECT_EQ(out[5], 0x77);
  }
  {
    const Bytes dad = Seed("ndp_ns_dad");
    const FrameInfo ni = ParsedOrDie(dad);
    NdMessage m;
    ASSERT_EQ(ParseNdp(dad, ni, m), IoDrop::kNone);
    uint8_t out[128];
    const size_t n = BuildNeighborAdvertisement(ni, m, kMacA, out);
    const Bytes na(out, out + n);
    const FrameInfo ai = ParsedOrDie(na);
    EXPECT_EQ(ai.dst, V6("ff02::1"));
    EXPECT_EQ(ai.dst_mac, (MacAddr{0x33, 0x33, 0, 0, 0, 1}));
    NdMessage a;
    ASSERT_EQ(ParseNdp(na, ai, a), IoDrop::kNone);
    EXPECT_FALSE(a.solicited);
    EXPECT_TRUE(a.override_flag);
  }
}

TEST(NdpTest, SolicitationBuilder) {
  uint8_t out[128];
  const IpAddr target = V6("2001:db8::1234:5678");
  const size_t n =
      BuildNeighborSolicitation(kMacA, V6("2001:db8::1"), target, VlanTag{kEtherTypeVlan, 42}, out);
  ASSERT_EQ(n, 18u + 40 + 32);
  const Bytes f(out, out + n);
  const FrameInfo info = ParsedOrDie(f);
  EXPECT_EQ(info.vlan_tci, 42);
  EXPECT_EQ(info.dst, V6("ff02::1:ff34:5678"));
  EXPECT_EQ(info.dst_mac, (MacAddr{0x33, 0x33, 0xff, 0x34, 0x56, 0x78}));
  EXPECT_EQ(info.hop_limit, 255);
  NdMessage m;
  ASSERT_EQ(ParseNdp(f, info, m), IoDrop::kNone);
  EXPECT_EQ(m.type, NdType::kNeighborSolicitation);
  EXPECT_EQ(m.target, target);
  EXPECT_EQ(m.source_ll, kMacA);

  const size_t d = BuildNeighborSolicitation(kMacA, V6("::"), target, std::nullopt, out);
  ASSERT_EQ(d, 14u + 40 + 24);
  const Bytes dad(out, out + d);
  ASSERT_EQ(ParseNdp(dad, ParsedOrDie(dad), m), IoDrop::kNone);
  EXPECT_FALSE(m.source_ll.has_value());

  EXPECT_EQ(BuildNeighborSolicitation(kMacA, V6("2001:db8::1"), V6("ff02::1"), std::nullopt, out),
            0u);
  EXPECT_EQ(BuildNeighborSolicitation(kMacA, V4("10.0.0.1"), target, std::nullopt, out), 0u);
  EXPECT_EQ(BuildNeighborSolicitation(kMacA, V6("2001:db8::1"), target, std::nullopt,
                                      std::span<uint8_t>(out, 85)),
            0u);
}

TEST(NdpTest, MalformedMessagesAreRefused) {
  const Bytes ns = Seed("ndp_ns");
  const Bytes na = Seed("ndp_na");
  const size_t ip = 14, icmp = 54;
  auto with = [](Bytes f, size_t at, const Bytes& bytes, bool reseal = true) {
    std::copy(bytes.begin(), bytes.end(), f.begin() + at);
    if (reseal) FixIcmpv6Checksum(f);
    return f;
  };
  EXPECT_EQ(NdVerdict(ns), IoDrop::kNone);
  EXPECT_EQ(NdVerdict(na), IoDrop::kNone);
  // Hop limit is not in the pseudo-header: the checksum stays valid.
  EXPECT_EQ(NdVerdict(with(ns, ip + 7, {254}, false)), IoDrop::kNdMalformed);
  EXPECT_EQ(NdVerdict(with(ns, icmp + 2, {0x00, 0x00}, false)), IoDrop::kNdMalformed);
  EXPECT_EQ(NdVerdict(with(ns, icmp + 30, {0x55}, false)), IoDrop::kNdMalformed);  // checksum
  EXPECT_EQ(NdVerdict(with(ns, icmp + 1, {1})), IoDrop::kNdMalformed);             // code
  EXPECT_EQ(NdVerdict(with(ns, icmp + 8, {0xff, 0x02})), IoDrop::kNdMalformed);    // target
  EXPECT_EQ(NdVerdict(with(ns, icmp + 25, {0})), IoDrop::kNdMalformed);     // option length 0
  EXPECT_EQ(NdVerdict(with(ns, icmp + 25, {2})), IoDrop::kNdMalformed);     // past the end
  EXPECT_EQ(NdVerdict(with(ns, icmp + 26, {0x03})), IoDrop::kNdMalformed);  // group MAC
  EXPECT_EQ(NdVerdict(with(ns, ip + 8, {0xff})), IoDrop::kNdMalformed);     // multicast source
  EXPECT_EQ(NdVerdict(with(ns, icmp + 24, {14})), IoDrop::kNone);  // unknown option skipped
  {
    // A link-layer option of 16 bytes: the Ethernet form is exactly 8.
    Bytes f = ns;
    f.insert(f.end(), 8, 0);
    PutBe16(&f[ip + 4], static_cast<uint16_t>(Be16(&f[ip + 4]) + 8));
    f[icmp + 25] = 2;
    FixIcmpv6Checksum(f);
    EXPECT_EQ(NdVerdict(f), IoDrop::kNdMalformed);
  }
  {
    // Shorter than the fixed NS body.
    Bytes f(ns.begin(), ns.begin() + icmp + 20);
    PutBe16(&f[ip + 4], 20);
    FixIcmpv6Checksum(f);
    EXPECT_EQ(NdVerdict(f), IoDrop::kNdMalformed);
  }
  {
    // DAD: to the target's solicited-node group, never with a source option.
    const Bytes dad = Seed("ndp_ns_dad");
    EXPECT_EQ(NdVerdict(dad), IoDrop::kNone);
    EXPECT_EQ(NdVerdict(with(dad, ip + 24 + 15, {0x02})), IoDrop::kNdMalformed);
    EXPECT_EQ(NdVerdict(with(ns, ip + 8, Bytes(16, 0))), IoDrop::kNdMalformed);
  }
  // An NA to a group must not claim to be solicited.
  EXPECT_EQ(NdVerdict(with(na, ip + 24, {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})),
            IoDrop::kNdMalformed);
  EXPECT_EQ(
      NdVerdict(with(with(na, ip + 24, {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}),
                     icmp + 4, {0x20})),
      IoDrop::kNone);

  // Other ICMPv6 messages: checksum verified, nothing else.
  NdMessage m;
  const Bytes echo = Seed("ipv6_icmp_echo");
  ASSERT_EQ(NdVerdict(echo, &m), IoDrop::kNone);
  EXPECT_EQ(m.type, NdType::kOther);
  EXPECT_EQ(m.icmp_type, 128);
  EXPECT_EQ(NdVerdict(with(echo, icmp + 8, {0x00}, false)), IoDrop::kNdMalformed);

  // An info that does not match the frame is refused, not trusted.
  FrameInfo info = ParsedOrDie(ns);
  const Bytes shorter(ns.begin(), ns.begin() + 70);
  EXPECT_EQ(ParseNdp(shorter, info, m), IoDrop::kNdMalformed);
  EXPECT_EQ(ParseNdp(ns, ParsedOrDie(Build(Flow(6), Payload(30))), m), IoDrop::kNdMalformed);
}

}  // namespace
}  // namespace mpswitch::dataplane::io
