// Bounds-checked views over RTP and RTCP packets, and RFC 7983 first-byte demultiplexing.
//
// Every function here reads untrusted bytes. None of them trusts a length field before checking it
// against the buffer, and none of them allocates; they are safe to call on the packet path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "mpswitch/dataplane/core/drop.h"

namespace mpswitch::dataplane {

inline uint16_t LoadBe16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline void StoreBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void StoreBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// What the first byte of a datagram on a shared media port says it is (RFC 7983 §7, with RFC 5761
// to tell RTCP from RTP by the second byte).
enum class PacketClass : uint8_t {
  kRtp,
  kRtcp,
  kDtls,
  kStun,
  kZrtp,
  kTurnChannel,
  kUnknown,
};

PacketClass Demultiplex(std::span<const uint8_t> datagram);

// Largest datagram the dataplane accepts. Larger ones are dropped as kOversize; jumbo media is not
// part of any profile we negotiate and a bound keeps per-packet work bounded.
inline constexpr size_t kMaxPacketSize = 9000;
inline constexpr size_t kRtpFixedHeader = 12;
inline constexpr size_t kRtcpHeader = 8;

// A validated RTP header. Offsets are from the first byte of the packet.
struct RtpView {
  uint8_t csrc_count = 0;
  bool marker = false;
  bool padding = false;
  bool extension = false;
  uint8_t payload_type = 0;
  uint16_t seq = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  uint16_t header_len = 0;  // fixed header + CSRC list + extension header and body
};

// Parses the RTP header at the front of `packet`, whose last `trailer_len` bytes (SRTP tag and
// anything after it) are not part of the RTP packet. On failure returns the drop reason and leaves
// `view` unspecified. The padding bit is reported but not checked: in SRTP the padding count lies in
// the encrypted payload, which the switch never sees in clear.
Drop ParseRtp(std::span<const uint8_t> packet, size_t trailer_len, RtpView& view);

// A validated first RTCP header of a (compound) RTCP packet.
struct RtcpView {
  uint8_t count = 0;  // RC/SC/subtype
  uint8_t packet_type = 0;
  uint16_t first_len = 0;  // bytes of the first RTCP packet, header included
  uint32_t ssrc = 0;
};

// Parses the first RTCP header in `packet` (SRTCP trailer of `trailer_len` bytes excluded). Only
// the first packet's length is checked against the buffer: after it the SRTCP payload may be
// encrypted.
Drop ParseRtcp(std::span<const uint8_t> packet, size_t trailer_len, RtcpView& view);

}  // namespace mpswitch::dataplane
