// libFuzzer target for the Ethernet/IP/UDP/ARP/NDP codec. Besides "no crash, no out-of-bounds
// read", it checks what the codec promises:
//  - a NIC saying "good" never turns an accepted frame into a refused one, nor changes what is
//    parsed; a NIC saying "bad" refuses exactly what carries the flagged checksum;
//  - every accepted UDP frame, rebuilt from its parsed fields with MakeUdpTemplate and
//    WriteUdpHeaders, parses again to the same fields and payload, and a UDP checksum that the
//    parser verified in software is reproduced bit for bit (same pseudo-header, same payload);
//  - with checksum offload requested, the UDP field holds the pseudo-header sum and finishing it
//    as a NIC would gives a frame that verifies in software;
//  - ARP requests and NDP solicitations that parse get replies that parse, checksums included;
//  - the word-at-a-time checksum equals a byte-wise reference on the input at every alignment.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "mpswitch/dataplane/io/frame.h"

using namespace mpswitch::dataplane::io;

namespace {

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

// The RFC 1071 loop one big-endian word at a time: the reference for the word-at-a-time sum, whose
// bugs would otherwise cancel out between parser and builder.
uint16_t RefSum(std::span<const uint8_t> d) {
  uint32_t s = 0;
  for (size_t i = 0; i < d.size(); i += 2) {
    s += uint32_t{d[i]} << 8;
    if (i + 1 < d.size()) s += d[i + 1];
    s = (s & 0xFFFF) + (s >> 16);
  }
  return static_cast<uint16_t>(s);
}

bool SameFields(const FrameInfo& a, const FrameInfo& b) {
  return a.kind == b.kind && a.has_vlan == b.has_vlan && a.vlan_tpid == b.vlan_tpid &&
         a.vlan_tci == b.vlan_tci && a.ether_type == b.ether_type && a.l3_offset == b.l3_offset &&
         a.l4_offset == b.l4_offset && a.payload_offset == b.payload_offset &&
         a.payload_len == b.payload_len && a.ip_proto == b.ip_proto && a.hop_limit == b.hop_limit &&
         a.src_port == b.src_port && a.dst_port == b.dst_port && a.src == b.src && a.dst == b.dst &&
         a.src_mac == b.src_mac && a.dst_mac == b.dst_mac;
}

void CheckBounds(const FrameInfo& info, size_t size) {
  CHECK(info.l3_offset <= size);
  if (info.kind == FrameKind::kArp) return;
  CHECK(info.l3_offset < info.l4_offset);
  CHECK(info.l4_offset <= info.payload_offset);
  CHECK(size_t{info.payload_offset} + info.payload_len <= size);
}

void RebuildUdp(std::span<const uint8_t> frame, const FrameInfo& info, bool sw_verified) {
  UdpFlow flow;
  flow.src_mac = info.src_mac;
  flow.dst_mac = info.dst_mac;
  flow.vlan = info.vlan();
  flow.src = info.src;
  flow.dst = info.dst;
  flow.src_port = info.src_port;
  flow.dst_port = info.dst_port;
  flow.ttl_or_hop_limit = info.hop_limit;
  flow.dscp = info.traffic_class >> 2;
  flow.flow_label = info.flow_label;
  const auto t = MakeUdpTemplate(flow);
  // The template refuses flows the switch would never send (group source MAC, zero port, ...).
  if (!t.ok()) return;
  const auto payload = frame.subspan(info.payload_offset, info.payload_len);
  std::vector<uint8_t> out(t->len + payload.size());
  if (!payload.empty()) std::memcpy(out.data() + t->len, payload.data(), payload.size());

  WriteUdpHeaders(*t, out.data(), info.payload_len, 0x1234, false, false);
  FrameInfo again;
  // Rebuilt frames are never padded, so a payload shorter than a minimum frame stays unpadded,
  // which the parser accepts.
  CHECK(ParseFrame(out, RxOffload{}, again) == IoDrop::kNone);
  CHECK(again.kind == FrameKind::kUdp);
  CHECK(again.src == info.src && again.dst == info.dst);
  CHECK(again.src_port == info.src_port && again.dst_port == info.dst_port);
  CHECK(again.src_mac == info.src_mac && again.dst_mac == info.dst_mac);
  CHECK(again.vlan() == info.vlan());
  CHECK(again.hop_limit == info.hop_limit);
  CHECK(again.payload_len == info.payload_len);
  CHECK(std::memcmp(out.data() + again.payload_offset, payload.data(), payload.size()) == 0);
  if (sw_verified && info.udp_checksum != 0) CHECK(again.udp_checksum == info.udp_checksum);

  // Offloaded: the field holds the pseudo-header sum; finishing it as the NIC does (one's
  // complement of the sum over the UDP header, that field included, and payload) must verify.
  WriteUdpHeaders(*t, out.data(), info.payload_len, 0x1234, true, true);
  const size_t l4 = again.l4_offset;
  const uint16_t udp_len = static_cast<uint16_t>(out.size() - l4);
  const uint16_t field = static_cast<uint16_t>((out[l4 + 6] << 8) | out[l4 + 7]);
  CHECK(field == ChecksumFold(PseudoHeaderSum(info.src, info.dst, kIpProtoUdp, udp_len)));
  FrameInfo hw;
  CHECK(ParseFrame(out, RxOffload{HwCheck::kGood, HwCheck::kGood}, hw) == IoDrop::kNone);
  CHECK(SameFields(hw, again));
  uint16_t c = InternetChecksum(std::span<const uint8_t>(out).subspan(l4));
  if (c == 0) c = 0xFFFF;
  out[l4 + 6] = static_cast<uint8_t>(c >> 8);
  out[l4 + 7] = static_cast<uint8_t>(c);
  if (info.src.is_v4()) {
    // The IPv4 header checksum was left for the NIC: finish it too.
    const size_t l3 = again.l3_offset;
    const uint16_t ipc = InternetChecksum(std::span<const uint8_t>(out).subspan(l3, 20));
    out[l3 + 10] = static_cast<uint8_t>(ipc >> 8);
    out[l3 + 11] = static_cast<uint8_t>(ipc);
  }
  CHECK(ParseFrame(out, RxOffload{}, hw) == IoDrop::kNone);
  CHECK(SameFields(hw, again));
}

void AnswerArp(std::span<const uint8_t> frame, const FrameInfo& info) {
  ArpMessage req;
  if (ParseArp(frame, info, req) != IoDrop::kNone || req.op != ArpOp::kRequest) return;
  const MacAddr ours = {0x02, 0, 0, 0, 0, 0x01};
  uint8_t buf[128];
  const size_t n = BuildArpReply(info, req, ours, buf);
  CHECK(n >= kEthMinFrame && n <= sizeof buf);
  FrameInfo ri;
  CHECK(ParseFrame(std::span<const uint8_t>(buf, n), RxOffload{}, ri) == IoDrop::kNone);
  CHECK(ri.kind == FrameKind::kArp && ri.vlan() == info.vlan());
  ArpMessage rep;
  CHECK(ParseArp(std::span<const uint8_t>(buf, n), ri, rep) == IoDrop::kNone);
  CHECK(rep.op == ArpOp::kReply && rep.sender_mac == ours && rep.sender_ip == req.target_ip);
  CHECK(rep.target_mac == req.sender_mac && rep.target_ip == req.sender_ip);
}

void AnswerNdp(std::span<const uint8_t> frame, const FrameInfo& info) {
  NdMessage ns;
  if (ParseNdp(frame, info, ns) != IoDrop::kNone || ns.type != NdType::kNeighborSolicitation) {
    return;
  }
  const MacAddr ours = {0x02, 0, 0, 0, 0, 0x01};
  uint8_t buf[160];
  const size_t n = BuildNeighborAdvertisement(info, ns, ours, buf);
  CHECK(n != 0 && n <= sizeof buf);
  FrameInfo ai;
  CHECK(ParseFrame(std::span<const uint8_t>(buf, n), RxOffload{}, ai) == IoDrop::kNone);
  CHECK(ai.kind == FrameKind::kIcmpv6 && ai.vlan() == info.vlan());
  NdMessage na;
  CHECK(ParseNdp(std::span<const uint8_t>(buf, n), ai, na) == IoDrop::kNone);
  CHECK(na.type == NdType::kNeighborAdvertisement && na.target == ns.target);
  CHECK(na.target_ll == ours && na.override_flag);
  CHECK(na.solicited == !info.src.IsUnspecified());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> frame(data, size);
  // Every alignment and tail length of the input, against the reference.
  for (size_t skip = 0; skip < 8 && skip <= size; ++skip) {
    CHECK(ChecksumFold(ChecksumPartial(frame.subspan(skip))) == RefSum(frame.subspan(skip)));
  }
  FrameInfo info;
  const IoDrop r = ParseFrame(frame, RxOffload{}, info);

  FrameInfo good;
  const IoDrop rg = ParseFrame(frame, RxOffload{HwCheck::kGood, HwCheck::kGood}, good);
  FrameInfo bad;
  const IoDrop rb = ParseFrame(frame, RxOffload{HwCheck::kBad, HwCheck::kBad}, bad);
  if (rg == IoDrop::kNone) CheckBounds(good, size);
  if (rb == IoDrop::kNone) CheckBounds(bad, size);
  if (r != IoDrop::kNone) {
    // Most mutations break a checksum; trusting the "NIC" still lets them reach the rebuild, with
    // arbitrary addresses, ports and payloads.
    if (rg == IoDrop::kNone && good.kind == FrameKind::kUdp) RebuildUdp(frame, good, false);
    return 0;
  }

  CheckBounds(info, size);
  CHECK(rg == IoDrop::kNone && SameFields(good, info));
  if (info.src.is_v4()) {
    CHECK(rb == IoDrop::kIpBadChecksum);
  } else if (info.kind == FrameKind::kUdp) {
    CHECK(rb == IoDrop::kUdpBadChecksum);
  } else {
    CHECK(rb == IoDrop::kNone);
  }

  switch (info.kind) {
    case FrameKind::kUdp:
      RebuildUdp(frame, info, /*sw_verified=*/true);
      break;
    case FrameKind::kArp:
      AnswerArp(frame, info);
      break;
    case FrameKind::kIcmpv6:
      AnswerNdp(frame, info);
      break;
    case FrameKind::kOtherIp:
      break;
  }
  return 0;
}
