#include "mpswitch/dataplane/io/frame.h"

#include <arpa/inet.h>

#include <bit>
#include <cassert>
#include <cstdio>
#include <cstring>

#include "absl/status/status.h"
#include "mpswitch/dataplane/core/packet.h"

namespace mpswitch::dataplane::io {
namespace {

constexpr uint8_t kIcmpv6NeighborSolicitation = 135;
constexpr uint8_t kIcmpv6NeighborAdvertisement = 136;
constexpr uint8_t kNdOptSourceLl = 1;
constexpr uint8_t kNdOptTargetLl = 2;
constexpr size_t kArpLen = 28;
constexpr size_t kNdFixedLen = 24;  // ICMPv6 header, flags/reserved, target
constexpr size_t kNdLlOptLen = 8;
constexpr uint8_t kNdHopLimit = 255;
constexpr uint16_t kIpv4FlagDf = 0x4000;
constexpr uint16_t kIpv4FlagMf = 0x2000;
constexpr uint16_t kIpv4FragOffsetMask = 0x1FFF;

// RFC 7045 §4 list of IPv6 extension headers, fragment (44) aside.
constexpr bool IsIpv6ExtensionHeader(uint8_t nh) {
  switch (nh) {
    case 0:    // hop-by-hop options
    case 43:   // routing
    case 50:   // ESP
    case 51:   // AH
    case 60:   // destination options
    case 135:  // mobility
    case 139:  // HIP
    case 140:  // shim6
    case 253:  // experimental
    case 254:
      return true;
    default:
      return false;
  }
}

// Frames longer than this cannot carry Ethernet padding after their datagram.
constexpr size_t MaxPaddedFrame(bool tagged) { return kEthMinFrame + (tagged ? kVlanTagLen : 0); }

IoDrop ParseUdp(std::span<const uint8_t> f, RxOffload hw, FrameInfo& info) {
  const size_t l4 = info.l4_offset;
  const size_t ip_payload = info.payload_len;
  if (ip_payload < kUdpHeaderLen) return IoDrop::kUdpTruncated;
  const uint8_t* u = f.data() + l4;
  const uint16_t udp_len = LoadBe16(u + 4);
  if (udp_len != ip_payload) return IoDrop::kUdpBadLength;
  info.src_port = LoadBe16(u);
  info.dst_port = LoadBe16(u + 2);
  info.udp_checksum = LoadBe16(u + 6);
  if (info.udp_checksum == 0) {
    // RFC 768: zero means the sender computed none. Checked before the NIC's verdict because some
    // NICs (82599 erratum) flag zero-checksum IPv4 datagrams as bad.
    if (info.src.is_v6()) return IoDrop::kUdpZeroChecksumV6;
  } else if (hw.l4 == HwCheck::kBad) {
    return IoDrop::kUdpBadChecksum;
  } else if (hw.l4 != HwCheck::kGood) {
    const uint32_t sum = ChecksumPartial(f.subspan(l4, udp_len),
                                         PseudoHeaderSum(info.src, info.dst, kIpProtoUdp, udp_len));
    if (ChecksumFold(sum) != 0xFFFF) return IoDrop::kUdpBadChecksum;
  }
  info.kind = FrameKind::kUdp;
  info.payload_offset = static_cast<uint16_t>(l4 + kUdpHeaderLen);
  info.payload_len = static_cast<uint16_t>(udp_len - kUdpHeaderLen);
  return IoDrop::kNone;
}

IoDrop ParseIpv4(std::span<const uint8_t> f, RxOffload hw, FrameInfo& info) {
  const size_t l3 = info.l3_offset;
  const size_t avail = f.size() - l3;
  if (avail < kIpv4HeaderLen) return IoDrop::kIpTruncated;
  const uint8_t* ip = f.data() + l3;
  if ((ip[0] >> 4) != 4) return IoDrop::kIpBadVersion;
  const size_t ihl = ip[0] & 0x0F;
  if (ihl < 5) return IoDrop::kIpBadHeaderLength;
  // Options are refused before anything reads past the fixed header, so the rest of the code can
  // assume 20 bytes.
  if (ihl > 5) return IoDrop::kIpOptions;
  const size_t total = LoadBe16(ip + 2);
  if (total < kIpv4HeaderLen || total > avail) return IoDrop::kIpBadTotalLength;
  if (total < avail && f.size() > MaxPaddedFrame(info.has_vlan)) return IoDrop::kIpBadTotalLength;
  if (hw.ip == HwCheck::kBad) return IoDrop::kIpBadChecksum;
  if (hw.ip != HwCheck::kGood &&
      ChecksumFold(ChecksumPartial(f.subspan(l3, kIpv4HeaderLen))) != 0xFFFF) {
    return IoDrop::kIpBadChecksum;
  }
  const uint16_t frag = LoadBe16(ip + 6);
  if ((frag & (kIpv4FlagMf | kIpv4FragOffsetMask)) != 0) return IoDrop::kIpFragment;
  info.traffic_class = ip[1];
  info.hop_limit = ip[8];
  info.ip_proto = ip[9];
  info.src = IpAddr::FromV4Bytes(ip + 12);
  info.dst = IpAddr::FromV4Bytes(ip + 16);
  info.l4_offset = static_cast<uint16_t>(l3 + kIpv4HeaderLen);
  info.payload_offset = info.l4_offset;
  info.payload_len = static_cast<uint16_t>(total - kIpv4HeaderLen);
  if (info.ip_proto == kIpProtoUdp) return ParseUdp(f, hw, info);
  info.kind = FrameKind::kOtherIp;
  return IoDrop::kNone;
}

IoDrop ParseIpv6(std::span<const uint8_t> f, RxOffload hw, FrameInfo& info) {
  const size_t l3 = info.l3_offset;
  const size_t avail = f.size() - l3;
  if (avail < kIpv6HeaderLen) return IoDrop::kIpTruncated;
  const uint8_t* ip = f.data() + l3;
  const uint32_t word0 = LoadBe32(ip);
  if ((word0 >> 28) != 6) return IoDrop::kIpBadVersion;
  const size_t plen = LoadBe16(ip + 4);
  if (kIpv6HeaderLen + plen > avail) return IoDrop::kIpBadTotalLength;
  if (kIpv6HeaderLen + plen < avail && f.size() > MaxPaddedFrame(info.has_vlan)) {
    return IoDrop::kIpBadTotalLength;
  }
  const uint8_t nh = ip[6];
  if (nh == 44) return IoDrop::kIpFragment;
  if (IsIpv6ExtensionHeader(nh)) return IoDrop::kIpExtensionHeader;
  info.traffic_class = static_cast<uint8_t>(word0 >> 20);
  info.flow_label = word0 & 0xFFFFF;
  info.ip_proto = nh;
  info.hop_limit = ip[7];
  info.src = IpAddr::FromV6(std::span<const uint8_t, 16>(ip + 8, 16));
  info.dst = IpAddr::FromV6(std::span<const uint8_t, 16>(ip + 24, 16));
  info.l4_offset = static_cast<uint16_t>(l3 + kIpv6HeaderLen);
  info.payload_offset = info.l4_offset;
  info.payload_len = static_cast<uint16_t>(plen);
  if (nh == kIpProtoUdp) return ParseUdp(f, hw, info);
  info.kind = nh == kIpProtoIcmpv6 ? FrameKind::kIcmpv6 : FrameKind::kOtherIp;
  return IoDrop::kNone;
}

// Writes the Ethernet header (and tag) at `out`; returns its length.
size_t WriteEthernet(uint8_t* out, const MacAddr& dst, const MacAddr& src,
                     const std::optional<VlanTag>& vlan, uint16_t ether_type) {
  std::memcpy(out, dst.data(), 6);
  std::memcpy(out + 6, src.data(), 6);
  size_t off = 12;
  if (vlan) {
    StoreBe16(out + off, vlan->tpid);
    StoreBe16(out + off + 2, vlan->tci);
    off += kVlanTagLen;
  }
  StoreBe16(out + off, ether_type);
  return off + 2;
}

constexpr size_t EthLen(const std::optional<VlanTag>& vlan) {
  return kEthHeaderLen + (vlan ? kVlanTagLen : 0);
}

// Zero-pads a frame of `len` bytes to the Ethernet minimum; `out` must be large enough (callers
// check the padded length up front).
size_t Pad(std::span<uint8_t> out, size_t len, bool tagged) {
  const size_t min = MaxPaddedFrame(tagged);
  if (len >= min) return len;
  std::memset(out.data() + len, 0, min - len);
  return min;
}

size_t FramedLen(size_t len, bool tagged) {
  return len < MaxPaddedFrame(tagged) ? MaxPaddedFrame(tagged) : len;
}

size_t WriteArp(ArpOp op, const MacAddr& eth_dst, const MacAddr& sender_mac,
                const IpAddr& sender_ip, const MacAddr& target_mac, const IpAddr& target_ip,
                const std::optional<VlanTag>& vlan, std::span<uint8_t> out) {
  const size_t len = EthLen(vlan) + kArpLen;
  if (out.size() < FramedLen(len, vlan.has_value())) return 0;
  uint8_t* p = out.data();
  uint8_t* a = p + WriteEthernet(p, eth_dst, sender_mac, vlan, kEtherTypeArp);
  StoreBe16(a, 1);  // Ethernet
  StoreBe16(a + 2, kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  StoreBe16(a + 6, static_cast<uint16_t>(op));
  std::memcpy(a + 8, sender_mac.data(), 6);
  std::memcpy(a + 14, sender_ip.b.data(), 4);
  std::memcpy(a + 18, target_mac.data(), 6);
  std::memcpy(a + 24, target_ip.b.data(), 4);
  return Pad(out, len, vlan.has_value());
}

bool IsSolicitedNodeOf(const IpAddr& group, const IpAddr& target) {
  return group == SolicitedNodeAddress(target);
}

// Writes Ethernet + IPv6 + an NS/NA body with one link-layer option (when `ll_opt_type` != 0) and
// its checksum.
size_t WriteNd(uint8_t icmp_type, uint32_t flags, const MacAddr& eth_dst, const MacAddr& eth_src,
               const IpAddr& src, const IpAddr& dst, const IpAddr& target, uint8_t ll_opt_type,
               const std::optional<VlanTag>& vlan, std::span<uint8_t> out) {
  const size_t icmp_len = kNdFixedLen + (ll_opt_type != 0 ? kNdLlOptLen : 0);
  const size_t len = EthLen(vlan) + kIpv6HeaderLen + icmp_len;
  if (out.size() < FramedLen(len, vlan.has_value())) return 0;
  uint8_t* p = out.data();
  uint8_t* ip = p + WriteEthernet(p, eth_dst, eth_src, vlan, kEtherTypeIpv6);
  StoreBe32(ip, 6u << 28);
  StoreBe16(ip + 4, static_cast<uint16_t>(icmp_len));
  ip[6] = kIpProtoIcmpv6;
  ip[7] = kNdHopLimit;
  std::memcpy(ip + 8, src.b.data(), 16);
  std::memcpy(ip + 24, dst.b.data(), 16);
  uint8_t* icmp = ip + kIpv6HeaderLen;
  icmp[0] = icmp_type;
  icmp[1] = 0;
  StoreBe16(icmp + 2, 0);
  StoreBe32(icmp + 4, flags);
  std::memcpy(icmp + 8, target.b.data(), 16);
  if (ll_opt_type != 0) {
    icmp[24] = ll_opt_type;
    icmp[25] = 1;  // in units of 8 bytes
    std::memcpy(icmp + 26, eth_src.data(), 6);
  }
  const uint32_t sum =
      ChecksumPartial(std::span<const uint8_t>(icmp, icmp_len),
                      PseudoHeaderSum(src, dst, kIpProtoIcmpv6, static_cast<uint32_t>(icmp_len)));
  StoreBe16(icmp + 2, static_cast<uint16_t>(~ChecksumFold(sum)));
  return Pad(out, len, vlan.has_value());
}

}  // namespace

std::string MacToString(const MacAddr& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

uint32_t ChecksumPartial(std::span<const uint8_t> data, uint32_t sum) {
  // One's complement addition does not depend on byte order (RFC 1071 §2(B)): add native-order
  // 64-bit words with end-around carry, fold, and swap the 16-bit result into network order once.
  // 32-bit words are added into 64-bit accumulators, so no carry is ever lost and no add waits
  // for the previous one's carry: the loop vectorises. Folding the sum of 32-bit words modulo
  // 0xFFFF gives the 16-bit one's complement sum, since 2^16 = 1 (mod 0xFFFF).
  const uint8_t* p = data.data();
  size_t n = data.size();
  uint64_t acc = 0;
  for (; n >= 4; p += 4, n -= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
  }
  if (n != 0) {
    // Zero-padding the tail pads an odd last byte with a zero byte, as RFC 1071 requires.
    uint8_t tail[4] = {};
    std::memcpy(tail, p, n);
    uint32_t w;
    std::memcpy(&w, tail, 4);
    acc += w;
  }
  uint64_t s = (acc & 0xFFFFFFFF) + (acc >> 32);
  s = (s & 0xFFFFFFFF) + (s >> 32);
  uint16_t folded = ChecksumFold(static_cast<uint32_t>(s));
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<uint16_t>((folded >> 8) | (folded << 8));
  }
  const uint64_t total = uint64_t{sum} + folded;
  return ChecksumFold(static_cast<uint32_t>(total) + static_cast<uint32_t>(total >> 32));
}

uint32_t PseudoHeaderSum(const IpAddr& src, const IpAddr& dst, uint8_t proto, uint32_t l4_len) {
  const size_t n = src.family == 6 ? 16 : 4;
  uint32_t sum = ChecksumPartial(std::span<const uint8_t>(src.b.data(), n));
  sum = ChecksumPartial(std::span<const uint8_t>(dst.b.data(), n), sum);
  sum += proto + (l4_len >> 16) + (l4_len & 0xFFFF);
  return ChecksumFold(sum);
}

IoDrop ParseFrame(std::span<const uint8_t> f, RxOffload hw, FrameInfo& info) {
  info = FrameInfo{};
  if (f.size() < kEthHeaderLen) return IoDrop::kEthTruncated;
  const uint8_t* p = f.data();
  std::memcpy(info.dst_mac.data(), p, 6);
  std::memcpy(info.src_mac.data(), p + 6, 6);
  uint16_t type = LoadBe16(p + 12);
  size_t l3 = kEthHeaderLen;
  if (type == kEtherTypeVlan || type == kEtherTypeQinq) {
    if (f.size() < kEthHeaderLen + kVlanTagLen) return IoDrop::kVlanTruncated;
    info.has_vlan = true;
    info.vlan_tpid = type;
    info.vlan_tci = LoadBe16(p + 14);
    type = LoadBe16(p + 16);
    l3 += kVlanTagLen;
    if (type == kEtherTypeVlan || type == kEtherTypeQinq) return IoDrop::kUnsupportedEtherType;
  }
  info.ether_type = type;
  info.l3_offset = static_cast<uint16_t>(l3);
  switch (type) {
    case kEtherTypeIpv4:
      return ParseIpv4(f, hw, info);
    case kEtherTypeIpv6:
      return ParseIpv6(f, hw, info);
    case kEtherTypeArp:
      info.kind = FrameKind::kArp;
      return IoDrop::kNone;
    default:
      return IoDrop::kUnsupportedEtherType;
  }
}

absl::StatusOr<HeaderTemplate> MakeUdpTemplate(const UdpFlow& flow) {
  const uint8_t family = flow.src.family;
  if ((family != 4 && family != 6) || flow.dst.family != family) {
    return absl::InvalidArgumentError("UDP flow: source and destination must both be IPv4 or IPv6");
  }
  if (flow.src.IsUnspecified() || flow.dst.IsUnspecified()) {
    return absl::InvalidArgumentError("UDP flow: unspecified address");
  }
  if (flow.src.IsMulticastOrBroadcast()) {
    return absl::InvalidArgumentError("UDP flow: multicast or broadcast source address");
  }
  if (IsGroupMac(flow.src_mac)) {
    return absl::InvalidArgumentError("UDP flow: group source MAC");
  }
  if (flow.src_port == 0 || flow.dst_port == 0) {
    return absl::InvalidArgumentError("UDP flow: zero port");
  }
  if (flow.ttl_or_hop_limit == 0) return absl::InvalidArgumentError("UDP flow: zero TTL");
  if (flow.dscp > 63) return absl::InvalidArgumentError("UDP flow: DSCP above 63");
  if (flow.flow_label > 0xFFFFF) {
    return absl::InvalidArgumentError("UDP flow: flow label wider than 20 bits");
  }
  if (flow.vlan) {
    if (flow.vlan->tpid != kEtherTypeVlan && flow.vlan->tpid != kEtherTypeQinq) {
      return absl::InvalidArgumentError("UDP flow: TPID is neither 0x8100 nor 0x88A8");
    }
    if ((flow.vlan->tci & 0x0FFF) == 0x0FFF) {
      return absl::InvalidArgumentError("UDP flow: VID 4095 is reserved");
    }
  }

  HeaderTemplate t;
  t.family = family;
  uint8_t* p = t.bytes.data();
  const uint16_t ether_type = family == 4 ? kEtherTypeIpv4 : kEtherTypeIpv6;
  const size_t l3 = WriteEthernet(p, flow.dst_mac, flow.src_mac, flow.vlan, ether_type);
  t.l3_offset = static_cast<uint8_t>(l3);
  uint8_t* ip = p + l3;
  const uint8_t tos = static_cast<uint8_t>(flow.dscp << 2);
  size_t l4;
  if (family == 4) {
    ip[0] = 0x45;
    ip[1] = tos;
    StoreBe16(ip + 6, kIpv4FlagDf);
    ip[8] = flow.ttl_or_hop_limit;
    ip[9] = kIpProtoUdp;
    std::memcpy(ip + 12, flow.src.b.data(), 4);
    std::memcpy(ip + 16, flow.dst.b.data(), 4);
    t.ip_sum = ChecksumPartial(std::span<const uint8_t>(ip, kIpv4HeaderLen));
    l4 = l3 + kIpv4HeaderLen;
  } else {
    StoreBe32(ip, (6u << 28) | (uint32_t{tos} << 20) | flow.flow_label);
    ip[6] = kIpProtoUdp;
    ip[7] = flow.ttl_or_hop_limit;
    std::memcpy(ip + 8, flow.src.b.data(), 16);
    std::memcpy(ip + 24, flow.dst.b.data(), 16);
    l4 = l3 + kIpv6HeaderLen;
  }
  StoreBe16(p + l4, flow.src_port);
  StoreBe16(p + l4 + 2, flow.dst_port);
  t.len = static_cast<uint8_t>(l4 + kUdpHeaderLen);
  t.pseudo_sum = PseudoHeaderSum(flow.src, flow.dst, kIpProtoUdp, 0);
  t.ports_sum = ChecksumFold(uint32_t{flow.src_port} + flow.dst_port);
  return t;
}

void WriteUdpHeaders(const HeaderTemplate& t, uint8_t* hdr, uint16_t payload_len, uint16_t ip_id,
                     bool hw_ip_csum, bool hw_udp_csum) {
  assert(payload_len <= (t.family == 4 ? kMaxUdpPayloadV4 : kMaxUdpPayloadV6));
  std::memcpy(hdr, t.bytes.data(), t.len);
  uint8_t* ip = hdr + t.l3_offset;
  const uint16_t udp_len = static_cast<uint16_t>(payload_len + kUdpHeaderLen);
  uint8_t* udp;
  if (t.family == 4) {
    const uint16_t total = static_cast<uint16_t>(udp_len + kIpv4HeaderLen);
    StoreBe16(ip + 2, total);
    StoreBe16(ip + 4, ip_id);
    const uint16_t csum =
        hw_ip_csum ? 0 : static_cast<uint16_t>(~ChecksumFold(t.ip_sum + total + ip_id));
    StoreBe16(ip + 10, csum);
    udp = ip + kIpv4HeaderLen;
  } else {
    StoreBe16(ip + 4, udp_len);
    udp = ip + kIpv6HeaderLen;
  }
  StoreBe16(udp + 4, udp_len);
  const uint16_t pseudo = ChecksumFold(t.pseudo_sum + udp_len);
  if (hw_udp_csum) {
    StoreBe16(udp + 6, pseudo);
    return;
  }
  // The UDP length counts twice: once in the pseudo-header, once in the UDP header.
  const uint32_t sum = ChecksumPartial(std::span<const uint8_t>(hdr + t.len, payload_len),
                                       pseudo + t.ports_sum + udp_len);
  uint16_t csum = static_cast<uint16_t>(~ChecksumFold(sum));
  if (csum == 0) csum = 0xFFFF;  // zero means "no checksum" (RFC 768)
  StoreBe16(udp + 6, csum);
}

void WriteUdpHeadersWithPayloadSum(const HeaderTemplate& t, uint8_t* hdr, uint16_t payload_len,
                                   uint16_t ip_id, bool hw_ip_csum, uint32_t payload_sum) {
  // Everything but the checksum is what WriteUdpHeaders writes with the offload flag.
  WriteUdpHeaders(t, hdr, payload_len, ip_id, hw_ip_csum, /*hw_udp_csum=*/true);
  uint8_t* udp = hdr + t.l3_offset + (t.family == 4 ? kIpv4HeaderLen : kIpv6HeaderLen);
  const uint16_t udp_len = static_cast<uint16_t>(payload_len + kUdpHeaderLen);
  const uint32_t sum = uint32_t{LoadBe16(udp + 6)} + t.ports_sum + udp_len +
                       ChecksumFold(payload_sum);
  uint16_t csum = static_cast<uint16_t>(~ChecksumFold(sum));
  if (csum == 0) csum = 0xFFFF;
  StoreBe16(udp + 6, csum);
}

IoDrop ParseArp(std::span<const uint8_t> f, const FrameInfo& info, ArpMessage& msg) {
  const size_t l3 = info.l3_offset;
  if (info.kind != FrameKind::kArp || l3 > f.size() || f.size() - l3 < kArpLen) {
    return IoDrop::kArpMalformed;
  }
  const uint8_t* a = f.data() + l3;
  if (LoadBe16(a) != 1 || LoadBe16(a + 2) != kEtherTypeIpv4 || a[4] != 6 || a[5] != 4) {
    return IoDrop::kArpMalformed;
  }
  const uint16_t op = LoadBe16(a + 6);
  if (op != static_cast<uint16_t>(ArpOp::kRequest) && op != static_cast<uint16_t>(ArpOp::kReply)) {
    return IoDrop::kArpMalformed;
  }
  msg.op = static_cast<ArpOp>(op);
  std::memcpy(msg.sender_mac.data(), a + 8, 6);
  msg.sender_ip = IpAddr::FromV4Bytes(a + 14);
  std::memcpy(msg.target_mac.data(), a + 18, 6);
  msg.target_ip = IpAddr::FromV4Bytes(a + 24);
  // RFC 1812 §3.3.2 / Linux: nobody owns a group MAC or a multicast/broadcast IP, so neither
  // may be learned or answered.
  if (IsGroupMac(msg.sender_mac) || msg.sender_ip.IsMulticastOrBroadcast() ||
      msg.target_ip.IsMulticastOrBroadcast()) {
    return IoDrop::kArpMalformed;
  }
  return IoDrop::kNone;
}

size_t BuildArpReply(const FrameInfo& request_info, const ArpMessage& request,
                     const MacAddr& our_mac, std::span<uint8_t> out) {
  if (request.op != ArpOp::kRequest || !request.target_ip.is_v4() || !request.sender_ip.is_v4()) {
    return 0;
  }
  return WriteArp(ArpOp::kReply, request.sender_mac, our_mac, request.target_ip, request.sender_mac,
                  request.sender_ip, request_info.vlan(), out);
}

size_t BuildArpRequest(const MacAddr& our_mac, const IpAddr& our_ip, const IpAddr& target_ip,
                       std::optional<VlanTag> vlan, std::span<uint8_t> out) {
  if (!our_ip.is_v4() || !target_ip.is_v4()) return 0;
  // RFC 5227 §2.1.1: the target hardware address of a request is zero.
  return WriteArp(ArpOp::kRequest, kBroadcastMac, our_mac, our_ip, MacAddr{}, target_ip, vlan, out);
}

IoDrop ParseNdp(std::span<const uint8_t> f, const FrameInfo& info, NdMessage& msg) {
  msg = NdMessage{};
  const size_t l4 = info.l4_offset;
  const size_t len = info.payload_len;
  if (info.kind != FrameKind::kIcmpv6 || !info.src.is_v6() || !info.dst.is_v6() ||
      info.l3_offset + kIpv6HeaderLen != l4 || l4 > f.size() || f.size() - l4 < len) {
    return IoDrop::kNdMalformed;
  }
  if (len < 4) return IoDrop::kNdMalformed;
  const uint8_t* m = f.data() + l4;
  const uint32_t sum = ChecksumPartial(
      std::span<const uint8_t>(m, len),
      PseudoHeaderSum(info.src, info.dst, kIpProtoIcmpv6, static_cast<uint32_t>(len)));
  if (ChecksumFold(sum) != 0xFFFF) return IoDrop::kNdMalformed;
  msg.icmp_type = m[0];
  if (m[0] != kIcmpv6NeighborSolicitation && m[0] != kIcmpv6NeighborAdvertisement) {
    msg.type = NdType::kOther;
    return IoDrop::kNone;
  }
  const bool ns = m[0] == kIcmpv6NeighborSolicitation;
  // Hop limit 255 can only have been set by a node on this link (RFC 4861 §3.1).
  // Multicast sources are never valid (RFC 4291 §2.7) and would draw a "solicited" answer to a
  // group.
  if (info.hop_limit != kNdHopLimit || m[1] != 0 || len < kNdFixedLen ||
      info.src.IsMulticastOrBroadcast()) {
    return IoDrop::kNdMalformed;
  }
  msg.type = ns ? NdType::kNeighborSolicitation : NdType::kNeighborAdvertisement;
  const uint32_t flags = LoadBe32(m + 4);
  msg.router = !ns && (flags & 0x80000000u) != 0;
  msg.solicited = !ns && (flags & 0x40000000u) != 0;
  msg.override_flag = !ns && (flags & 0x20000000u) != 0;
  msg.target = IpAddr::FromV6(std::span<const uint8_t, 16>(m + 8, 16));
  if (msg.target.IsMulticastOrBroadcast()) return IoDrop::kNdMalformed;
  for (size_t off = kNdFixedLen; off < len;) {
    if (len - off < 2 || m[off + 1] == 0) return IoDrop::kNdMalformed;
    const size_t opt_len = size_t{m[off + 1]} * 8;
    if (opt_len > len - off) return IoDrop::kNdMalformed;
    const uint8_t type = m[off];
    if (type == kNdOptSourceLl || type == kNdOptTargetLl) {
      if (opt_len != kNdLlOptLen) return IoDrop::kNdMalformed;
      MacAddr mac;
      std::memcpy(mac.data(), m + off + 2, 6);
      if (IsGroupMac(mac)) return IoDrop::kNdMalformed;  // would poison the neighbour table
      (type == kNdOptSourceLl ? msg.source_ll : msg.target_ll) = mac;
    }
    off += opt_len;
  }
  if (ns && info.src.IsUnspecified() &&
      (!IsSolicitedNodeOf(info.dst, msg.target) || msg.source_ll.has_value())) {
    return IoDrop::kNdMalformed;
  }
  if (!ns && info.dst.IsMulticastOrBroadcast() && msg.solicited) return IoDrop::kNdMalformed;
  return IoDrop::kNone;
}

IpAddr SolicitedNodeAddress(const IpAddr& addr) {
  IpAddr g;
  g.family = 6;
  g.b = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, addr.b[13], addr.b[14], addr.b[15]};
  return g;
}

MacAddr Ipv6MulticastMac(const IpAddr& group) {
  return {0x33, 0x33, group.b[12], group.b[13], group.b[14], group.b[15]};
}

size_t BuildNeighborAdvertisement(const FrameInfo& ns_info, const NdMessage& ns,
                                  const MacAddr& our_mac, std::span<uint8_t> out) {
  if (ns.type != NdType::kNeighborSolicitation || !ns.target.is_v6() || !ns_info.src.is_v6()) {
    return 0;
  }
  constexpr uint32_t kSolicited = 0x40000000u;
  constexpr uint32_t kOverride = 0x20000000u;
  if (ns_info.src.IsUnspecified()) {
    // The soliciting node has no address yet (DAD): tell everyone (RFC 4861 §7.2.4).
    IpAddr all_nodes;
    all_nodes.family = 6;
    all_nodes.b = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return WriteNd(kIcmpv6NeighborAdvertisement, kOverride, Ipv6MulticastMac(all_nodes), our_mac,
                   ns.target, all_nodes, ns.target, kNdOptTargetLl, ns_info.vlan(), out);
  }
  const MacAddr dst_mac = ns.source_ll.value_or(ns_info.src_mac);
  return WriteNd(kIcmpv6NeighborAdvertisement, kSolicited | kOverride, dst_mac, our_mac, ns.target,
                 ns_info.src, ns.target, kNdOptTargetLl, ns_info.vlan(), out);
}

size_t BuildNeighborSolicitation(const MacAddr& our_mac, const IpAddr& our_ip, const IpAddr& target,
                                 std::optional<VlanTag> vlan, std::span<uint8_t> out) {
  if (!our_ip.is_v6() || !target.is_v6() || target.IsMulticastOrBroadcast()) return 0;
  const IpAddr group = SolicitedNodeAddress(target);
  // A DAD probe from :: must not carry a source link-layer option (RFC 4861 §7.1.1).
  const uint8_t opt = our_ip.IsUnspecified() ? 0 : kNdOptSourceLl;
  return WriteNd(kIcmpv6NeighborSolicitation, 0, Ipv6MulticastMac(group), our_mac, our_ip, group,
                 target, opt, vlan, out);
}

}  // namespace mpswitch::dataplane::io
