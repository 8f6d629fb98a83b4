// Ethernet / 802.1Q / IPv4 / IPv6 / UDP / ARP / NDP codec for the DPDK backend.
//
// The fast path calls `ParseFrame` on every received frame and `WriteUdpHeaders` on every output
// copy; the control thread parses and answers ARP and Neighbor Discovery and builds the per
// destination `HeaderTemplate`s. Nothing here includes DPDK headers, so the codec builds and is
// tested (and fuzzed) without DPDK: the backend translates mbuf flags into `RxOffload` and asks for
// offloads with the booleans of `WriteUdpHeaders`.
//
// Every function reads untrusted bytes only after checking them against the span it was given.
// Functions marked "packet path" never allocate, never throw and take no lock; the others
// (templates, ARP/NDP, text) are for the control thread, where a `std::string` or an
// `absl::Status` message may allocate.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "mpswitch/dataplane/io/io_drop.h"
#include "mpswitch/dataplane/tables/ip_addr.h"

namespace mpswitch::dataplane::io {

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;  // 802.1Q C-tag
inline constexpr uint16_t kEtherTypeQinq = 0x88A8;  // 802.1ad S-tag
inline constexpr uint16_t kEtherTypeIpv6 = 0x86DD;

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoIcmpv6 = 58;

inline constexpr size_t kEthHeaderLen = 14;
inline constexpr size_t kVlanTagLen = 4;
// Smallest Ethernet frame without its FCS. Senders pad shorter frames up to it, so a receiver sees
// bytes after the IP datagram; DPDK strips the FCS by default, and the parser expects that.
inline constexpr size_t kEthMinFrame = 60;
inline constexpr size_t kIpv4HeaderLen = 20;
inline constexpr size_t kIpv6HeaderLen = 40;
inline constexpr size_t kUdpHeaderLen = 8;
// Ethernet + one tag + IPv6 + UDP: the longest header `WriteUdpHeaders` writes.
inline constexpr size_t kMaxUdpHeaderLen =
    kEthHeaderLen + kVlanTagLen + kIpv6HeaderLen + kUdpHeaderLen;  // 66
// Largest UDP payload whose IPv4 total length (v4) or IPv6 payload length (v6) fits in 16 bits.
inline constexpr size_t kMaxUdpPayloadV4 = 0xFFFF - kIpv4HeaderLen - kUdpHeaderLen;
inline constexpr size_t kMaxUdpPayloadV6 = 0xFFFF - kUdpHeaderLen;

using MacAddr = std::array<uint8_t, 6>;
inline constexpr MacAddr kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// True for multicast and broadcast MACs (the I/G bit): never a neighbour's own address.
constexpr bool IsGroupMac(const MacAddr& m) { return (m[0] & 1) != 0; }

// "aa:bb:cc:dd:ee:ff". Control plane only (allocates).
std::string MacToString(const MacAddr& m);


// ---------------------------------------------------------------------------------------------
// Internet checksum (RFC 1071). Sums are kept in "network word" value: the bytes are added as
// big-endian 16-bit words, so a field value in host order (a length, a protocol number) can be
// added to a sum directly.

// Adds `data` to `sum` and returns the sum folded to at most 0xFFFF, so callers may add many 16-bit
// values to the result before folding again. An odd final byte is padded with a zero byte, which
// is why only the last chunk of a chained computation may have an odd length. Packet path.
uint32_t ChecksumPartial(std::span<const uint8_t> data, uint32_t sum = 0);

// Folds the carries of `sum` back into 16 bits (one's complement addition). Not inverted.
constexpr uint16_t ChecksumFold(uint32_t sum) {
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// The checksum to store in a header: the one's complement of the folded sum of `data`. A region
// that already holds a correct checksum yields 0. Packet path.
inline uint16_t InternetChecksum(std::span<const uint8_t> data) {
  return static_cast<uint16_t>(~ChecksumFold(ChecksumPartial(data)));
}

// Sum of the UDP/ICMPv6 pseudo-header (RFC 768 for IPv4; RFC 8200 §8.1 for IPv6, where the
// length is 32 bits) for `l4_len` bytes of transport header plus payload (at most 0xFFFF for
// IPv4). `src` and `dst` must have the same family (4 or 6). Folded, not inverted. Packet path.
uint32_t PseudoHeaderSum(const IpAddr& src, const IpAddr& dst, uint8_t proto, uint32_t l4_len);

// ---------------------------------------------------------------------------------------------
// Receive.

// What the NIC already checked. The caller translates DPDK's mbuf flags:
// RTE_MBUF_F_RX_{IP,L4}_CKSUM_GOOD -> kGood, _BAD -> kBad, _UNKNOWN -> kUnknown, and _NONE
// (virtual devices: "the checksum in the packet is not valid but the data is intact") -> kGood,
// because a software check would then fail on data that is fine.
enum class HwCheck : uint8_t { kUnknown, kGood, kBad };
struct RxOffload {
  HwCheck ip = HwCheck::kUnknown;
  HwCheck l4 = HwCheck::kUnknown;
};

enum class FrameKind : uint8_t {
  kUdp,      // validated UDP over IPv4/IPv6: the media fast path
  kArp,      // EtherType ARP: for the control thread (`ParseArp`)
  kIcmpv6,   // ICMPv6 (NDP among it): for the control thread (`ParseNdp`)
  kOtherIp,  // a valid IP datagram of another protocol (ICMPv4, TCP, ...): punted to control
};

// An 802.1Q or 802.1ad tag.
struct VlanTag {
  uint16_t tpid = kEtherTypeVlan;
  uint16_t tci = 0;  // PCP (3 bits), DEI (1), VID (12)

  friend bool operator==(const VlanTag&, const VlanTag&) = default;
};

// What `ParseFrame` learned. Offsets are from the first byte of the frame.
struct FrameInfo {
  FrameKind kind = FrameKind::kOtherIp;
  bool has_vlan = false;
  uint16_t vlan_tpid = 0;  // kEtherTypeVlan or kEtherTypeQinq when has_vlan
  uint16_t vlan_tci = 0;
  uint16_t ether_type = 0;  // the EtherType after the tag, if any
  uint16_t l3_offset = 0;   // ARP or IP header
  uint16_t l4_offset = 0;   // first byte after the IP header (IP kinds only)
  // UDP: the UDP payload. kIcmpv6 / kOtherIp: the whole IP payload (from l4_offset).
  uint16_t payload_offset = 0;
  uint16_t payload_len = 0;
  uint8_t ip_proto = 0;       // IPv4 protocol / IPv6 next header
  uint8_t hop_limit = 0;      // IPv4 TTL / IPv6 hop limit
  uint8_t traffic_class = 0;  // IPv4 TOS / IPv6 traffic class (DSCP << 2 | ECN)
  uint32_t flow_label = 0;    // IPv6 only
  uint16_t src_port = 0;      // UDP only
  uint16_t dst_port = 0;
  uint16_t udp_checksum = 0;  // as received (0: none, IPv4 only)
  IpAddr src;                 // IP kinds only
  IpAddr dst;
  MacAddr src_mac{};
  MacAddr dst_mac{};

  std::optional<VlanTag> vlan() const {
    if (!has_vlan) return std::nullopt;
    return VlanTag{vlan_tpid, vlan_tci};
  }
};

// Parses and validates one Ethernet frame (FCS already stripped) and fills `info`. Packet path.
// Returns IoDrop::kNone on success; otherwise the first reason found, with `info` holding what was
// parsed before it (for sampling only).
//
// Checked, in this order:
//  - Ethernet II header (kEthTruncated). At most one tag, 802.1Q (0x8100) or 802.1ad (0x88A8)
//    (kVlanTruncated); a second stacked tag is refused as kUnsupportedEtherType, because replies
//    and templates carry one tag and a QinQ peer would get frames it cannot use. EtherTypes other
//    than IPv4, IPv6 and ARP (and 802.3 length fields) are kUnsupportedEtherType. ARP is returned
//    as kArp without looking at its body.
//  - IPv4: 20 bytes present (kIpTruncated), version 4 (kIpBadVersion), IHL >= 5
//    (kIpBadHeaderLength), no options, i.e. IHL 5 (kIpOptions), 20 <= total length <= bytes present
//    (kIpBadTotalLength), the header checksum in software unless `hw.ip` is kGood, kBad meaning
//    kIpBadChecksum without looking, then MF or a fragment offset (kIpFragment).
//  - IPv6: 40 bytes present (kIpTruncated), version 6 (kIpBadVersion), 40 + payload length <=
//    bytes present (kIpBadTotalLength), next header 44 (kIpFragment), any other RFC 7045
//    extension header (hop-by-hop 0, routing 43, destination options 60, ESP 50, AH 51,
//    mobility 135, HIP 139, shim6 140, experimental 253/254) (kIpExtensionHeader): media never
//    carries them, so the chain is not walked. Next header 58 is kIcmpv6. `hw.ip` is ignored.
//  - Bytes after the IP datagram are accepted only as Ethernet padding, i.e. when the frame is at
//    most kEthMinFrame bytes (plus 4 when tagged: a bridge may tag a padded frame); otherwise
//    kIpBadTotalLength, since a datagram shorter than a full-size frame means a lying length.
//  - UDP: 8 bytes of IP payload (kUdpTruncated), UDP length == IP payload length (kUdpBadLength).
//    Checksum: IPv4 zero means "none" and is accepted whatever `hw.l4` says (some NICs flag zero
//    checksums as bad); IPv6 zero is kUdpZeroChecksumV6 (RFC 8200 §8.1); otherwise verified in
//    software over the pseudo-header unless `hw.l4` is kGood, kBad meaning kUdpBadChecksum.
// Not checked here: addresses (kIpNotForUs and media ports are the caller's tables), MAC
// destinations (the NIC filters), the ARP body and ICMPv6 contents (`ParseArp`, `ParseNdp`).
IoDrop ParseFrame(std::span<const uint8_t> frame, RxOffload hw, FrameInfo& info);

// ---------------------------------------------------------------------------------------------
// Transmit.

// The headers of one destination, precomputed by control (`MakeUdpTemplate`) and stamped in front
// of every output payload by `WriteUdpHeaders`. `bytes[0..len)` is the complete header with the
// per-packet fields (lengths, IPv4 identification, checksums) zero; the sums let the packet path
// finish the checksums without re-reading the constant fields.
struct HeaderTemplate {
  std::array<uint8_t, kMaxUdpHeaderLen> bytes{};
  uint8_t len = 0;
  uint8_t l3_offset = 0;
  uint8_t family = 4;
  uint32_t ip_sum = 0;      // IPv4 header with total length, identification, checksum zero
  uint32_t pseudo_sum = 0;  // pseudo-header addresses and protocol, without the length
  uint32_t ports_sum = 0;   // UDP source + destination port
};

struct UdpFlow {
  MacAddr src_mac{};
  MacAddr dst_mac{};
  std::optional<VlanTag> vlan;
  IpAddr src;
  IpAddr dst;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t ttl_or_hop_limit = 64;
  uint8_t dscp = 46;        // EF (RFC 4594 telephony / interactive video); ECN not-ECT
  uint32_t flow_label = 0;  // IPv6 only, 20 bits (RFC 6437: lets routers hash the flow)
};

// Builds the template of `flow`: Ethernet, the tag if any, IPv4 (DF set: the switch never
// fragments, and a fragmented media packet is worth less than a lost one; RFC 6864 then allows any
// identification) or IPv6, UDP. InvalidArgument when src and dst are not both IPv4 or both IPv6,
// either address is unspecified or the source is multicast/broadcast, the source MAC is a group
// address, a port is zero, the TTL is zero, the DSCP exceeds 63, the flow label exceeds 20 bits,
// the TPID is not 0x8100/0x88A8 or the VID is 4095 (reserved). Control plane.
absl::StatusOr<HeaderTemplate> MakeUdpTemplate(const UdpFlow& flow);

// Writes the `t.len` header bytes of `t` at `hdr`, in front of the `payload_len` payload bytes that
// already lie at `hdr + t.len` (the caller owns both: the headroom before the payload must hold
// t.len bytes). Fills the IPv4 total length / IPv6 payload length, the IPv4 identification
// `ip_id`, the IPv4 header checksum (left zero when `hw_ip_csum`, as DPDK's TX IP checksum offload
// requires), the UDP length and the UDP checksum over pseudo-header, header and payload (a computed
// zero is sent as 0xFFFF). With `hw_udp_csum` the UDP checksum field receives the folded,
// non-inverted pseudo-header sum, which is what NICs offloading the checksum expect (DPDK's
// rte_ipv4_phdr_cksum / rte_ipv6_phdr_cksum), and the payload is not read. Precondition (asserted
// in debug builds): payload_len <= kMaxUdpPayloadV4 / kMaxUdpPayloadV6 for the family. Packet
// path.
void WriteUdpHeaders(const HeaderTemplate& t, uint8_t* hdr, uint16_t payload_len, uint16_t ip_id,
                     bool hw_ip_csum, bool hw_udp_csum);
// The same with the payload's checksum sum (`ChecksumPartial` of the payload, or anything with
// the same folded value) given by the caller, who may know it without reading the payload: the
// switch's copies differ from their input only in a few header and trailer bytes. The payload is
// not read. Packet path.
void WriteUdpHeadersWithPayloadSum(const HeaderTemplate& t, uint8_t* hdr, uint16_t payload_len,
                                   uint16_t ip_id, bool hw_ip_csum, uint32_t payload_sum);

// ---------------------------------------------------------------------------------------------
// ARP (RFC 826; Ethernet and IPv4 only) and Neighbor Discovery (RFC 4861) for the control thread.
// Builders write one frame at the front of `out` and return its length, or 0 when it does not fit
// (or, as stated per function, when the input is not what it answers). Frames shorter than
// kEthMinFrame (+4 when tagged) are zero-padded up to it: not every PMD pads on transmit.

enum class ArpOp : uint16_t { kRequest = 1, kReply = 2 };

struct ArpMessage {
  ArpOp op = ArpOp::kRequest;
  MacAddr sender_mac{};
  IpAddr sender_ip;
  MacAddr target_mac{};
  IpAddr target_ip;
};

// Parses the ARP packet of `frame`, whose `info` came from `ParseFrame(frame)` returning kNone
// with kind kArp (anything else is kArpMalformed, never an out-of-bounds read). Checked: 28 bytes,
// hardware type 1 (Ethernet), protocol 0x0800, address lengths 6 and 4, operation request or
// reply, sender MAC not a group address, sender and target IP not multicast/broadcast (no node
// owns them: learning or answering them would poison a neighbour table). A sender IP of 0.0.0.0 (an
// RFC 5227 probe) is accepted: the caller must not learn it. Returns kNone or kArpMalformed.
IoDrop ParseArp(std::span<const uint8_t> frame, const FrameInfo& info, ArpMessage& msg);

// The reply to `request` (parsed from a frame described by `request_info`, whose tag is mirrored):
// "request.target_ip is at our_mac", sent to the requester's MAC. The caller has checked that the
// target is one of its addresses. Returns 0 when `request` is not a request.
size_t BuildArpReply(const FrameInfo& request_info, const ArpMessage& request,
                     const MacAddr& our_mac, std::span<uint8_t> out);

// A broadcast request for `target_ip` from `our_mac` / `our_ip` (both IPv4; target_ip == our_ip
// gives a gratuitous ARP). Returns 0 when an address is not IPv4.
size_t BuildArpRequest(const MacAddr& our_mac, const IpAddr& our_ip, const IpAddr& target_ip,
                       std::optional<VlanTag> vlan, std::span<uint8_t> out);

enum class NdType : uint8_t { kNeighborSolicitation, kNeighborAdvertisement, kOther };

struct NdMessage {
  NdType type = NdType::kOther;
  uint8_t icmp_type = 0;
  IpAddr target;  // NS/NA only
  // NA flags (RFC 4861 §4.4).
  bool router = false;
  bool solicited = false;
  bool override_flag = false;
  std::optional<MacAddr> source_ll;  // Source Link-Layer Address option (NS)
  std::optional<MacAddr> target_ll;  // Target Link-Layer Address option (NA)
};

// Parses the ICMPv6 message of `frame`, whose `info` came from `ParseFrame(frame)` returning kNone
// with kind kIcmpv6 (anything else is kNdMalformed, never an out-of-bounds read). Every message
// must hold 4 bytes and a correct checksum (always verified in software: NICs do not check
// ICMPv6). Types other than NS (135) and NA (136) are returned as kOther with nothing else read.
// NS and NA get the validity checks of RFC 4861 §7.1.1 / §7.1.2: hop limit 255 (proves the sender
// is on link), code 0, 24 bytes or more, source not multicast (RFC 4291 §2.7), target not
// multicast, every option of non-zero length and inside the message, link-layer options of length
// 1 (Ethernet, RFC 2464 §6) holding a non-group MAC; an NS from :: must
// go to the target's solicited-node address and carry no source link-layer option; an NA to a
// multicast address must not have the solicited flag. Unknown options are skipped (§4.6). Returns
// kNone or kNdMalformed.
IoDrop ParseNdp(std::span<const uint8_t> frame, const FrameInfo& info, NdMessage& msg);

// ff02::1:ffXX:XXXX for the low 24 bits of `addr` (RFC 4291 §2.7.1), where an NS for `addr` goes.
IpAddr SolicitedNodeAddress(const IpAddr& addr);
// 33:33 followed by the low 32 bits of a multicast IPv6 address (RFC 2464 §7). The backend must
// let the NIC receive SolicitedNodeAddress(a) of each of its addresses a, or no NS ever arrives.
MacAddr Ipv6MulticastMac(const IpAddr& group);

// The advertisement answering `ns` (parsed from a frame described by `ns_info`, whose tag is
// mirrored) for its target, which the caller has checked is one of its addresses: override flag
// set, target link-layer option `our_mac`, hop limit 255. To the soliciting address with the
// solicited flag, at its source link-layer option or else the frame's source MAC; when the NS came
// from :: (duplicate address detection), to all-nodes ff02::1 without the solicited flag (RFC 4861
// §7.2.4). Returns 0 when `ns` is not an NS.
size_t BuildNeighborAdvertisement(const FrameInfo& ns_info, const NdMessage& ns,
                                  const MacAddr& our_mac, std::span<uint8_t> out);

// A solicitation for `target` to its solicited-node address, with a source link-layer option
// `our_mac`; `our_ip` == :: gives a duplicate address detection probe, without the option
// (RFC 4862 §5.4.2). Returns 0 when an address is not IPv6 or `target` is multicast.
size_t BuildNeighborSolicitation(const MacAddr& our_mac, const IpAddr& our_ip, const IpAddr& target,
                                 std::optional<VlanTag> vlan, std::span<uint8_t> out);

}  // namespace mpswitch::dataplane::io
