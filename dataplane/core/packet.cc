#include "mpswitch/dataplane/core/packet.h"

namespace mpswitch::dataplane {

PacketClass Demultiplex(std::span<const uint8_t> d) {
  if (d.empty()) return PacketClass::kUnknown;
  const uint8_t b = d[0];
  if (b <= 3) return PacketClass::kStun;
  if (b >= 16 && b <= 19) return PacketClass::kZrtp;
  if (b >= 20 && b <= 63) return PacketClass::kDtls;
  if (b >= 64 && b <= 79) return PacketClass::kTurnChannel;
  if (b >= 128 && b <= 191) {
    if (d.size() < 2) return PacketClass::kUnknown;
    // RFC 5761 §4: RTCP packet types 192..223 never collide with RTP payload types 64..95 + marker,
    // which must not be used when RTP and RTCP share a port.
    return (d[1] >= 192 && d[1] <= 223) ? PacketClass::kRtcp : PacketClass::kRtp;
  }
  return PacketClass::kUnknown;
}

Drop ParseRtp(std::span<const uint8_t> p, size_t trailer_len, RtpView& v) {
  if (p.size() > kMaxPacketSize) return Drop::kOversize;
  if (p.size() < kRtpFixedHeader + trailer_len) return Drop::kTooShort;
  const size_t end = p.size() - trailer_len;  // end of the RTP packet (authenticated portion)
  const uint8_t b0 = p[0];
  if ((b0 >> 6) != 2) return Drop::kBadVersion;
  v.padding = (b0 >> 5) & 1;
  v.extension = (b0 >> 4) & 1;
  v.csrc_count = b0 & 0x0f;
  v.marker = p[1] >> 7;
  v.payload_type = p[1] & 0x7f;
  v.seq = LoadBe16(&p[2]);
  v.timestamp = LoadBe32(&p[4]);
  v.ssrc = LoadBe32(&p[8]);
  size_t off = kRtpFixedHeader + 4 * size_t{v.csrc_count};
  if (off > end) return Drop::kCsrcPastEnd;
  if (v.extension) {
    if (off + 4 > end) return Drop::kExtensionPastEnd;
    const size_t words = LoadBe16(&p[off + 2]);
    off += 4 + 4 * words;
    if (off > end) return Drop::kExtensionPastEnd;
  }
  v.header_len = static_cast<uint16_t>(off);
  return Drop::kNone;
}

Drop ParseRtcp(std::span<const uint8_t> p, size_t trailer_len, RtcpView& v) {
  if (p.size() > kMaxPacketSize) return Drop::kOversize;
  if (p.size() < kRtcpHeader + trailer_len) return Drop::kTooShort;
  const size_t end = p.size() - trailer_len;
  if ((p[0] >> 6) != 2) return Drop::kBadVersion;
  v.count = p[0] & 0x1f;
  v.packet_type = p[1];
  const size_t first = 4 * (size_t{LoadBe16(&p[2])} + 1);
  if (first > end) return Drop::kRtcpLengthPastEnd;
  v.first_len = static_cast<uint16_t>(first);
  v.ssrc = LoadBe32(&p[4]);
  return Drop::kNone;
}

}  // namespace mpswitch::dataplane
