// Why an I/O backend refused a frame or datagram before or after the pipeline. Like `Drop`, every
// value indexes a counter with a stable name and a help text; the two tables together name every
// packet the dataplane does not forward.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mpswitch::dataplane::io {

enum class IoDrop : uint8_t {
  kNone = 0,
  kEthTruncated,
  kVlanTruncated,
  kUnsupportedEtherType,
  kIpTruncated,
  kIpBadVersion,
  kIpBadHeaderLength,
  kIpBadTotalLength,
  kIpBadChecksum,
  kIpOptions,
  kIpFragment,
  kIpExtensionHeader,
  kIpNotForUs,
  kUdpTruncated,
  kUdpBadLength,
  kUdpBadChecksum,
  kUdpZeroChecksumV6,
  kNotMediaPort,
  kVlanMismatch,
  kMultiSegment,
  kPuntRingFull,
  kPuntOversize,
  kNoNeighbor,
  kNoMbuf,
  kTxFailed,
  kSendFailed,
  kArpMalformed,
  kNdMalformed,
  kPuntUnhandled,
  kNoHeadroom,
  kNeighborUnsolicited,
  kNeighborMoveRefused,
  kNeighborTableFull,
  kCount,
};

inline constexpr size_t kIoDropCount = static_cast<size_t>(IoDrop::kCount);

struct IoDropInfo {
  std::string_view name;
  std::string_view help;
};

inline constexpr std::array<IoDropInfo, kIoDropCount> kIoDropInfo = {{
    {"none", "not dropped"},
    {"eth_truncated", "frame shorter than an Ethernet header"},
    {"vlan_truncated", "802.1Q/802.1ad tag cut short"},
    {"unsupported_ethertype", "neither IPv4, IPv6 nor ARP"},
    {"ip_truncated", "frame shorter than the IP header it announces"},
    {"ip_bad_version", "IP version field does not match the EtherType"},
    {"ip_bad_header_length", "IPv4 IHL below 5"},
    {"ip_bad_total_length", "IP total/payload length disagrees with the frame"},
    {"ip_bad_checksum", "IPv4 header checksum wrong (hardware or software check)"},
    {"ip_options", "IPv4 header with options: media never carries them"},
    {"ip_fragment", "IPv4 fragment or IPv6 fragment header: media is never fragmented"},
    {"ip_extension_header", "IPv6 extension header other than a fragment header"},
    {"ip_not_for_us", "destination address is not one of the switch's"},
    {"udp_truncated", "frame shorter than a UDP header"},
    {"udp_bad_length", "UDP length disagrees with the IP payload length"},
    {"udp_bad_checksum", "UDP checksum wrong (hardware or software check)"},
    {"udp_zero_checksum_v6", "IPv6 UDP datagram without a checksum (RFC 8200 forbids it)"},
    {"not_media_port", "UDP to a port outside the switch's media ports"},
    {"vlan_mismatch", "frame not tagged with the port's configured VLAN"},
    {"multi_segment", "received packet in more than one buffer segment"},
    {"punt_ring_full", "control thread's ring full: non-media packet not delivered"},
    {"punt_oversize", "non-media packet larger than a punt slot"},
    {"no_neighbor", "next hop's link-layer address not yet resolved (ARP/ND asked)"},
    {"no_mbuf", "buffer pool empty: output copy not made"},
    {"tx_failed", "NIC transmit queue full: output not sent"},
    {"send_failed", "kernel refused the datagram (sendmmsg error)"},
    {"arp_malformed", "ARP packet not Ethernet/IPv4, cut short, or from a group MAC/IP"},
    {"nd_malformed",
     "ICMPv6 checksum wrong, or NS/NA failing RFC 4861 validity checks (hop limit, length, options)"},
    {"punt_unhandled", "non-media packet the control thread has no use for (ICMP, TCP, ...)"},
    {"no_headroom", "output buffer without room for its Ethernet/IP/UDP headers: copy not sent"},
    {"neighbor_unsolicited",
     "ARP/NDP named a neighbour the switch did not ask for and no egress uses (or on another "
     "port): not learned"},
    {"neighbor_move_refused",
     "another MAC claimed for a known neighbour, not taken on the claim's word (a static entry "
     "never moves, a learned one only after a check its old MAC stays silent in)"},
    {"neighbor_table_full",
     "neighbour table at its cap and no learned entry unused by egress to reclaim: not learned"},
}};

// Every reason has a name: an entry left out of the table above would be an empty name.
constexpr bool AllIoDropsNamed() {
  for (const IoDropInfo& i : kIoDropInfo) {
    if (i.name.empty()) return false;
  }
  return true;
}
static_assert(AllIoDropsNamed(), "kIoDropInfo must name every IoDrop");

constexpr std::string_view IoDropName(IoDrop d) { return kIoDropInfo[static_cast<size_t>(d)].name; }

}  // namespace mpswitch::dataplane::io
